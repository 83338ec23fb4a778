"""core.load_checkins(source, days, unique_keys) (migration 0046), which the check-in merge calls with true:
a new day is built aside without the sort that kept the first of a repeated checkin_id, as the same
partition (bound, indexes attached to core.checkin's, checks) with the same rows; a caller wrong about its
ids fails at ATTACH (the primary key), all or nothing; a day that has rows keeps the insert's first versions."""

from __future__ import annotations

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


def _load(cur, file_id: int, ids, hour: int = 1) -> int:
    cur.execute(_rows(file_id, ids, hour))
    cur.execute(f"select core.load_checkins('incoming', array['{DAY}'::date], true)")
    return cur.fetchone()[0]


def _content(url: str):
    return _one(
        url,
        "select count(*), md5(string_agg(row(checkin_id, local_day, venue_code, scanned_at, direction, mode,"
        " person_kind, person_key, source_file_id, source_row)::text, ',' order by checkin_id)) from core.checkin",
    )


def test_unique_rows_make_the_same_partition_with_the_same_rows_as_the_sorted_path(world):
    url = world
    layout = _layout(url)
    ids = [f"C{n:05d}" for n in range(300, 0, -1)]  # out of key order
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(_rows(1, ids))
            cur.execute(f"select core.load_checkins('incoming', array['{DAY}'::date])")
            assert cur.fetchone()[0] == 300
        sorted_content = _content(url)
        with conn, conn.cursor() as cur:
            cur.execute(f"delete from core.checkin where local_day = '{DAY}'")
        oid = _partition_oid(url)
        with conn, conn.cursor() as cur:
            assert _load(cur, 1, ids) == 300
    finally:
        conn.close()
    assert _partition_oid(url) != oid, "the empty day was built aside"
    assert _layout(url) == layout
    assert _content(url) == sorted_content
    assert _one(url, "select count(*) from core.checkin where venue_code = 'V1'")[0] == 100


def test_a_repeated_id_fails_at_attach_and_leaves_the_day_as_it_was(world):
    url = world
    oid = _partition_oid(url)
    conn = psycopg2.connect(url)
    try:
        with pytest.raises(psycopg2.errors.UniqueViolation), conn, conn.cursor() as cur:
            _load(cur, 1, ["D1", "D2", "D1"])
    finally:
        conn.close()
    assert _partition_oid(url) == oid
    assert _layout(url)[1][2][0] == "checkin_20211102_pkey"
    assert _one(url, "select count(*) from core.checkin") == (0,)


def test_a_day_that_has_rows_takes_the_insert_and_keeps_first_versions(world):
    url = world
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            assert _load(cur, 1, ["A1", "A2"]) == 2
        oid = _partition_oid(url)
        with conn, conn.cursor() as cur:
            assert _load(cur, 2, ["A2", "A3"], hour=5) == 1
        assert _partition_oid(url) == oid
        assert _one(url, "select source_file_id from core.checkin where checkin_id = 'A2'") == (1,)
    finally:
        conn.close()
