"""The sync API over real HTTP on localhost (uvicorn in a thread), with the reference client of every consumer
(PC-Covid, VNeID, Sổ SKĐT): the same tests for each channel."""

from __future__ import annotations

import importlib.util
import json
import socket
import threading
import time
from pathlib import Path

import psycopg2
import publish_seed
import pytest
import requests
from fastapi import FastAPI

from covidsync.cli import main as covidsync_main
from covidsync.publish import CONSUMERS, client, release, sync

TOKENS = {"pccovid": "pcc-token-1", "vneid": "vneid-token-1", "sskdt": "sskdt-token-1"}
APPS = tuple(TOKENS)
assert set(APPS) == set(CONSUMERS), "every consumer has its channel tested here"


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

    # each app's token, and an old one beside it: during a rotation both work
    for app, token in TOKENS.items():
        monkeypatch.setenv(f"COVIDSYNC_SYNC_TOKEN_{app.upper()}", f"{token}, {app}-token-old")
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


def test_every_client_syncs_through_the_api_and_reconciliation_sees_them_in_step(api, conn, tmp_path):
    publish_seed.seed(conn, 120)
    release.publish_release(conn)
    clients = [_consumer(app, api, tmp_path, page_size=25) for app in APPS]
    first = [c.sync() for c in clients]
    assert [(r["status"], r["release_id"], r["rows"], r["hash_matches"]) for r in first] == [
        ("synced", 1, 108, True)
    ] * len(APPS)
    for c in clients:
        assert set(c.rows()[0]) == set(sync.FIELDS[c.app])
    assert "phone" not in clients[1].rows()[0] and "phone" not in clients[2].rows()[0]
    assert "test_history" in clients[2].rows()[0] and "test_history" not in clients[1].rows()[0]
    assert all(c.sync()["status"] == "unchanged" for c in clients), "304 on the same ETag"
    summary = sync.reconcile(conn, max_lag_minutes=0)
    assert {summary[app]["state"] for app in APPS} == {"in_step"}
    publish_seed.flip_cards(conn, every=15, offset=1)
    assert release.publish_release(conn)["status"] == "current"
    second = [c.sync() for c in clients]
    assert [(r["status"], r["from_release_id"], r["release_id"], r["hash_matches"]) for r in second] == [
        ("synced", 1, 2, True)
    ] * len(APPS)
    summary = sync.reconcile(conn, max_lag_minutes=0)
    assert {summary[app]["state"] for app in APPS} == {"in_step"}
    assert _open_alerts(conn) == []


@pytest.mark.parametrize("app", APPS)
def test_a_client_that_stops_acknowledging_raises_the_alert(api, conn, tmp_path, app):
    publish_seed.seed(conn, 40)
    release.publish_release(conn)
    clients = {a: _consumer(a, api, tmp_path) for a in APPS}
    for c in clients.values():
        c.sync()
    publish_seed.flip_cards(conn, every=7, offset=1)
    assert release.publish_release(conn)["status"] == "current"
    for other in APPS:
        if other != app:  # this app stops here
            clients[other].sync()
    assert sync.reconcile(conn)[app]["state"] == "syncing", "within the allowed lag: no alert yet"
    assert _open_alerts(conn) == []
    summary = sync.reconcile(conn, max_lag_minutes=0)
    assert summary[app] == {"acked_release_id": 1, "hash_matches": True, "state": "behind"}
    assert {summary[a]["state"] for a in APPS if a != app} == {"in_step"}
    sync.reconcile(conn, max_lag_minutes=0)
    assert _open_alerts(conn) == [("sync_behind", app)], "one open alert, not one per run"
    clients[app].sync()
    sync.reconcile(conn, max_lag_minutes=0)
    assert _open_alerts(conn) == []


@pytest.mark.parametrize("app", APPS)
def test_a_wrong_hash_is_refused_recorded_and_alerted(api, conn, tmp_path, app):
    publish_seed.seed(conn, 20)
    release.publish_release(conn)
    auth = {"Authorization": f"Bearer {TOKENS[app]}"}
    response = requests.post(
        f"{api}/sync/v1/{app}/ack", json={"release_id": 1, "view_sha256": "0" * 64}, headers=auth
    )
    assert response.status_code == 409 and response.json()["hash_matches"] is False
    sync.reconcile(conn, max_lag_minutes=0)
    assert ("sync_hash_mismatch", app) in _open_alerts(conn)


