"""The facility API hook, and a pull through it, against hostile servers on 127.0.0.1 (issue 17, items 2, 7 and 8).

A second local server plays "another host": it counts every request and every ``Authorization`` header it
receives. The token must never reach it, whatever the source's pages say. No mocked HTTP.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2
import pytest

from covidsync.cli import main
from covidsync.hooks.facility_api import (
    ApiMalformedResponse,
    ApiOffHostError,
    FacilityApiHook,
    HttpPolicy,
)
from covidsync.ingest import api_pull, landing

CONN = "hostile_api"
TOKEN = "s3cret-token"
FAST = HttpPolicy(connect_timeout=2, read_timeout=3, retries=1, backoff_base=0.01, backoff_max=0.02)
ITEMS = [{"record_id": f"R{i}", "updated_at": "2021-11-01T08:00:00+07:00"} for i in range(3)]


class _Recorder(BaseHTTPRequestHandler):
    """Answers every GET with one empty last page; records what it was sent."""

    seen: list  # (path, Authorization header)

    def log_message(self, *args):
        return

    def do_GET(self):  # noqa: N802
        self.seen.append((self.path, self.headers.get("Authorization")))
        data = json.dumps({"items": [], "next_page": None}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Hostile(BaseHTTPRequestHandler):
    """Page 1 is served as ``answer(handler)`` says; any later page is an empty last page."""

    answer = None
    seen: list

    def log_message(self, *args):
        return

    def send_json(self, body, *, headers=None, status=200):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802
        self.seen.append((self.path, self.headers.get("Authorization")))
        if "later" in self.path or "page=2" in self.path:
            self.send_json({"items": [], "next_page": None})
            return
        type(self).answer(self)


def _serve(handler_cls, **attrs):
    handler = type("Handler", (handler_cls,), {"seen": [], **attrs})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return server, handler


@pytest.fixture
def other():
    """Another host (another port of 127.0.0.1): it must never hear from the hook."""
    server, handler = _serve(_Recorder)
    yield server.server_address[1], handler.seen
    server.shutdown()
    server.server_close()


@pytest.fixture
def hostile(monkeypatch):
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN.upper()}", json.dumps({"conn_type": "http", "password": TOKEN}))
    started = []

    def start(answer):
        server, handler = _serve(_Hostile, answer=staticmethod(answer))
        started.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/lab", handler.seen

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


def _pull(base, policy=FAST, page_size=10):
    with FacilityApiHook(CONN, base, policy=policy, page_size=page_size) as hook:
        return list(hook.pages("vaccinations"))


# -- item 2: the token stays on its host ------------------------------------------------------------------
@pytest.mark.parametrize(
    "how",
    ["next_page_url", "protocol_relative", "link_header", "redirect", "other_path", "other_scheme"],
)
def test_pagination_off_the_source_fails_and_the_token_is_never_sent(hostile, other, how):
    port, other_seen = other
    elsewhere = f"http://127.0.0.1:{port}/lab/vaccinations?page=2"

    def answer(h):
        if how == "next_page_url":
            h.send_json({"items": ITEMS, "next_page": elsewhere})
        elif how == "protocol_relative":
            h.send_json({"items": ITEMS, "next_page": f"//127.0.0.1:{port}/lab/vaccinations?page=2"})
        elif how == "link_header":
            h.send_json({"items": ITEMS}, headers={"Link": f'<{elsewhere}>; rel="next"'})
        elif how == "redirect":
            h.send_json(b"", status=302, headers={"Location": elsewhere})
        elif how == "other_path":  # same host and port, outside the base path /lab
            h.send_json({"items": ITEMS, "next_page": "/admin/vaccinations?later=1"})
        elif how == "other_scheme":  # same host, https
            h.send_json(
                {"items": ITEMS, "next_page": f"https://127.0.0.1:{h.server.server_address[1]}/lab/x"}
            )

    base, seen = hostile(answer)
    with pytest.raises(ApiOffHostError, match="not followed, and the token") as caught:
        _pull(base)
    assert TOKEN not in str(caught.value)
    assert other_seen == [], "the other host heard nothing"
    assert len(seen) == 1 and seen[0][1] == f"Bearer {TOKEN}"


def test_links_that_stay_home_are_followed(hostile):
    def answer(h):
        port = h.server.server_address[1]
        h.send_json({"items": ITEMS, "next_page": f"HTTP://127.0.0.1:{port}/lab/vaccinations?later=1"})

    base, seen = hostile(answer)
    pages = _pull(base)
    assert [len(p.items) for p in pages] == [3, 0]
    assert [auth for _, auth in seen] == [f"Bearer {TOKEN}"] * 2


# -- items 7 and 8: bounds and clear codes ------------------------------------------------------------------
def _chunked_forever(h):
    """A body with no Content-Length that never ends (until the client hangs up)."""
    h.send_response(200)
    h.send_header("Transfer-Encoding", "chunked")
    h.end_headers()
    chunk = b'{"items": [' + b'{"record_id": "R", "updated_at": "2021-11-01"},' * 2000
    try:
        h.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        filler = b" " * 65536
        for _ in range(10_000):  # 640 MB at most
            h.wfile.write(b"%x\r\n%s\r\n" % (len(filler), filler))
    except (BrokenPipeError, ConnectionResetError):
        return


def _declares_a_terabyte(h):
    h.send_response(200)
    h.send_header("Content-Length", str(10**12))
    h.end_headers()
    try:
        h.wfile.write(b'{"items": []}')
    except (BrokenPipeError, ConnectionResetError):
        return


def _false_length(h):
    data = json.dumps({"items": ITEMS, "next_page": None}).encode()
    h.send_response(200)
    h.send_header("Content-Length", str(len(data) + 5000))
    h.send_header("Connection", "close")
    h.end_headers()
    h.wfile.write(data)
    h.wfile.flush()
    h.connection.shutdown(socket.SHUT_WR)
    h.close_connection = True


@pytest.mark.parametrize(
    ("answer", "code", "message"),
    [
        (_chunked_forever, "file_too_large", "larger than COVIDSYNC_API_MAX_BYTES"),
        (_declares_a_terabyte, "file_too_large", "declares 1000000000000 bytes"),
        (
            lambda h: h.send_json(b"{}", headers={"Content-Length": "7"}),
            "unsupported_format",
            "headers or encoding are not valid HTTP",
        ),
        (lambda h: h.send_json(b"[" * 200_000 + b"]" * 200_000), "unsupported_format", "nested deeper"),
        (
            lambda h: h.send_json({"items": [{"record_id": {"a": [[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}}]}),
            "unsupported_format",
            "nested deeper than 16",
        ),
        (
            lambda h: h.send_json({"items": ITEMS * 10, "next_page": None}),
            "unsupported_format",
            "30 items, more than the 10 asked for",
        ),
        (
            lambda h: h.send_json({"items": ITEMS, "next_page": "file:///etc/passwd"}),
            "unsupported_format",
            r"not http\(s\) \(file:\)",
        ),
        (_false_length, "unsupported_format", "ended before the length its headers announced"),
    ],
    ids=[
        "body_over_cap",
        "declared_over_cap",
        "two_lengths",
        "deep_json",
        "deep_item",
        "too_many_items",
        "file_link",
        "false_length",
    ],
)
def test_hostile_bodies_get_a_code_not_a_traceback(hostile, monkeypatch, answer, code, message):
    monkeypatch.setenv("COVIDSYNC_API_MAX_BYTES", str(1024 * 1024))
    base, _ = hostile(answer)
    with pytest.raises(ApiMalformedResponse, match=message) as caught:
        _pull(base, policy=HttpPolicy.from_env())
    assert caught.value.code == code and caught.value.page == 1
    assert len(caught.value.content) <= 64 * 1024, "evidence is bounded"


def test_the_body_cap_keeps_memory_bounded(hostile, monkeypatch):
    """A body that never ends is cut at the cap: the hook holds at most the cap (1 MiB here), not the
    hundreds of MB the server would send."""
    import resource

    monkeypatch.setenv("COVIDSYNC_API_MAX_BYTES", str(1024 * 1024))
    base, _ = hostile(_chunked_forever)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ApiMalformedResponse):
        _pull(base, policy=HttpPolicy.from_env())
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 64 * 1024, f"peak memory grew {grown_kib} KiB"


# -- a whole pull: the batch gets a code and a report, or the pull fails with an alert ---------------------
FACILITY = "17001"
PULL_CONN = "hostile_pull"
REGISTRY = (
    "facility_code,name,facility_type,province_code,district_code,commune_code\n"
    "17001,Bệnh viện Đa khoa tỉnh Hòa Bình,provincial_hospital,17,148,04789\n"
)


@pytest.fixture
def setup(warehouse_url, areas, monkeypatch):
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{PULL_CONN.upper()}", json.dumps({"conn_type": "http", "password": TOKEN})
    )
    monkeypatch.setenv("COVIDSYNC_HTTP_BACKOFF_BASE", "0.01")
    monkeypatch.setenv("COVIDSYNC_HTTP_RETRIES", "1")
    monkeypatch.setenv("COVIDSYNC_GX_DOCS", "0")
    registry = areas["landing"] / "registry" / "facilities.csv"
    registry.parent.mkdir(parents=True)
    registry.write_text(REGISTRY, encoding="utf-8")
    conn = psycopg2.connect(warehouse_url)
    with conn:
        landing.load_registry(conn, areas["landing"])
    servers = []

    def start(handler_cls, **attrs):
        server, handler = _serve(handler_cls, **attrs)
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/lab", handler.seen

    yield conn, start
    for server in servers:
        server.shutdown()
        server.server_close()
    conn.close()


class _Page(_Recorder):
    body = b""

    def do_GET(self):  # noqa: N802
        self.seen.append((self.path, self.headers.get("Authorization")))
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)


def _rows(conn, sql, *params):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    conn.rollback()
    return rows


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        json.dumps({"items": [], "next_page": "file:///etc/passwd"}).encode(),
    ],
    ids=["deep_json", "file_link"],
)
def test_a_hostile_page_is_an_unsupported_format_batch_with_a_report(setup, areas, body):
    conn, start = setup
    base, _ = start(_Page, body=body)
    source = api_pull.add_source(conn, FACILITY, "vaccinations", base, PULL_CONN, page_size=10)
    summary = api_pull.pull_source(conn, source.source_id)
    assert summary["status"] == "rejected" and summary["problem"] == "unsupported_format"
    name = f"api-vaccinations-{summary['file_id']}"
    report = json.loads((areas["outbox"] / FACILITY / f"{name}.result.json").read_text())
    assert report["status"] == "rejected" and report["file_errors"] == ["unsupported_format"]
    assert summary["watermark"] is None, "a refused batch does not move the watermark"


def test_a_next_page_on_another_host_fails_the_pull_with_an_alert(setup, areas):
    conn, start = setup
    other, other_seen = start(_Recorder)
    body = json.dumps({"items": [], "next_page": other + "/vaccinations?page=2"}).encode()
    base, seen = start(_Page, body=body)
    source = api_pull.add_source(conn, FACILITY, "vaccinations", base, PULL_CONN, page_size=10)
    with pytest.raises(ApiOffHostError, match="not followed"):
        api_pull.pull_source(conn, source.source_id)
    assert other_seen == [] and len(seen) == 1
    alerts = _rows(conn, "select kind, subject, message from ops.alert where resolved_at is null")
    assert [(k, s) for k, s, _ in alerts] == [("api_off_host", f"api_source:{source.source_id}")]
    assert TOKEN not in alerts[0][2]
    assert _rows(conn, "select count(*) from ops.landing_file") == [(0,)], "nothing of the pull registered"
    assert not list((areas["landing"] / ".api").rglob("*.part"))


@pytest.mark.parametrize(
    ("option", "value"),
    [("--conn-id", "bad id; drop table"), ("--conn-id", "x" * 300), ("--url", "http://x/\x00y")],
)
def test_cli_a_bad_conn_id_or_url_is_one_line(setup, capsys, option, value):
    args = {"--facility": FACILITY, "--dataset": "vaccinations", "--url": "http://127.0.0.1:9/lab"}
    args["--conn-id"] = PULL_CONN
    args[option] = value
    argv = ["sources", "add", *[x for pair in args.items() for x in pair]]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("covidsync: the ")


def test_a_body_that_stalls_after_a_good_status_line_is_tried_again(hostile):
    """The one retry urllib3's Retry cannot make (the body is read after it returns): a body that stops
    past the read timeout is asked for again, from the same budget and with the policy's back-off."""
    calls = []

    def stall_once(h):
        calls.append(1)
        data = json.dumps({"items": ITEMS, "next_page": None}).encode()
        h.send_response(200)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if len(calls) == 1:
            h.wfile.write(data[:10])
            h.wfile.flush()
            time.sleep(1.0)  # past the 0.3 s read timeout
            return
        h.wfile.write(data)

    base, _ = hostile(stall_once)
    policy = HttpPolicy(connect_timeout=1, read_timeout=0.3, retries=2, backoff_base=0.01)
    with FacilityApiHook(CONN, base, policy=policy, page_size=10) as hook:
        pages = list(hook.pages("vaccinations"))
    assert [i for p in pages for i in p.items] == ITEMS
    assert hook.attempts == 2 and hook.waits == [0.01] and len(calls) == 2
