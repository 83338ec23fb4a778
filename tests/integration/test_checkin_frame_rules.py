"""Issue 16 (check-ins): the row codes computed on the typed batches while staging, and the person and link
tables written by anti-join instead of an upsert of every person a file names."""

from __future__ import annotations

import csv
import datetime as dt
import os
import threading
import time

import polars as pl
import psycopg2
import pytest

from covidsync import db
from covidsync.ingest import checkin_frame_rules, checkins, engine, landing

VN = dt.timezone(dt.timedelta(hours=7))
RECEIVED = dt.datetime(2021, 11, 3, 1, 0, tzinfo=VN)
VENUES = "venue_code,name,province_code,district_code,commune_code,address,venue_type\nV001,Chợ,17,148,4789,,market\n"
CARD = "017190001234|123456789|Bùi Văn Nam|05031990|Nam|Xóm Mít, Hòa Bình|15072021"
CARD_FORMULA = "017190005678||=HYPERLINK(1)|05031990|Nam|Xóm Mít|15072021"
PERSONAL = "017090001111|BUI XUAN QUAN|1990-06-23|0|183471582224943384|<1<HS4010120878821<0398474790"
HEADER = ["checkin_id", "venue_code", "scanned_at", "direction", "mode", "qr_payload", "citizen_id", "phone"]
T = "2021-11-02T08:00:00+07:00"
ROWS = [
    ["C01", "V001", T, "in", "", CARD, "", ""],  # 1 clean
    ["", "", "", "in", "", CARD, "", ""],  # 2 missing checkin_id, venue, time: one code, on checkin_id
    ["C01", "V999", T, "in", "", CARD, "", ""],  # 3 duplicate of row 1 (SQL), unknown venue
    ["C04", "V001", "not a time", "in", "", CARD, "", ""],  # 4 invalid_date
    ["C05", "V001", "2021-11-05T08:00:00+07:00", "in", "", CARD, "", ""],  # 5 future, out of window
    ["C06", "V001", "2021-08-01T08:00:00+07:00", "in", "", CARD, "", ""],  # 6 before the window
    ["C07", "V001", T, "in", "", "not|a|payload", "", "0912345678"],  # 7 invalid_qr_payload
    ["C08", "V001", T, "in", "", CARD_FORMULA, "", ""],  # 8 invalid_text
    ["C09", "V001", T, "in", "", "", "12345", ""],  # 9 invalid_citizen_id (and no key)
    ["C10", "V001", T, "in", "", "", "123456780", ""],  # 10 legacy_cmnd
    ["C11", "V001", T, "in", "", "", "099190001234", ""],  # 11 unknown_province_in_id
    ["C12", "V001", T, "in", "", PERSONAL, "", "12"],  # 12 invalid_phone (warning)
    ["C13", "V001", T, "in", "", "", "", ""],  # 13 missing_person_key
    *[[f"F{i:02d}", "V001", T, "in", "", PERSONAL, "", ""] for i in range(50)],
]
EXPECTED = {
    (2, "checkin_id", "missing_required"),
    (3, "checkin_id", "duplicate_in_file"),
    (3, "venue_code", "unknown_venue"),
    (4, "scanned_at", "invalid_date"),
    (5, "scanned_at", "future_date"),
    (5, "scanned_at", "time_out_of_window"),
    (6, "scanned_at", "time_out_of_window"),
    (7, "qr_payload", "invalid_qr_payload"),
    (8, "qr_payload", "invalid_text"),
    (9, "citizen_id", "invalid_citizen_id"),
    (9, "", "missing_person_key"),
    (10, "citizen_id", "legacy_cmnd"),
    (11, "citizen_id", "unknown_province_in_id"),
    (11, "", "missing_person_key"),  # a CCCD of no province is no key
    (12, "phone", "invalid_phone"),
    (13, "", "missing_person_key"),
}


def _deliver(areas, name, rows, when=RECEIVED, header=HEADER):
    path = areas["landing"] / "pccovid" / "checkins" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    os.utime(path, (when.timestamp(), when.timestamp()))


def _venues(areas):
    path = areas["landing"] / "pccovid" / "venues" / "venues.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(VENUES, encoding="utf-8")
    stamp = dt.datetime(2021, 11, 1, tzinfo=VN).timestamp()
    os.utime(path, (stamp, stamp))


def _query(url, sql, params=()):
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


@pytest.fixture
def quiet_docs(monkeypatch):
    monkeypatch.setenv("COVIDSYNC_GX_DOCS", "0")


