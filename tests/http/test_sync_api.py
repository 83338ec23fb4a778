"""The sync API over real HTTP on localhost (uvicorn in a thread), with both reference clients."""

from __future__ import annotations

import importlib.util
import json
import socket
import threading
import time
from pathlib import Path

import psycopg2
import pytest
import requests
from fastapi import FastAPI

from covidsync.cli import main as covidsync_main
from covidsync.publish import client, release, sync, testing

TOKENS = {"pccovid": "pcc-token-1", "vneid": "vneid-token-1"}


PLUGIN = Path(__file__).resolve().parents[2] / "plugins" / "covidsync_sync_api.py"


def _plugin_module():
    spec = importlib.util.spec_from_file_location("covidsync_sync_api_plugin", PLUGIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def api(warehouse_url, monkeypatch):
    import uvicorn

    monkeypatch.setenv("COVIDSYNC_SYNC_TOKEN_PCCOVID", f"{TOKENS['pccovid']}, pcc-token-old")
    monkeypatch.setenv("COVIDSYNC_SYNC_TOKEN_VNEID", TOKENS["vneid"])
    # the plugin's own app (warehouse from COVIDSYNC_WAREHOUSE_URL), mounted the way Airflow's API server
    # mounts fastapi_apps: app.mount(url_prefix, app)
    (entry,) = _plugin_module().CovidsyncSyncApiPlugin.fastapi_apps
    parent = FastAPI()
    parent.mount(entry["url_prefix"], entry["app"])
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            parent,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            timeout_graceful_shutdown=1,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}{entry['url_prefix']}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def conn(warehouse_url):
    connection = psycopg2.connect(warehouse_url)
    yield connection
    connection.close()


def _consumer(app, api, tmp_path, **kw):
    return client.Consumer(app, api, TOKENS[app], tmp_path / f"{app}.sqlite", **kw)


def _open_alerts(conn):
    with conn.cursor() as cur:
        cur.execute("select kind, subject from ops.alert where resolved_at is null order by 1, 2")
        rows = cur.fetchall()
    conn.rollback()
    return rows


def test_both_clients_sync_through_the_api_and_reconciliation_sees_them_in_step(api, conn, tmp_path):
    testing.seed(conn, 120)
    release.publish_release(conn)
    pcc, vne = (
        _consumer("pccovid", api, tmp_path, page_size=25),
        _consumer("vneid", api, tmp_path, page_size=25),
    )
    first = pcc.sync(), vne.sync()
    assert [(r["status"], r["release_id"], r["rows"], r["hash_matches"]) for r in first] == [
        ("synced", 1, 108, True),
        ("synced", 1, 108, True),
    ]
    assert set(pcc.rows()[0]) == set(sync.FIELDS["pccovid"]) and "phone" not in vne.rows()[0]
    assert pcc.sync()["status"] == "unchanged", "304 on the same ETag"
    summary = sync.reconcile(conn, max_lag_minutes=0)
    assert summary["pccovid"]["state"] == summary["vneid"]["state"] == "in_step"
    testing.flip_cards(conn, every=15, offset=1)
    assert release.publish_release(conn)["status"] == "current"
    second = pcc.sync(), vne.sync()
    assert [(r["status"], r["from_release_id"], r["release_id"], r["hash_matches"]) for r in second] == [
        ("synced", 1, 2, True),
        ("synced", 1, 2, True),
    ]
    assert sync.reconcile(conn, max_lag_minutes=0)["vneid"]["state"] == "in_step"
    assert _open_alerts(conn) == []


def test_a_client_that_stops_acknowledging_raises_the_alert(api, conn, tmp_path):
    testing.seed(conn, 40)
    release.publish_release(conn)
    pcc, vne = _consumer("pccovid", api, tmp_path), _consumer("vneid", api, tmp_path)
    pcc.sync(), vne.sync()
    testing.flip_cards(conn, every=7, offset=1)
    assert release.publish_release(conn)["status"] == "current"
    pcc.sync()  # VNeID stops here
    assert sync.reconcile(conn)["vneid"]["state"] == "syncing", "within the allowed lag: no alert yet"
    assert _open_alerts(conn) == []
    summary = sync.reconcile(conn, max_lag_minutes=0)
    assert summary["vneid"] == {"acked_release_id": 1, "hash_matches": True, "state": "behind"}
    assert summary["pccovid"]["state"] == "in_step"
    sync.reconcile(conn, max_lag_minutes=0)
    assert _open_alerts(conn) == [("sync_behind", "vneid")], "one open alert, not one per run"
    vne.sync()
    sync.reconcile(conn, max_lag_minutes=0)
    assert _open_alerts(conn) == []


