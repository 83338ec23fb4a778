"""The embedded PostgreSQL (the fresh-machine path) starts, serves SQL over TCP, restarts, and stops."""

from __future__ import annotations

import shutil
import socket
import tempfile
from pathlib import Path

import psycopg2
import pytest

from covidsync import db, warehouse

# both start the embedded PostgreSQL server (its own, not the test server), so they need its binaries
pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def state_dir():
    """A directory outside pytest's own temporary root: as root, the server runs as another user and needs
    its parents traversable, and every pytest session resets its root to mode 0700 (a concurrent session
    would lock the server out of its data mid-test)."""
    path = Path(tempfile.mkdtemp(prefix="covidsync-embedded-test-"))
    yield path / "state"
    shutil.rmtree(path, ignore_errors=True)


def test_start_migrate_restart_stop(state_dir):
    server = warehouse.EmbeddedPostgres(state_dir, _free_port())
    try:
        url = server.start()
        assert url.endswith(f":{server.port}/covidsync")
        assert server.is_running()
        assert server.start() == url, "starting a running server is a no-op"
        db.upgrade(url)
        conn = psycopg2.connect(url)
        with conn.cursor() as cur:
            cur.execute("show server_version")
            assert int(cur.fetchone()[0].split(".")[0]) >= 16
        conn.close()
        assert server.stop() is True
        assert not server.is_running()
        server.start()  # data survives a restart
        assert db.upgrade(url) == []
    finally:
        server.stop()
    assert server.stop() is False, "stopping a stopped server says so"


def test_a_port_taken_by_another_program_is_reported(state_dir):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        server = warehouse.EmbeddedPostgres(state_dir, s.getsockname()[1])
        try:
            server.start()
        except warehouse.WarehouseError as exc:
            assert "COVIDSYNC_EMBEDDED_PG_PORT" in str(exc)
        else:
            raise AssertionError("start() should refuse a port another program holds")