@pytest.mark.parametrize("app", APPS)
def test_auth_etag_and_errors(api, conn, app):
    get = requests.get
    own = {"Authorization": f"Bearer {TOKENS[app]}"}
    assert get(f"{api}/sync/v1/{app}/release").status_code == 401
    assert get(f"{api}/sync/v1/{app}/release", headers={"Authorization": "Bearer nope"}).status_code == 401
    for other in APPS:
        if other != app:
            theirs = {"Authorization": f"Bearer {TOKENS[other]}"}
            assert get(f"{api}/sync/v1/{app}/release", headers=theirs).status_code == 403, (
                "one app's token, not another's"
            )
            assert get(f"{api}/sync/v1/{app}/delta", params={"since": 0}, headers=theirs).status_code == 403
            assert (
                requests.post(
                    f"{api}/sync/v1/{app}/ack",
                    json={"release_id": 1, "view_sha256": "0" * 64},
                    headers=theirs,
                ).status_code
                == 403
            )
    assert get(f"{api}/sync/v1/{app}/release", headers=own).status_code == 404, "nothing published yet"
    publish_seed.seed(conn, 20)
    release.publish_release(conn)
    old = {"Authorization": f"Bearer {app}-token-old"}  # during a rotation both tokens work
    first = get(f"{api}/sync/v1/{app}/release", headers=old)
    assert first.status_code == 200 and first.headers["ETag"]
    assert first.json()["app"] == app and first.json()["view_sha256"]
    hashes = {get(f"{api}/sync/v1/{a}/release", headers={"Authorization": f"Bearer {TOKENS[a]}"}).json()[
        "view_sha256"] for a in APPS}  # fmt: skip
    assert len(hashes) == len(APPS), "each app's view has its own hash"
    again = get(f"{api}/sync/v1/{app}/release", headers={**old, "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.content == b""
    assert get(f"{api}/sync/v1/{app}/delta", params={"since": 9}, headers=own).status_code == 400
    assert get(f"{api}/sync/v1/{app}/delta", params={"since": 0, "to": 7}, headers=own).status_code == 404


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


@pytest.mark.parametrize("app", APPS)
def test_delta_chains_with_tombstones_rebuild_the_release_exactly(api, conn, tmp_path, app, monkeypatch):
    monkeypatch.setenv("COVIDSYNC_PUBLISH_MIN_KEPT_SHARE", "0.9")  # a removal is meant here
    publish_seed.seed(conn, 60)
    release.publish_release(conn)
    holder = _consumer(app, api, tmp_path, page_size=7)
    holder.sync()
    publish_seed.flip_cards(conn, every=13, offset=2)
    assert release.publish_release(conn)["status"] == "current"
    with conn, conn.cursor() as cur:  # one person's CCCD is withdrawn: a tombstone in the next delta
        cur.execute("update derived.person set citizen_id = null where person_id = 3")
    publish_seed.flip_cards(conn, every=17, offset=4)
    assert release.publish_release(conn)["status"] == "current"
    auth = {"Authorization": f"Bearer {TOKENS[app]}"}
    page = requests.get(f"{api}/sync/v1/{app}/delta", params={"since": 1, "limit": 5000}, headers=auth).json()
    assert page["release_id"] == 3 and {"op": "delete", "citizen_id": "017000000003"} in page["changes"]
    result = holder.sync()
    assert (result["from_release_id"], result["release_id"], result["hash_matches"]) == (1, 3, True)
    fresh = client.Consumer(app, api, TOKENS[app], tmp_path / f"{app}-fresh.sqlite")
    assert fresh.sync()["from_release_id"] == 0
    assert holder.rows() == fresh.rows() and holder.copy_sha256() == fresh.copy_sha256()


@pytest.mark.parametrize("app", APPS)
def test_the_consumer_command_syncs_and_acknowledges(api, conn, tmp_path, monkeypatch, capsys, app):
    publish_seed.seed(conn, 30)
    release.publish_release(conn)
    monkeypatch.setenv("COVIDSYNC_SYNC_TOKEN", TOKENS[app])
    store = tmp_path / f"{app}-copy.sqlite"
    assert covidsync_main(["consumer", app, "--api", api, "--store", str(store)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result == {**result, "status": "synced", "release_id": 1, "rows": 27, "hash_matches": True}
    assert sync.reconcile(conn, max_lag_minutes=0)[app]["state"] == "in_step"
