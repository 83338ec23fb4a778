"""Peak memory of one facility API pull against a server that sends a 1.5 GiB body (issue 17, item 7).

Run: ``.venv/bin/python bench/api_body_cap.py [body bytes]``. The hook reads the body streamed and stops at
``COVIDSYNC_API_MAX_BYTES`` (64 MiB by default): the pull's peak memory grows by about the cap, not the body.
Before the cap, the same 1.5 GB body took 4.86 GB of memory.
"""

import json
import os
import resource
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOTAL = int(sys.argv[1]) if len(sys.argv) > 1 else 1536 * 1024 * 1024


class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b" " * (1 << 20)
        sent = 0
        try:
            self.wfile.write(b'%x\r\n{"items": [\r\n' % 11)
            while sent < TOTAL:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
threading.Thread(target=srv.serve_forever, daemon=True).start()
os.environ["AIRFLOW_CONN_CAPTEST"] = json.dumps({"conn_type": "http", "password": "t"})
from covidsync.hooks.facility_api import ApiMalformedResponse, FacilityApiHook, HttpPolicy  # noqa: E402 (after the connection is set)

before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    with FacilityApiHook(
        "captest", f"http://127.0.0.1:{srv.server_address[1]}/x", policy=HttpPolicy.from_env()
    ) as h:
        list(h.pages("vaccinations"))
    print("read whole body")
except ApiMalformedResponse as exc:
    print(exc.code, str(exc)[:80])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(
    f"peak RSS before pull {before / 1024:.0f} MiB, after {after / 1024:.0f} MiB, body offered {TOTAL / 2**20:.0f} MiB"
)
