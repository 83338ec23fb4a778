"""A warehouse's first check-ins (migration 0039): core.checkin_person and core.identity_link, still empty, are
loaded with their secondary indexes dropped and built again by sort afterwards, in the merge's transaction.
Only an empty table that can be locked at once; the indexes come back the same (names, definitions,
comments); the rows are those of the ordinary insert through the indexes."""

from __future__ import annotations

import os
import threading
import time

import psycopg2
import pytest
from test_checkin_ingest import CHECKIN_HEADER, CHECKINS, DELIVERED, VENUES, VN, deliver, run

from covidsync.ingest import checkins

TABLES = ("core.checkin_person", "core.identity_link")
PERSONS = (
    "select person_kind, person_key, identifier, full_name, date_of_birth, birth_year, gender, phone,"
    " first_seen_at, last_seen_at from core.checkin_person where identifier <> '017000000000'"
    " order by person_kind, person_key"
)
LINKS = (
    "select citizen_id, other_kind, other_value, source, first_seen_file_id = ("
    "select file_id from ops.landing_file where original_name = 'checkins_2021-11-02.csv') from core.identity_link"
    " where citizen_id <> '017000000000' order by 1, 2, 3"
)


def _indexes(cur, table: str) -> list:
    cur.execute(
        "select c.relname, pg_get_indexdef(i.indexrelid), obj_description(i.indexrelid, 'pg_class')"
        " from pg_index as i join pg_class as c on c.oid = i.indexrelid where i.indrelid = %s::regclass"
        " order by 1",
        (table,),
    )
    return cur.fetchall()


