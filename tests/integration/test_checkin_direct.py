"""Check-ins straight into core (issue 16, e23-checkins): a received check-ins file read, checked, gated and
merged in one transaction (engine.ingest_direct with checkins.stage_direct / merge_direct), its rows that no rule
can stop copied by their batches into a table built aside per local day and attached by the merge (migration
0079), leaves exactly what the staging path leaves: core.checkin, the days' partitions with their indexes and
checks, the persons and identity links, every row problem, the quarantine, result.json and errors.csv, file
after file:

1. a file of two local days into an empty warehouse, cut into many batches: an id repeated in a later batch
   (its first row aside, the repeat staged and flagged), one repeated within a batch, unknown venues, a
   warning, a row without a person key, a direction that is not ASCII and upper-case modes;
2. a file that sends ids of the first again (a day with rows: inserted through core.checkin, first versions
   kept) and rows of a new day (built aside and attached).

Run once with ``COVIDSYNC_INGEST_DIRECT=0`` into one warehouse and once as is into another, then compared. And a
new day whose core.checkin a reader holds: inserted through the parent, its partition kept, the same rows."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import threading
from pathlib import Path

import pgdb
import psycopg2
import pytest
from test_checkin_ingest import (
    CARD_WITH_CMND,
    CHECKIN_HEADER,
    PERSONAL_CLEAR,
    PERSONAL_MASKED,
    VENUES,
    write_csv,
)

from covidsync import db
from covidsync.ingest import checkins, columnar, engine, landing

VN = dt.timezone(dt.timedelta(hours=7))
_MERGE_DIRECT = checkins.merge_direct
_COUNTER = itertools.count()
QUERIES = {
    "checkin": "select c.checkin_id, c.local_day::text, c.venue_code, c.scanned_at::text, c.direction, c.mode, "
    "c.person_kind, c.person_key, f.original_name, c.source_row, c.qr_kind, c.tableoid::regclass::text "
    "from core.checkin as c join ops.landing_file as f on f.file_id = c.source_file_id order by 2, 1",
    "partitions": "select c.relname, pg_get_expr(c.relpartbound, c.oid) from pg_inherits as h "
    "join pg_class as c on c.oid = h.inhrelid where h.inhparent = 'core.checkin'::regclass order by 1",
    "indexes": "select tablename, indexname, indexdef from pg_indexes where schemaname = 'core' "
    "and tablename like 'checkin%' order by 1, 2",
    "constraints": "select conrelid::regclass::text, conname, pg_get_constraintdef(oid) from pg_constraint "
    "where connamespace = 'core'::regnamespace and conrelid::regclass::text like 'core.checkin%' order by 1, 2",
    "aside_left": "select relname from pg_class where relname like 'checkin\\_load\\_%' order by 1",
    "row_problem": "select f.original_name, q.row_number, q.column_name, q.code, q.severity "
    "from quarantine.row_problem as q join ops.landing_file as f using (file_id) order by 1, 2, 3, 4",
    "rejected_row": "select f.original_name, q.row_number, q.raw::text "
    "from quarantine.rejected_row as q join ops.landing_file as f using (file_id) order by 1, 2",
    "checkin_person": "select person_kind, person_key, identifier, full_name, date_of_birth::text, birth_year, "
    "gender, phone, first_seen_at::text, last_seen_at::text from core.checkin_person order by 1, 2",
    "identity_link": "select i.citizen_id, i.other_kind, i.other_value, i.source, f.original_name "
    "from core.identity_link as i join ops.landing_file as f on f.file_id = i.first_seen_file_id order by 1, 2, 3",
    "files": "select original_name, status, rows_total, rows_loaded, rows_rejected, rows_with_warnings, "
    "file_codes from ops.landing_file order by file_id",
}


@pytest.fixture
def other_warehouse_url(pg_admin_url, template_db):
    """A second fresh migrated warehouse for the staging path's run."""
    name = f"{template_db}_e23_{os.getpid()}_{next(_COUNTER)}"
    pgdb.execute(pg_admin_url, f'create database "{name}" template "{template_db}"')
    yield pgdb.with_database(pg_admin_url, name)
    pgdb.execute(pg_admin_url, f'drop database if exists "{name}" with (force)')


@pytest.fixture(autouse=True)
def small_batches(monkeypatch):
    monkeypatch.setenv("COVIDSYNC_GX_DOCS", "0")
    monkeypatch.setenv("COVIDSYNC_MAX_REJECTED_SHARE", "1")
    monkeypatch.setattr(columnar, "_NATIVE_CHUNK", 512)  # many batches, cut between lines