def test_every_single_row_code_is_found_while_staging_and_duplicates_by_sql(warehouse_url, areas, quiet_docs):
    _venues(areas)
    _deliver(areas, "codes.csv", ROWS)
    conn = db.connect(warehouse_url)
    try:
        pending = checkins.pending_by_dataset(conn, landing.register(conn, scope=landing.PCCOVID).pending)
        checkins.ingest_file(conn, pending["venues"][0])
        (file_id,) = pending["checkins"]
        f = engine.load_file(conn, file_id)
        conn.rollback()
        engine.stage(conn, f)
        staged = set(_query(warehouse_url, "select row_number, column_name, code from staging.row_check"))
        # every code but the one that needs the whole file, before any SQL rule ran
        assert staged == {p for p in EXPECTED if p[2] != "duplicate_in_file"}
        engine.process_file(conn, file_id)
    finally:
        conn.close()
    found = set(_query(warehouse_url, "select row_number, column_name, code from quarantine.row_problem"))
    assert found == EXPECTED
    severities = dict(_query(warehouse_url, "select code, severity from ops.row_code"))
    errors = {p[0] for p in EXPECTED if severities[p[2]] == "error"}
    loaded = {r[0] for r in _query(warehouse_url, "select source_row from core.checkin")}
    assert loaded == set(range(1, len(ROWS) + 1)) - errors


def test_row_codes_follow_sqls_three_valued_logic():
    """A row without a readable time gets neither future_date nor time_out_of_window; a missing value on
    several columns is reported once, on the first; no citizen_id is no citizen_id code."""
    ctx = checkin_frame_rules.Context(
        received_at=RECEIVED,
        provinces=frozenset({"17", "01"}),
        window_start=dt.datetime(2021, 9, 1, tzinfo=VN),
        window_skew_minutes=1440,
        formula_pattern="^[=+@\t\r-]",
        mojibake_pattern="[Ã][¡]",
        venues=pl.Series("venue_code", ["V001"], dtype=pl.String),
    )
    text = pl.String
    staged = pl.DataFrame(
        {
            "row_number": [1, 2, 3],
            "checkin_id": [None, "A", "B"],
            "venue_code": [None, "V001", "V001"],
            "scanned_at_text": [None, "junk", None],
            "scanned_at": [None, None, "2021-11-03T01:00:00+07:00"],  # the moment received: not future
            "qr_payload": [None, None, None],
            "qr_kind": [None, None, None],
            "citizen_id_text": [None, None, None],
            "citizen_id": [None, None, "017190001234"],
            "phone_text": [None, None, None],
            "phone": [None, None, None],
            "person_kind": ["phone", "phone", "cccd"],
        },
        schema_overrides={"qr_payload": text, "qr_kind": text, "citizen_id_text": text},
    )
    codes = checkin_frame_rules.row_codes(None, staged, ctx)
    assert codes.rows() == [(1, "checkin_id", "missing_required"), (2, "scanned_at", "invalid_date")]
    later = staged.with_columns(pl.lit("2021-11-03T01:00:00.000001+07:00").alias("scanned_at"))
    assert (3, "scanned_at", "future_date") in checkin_frame_rules.row_codes(None, later, ctx).rows()


PERSON_COLUMNS = "person_kind, identifier, full_name, first_seen_at, last_seen_at, changed_at, xmin::text"


def test_a_file_naming_known_persons_rewrites_only_what_changed(warehouse_url, areas, quiet_docs):
    _venues(areas)
    _deliver(
        areas,
        "day1.csv",
        [["A1", "V001", T, "in", "", CARD, "", ""], ["A2", "V001", T, "in", "", PERSONAL, "", ""]],
    )
    conn = db.connect(warehouse_url)
    try:
        checkins.ingest_landing(conn)
        before = {r[1]: r for r in _query(warehouse_url, f"select {PERSON_COLUMNS} from core.checkin_person")}
        links = _query(warehouse_url, "select *, xmin::text from core.identity_link order by 1, 2, 3")
        assert len(before) == 2 and len(links) == 3
        # the same two persons again, the card's holder later that day, and a new person by phone
        later = "2021-11-02T20:00:00+07:00"
        _deliver(
            areas,
            "day1b.csv",
            [
                ["B1", "V001", later, "in", "", CARD, "", ""],
                ["B2", "V001", T, "in", "", PERSONAL, "", ""],
                ["B3", "V001", T, "in", "", "", "", "0912345678"],
            ],
            when=RECEIVED + dt.timedelta(minutes=5),
        )
        checkins.ingest_landing(conn)
    finally:
        conn.close()
    after = {r[1]: r for r in _query(warehouse_url, f"select {PERSON_COLUMNS} from core.checkin_person")}
    assert set(after) == set(before) | {"0912345678"}
    assert after["017090001111"] == before["017090001111"], "nothing new: not rewritten"
    card = after["017190001234"]
    assert card[4] > before["017190001234"][4] and card[6] != before["017190001234"][6], "last seen widened"
    assert card[5] == before["017190001234"][5], "a later scan alone is no identity change"
    assert _query(warehouse_url, "select *, xmin::text from core.identity_link order by 1, 2, 3") == links


