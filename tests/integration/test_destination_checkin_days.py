"""core.load_checkins (migration 0016), which sql/ingest/checkin_merge.sql calls: a new day's check-ins are
built aside in key order, indexed by sort and attached; a day that has rows, or a table busy with a reader,
takes the insert through core.checkin. Either way all or nothing, idempotent for a file, and two files of
one day merged at once wait for each other and keep the first version of a check-in sent twice."""

from __future__ import annotations

import threading
import time

import psycopg2
import pytest

DAY = "2021-11-02"
PART = "core.checkin_20211102"
KEY = "0123456789abcdef" * 4


def _rows(file_id: int, ids, hour: int = 1) -> str:
    """A temporary table of check-in rows of DAY (local) for ``file_id``."""
    values = ", ".join(
        f"('{cid}', '{DAY}'::date, 'V{n % 3}', '{DAY}T0{hour}:{n % 60:02d}:00+07:00'::timestamptz, 'in', 'self_scan',"
        f" 'cccd', '{KEY}', {file_id}::bigint, {n})"
        for n, cid in enumerate(ids, start=1)
    )
    return (
        "create temp table incoming (checkin_id text, local_day date, venue_code text, scanned_at timestamptz,"
        " direction text, mode text, person_kind text, person_key text, source_file_id bigint, source_row integer)"
        " on commit drop;"
        f" insert into incoming values {values}"
    )


def _load(cur, file_id: int, ids, hour: int = 1) -> int:
    cur.execute(_rows(file_id, ids, hour))
    cur.execute(f"select core.load_checkins('incoming', array['{DAY}'::date])")
    return cur.fetchone()[0]


@pytest.fixture
def world(warehouse_url):
    conn = psycopg2.connect(warehouse_url)
    with conn, conn.cursor() as cur:
        cur.execute(
            "insert into ops.landing_file (sha256, relative_path, original_name, size_bytes, received_at)"
            " select repeat(n::text, 64), 'pccovid/checkins/' || n, n || '.csv', 1, now()"
            " from generate_series(1, 3) as n"
        )
        cur.execute(f"select core.ensure_checkin_partition('{DAY}')")
    conn.close()
    return warehouse_url


def _one(url: str, sql: str):
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchone()
    finally:
        conn.close()


def _partition_oid(url: str) -> int:
    return _one(url, f"select '{PART}'::regclass::oid")[0]


def _layout(url: str) -> list:
    """The day's partition as the parent sees it: bound, indexes attached to the parent's, checks."""
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select pg_get_expr(c.relpartbound, c.oid) from pg_class c where c.oid = %s::regclass",
                (PART,),
            )
            bound = cur.fetchone()[0]
            cur.execute(
                "select i.relname, p.inhparent::regclass::text from pg_index x"
                " join pg_class i on i.oid = x.indexrelid"
                " left join pg_inherits p on p.inhrelid = x.indexrelid"
                " where x.indrelid = %s::regclass order by 1",
                (PART,),
            )
            indexes = cur.fetchall()
            cur.execute(
                "select conname from pg_constraint where conrelid = %s::regclass and contype = 'c' order by 1",
                (PART,),
            )
            checks = [r[0] for r in cur.fetchall()]
        return [bound, indexes, checks]
    finally:
        conn.close()


def test_a_new_day_is_built_aside_and_attached_as_the_partition_it_replaces(world):
    url = world
    before_oid, before_layout = _partition_oid(url), _layout(url)
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            ids = [f"C{n:05d}" for n in range(500, 0, -1)] + ["C00007"]  # unordered, one id twice
            assert _load(cur, 1, ids) == 500
    finally:
        conn.close()
    assert _partition_oid(url) != before_oid, "the empty partition was replaced by the one built aside"
    assert _layout(url) == before_layout, "same bound, same indexes attached to core.checkin's, same checks"
    assert before_layout[1] == [
        ("checkin_20211102_loaded_at_idx", "core.checkin_loaded_at"),
        ("checkin_20211102_person_key_scanned_at_idx", "core.checkin_person_time"),
        ("checkin_20211102_pkey", "core.checkin_pkey"),
        ("checkin_20211102_venue_code_scanned_at_idx", "core.checkin_venue_time"),
    ]
    assert _one(url, "select count(*), count(distinct checkin_id) from core.checkin") == (500, 500)
    # the first of a repeated id is kept, as ON CONFLICT DO NOTHING kept it
    assert _one(url, "select source_row from core.checkin where checkin_id = 'C00007'") == (494,)
    # the planner reads the day through the parent's indexes
    assert _one(url, "select count(*) from core.checkin where venue_code = 'V1'")[0] > 0


