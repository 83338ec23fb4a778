"""A task killed with ``kill -9`` in the middle of a statement does not keep its locks (issue 17, item 8):
the next run gets the build/publish lock at once, not when the dead task's statement would have ended."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import psycopg2
import pytest

from covidsync import db
from covidsync.publish.release import PUBLISH_LOCK
from covidsync.status.build import LOCK_KEY as BUILD_LOCK

HOLDER = textwrap.dedent(
    """
    import sys
    from covidsync import db

    conn = db.connect(sys.argv[1], application_name="covidsync-lock-holder")
    with conn.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(%s)", (int(sys.argv[2]),))
        print("locked", flush=True)
        cur.execute("select pg_sleep(120)")  # a long statement under the lock, like a big build or merge
    """
)


@pytest.mark.parametrize("key", [BUILD_LOCK, PUBLISH_LOCK], ids=["build", "publish"])
def test_kill_9_of_a_lock_holder_frees_the_lock_promptly(warehouse_url, key):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, warehouse_url, str(key)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        probe = psycopg2.connect(warehouse_url)
        with probe.cursor() as cur:
            cur.execute("select pg_try_advisory_lock(%s)", (key,))
            assert cur.fetchone() == (False,), "the holder has the lock"
        probe.rollback()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
        killed_at = time.monotonic()
        with probe.cursor() as cur:
            cur.execute("set lock_timeout = '10s'")  # the statement the holder ran lasts 120 s
            cur.execute("select pg_advisory_xact_lock(%s)", (key,))
        waited = time.monotonic() - killed_at
        probe.rollback()
        probe.close()
        print(f"lock taken {waited:.2f} s after the kill")
    finally:
        if holder.poll() is None:
            holder.kill()


def test_session_settings_are_configurable_and_checked(warehouse_url, monkeypatch):
    monkeypatch.setenv("COVIDSYNC_PG_STATEMENT_TIMEOUT_MS", "1500")
    monkeypatch.setenv("COVIDSYNC_PG_CLIENT_CHECK_MS", "250")
    conn = db.connect(warehouse_url)
    with conn.cursor() as cur:
        cur.execute("show statement_timeout")
        assert cur.fetchone() == ("1500ms",)
        cur.execute("show client_connection_check_interval")
        assert cur.fetchone() == ("250ms",)
        cur.execute("show idle_in_transaction_session_timeout")
        assert cur.fetchone() == ("10min",)
    conn.close()
    monkeypatch.setenv("COVIDSYNC_PG_STATEMENT_TIMEOUT_MS", "ten")
    with pytest.raises(db.CovidsyncError, match="COVIDSYNC_PG_STATEMENT_TIMEOUT_MS is a whole number"):
        db.connect(warehouse_url)
    monkeypatch.delenv("COVIDSYNC_PG_STATEMENT_TIMEOUT_MS")  # the fixture's teardown connects too