def test_a_second_writer_of_the_person_tables_waits_instead_of_failing(warehouse_url, areas, quiet_docs):
    """Writers of core.checkin_person take it in SHARE ROW EXCLUSIVE mode: a merge naming a person that
    another, uncommitted merge is inserting waits for it, then updates that row (no unique violation)."""
    _venues(areas)
    _deliver(areas, "one.csv", [["A1", "V001", T, "in", "", CARD, "", ""]])
    conn = db.connect(warehouse_url)
    other = psycopg2.connect(warehouse_url)
    try:
        pending = checkins.pending_by_dataset(conn, landing.register(conn, scope=landing.PCCOVID).pending)
        checkins.ingest_file(conn, pending["venues"][0])
        (file_id,) = pending["checkins"]
        f = engine.load_file(conn, file_id)
        conn.rollback()
        engine.stage(conn, f)
        engine.apply_rules(conn, f)
        from covidsync import privacy

        key = privacy.pseudonym("cccd", "017190001234")
        with other.cursor() as cur:  # another file's merge, inserting the same person, not committed yet
            cur.execute("lock table core.checkin_person in share row exclusive mode")
            cur.execute(
                "insert into core.checkin_person (person_kind, person_key, identifier, first_seen_at, last_seen_at)"
                " values ('cccd', %s, '017190001234', '2021-11-01T00:00:00Z', '2021-11-01T00:00:00Z')",
                (key,),
            )
        outcome = {}

        def merge():
            try:
                outcome["loaded"] = engine.merge(conn, f)
            except Exception as exc:  # noqa: BLE001 (the test reports it)
                outcome["error"] = exc

        thread = threading.Thread(target=merge)
        thread.start()
        deadline = time.monotonic() + 30
        blocked = False
        watcher = psycopg2.connect(warehouse_url)
        watcher.autocommit = True
        try:
            with watcher.cursor() as cur:
                while thread.is_alive() and not blocked and time.monotonic() < deadline:
                    cur.execute(
                        "select count(*) > 0 from pg_locks where not granted and relation = 'core.checkin_person'::regclass"
                    )
                    blocked = cur.fetchone()[0]
                    if not blocked:
                        time.sleep(0.02)
        finally:
            watcher.close()
        assert blocked and thread.is_alive(), "the merge should wait for the other writer"
        other.commit()
        thread.join(timeout=60)
        assert "error" not in outcome, outcome.get("error")
        assert outcome["loaded"] == 1
    finally:
        other.close()
        conn.close()
    rows = _query(warehouse_url, "select full_name, first_seen_at, last_seen_at from core.checkin_person")
    assert len(rows) == 1
    name, first, last = rows[0]
    assert name == "Bùi Văn Nam", "the waiting merge updated the row the other one inserted"
    assert first == dt.datetime(2021, 11, 1, tzinfo=dt.UTC) and last == dt.datetime(
        2021, 11, 2, 1, 0, tzinfo=dt.UTC
    )


def test_venues_found_once_are_not_looked_up_again_and_unknown_ones_are(warehouse_url):
    """with_venues with the file's ``seen`` codes: a venue found by an earlier batch is known without a
    query; a code not found is looked up again in each batch (a venue registered meanwhile is then found)."""
    import datetime as dt

    import polars as pl
    import psycopg2.extensions

    from covidsync.ingest import checkin_frame_rules

    queries: list = []

    class Counted(psycopg2.extensions.cursor):
        def execute(self, sql, params=None):
            queries.append(params)
            return super().execute(sql, params)

    add = (
        "insert into core.venue (venue_code, name, province_code, source_file_id, source_row)"
        " select %s, 'x', '17', file_id, 1 from ops.landing_file limit 1"
    )
    conn = psycopg2.connect(warehouse_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "insert into ops.landing_file (sha256, relative_path, original_name, size_bytes, received_at)"
                " values (repeat('b', 64), 'pccovid/venues/v.csv', 'v.csv', 1, now())"
            )
            for code in ("VA", "VB"):
                cur.execute(add, (code,))
        ctx = checkin_frame_rules.context(conn, dt.datetime.now(dt.UTC))
        seen: set[str] = set()
        with conn.cursor(cursor_factory=Counted) as cur:
            first = checkin_frame_rules.with_venues(cur, ctx, pl.Series(["VA", "VC", None, "VA"]), seen)
            assert sorted(first.venues.to_list()) == ["VA"]
            with conn.cursor() as other:
                other.execute(add, ("VC",))
            second = checkin_frame_rules.with_venues(cur, ctx, pl.Series(["VA", "VB", "VC"]), seen)
            assert sorted(second.venues.to_list()) == ["VA", "VB", "VC"]
            assert sorted(queries[-1][0]) == ["VB", "VC"], "VA, found before, is not looked up again"
            third = checkin_frame_rules.with_venues(cur, ctx, pl.Series(["VA", "VC"]), seen)
            assert sorted(third.venues.to_list()) == ["VA", "VC"]
            assert len(queries) == 2, "every code of the third batch was found before: no query"
    finally:
        conn.rollback()
        conn.close()