def test_a_day_that_has_rows_takes_the_insert_and_keeps_first_versions(world):
    url = world
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            _load(cur, 1, ["A1", "A2"])
        oid = _partition_oid(url)
        with conn, conn.cursor() as cur:
            assert _load(cur, 2, ["A2", "A3"], hour=5) == 1  # A2 was there: its first version stays
        assert _partition_oid(url) == oid, "a day with rows is not rebuilt"
        assert _one(url, "select source_file_id from core.checkin where checkin_id = 'A2'") == (1,)
        assert _one(url, "select count(*) from core.checkin") == (3,)
    finally:
        conn.close()


def test_a_reprocessed_file_and_a_failed_merge_leave_the_day_as_it_should_be(world):
    url = world
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            _load(cur, 1, ["A1", "A2", "A3"])
        # the merge deletes the file's own rows first: the day is empty again and rebuilt aside
        with conn, conn.cursor() as cur:
            cur.execute(f"delete from core.checkin where local_day = '{DAY}' and source_file_id = 1")
            assert _load(cur, 1, ["A1", "A2", "A3"]) == 3
        assert _one(url, "select count(*) from core.checkin") == (3,)
        # all or nothing: a merge that fails after building the day aside leaves the day as it was
        oid = _partition_oid(url)
        with pytest.raises(psycopg2.errors.RaiseException), conn, conn.cursor() as cur:
            cur.execute(f"delete from core.checkin where local_day = '{DAY}'")
            _load(cur, 2, ["B1"])
            cur.execute("do $$ begin raise exception 'later step of the merge failed'; end $$")
        assert _partition_oid(url) == oid
        assert _one(url, "select string_agg(checkin_id, ',' order by checkin_id) from core.checkin") == (
            "A1,A2,A3",
        )
    finally:
        conn.close()


def _blocked(url: str, waiting: int, holding: int, thread: threading.Thread) -> bool:
    watcher = psycopg2.connect(url)
    watcher.autocommit = True
    try:
        deadline = time.monotonic() + 30
        with watcher.cursor() as cur:
            while thread.is_alive() and time.monotonic() < deadline:
                cur.execute("select %s = any(pg_blocking_pids(%s))", (holding, waiting))
                if cur.fetchone()[0]:
                    return True
                time.sleep(0.02)
        return False
    finally:
        watcher.close()


def test_two_files_of_one_new_day_merged_at_once_wait_and_keep_the_first_version(world):
    """The first builds the day aside (uncommitted); the second waits for it, then finds rows and inserts
    through core.checkin, keeping the first file's version of the check-in both sent."""
    url = world
    first, second = psycopg2.connect(url), psycopg2.connect(url)
    outcome: dict = {}
    try:
        with first.cursor() as cur:
            assert _load(cur, 1, ["X1", "X2"]) == 2

        def run():
            try:
                with second, second.cursor() as cur:
                    outcome["loaded"] = _load(cur, 2, ["X2", "X3"], hour=6)
            except psycopg2.Error as exc:
                outcome["error"] = exc

        thread = threading.Thread(target=run)
        thread.start()
        waited = _blocked(url, second.get_backend_pid(), first.get_backend_pid(), thread)
        first.commit()
        thread.join(timeout=30)
        assert waited, "the second merge should wait for the first"
        assert "error" not in outcome, outcome.get("error")
        assert outcome["loaded"] == 1
        assert _one(url, "select source_file_id from core.checkin where checkin_id = 'X2'") == (1,)
        assert _one(url, "select count(*) from core.checkin") == (3,)
    finally:
        first.close()
        second.close()


def test_a_reader_of_core_checkin_is_never_waited_for(world):
    """core.checkin busy (a reader's transaction open): the merge does not queue behind it for the exclusive
    lock; it inserts through the parent at once."""
    url = world
    reader, conn = psycopg2.connect(url), psycopg2.connect(url)
    try:
        oid = _partition_oid(url)
        with reader.cursor() as cur:
            cur.execute("select count(*) from core.checkin")
        with conn, conn.cursor() as cur:
            cur.execute("set local lock_timeout = '5s'")
            assert _load(cur, 1, ["R1", "R2"]) == 2
        assert _partition_oid(url) == oid
        reader.rollback()
        assert _one(url, "select count(*) from core.checkin") == (2,)
    finally:
        reader.close()
        conn.close()


def test_a_file_without_loadable_rows_loads_nothing(world):
    conn = psycopg2.connect(world)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("create temp table nothing as select * from core.checkin where false")
            cur.execute("select core.load_checkins('nothing', '{}'::date[])")
            assert cur.fetchone() == (0,)
    finally:
        conn.close()