def test_a_wrong_hash_is_refused_recorded_and_alerted(api, conn, tmp_path):
    testing.seed(conn, 20)
    release.publish_release(conn)
    auth = {"Authorization": f"Bearer {TOKENS['vneid']}"}
    response = requests.post(
        f"{api}/sync/v1/vneid/ack", json={"release_id": 1, "view_sha256": "0" * 64}, headers=auth
    )
    assert response.status_code == 409 and response.json()["hash_matches"] is False
    sync.reconcile(conn, max_lag_minutes=0)
    assert ("sync_hash_mismatch", "vneid") in _open_alerts(conn)


def test_auth_etag_and_errors(api, conn):
    get = requests.get
    assert get(f"{api}/sync/v1/pccovid/release").status_code == 401
    assert get(f"{api}/sync/v1/pccovid/release", headers={"Authorization": "Bearer nope"}).status_code == 401
    vne = {"Authorization": f"Bearer {TOKENS['vneid']}"}
    assert get(f"{api}/sync/v1/pccovid/release", headers=vne).status_code == 403, (
        "one app's token, not the other's"
    )
    assert get(f"{api}/sync/v1/vneid/release", headers=vne).status_code == 404, "nothing published yet"
    testing.seed(conn, 20)
    release.publish_release(conn)
    old = {"Authorization": "Bearer pcc-token-old"}  # during a rotation both tokens work
    first = get(f"{api}/sync/v1/pccovid/release", headers=old)
    assert first.status_code == 200 and first.headers["ETag"]
    assert (
        first.json()["view_sha256"] != get(f"{api}/sync/v1/vneid/release", headers=vne).json()["view_sha256"]
    )
    again = get(f"{api}/sync/v1/pccovid/release", headers={**old, "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.content == b""
    assert get(f"{api}/sync/v1/vneid/delta", params={"since": 9}, headers=vne).status_code == 400
    assert get(f"{api}/sync/v1/vneid/delta", params={"since": 0, "to": 7}, headers=vne).status_code == 404


@pytest.mark.parametrize(
    "raw",
    [
        "Bearer tökén".encode("latin-1"),
        "Bearer токен".encode(),
        b"Bearer \xff\xfe\x00x",
        "Bearer 🙂".encode(),
    ],
)
def test_a_non_ascii_token_is_401_not_500(api, raw):
    """Header bytes outside ASCII (sent raw, as a client in another locale might) are a wrong token."""
    import http.client
    from urllib.parse import urlsplit

    where = urlsplit(api)
    connection = http.client.HTTPConnection(where.hostname, where.port, timeout=10)
    try:
        connection.putrequest("GET", f"{where.path}/sync/v1/pccovid/release")
        connection.putheader(b"Authorization", raw.replace(b"\x00", b""))
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 401, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("token", ["tökén", "to ken", "", "tok\nen"])
def test_the_consumer_refuses_a_token_it_cannot_send_in_one_line(tmp_path, token):
    with pytest.raises(client.SyncError, match="outside ASCII"):
        client.Consumer("pccovid", "http://127.0.0.1:9", token, tmp_path / "c.sqlite")


def test_the_consumer_command_syncs_and_acknowledges(api, conn, tmp_path, monkeypatch, capsys):
    testing.seed(conn, 30)
    release.publish_release(conn)
    monkeypatch.setenv("COVIDSYNC_SYNC_TOKEN", TOKENS["vneid"])
    store = tmp_path / "vneid-copy.sqlite"
    assert covidsync_main(["consumer", "vneid", "--api", api, "--store", str(store)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result == {**result, "status": "synced", "release_id": 1, "rows": 27, "hash_matches": True}
    assert sync.reconcile(conn, max_lag_minutes=0)["vneid"]["state"] == "in_step"
