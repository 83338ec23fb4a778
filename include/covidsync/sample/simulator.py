"""A facility/lab API simulator implementing contract §8 over real HTTP, failing on demand.

Serves ``<data>/api/<facility_code>/<dataset>.jsonl`` (written by ``covidsync generate``)::

    GET  /<facility_code>/<dataset>?updated_since=<ISO-8601>&page=<n>&page_size=<k>
         Authorization: Bearer <token>
         200 {"items": [...], "next_page": n+1 | null}
    GET  /_control           the failure queue and the request log (no token needed)
    POST /_control           {"fail": {...}} or {"failures": [...]} appends failures; {"reset": true} clears
    GET  /_health            200 "ok"

The base URL of a facility is ``http://127.0.0.1:<port>/<facility_code>``, so ``<base_url>/<dataset>`` is the
contract's endpoint. Items are ordered by (``updated_at``, ``record_id``); ``updated_since`` is exclusive (an
offset-less value means +07:00); pages count from 1; ``page_size`` defaults to 100, at most 1000.

A failure is a dict: ``mode`` and optionally ``count`` (requests it applies to, default 1; ``null`` = until
reset), ``facility``, ``dataset`` (only those requests). Modes:

* ``unauthorized`` → 401, ``forbidden`` → 403 (as for a wrong token);
* ``rate_limit`` → 429 with ``Retry-After: <retry_after>`` (default 1 second);
* ``server_error`` → ``status`` (default 503), e.g. 500, 502, 504;
* ``delay`` → waits ``delay`` seconds (default 5) and then answers normally (longer than a client timeout);
* ``rename_field`` → the page's items carry ``field`` (default ``citizen_id``) renamed to ``to`` (``cccd``);
* ``malformed_json`` → 200 with a truncated JSON body.

Failures apply to dataset requests only (not to ``/_control`` or ``/_health``), first come first served.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

VN = dt.timezone(dt.timedelta(hours=7))
API_DATASETS = ("vaccinations", "test_results")
MODES = ("unauthorized", "forbidden", "rate_limit", "server_error", "delay", "rename_field", "malformed_json")
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def _parse_time(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(
        text.strip().replace(" ", "+") if "T" in text and " " in text.strip() else text.strip()
    )
    return value if value.tzinfo is not None else value.replace(tzinfo=VN)


class Dataset:
    """One facility's records of one dataset, sorted by (updated_at, record_id)."""

    def __init__(self, items: list[dict]):
        keyed = sorted(
            ((_parse_time(i["updated_at"]), str(i.get("record_id") or ""), i) for i in items),
            key=lambda t: t[:2],
        )
        self.items = [t[2] for t in keyed]
        self.stamps = [t[0].timestamp() for t in keyed]

    def since(self, since: dt.datetime | None) -> tuple[int, int]:
        """(first index, total) of the items updated strictly after ``since``."""
        start = 0 if since is None else bisect.bisect_right(self.stamps, since.timestamp())
        return start, len(self.items)