def _first() -> list[list[str]]:
    payloads = [CARD_WITH_CMND, PERSONAL_CLEAR, PERSONAL_MASKED, ""]
    rows = []
    for i in range(1, 81):
        venue = "V999" if i % 17 == 0 else ("V001" if i % 2 else "V002")
        # the last hours of 2 November in UTC are 3 November here
        scanned = (
            f"2021-11-02T{8 + i % 10:02d}:{i % 60:02d}:00+07:00" if i % 5 else f"2021-11-02T17:{i:02d}:00Z"
        )
        direction = ["in", "RA", "vào", "", "out"][i % 5]
        mode = ["self_scan", "SELF", "operator", "", "Operator Scan"][i % 5]
        citizen_id = "123456780" if i % 11 == 0 else ""  # legacy_cmnd: a warning, loads
        phone = "0912345678" if i % 4 == 3 else ("02183855555" if i == 30 else "")
        rows.append([f"C{i:03d}", venue, scanned, direction, mode, payloads[i % 4], citizen_id, phone])
    rows[60][0] = rows[3][0]  # an id repeated in a later batch
    rows[41][0] = rows[42][0]  # and one within a batch
    rows[29][5] = ""  # row 30: a landline only, no person key
    return rows


def _second() -> list[list[str]]:
    rows = [
        [f"C{i:03d}", "V002", f"2021-11-02T20:{i:02d}:00+07:00", "out", "", PERSONAL_CLEAR, "", ""]
        for i in range(1, 6)
    ]
    rows += [
        [f"D{i:03d}", "V001", f"2021-11-04T09:{i:02d}:00+07:00", "in", "self_scan", CARD_WITH_CMND, "", ""]
        for i in range(1, 31)
    ]
    return rows


def _land(path: Path, rows, received: dt.datetime) -> None:
    write_csv(path, CHECKIN_HEADER, rows)
    os.utime(path, (received.timestamp(), received.timestamp()))


def _run(url: str, data: Path, monkeypatch, direct: bool, files=None) -> tuple[dict, list[str]]:
    monkeypatch.setenv("COVIDSYNC_WAREHOUSE_URL", url)
    monkeypatch.setenv("COVIDSYNC_DATA_DIR", str(data))
    monkeypatch.setenv("COVIDSYNC_INGEST_DIRECT", "1" if direct else "0")
    for name in ("landing", "outbox", "archive", "rejected"):
        (data / name).mkdir(parents=True, exist_ok=True)
    taken: list[str] = []

    def recording(cur, f, params, read):
        taken.append(f.original_name)
        return _MERGE_DIRECT(cur, f, params, read)

    monkeypatch.setattr(checkins, "merge_direct", recording)
    venues = data / "landing" / "pccovid" / "venues" / "venues.csv"
    venues.parent.mkdir(parents=True, exist_ok=True)
    venues.write_text(VENUES, encoding="utf-8")
    stamp = dt.datetime(2021, 11, 1, tzinfo=VN).timestamp()
    os.utime(venues, (stamp, stamp))
    files = files or [
        ("first.csv", _first(), dt.datetime(2021, 11, 3, 1, tzinfo=VN)),
        ("second.csv", _second(), dt.datetime(2021, 11, 5, 1, tzinfo=VN)),
    ]
    reports = {}
    conn = db.connect(url)
    try:
        for name, rows, received in files:
            _land(data / "landing" / "pccovid" / "checkins" / name, rows, received)
            pending = checkins.pending_by_dataset(conn, landing.register(conn, scope=landing.PCCOVID).pending)
            for file_id in pending["venues"] + pending["checkins"]:  # venues first
                engine.process_file(conn, file_id, docs="off")
            result = json.loads((data / "outbox" / "pccovid" / f"{name}.result.json").read_text("utf-8"))
            result.pop("processed_at", None)
            errors = data / "outbox" / "pccovid" / f"{name}.errors.csv"
            reports[name] = {
                "result": result,
                "errors": errors.read_text("utf-8-sig").splitlines() if errors.exists() else None,
            }
    finally:
        conn.close()
    with psycopg2.connect(url) as c, c.cursor() as cur:
        cur.execute("set time zone 'UTC'")
        tables = {}
        for key, sql in QUERIES.items():
            cur.execute(sql)
            tables[key] = [list(r) for r in cur.fetchall()]
    return json.loads(json.dumps({"reports": reports, **tables}, default=str)), taken


