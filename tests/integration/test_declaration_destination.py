"""core.declaration as migration 0030 leaves it (issue 24, throughput): its landing file checked once per
statement (no per-row foreign key) with the same guarantees, the cheap person-key check giving the anchored
regex's answers, the loaded_at BRIN still serving the arrivals build's "loaded since" read, and staging's raw
kept only for rows with a problem. Real PostgreSQL."""

from __future__ import annotations

import io

import psycopg2
import psycopg2.errors
import pytest

KEY = "a" * 64
COLUMNS = "app, declaration_id, kind, submitted_at, person_kind, person_key, source_file_id, source_row"


def _file(cur) -> int:
    cur.execute(
        "insert into ops.landing_file (sha256, relative_path, original_name, size_bytes, received_at)"
        " values (md5(random()::text) || md5(random()::text), 'pccovid/declarations/d.csv', 'd.csv', 1, now())"
        " returning file_id"
    )
    return cur.fetchone()[0]


def _row(file_id: int, declaration_id: str = "D1", key: str = KEY) -> tuple:
    return ("pccovid", declaration_id, "health", "2021-11-20T08:00:00+07:00", "cccd", key, file_id, 1)


def _refused(url: str, sql: str, params=()) -> None:
    conn = psycopg2.connect(url)
    try:
        with pytest.raises(psycopg2.errors.ForeignKeyViolation), conn, conn.cursor() as cur:
            cur.execute(sql, params)
    finally:
        conn.close()


def test_a_declaration_naming_an_unknown_file_never_reaches_core(warehouse_url):
    with psycopg2.connect(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute(
            "select count(*) from pg_constraint where conrelid = 'core.declaration'::regclass and contype = 'f'"
        )
        assert cur.fetchone()[0] == 0  # no per-row trigger left
        file_id = _file(cur)
    unknown = file_id + 1000
    insert = f"insert into core.declaration ({COLUMNS}) values (%s, %s, %s, %s, %s, %s, %s, %s)"
    _refused(warehouse_url, insert, _row(unknown))
    _refused(
        warehouse_url,
        f"insert into core.declaration ({COLUMNS}) select * from (values (%s, %s, %s, %s::timestamptz, %s, %s,"
        " %s::bigint, %s), (%s, %s, %s, %s::timestamptz, %s, %s, %s::bigint, %s)) as v",
        _row(file_id, "D2") + _row(unknown, "D3"),
    )
    conn = psycopg2.connect(warehouse_url)
    try:
        with pytest.raises(psycopg2.errors.ForeignKeyViolation), conn, conn.cursor() as cur:
            data = "\t".join(str(v) for v in _row(unknown, "D4")) + "\n"
            cur.copy_expert(f"copy core.declaration ({COLUMNS}) from stdin", io.StringIO(data))
    finally:
        conn.close()
    with psycopg2.connect(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute(insert, _row(file_id))  # a known file: loads
    _refused(warehouse_url, "update core.declaration set source_file_id = %s", (unknown,))
    _refused(
        warehouse_url,
        "insert into core.declaration_history select d.*, now(), %s from core.declaration as d",
        (unknown,),
    )
    # the file cannot go while a declaration names it
    _refused(warehouse_url, "delete from ops.landing_file where file_id = %s", (file_id,))
    conn = psycopg2.connect(warehouse_url)
    try:
        with pytest.raises(psycopg2.errors.ForeignKeyViolation), conn, conn.cursor() as cur:
            cur.execute("truncate ops.landing_file cascade")
    finally:
        conn.close()
    with psycopg2.connect(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute("select count(*), min(source_file_id) from core.declaration")
        assert cur.fetchone() == (1, file_id)
        cur.execute("delete from core.declaration")
        cur.execute("delete from ops.landing_file where file_id = %s", (file_id,))  # named by none: goes


@pytest.mark.parametrize(
    "key",
    ["a" * 63, "a" * 65, "A" * 64, "g" + "a" * 63, "a" * 63 + "\n", " " + "a" * 63, "é" + "a" * 63, ""],
)
def test_the_cheap_person_key_check_refuses_what_the_regex_refused(warehouse_url, key):
    with psycopg2.connect(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute("select %s ~ '^[0-9a-f]{64}$'", (key,))
        assert cur.fetchone()[0] is False
        file_id = _file(cur)
    _check = psycopg2.errors.CheckViolation
    conn = psycopg2.connect(warehouse_url)
    try:
        with pytest.raises(_check), conn, conn.cursor() as cur:
            cur.execute(
                f"insert into core.declaration ({COLUMNS}) values (%s, %s, %s, %s, %s, %s, %s, %s)",
                _row(file_id, key=key),
            )
    finally:
        conn.close()


def test_the_arrivals_build_reads_declarations_loaded_since_through_the_brin(warehouse_url):
    with psycopg2.connect(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute("select indexdef from pg_indexes where indexname = 'declaration_loaded'")
        assert "USING brin" in cur.fetchone()[0]
        file_id = _file(cur)
        cur.execute(
            f"insert into core.declaration ({COLUMNS}, loaded_at)"
            " select 'pccovid', 'D' || i, 'health', now(), 'cccd', %s, %s, i,"
            " timestamptz '2021-11-01' + i * interval '1 second' from generate_series(1, 50000) as i",
            (KEY, file_id),
        )
        cur.execute("analyze core.declaration")
        cur.execute("set local enable_seqscan = off")
        cur.execute(
            "explain select d.person_key from core.declaration as d"
            " where d.loaded_at >= timestamptz '2021-11-01' + interval '49000 seconds'"
        )
        plan = "\n".join(r[0] for r in cur.fetchall())
        assert "declaration_loaded" in plan, plan
        cur.execute(
            "select count(*) from core.declaration as d"
            " where d.loaded_at >= timestamptz '2021-11-01' + interval '49000 seconds'"
        )
        assert cur.fetchone()[0] == 1001
