"""The facility API hook over real HTTP on 127.0.0.1, against the simulator (contract §8) and, for what the
simulator does not speak (next links, basic auth), a small local server. No mocked HTTP."""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from covidsync.hooks.facility_api import (
    ApiAuthError,
    ApiMalformedResponse,
    ApiPagingError,
    ApiUnavailable,
    FacilityApiHook,
    HttpPolicy,
    retry_after_seconds,
)

CONN = "facility_api_test"
FAST = HttpPolicy(connect_timeout=2, read_timeout=5, retries=3, backoff_base=0.01, backoff_max=0.05)


@pytest.fixture
def token(monkeypatch):
    """The simulator's token as the password of the Airflow connection ``facility_api_test``."""
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN.upper()}", json.dumps({"conn_type": "http", "password": "test-token"})
    )


def _hook(sim, facility, policy=FAST, **kwargs):
    return FacilityApiHook(CONN, sim.base_url(facility), policy=policy, **kwargs)


def _statuses(sim, dataset, expected: int):
    """The statuses the simulator logged for ``dataset`` (it logs a request before answering it, so every
    answered request is there; ``expected`` is only for the reader)."""
    return [r["status"] for r in list(sim.requests) if r["path"].endswith(f"/{dataset}")]


def test_paging_across_many_pages_returns_every_record_once(api_simulator, token):
    facility = api_simulator.facilities("vaccinations")[0]
    truth = api_simulator.items(facility, "vaccinations")
    with _hook(api_simulator, facility, page_size=7) as hook:
        pages = list(hook.pages("vaccinations"))
    assert len(pages) == -(-len(truth) // 7) > 15
    assert [p.number for p in pages] == list(range(1, len(pages) + 1))
    assert [i for p in pages for i in p.items] == truth
    assert hook.waits == [] and hook.attempts == len(pages)


def test_updated_since_is_sent_and_respected(api_simulator, token):
    facility = api_simulator.facilities("test_results")[0]
    truth = api_simulator.items(facility, "test_results")
    since = dt.datetime.fromisoformat(truth[len(truth) // 2]["updated_at"])
    with _hook(api_simulator, facility, page_size=1000) as hook:
        items = [i for p in hook.pages("test_results", since) for i in p.items]
    assert items == [i for i in truth if dt.datetime.fromisoformat(i["updated_at"]) > since]
    assert _statuses(api_simulator, "test_results", 1) == [200]
    assert "updated_since=" in api_simulator.requests[-1]["query"]


def test_a_server_that_fails_twice_then_succeeds(api_simulator, token):
    facility = api_simulator.facilities("test_results")[0]
    api_simulator.fail("server_error", count=1, status=500)
    api_simulator.fail("server_error", count=1, status=502)
    with _hook(api_simulator, facility, page_size=1000) as hook:
        pages = list(hook.pages("test_results"))
    assert len(pages) == 1 and pages[0].items == api_simulator.items(facility, "test_results")
    assert _statuses(api_simulator, "test_results", 3) == [500, 502, 200]
    assert hook.waits == [0.01, 0.02]  # exponential: base, 2 × base


def test_retry_after_is_honoured(api_simulator, token):
    facility = api_simulator.facilities("test_results")[0]
    api_simulator.fail("rate_limit", retry_after=1)
    started = time.monotonic()
    with _hook(api_simulator, facility, page_size=1000) as hook:
        list(hook.pages("test_results"))
    assert time.monotonic() - started >= 1.0
    assert hook.waits == [1.0], "Retry-After: 1 is waited as given, not the 0.01 s back-off"
    assert _statuses(api_simulator, "test_results", 2) == [429, 200]


def test_a_retry_after_beyond_the_cap_gives_up_at_once(api_simulator, token):
    facility = api_simulator.facilities("test_results")[0]
    api_simulator.fail("rate_limit", retry_after=3600)
    policy = HttpPolicy(retries=3, backoff_base=0.01, retry_after_max=10)
    started = time.monotonic()
    with pytest.raises(ApiUnavailable, match="3600 s"), _hook(api_simulator, facility, policy) as hook:
        list(hook.pages("test_results"))
    assert time.monotonic() - started < 1 and hook.waits == []


def test_backoff_settings_come_from_the_environment(api_simulator, token, monkeypatch):
    monkeypatch.setenv("COVIDSYNC_HTTP_BACKOFF_BASE", "0.02")
    monkeypatch.setenv("COVIDSYNC_HTTP_BACKOFF_MAX", "0.05")
    monkeypatch.setenv("COVIDSYNC_HTTP_RETRIES", "3")
    facility = api_simulator.facilities("test_results")[0]
    api_simulator.fail("server_error", count=None)
    with pytest.raises(ApiUnavailable, match="after 4 tries"):
        with FacilityApiHook(CONN, api_simulator.base_url(facility)) as hook:
            list(hook.pages("test_results"))
    assert hook.waits == [0.02, 0.04, 0.05]  # capped
    assert _statuses(api_simulator, "test_results", 4) == [503] * 4


def test_a_read_timeout_is_retried(api_simulator, token):
    facility = api_simulator.facilities("test_results")[0]
    api_simulator.fail("delay", delay=1.5)
    policy = HttpPolicy(connect_timeout=1, read_timeout=0.3, retries=2, backoff_base=0.01)
    with _hook(api_simulator, facility, policy, page_size=1000) as hook:
        pages = list(hook.pages("test_results"))
    assert pages[0].items and hook.attempts == 2 and hook.waits == [0.01]


@pytest.mark.parametrize(("mode", "status"), [("unauthorized", 401), ("forbidden", 403)])
def test_bad_credentials_fail_fast_naming_the_connection(api_simulator, token, mode, status):
    from airflow.sdk.exceptions import AirflowFailException

    facility = api_simulator.facilities("test_results")[0]
    api_simulator.fail(mode, count=None)
    with pytest.raises(ApiAuthError) as caught, _hook(api_simulator, facility) as hook:
        list(hook.pages("test_results"))
    assert CONN in str(caught.value) and f"HTTP {status}" in str(caught.value)
    assert "test-token" not in str(caught.value)
    assert isinstance(caught.value, AirflowFailException), "Airflow must not retry the task either"
    assert _statuses(api_simulator, "test_results", 1) == [status] and hook.waits == []


def test_a_wrong_token_and_a_missing_connection(api_simulator, monkeypatch):
    facility = api_simulator.facilities("test_results")[0]
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN.upper()}", json.dumps({"conn_type": "http", "password": "old"}))
    with pytest.raises(ApiAuthError, match=CONN), _hook(api_simulator, facility) as hook:
        list(hook.pages("test_results"))
    with pytest.raises(ApiAuthError, match="no Airflow connection 'nowhere'"):
        FacilityApiHook("nowhere", api_simulator.base_url(facility), policy=FAST).get_conn()
    assert len(_statuses(api_simulator, "test_results", 1)) == 1


def test_the_maximum_pages_guard(api_simulator, token):
    facility = api_simulator.facilities("vaccinations")[0]
    policy = HttpPolicy(retries=0, max_pages=3)
    with pytest.raises(ApiPagingError, match="more than 3 pages"):
        with _hook(api_simulator, facility, policy, page_size=2) as hook:
            list(hook.pages("vaccinations"))
    assert len(_statuses(api_simulator, "vaccinations", 3)) == 3


def test_malformed_json_carries_the_body(api_simulator, token):
    facility = api_simulator.facilities("vaccinations")[0]
    api_simulator.fail("malformed_json")
    with pytest.raises(ApiMalformedResponse) as caught, _hook(api_simulator, facility) as hook:
        list(hook.pages("vaccinations"))
    assert caught.value.page == 1 and caught.value.content.startswith(b'{"items"')
    assert hook.waits == []


def test_retry_after_as_an_http_date():
    now = dt.datetime(2021, 11, 1, 8, 0, 0, tzinfo=dt.UTC)
    assert retry_after_seconds("Mon, 01 Nov 2021 08:00:30 GMT", now) == 30
    assert retry_after_seconds("7", now) == 7
    assert retry_after_seconds("soon", now) is None and retry_after_seconds(None) is None


# -- next links and basic auth: a server that pages by links ----------------------------------------------
class _LinkServer(BaseHTTPRequestHandler):
    items = [{"record_id": f"R{i}", "updated_at": "2021-11-01T08:00:00+07:00"} for i in range(7)]
    style = "body"  # "body": {"next": "<url>"}; "header": Link: <url>; rel="next"

    def log_message(self, *args):
        return

    def do_GET(self):  # noqa: N802
        expected = "Basic " + base64.b64encode(b"lab:s3cret").decode()
        if self.headers.get("Authorization") != expected:
            self.send_response(401)
            self.end_headers()
            return
        cursor = int(self.path.rsplit("cursor=", 1)[1]) if "cursor=" in self.path else 0
        chunk = self.items[cursor : cursor + 3]
        nxt = f"/lab/test_results?cursor={cursor + 3}" if cursor + 3 < len(self.items) else None
        body = {"items": chunk}
        headers = {}
        if self.style == "body":
            body["next"] = nxt
        elif nxt:
            headers["Link"] = f'<{nxt}>; rel="next"'
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


@pytest.mark.parametrize("style", ["body", "header"])
def test_next_links_and_basic_auth(monkeypatch, style):
    handler = type("Handler", (_LinkServer,), {"style": style})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv(
            "AIRFLOW_CONN_LAB_BASIC",
            json.dumps(
                {"conn_type": "http", "login": "lab", "password": "s3cret", "extra": {"auth": "basic"}}
            ),
        )
        base = f"http://127.0.0.1:{server.server_address[1]}/lab"
        with FacilityApiHook("lab_basic", base, policy=FAST) as hook:
            pages = list(hook.pages("test_results"))
        assert [len(p.items) for p in pages] == [3, 3, 1]
        assert [i["record_id"] for p in pages for i in p.items] == [f"R{i}" for i in range(7)]
        assert pages[-1].url.endswith("cursor=6")
    finally:
        server.shutdown()
        server.server_close()