def test_straight_into_core_leaves_what_the_staging_path_leaves(
    warehouse_url, other_warehouse_url, tmp_path, monkeypatch
):
    staged, none = _run(other_warehouse_url, tmp_path / "staged", monkeypatch, direct=False)
    direct, taken = _run(warehouse_url, tmp_path / "direct", monkeypatch, direct=True)
    assert none == []
    assert taken == ["first.csv", "second.csv"]
    # the files do work: two days built aside by the first, one more by the second, repeats and problems
    assert [p[0] for p in staged["partitions"]] == [
        "checkin_20211102",
        "checkin_20211103",
        "checkin_20211104",
    ]
    codes = {p[3] for p in staged["row_problem"]}
    assert {"duplicate_in_file", "unknown_venue", "legacy_cmnd", "missing_person_key"} <= codes
    assert {r[5] for r in staged["checkin"]} == {"self_scan", "operator_scan", None}
    assert {r[4] for r in staged["checkin"]} == {"in", "out"}
    assert "V999" not in {r[2] for r in direct["checkin"]}  # an unknown venue never reaches core
    first_versions = [r for r in direct["checkin"] if r[0] in ("C001", "C002") and r[1] == "2021-11-02"]
    assert {r[8] for r in first_versions} == {"first.csv"}
    assert direct["aside_left"] == []
    for key in staged:
        assert direct[key] == staged[key], key


def test_a_new_day_whose_table_a_reader_holds_goes_through_core_checkin(
    warehouse_url, other_warehouse_url, tmp_path, monkeypatch
):
    day = [
        [f"B{i:03d}", "V001", f"2021-11-02T09:{i:02d}:00+07:00", "in", "self_scan", CARD_WITH_CMND, "", ""]
        for i in range(1, 21)
    ]
    files = [("busy.csv", day, dt.datetime(2021, 11, 3, 1, tzinfo=VN))]
    staged, _ = _run(other_warehouse_url, tmp_path / "staged", monkeypatch, direct=False, files=files)
    conn = db.connect(warehouse_url)
    checkins.ensure_partitions(conn, [dt.date(2021, 11, 2)])
    with conn.cursor() as cur:
        cur.execute("select 'core.checkin_20211102'::regclass::oid")
        oid = cur.fetchone()[0]
        cur.execute("select count(*) from core.checkin")  # a reader: core.checkin's lock until rollback
    taken: list[str] = []
    done = threading.Event()

    def run():
        try:
            result, found = _run(warehouse_url, tmp_path / "direct", monkeypatch, direct=True, files=files)
            taken.extend(found)
            taken.append(json.dumps(result))
        finally:
            done.set()

    thread = threading.Thread(target=run)
    thread.start()
    finished = done.wait(
        60
    )  # without waiting for the reader: an insert through core.checkin does not conflict
    conn.rollback()
    thread.join(60)
    assert finished
    assert taken[0] == "busy.csv"
    direct = json.loads(taken[1])
    assert direct["checkin"] == staged["checkin"] and len(direct["checkin"]) == 20
    with conn.cursor() as cur:
        cur.execute("select 'core.checkin_20211102'::regclass::oid")
        assert cur.fetchone()[0] == oid  # the partition the parent made, not a table attached
    conn.close()


def test_a_file_of_more_days_than_a_partition_batch_takes_the_staging_path(
    warehouse_url, other_warehouse_url, tmp_path, monkeypatch
):
    monkeypatch.setenv("COVIDSYNC_CHECKIN_PARTITION_BATCH", "1")  # first.csv has two local days
    files = [("first.csv", _first(), dt.datetime(2021, 11, 3, 1, tzinfo=VN))]
    staged, _ = _run(other_warehouse_url, tmp_path / "staged", monkeypatch, direct=False, files=files)
    tried: list[int] = []
    real = checkins.stage_direct

    def recording(conn, f, stream, path, spill):
        tried.append(f.file_id)
        return real(conn, f, stream, path, spill)

    monkeypatch.setattr(checkins, "stage_direct", recording)
    direct, taken = _run(warehouse_url, tmp_path / "direct", monkeypatch, direct=True, files=files)
    assert len(tried) == 1 and taken == []  # its stage raised engine.StagingPath: rolled back, then staged
    assert len(direct["partitions"]) == 2 and direct["aside_left"] == []
    for key in staged:
        assert direct[key] == staged[key], key


@pytest.mark.parametrize("direct", [True, False])
def test_a_file_longer_than_the_facts_remembered_leaves_the_same(
    warehouse_url, other_warehouse_url, tmp_path, monkeypatch, direct
):
    """The identity facts a file's batches already staged are remembered up to ``IDENTITY_CACHE`` only (memory
    stays flat: 2M rows peaked at 518-540 MB when every fact of the file was kept); past it a person's facts
    are staged again, and the persons, links and reports are exactly those of a file whose facts all fit."""
    remembered, _ = _run(other_warehouse_url, tmp_path / "remembered", monkeypatch, direct=direct)
    monkeypatch.setattr(checkins, "IDENTITY_CACHE", 1)  # forgotten at every batch
    forgotten, _ = _run(warehouse_url, tmp_path / "forgotten", monkeypatch, direct=direct)
    assert len(remembered["checkin_person"]) > 3 and remembered["identity_link"]
    for key in remembered:
        assert forgotten[key] == remembered[key], key