def _all(url: str, sql: str) -> list:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("table", TABLES)
def test_an_empty_table_gets_its_secondary_indexes_back_the_same(warehouse_url, table):
    conn = psycopg2.connect(warehouse_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(f"comment on index {table.split('.')[0]}.{_indexes(cur, table)[-1][0]} is 'kept'")
        with conn.cursor() as cur:
            before = _indexes(cur, table)
            assert len(before) >= 3
            cur.execute("select core.secondary_indexes_off(%s::regclass)", (table,))
            statements = cur.fetchone()[0]
            assert statements, "an empty, free table takes the first-load path"
            left = _indexes(cur, table)
            assert [r[0] for r in left] == [table.split(".")[1] + "_pkey"], "only the primary key stays"
            cur.execute("select core.secondary_indexes_on(%s)", (statements,))
            assert _indexes(cur, table) == before
        conn.rollback()
        with conn.cursor() as cur:
            assert _indexes(cur, table) == before, "a rollback brings the dropped indexes back"
    finally:
        conn.close()


def test_a_table_with_rows_or_a_reader_keeps_its_indexes_and_never_waits(warehouse_url):
    table = "core.checkin_person"
    conn = psycopg2.connect(warehouse_url)
    reader = psycopg2.connect(warehouse_url)
    try:
        with conn.cursor() as cur:
            before = _indexes(cur, table)
        conn.rollback()
        with reader.cursor() as r:  # a reader inside its transaction: ACCESS SHARE until it ends
            r.execute(f"select count(*) from {table}")
        with conn.cursor() as cur:
            start = time.monotonic()
            cur.execute("select core.secondary_indexes_off(%s::regclass)", (table,))
            assert cur.fetchone()[0] is None
            assert time.monotonic() - start < 5, "NOWAIT: the ordinary path at once"
            assert _indexes(cur, table) == before
        conn.rollback()
        reader.rollback()
        with conn, conn.cursor() as cur:
            cur.execute(
                f"insert into {table} (person_kind, person_key, identifier, first_seen_at, last_seen_at)"
                " values ('cccd', repeat('a', 64), '017000000000', now(), now())"
            )
        with conn.cursor() as cur:
            cur.execute("select core.secondary_indexes_off(%s::regclass)", (table,))
            assert cur.fetchone()[0] is None, "a table with rows keeps its indexes"
            assert _indexes(cur, table) == before
            cur.execute(
                f"select mode from pg_locks where relation = '{table}'::regclass and pid = pg_backend_pid()"
            )
            assert "AccessExclusiveLock" not in [r[0] for r in cur.fetchall()], "and is not locked"
        conn.rollback()
    finally:
        conn.close()
        reader.close()


def test_a_writer_that_does_not_own_the_table_takes_the_ordinary_insert(warehouse_url):
    """Migration 0042: only the owner may drop and create a table's indexes; any other writer of the empty
    table (a loader role with insert and select) gets null, the ordinary insert, not a failed merge."""
    import uuid

    table = "core.checkin_person"
    role = f"first_load_writer_{uuid.uuid4().hex[:12]}"
    conn = psycopg2.connect(warehouse_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(f"create role {role} nologin")
            cur.execute(f"grant usage on schema core to {role}")
            cur.execute(f"grant select, insert on {table} to {role}")
        with conn.cursor() as cur:
            before = _indexes(cur, table)
            cur.execute(f"set local role {role}")
            cur.execute("select core.secondary_indexes_off(%s::regclass)", (table,))
            assert cur.fetchone()[0] is None, "not the owner: the ordinary path"
            cur.execute("reset role")
            assert _indexes(cur, table) == before
        conn.rollback()
    finally:
        with conn, conn.cursor() as cur:
            cur.execute(f"revoke all on {table} from {role}")
            cur.execute(f"revoke all on schema core from {role}")
            cur.execute(f"drop role {role}")
        conn.close()


@pytest.fixture
def no_docs(monkeypatch):
    monkeypatch.setenv("COVIDSYNC_GX_DOCS", "0")


def _ingest(url, areas, *, seed_rows: bool) -> tuple[list, list, dict]:
    if seed_rows:  # a person and a link the file never names: the ordinary insert through the indexes
        conn = psycopg2.connect(url)
        with conn, conn.cursor() as cur:
            cur.execute(
                "insert into ops.landing_file (sha256, relative_path, original_name, size_bytes, received_at)"
                " values (repeat('e', 64), 'pccovid/checkins/old.csv', 'old.csv', 1, now()) returning file_id"
            )
            file_id = cur.fetchone()[0]
            cur.execute(
                "insert into core.checkin_person (person_kind, person_key, identifier, first_seen_at, last_seen_at)"
                " values ('cccd', repeat('a', 64), '017000000000', now(), now())"
            )
            cur.execute(
                "insert into core.identity_link (citizen_id, other_kind, other_value, source, first_seen_file_id)"
                " values ('017000000000', 'phone', '0900000000', 'cccd_qr', %s)",
                (file_id,),
            )
        conn.close()
    venues_path = areas["landing"] / "pccovid" / "venues" / "venues.csv"
    venues_path.parent.mkdir(parents=True, exist_ok=True)
    venues_path.write_text(VENUES, encoding="utf-8")
    stamp = DELIVERED.astimezone(VN).timestamp() - 86400
    os.utime(venues_path, (stamp, stamp))
    deliver(areas, "checkins_2021-11-02.csv", CHECKIN_HEADER, CHECKINS, "checkins", DELIVERED)
    results = run(url)
    assert [r["status"] for r in results] == ["loaded", "loaded_with_errors"]
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            indexes = {t: _indexes(cur, t) for t in TABLES}
    finally:
        conn.close()
    return _all(url, PERSONS), _all(url, LINKS), indexes


@pytest.mark.usefixtures("no_docs")
def test_the_first_load_writes_what_the_ordinary_insert_writes(
    warehouse_url, areas, pg_admin_url, template_db, monkeypatch
):
    calls: list = []
    original = checkins._secondary_indexes_off

    def spy(cur, table):
        statements = original(cur, table)
        if table is not None:
            calls.append((table, statements is not None))
        return statements

    monkeypatch.setattr(checkins, "_secondary_indexes_off", spy)
    first = _ingest(warehouse_url, areas, seed_rows=False)
    assert calls == [("core.checkin_person", True), ("core.identity_link", True)], "the first-load path"
    assert first[0] and first[1], "the file names persons and links"

    # the same file into a second warehouse whose tables already hold a row: the ordinary path
    name = f"{warehouse_url.rsplit('/', 1)[1]}_b"
    second_url = f"{warehouse_url.rsplit('/', 1)[0]}/{name}"
    admin = psycopg2.connect(pg_admin_url)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'create database "{name}" template "{template_db}"')
        monkeypatch.setenv("COVIDSYNC_WAREHOUSE_URL", second_url)
        for area in areas.values():  # a fresh data area for the second warehouse
            for path in sorted(area.rglob("*"), reverse=True):
                path.unlink() if path.is_file() else path.rmdir()
        calls.clear()
        second = _ingest(second_url, areas, seed_rows=True)
        assert calls == [("core.checkin_person", False), ("core.identity_link", False)], "the ordinary path"
    finally:
        with admin.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')
        admin.close()
    assert first[0] == second[0], "the same persons"
    assert first[1] == second[1], "the same identity links"
    assert first[2] == second[2], "the same indexes on both tables"


def test_a_reader_of_persons_waits_for_the_first_load_and_sees_it_whole(warehouse_url, areas, no_docs):
    """The first load holds core.checkin_person from its persons to the merge's commit: a reader that comes
    meanwhile waits and then reads every person (never an empty or a partial table)."""
    conn = psycopg2.connect(warehouse_url)
    counts: list = []
    started = threading.Event()

    def reader():
        r = psycopg2.connect(warehouse_url)
        try:
            started.wait(60)
            with r.cursor() as cur:
                cur.execute("select count(*) from core.checkin_person")
                counts.append(cur.fetchone()[0])
        finally:
            r.close()

    original = checkins._secondary_indexes_off

    def spy(cur, table):
        statements = original(cur, table)
        if table == "core.checkin_person" and statements:
            started.set()
            time.sleep(0.5)  # the reader queues behind the lock
        return statements

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        checkins._secondary_indexes_off = spy
        _ingest(warehouse_url, areas, seed_rows=False)
    finally:
        checkins._secondary_indexes_off = original
        started.set()
        thread.join(60)
        conn.close()
    assert counts == [len(_all(warehouse_url, "select 1 from core.checkin_person"))]
    assert counts[0] > 0