class Simulator:
    """The HTTP server (a thread); also a context manager (see :func:`running`)."""

    def __init__(
        self,
        data_dir: Path | str,
        token: str = "sample-token",
        host: str = "127.0.0.1",
        port: int = 0,
        failures: list[dict] | None = None,
    ):
        self.data_dir = Path(data_dir)
        self.token = token
        self.host = host
        self.port = port
        self.datasets: dict[tuple[str, str], Dataset] = {}
        api = self.data_dir / "api"
        for path in sorted(api.glob("*/*.jsonl")):
            if path.stem in API_DATASETS:
                with open(path, encoding="utf-8") as fh:
                    items = [json.loads(line) for line in fh if line.strip()]
                self.datasets[(path.parent.name, path.stem)] = Dataset(items)
        self.lock = threading.Lock()
        self.failures: list[dict] = []
        self.requests: list[dict] = []  # {"method", "path", "query", "status"}
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        for failure in failures or ():
            self.fail(**failure)

    # -- control --------------------------------------------------------------------------------------------

    def fail(self, mode: str, count: int | None = 1, **options) -> None:
        """Queue a failure (see the module docstring)."""
        if mode not in MODES:
            raise ValueError(f"unknown failure mode {mode!r}; one of {', '.join(MODES)}")
        with self.lock:
            self.failures.append({"mode": mode, "count": count, **options})

    def reset(self) -> None:
        with self.lock:
            self.failures.clear()
            self.requests.clear()

    def _take_failure(self, facility: str, dataset: str) -> dict | None:
        with self.lock:
            for failure in self.failures:
                if failure.get("facility") not in (None, facility) or failure.get("dataset") not in (
                    None,
                    dataset,
                ):
                    continue
                if failure["count"] is not None:
                    failure["count"] -= 1
                    if failure["count"] <= 0:
                        self.failures.remove(failure)
                return dict(failure)
        return None

    # -- data -----------------------------------------------------------------------------------------------

    def catalogue(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for facility, dataset in self.datasets:
            out.setdefault(facility, []).append(dataset)
        return out

    def facilities(self, dataset: str | None = None) -> list[str]:
        return sorted({f for f, d in self.datasets if dataset in (None, d)})

    def items(self, facility: str, dataset: str) -> list[dict]:
        """Every record served for (facility, dataset), in the served order."""
        return list(self.datasets[(facility, dataset)].items)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def base_url(self, facility: str) -> str:
        return f"{self.url}/{facility}"

    # -- life cycle -----------------------------------------------------------------------------------------

    def start(self) -> Simulator:
        handler = type("Handler", (_Handler,), {"sim": self})
        self._server = ThreadingHTTPServer((self.host, self.port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._stopping.clear()
        server = self._server
        self._thread = threading.Thread(
            target=lambda: server.serve_forever(poll_interval=0.05), name="api-simulator", daemon=True
        )
        self._thread.start()
        return self

    def wait(self) -> None:
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(0.5)

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> Simulator:
        return self.start() if self._server is None else self

    def __exit__(self, *exc) -> None:
        self.stop()


@contextlib.contextmanager
def running(
    data_dir: Path | str, token: str = "sample-token", port: int = 0, failures: list[dict] | None = None
) -> Iterator[Simulator]:
    """``with running(data_dir, token=...) as sim: sim.base_url("17009")`` — a simulator on a free port."""
    sim = Simulator(data_dir, token=token, port=port, failures=failures)
    sim.start()
    try:
        yield sim
    finally:
        sim.stop()


class _Handler(BaseHTTPRequestHandler):
    sim: Simulator
    server_version = "covidsync-api-simulator/1"

    def log_message(self, format, *args):  # noqa: A002 - quiet
        return

    def _send(self, status: int, body: bytes | dict, headers: dict | None = None) -> None:
        if isinstance(body, dict):
            body = json.dumps(body, ensure_ascii=False).encode("utf-8")
        # logged before the answer goes out: a client that has its answer finds the request in the log
        parts = urlsplit(self.path)
        with self.sim.lock:
            self.sim.requests.append(
                {"method": self.command, "path": parts.path, "query": parts.query, "status": status}
            )
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            # the client gave up first (a read timeout against a delayed answer): what a real server sees
            # too; the request was logged above
            self.close_connection = True

    def do_POST(self):  # noqa: N802
        if urlsplit(self.path).path != "/_control":
            return self._send(404, {"error": "not found"})
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
            if body.get("reset"):
                self.sim.reset()
            for failure in ([body["fail"]] if "fail" in body else []) + list(body.get("failures", [])):
                self.sim.fail(**failure)
        except (ValueError, TypeError, AttributeError) as exc:
            return self._send(400, {"error": str(exc)})
        return self._control_state()

    def _control_state(self):
        with self.sim.lock:
            state = {"failures": [dict(f) for f in self.sim.failures], "requests": list(self.sim.requests)}
        return self._send(200, state)

    def do_GET(self):  # noqa: N802
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/")
        if path == "/_health":
            return self._send(200, {"status": "ok"})
        if path == "/_control":
            return self._control_state()
        segments = [s for s in path.split("/") if s]
        if len(segments) != 2 or tuple(segments) not in self.sim.datasets:
            return self._send(404, {"error": "no such facility or dataset"})
        facility, dataset = segments
        failure = self.sim._take_failure(facility, dataset)
        mode = failure["mode"] if failure else None
        if mode == "delay":
            self.sim._stopping.wait(float(failure.get("delay", 5)))
        if self.headers.get("Authorization") != f"Bearer {self.sim.token}" or mode == "unauthorized":
            return self._send(
                401,
                {"error": "invalid or missing bearer token"},
                {"WWW-Authenticate": 'Bearer realm="facility"'},
            )
        if mode == "forbidden":
            return self._send(403, {"error": "forbidden"})
        if mode == "rate_limit":
            return self._send(
                429, {"error": "too many requests"}, {"Retry-After": str(failure.get("retry_after", 1))}
            )
        if mode == "server_error":
            return self._send(int(failure.get("status", 503)), {"error": "temporarily unavailable"})
        query = parse_qs(parts.query)
        try:
            since_text = query.get("updated_since", [None])[0]
            since = _parse_time(since_text) if since_text else None
            page = int(query.get("page", ["1"])[0])
            size = int(query.get("page_size", [str(DEFAULT_PAGE_SIZE)])[0])
            if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
                raise ValueError("page must be ≥ 1 and page_size 1–1000")
        except ValueError as exc:
            return self._send(400, {"error": f"bad query: {exc}"})
        data = self.sim.datasets[(facility, dataset)]
        first, total = data.since(since)
        lo = first + (page - 1) * size
        items = data.items[lo : lo + size]
        next_page = page + 1 if lo + size < total else None
        if mode == "rename_field":
            old, new = failure.get("field", "citizen_id"), failure.get("to", "cccd")
            items = [{(new if k == old else k): v for k, v in item.items()} for item in items]
        body = json.dumps({"items": items, "next_page": next_page}, ensure_ascii=False).encode("utf-8")
        if mode == "malformed_json":
            body = body[: max(1, len(body) // 2)]
        return self._send(200, body)
