"""Issue 17, items 4 and 6: the row rules ``time_out_of_window`` and ``invalid_text`` (contract §6) on tiny
real files through the whole per-file pipeline, and a file that fails in merge ends with a report without
blocking the run's other files. A real PostgreSQL (a fresh database per test)."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os

import psycopg2
import pytest

from covidsync import db
from covidsync.ingest import checkins, engine, landing

REGISTRY = (
    "facility_code,name,facility_type,province_code,district_code,commune_code\n"
    "17001,Bệnh viện Đa khoa tỉnh Hòa Bình,provincial_hospital,17,148,04789\n"
)
VACCINATION = {
    "Mã bản ghi": "R1",
    "Họ và tên": "Nguyễn Văn An",
    "Ngày sinh": "15/03/1990",
    "Giới tính": "Nam",
    "Số CCCD/CMND": "017090001234",
    "Số điện thoại": "0912345678",
    "Mã tỉnh": "17",
    "Mã huyện": "148",
    "Mã xã": "04789",
    "Địa chỉ": "Xóm Mít, Hòa Bình",
    "Tên vắc xin": "AstraZeneca",
    "Số lô": "AZ0001",
    "Mũi số": "1",
    "Ngày tiêm": "01/09/2021",
    "Mã cơ sở": "17001",
}
VN = dt.timezone(dt.timedelta(hours=7))
CARD = "017190001234|123456789|Bùi Văn Nam|05031990|Nam|Xóm Mít, Hòa Bình|15072021"
FORMULA_CARD = '017190005678||=HYPERLINK("http://x.example/a")|05031990|Nam|Xóm Mít|15072021'


@pytest.fixture(autouse=True)
def no_data_docs(monkeypatch):
    monkeypatch.setenv("COVIDSYNC_GX_DOCS", "0")
    monkeypatch.setenv("COVIDSYNC_MAX_REJECTED_SHARE", "0.9")  # the bad rows are many in these tiny files


@pytest.fixture
def registry(areas):
    (areas["landing"] / "registry").mkdir(parents=True)
    (areas["landing"] / "registry" / "facilities.csv").write_text(REGISTRY, encoding="utf-8")
    return areas


def write_csv(path, header, rows, when=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    if when is not None:
        os.utime(path, (when.timestamp(), when.timestamp()))
    return path


def ingest(url, areas, **kwargs) -> list[dict]:
    conn = db.connect(url)
    try:
        with conn:
            landing.load_registry(conn, areas["landing"])
        pending = landing.register(conn, areas["landing"]).pending
        out = []
        for file_id in engine.pending_in_order(conn, pending):
            out.append(engine.process_file(conn, file_id, **kwargs))
        return out
    finally:
        conn.close()


def query(url, sql, params=()):
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    finally:
        conn.close()


def problems(url) -> set[tuple]:
    return set(query(url, "select row_number, column_name, code from quarantine.row_problem"))


def test_formulas_and_mojibake_in_names_and_addresses_are_invalid_text(warehouse_url, registry):
    bad = [
        {"Họ và tên": '=HYPERLINK("http://x.example/?a=1","Bấm")'},  # row 2
        {"Địa chỉ": "+cmd|' /C calc'!A0"},  # row 3
        {"Họ và tên": "Nguyá»…n VÄƒn An"},  # row 4: UTF-8 read as Windows-1258, sent again as UTF-8
        {"Họ và tên": "@SUM(A1:A2)"},  # row 5
        {"Địa chỉ": "-2+3"},  # row 6
        {"Họ và tên": "TrĂ²n Thị Hà"},  # row 7
    ]
    rows = [dict(VACCINATION, **{"Mã bản ghi": "R0", "Số CCCD/CMND": "017090009999"})]
    for i, change in enumerate(bad, start=1):
        rows.append(
            dict(VACCINATION, **{"Mã bản ghi": f"R{i}", "Số CCCD/CMND": f"01709000{i:04d}"}, **change)
        )
    rows.append(dict(VACCINATION, **{"Mã bản ghi": "R9", "Địa chỉ": "Số 12 – đường Cù Chính Lan"}))  # row 8
    header = list(VACCINATION)
    write_csv(
        registry["landing"] / "17001" / "vaccinations" / "v.csv", header, [list(r.values()) for r in rows]
    )
    (summary,) = ingest(warehouse_url, registry)
    assert problems(warehouse_url) == {
        (2, "full_name", "invalid_text"),
        (3, "address", "invalid_text"),
        (4, "full_name", "invalid_text"),
        (5, "full_name", "invalid_text"),
        (5, "full_name", "name_without_diacritics"),
        (6, "address", "invalid_text"),
        (7, "full_name", "invalid_text"),
    }
    assert summary["rows_loaded"] == 2, summary
    assert query(warehouse_url, "select count(*) from core.vaccination where full_name !~ '^[=+@-]'") == [
        (2,)
    ]
    errors = (registry["outbox"] / "17001" / "v.csv.errors.csv").read_text(encoding="utf-8")
    assert errors.count(",invalid_text,") == 6


def venues_and_checkins(areas, rows, when):
    venues = [
        ["V001", "Chợ Phương Lâm", "17", "148", "04789", "Phường Phương Lâm", "market"],
        ["V002", "=1+2", "17", "148", "04789", "", "market"],
    ]
    write_csv(
        areas["landing"] / "pccovid" / "venues" / "venues.csv",
        ["venue_code", "name", "province_code", "district_code", "commune_code", "address", "venue_type"],
        venues,
        when - dt.timedelta(days=1),
    )
    write_csv(
        areas["landing"] / "pccovid" / "checkins" / "c.csv",
        ["checkin_id", "venue_code", "scanned_at", "qr_payload", "phone"],
        rows,
        when,
    )


def test_checkin_times_outside_the_window_and_formula_names_in_qr(warehouse_url, areas):
    received = dt.datetime(2021, 11, 3, 1, 0, tzinfo=VN)
    rows = [
        ["C1", "V001", "2021-11-02T08:00:00+07:00", CARD, ""],  # fine
        ["C2", "V001", "2021-08-31T23:59:00+07:00", CARD, ""],  # before PC-Covid's launch
        ["C3", "V001", "2021-09-01T00:00:00+07:00", CARD, ""],  # the first accepted instant
        ["C4", "V001", "2021-11-03T12:00:00+07:00", CARD, ""],  # after receipt, within the skew: future only
        ["C5", "V001", "2021-11-05T12:00:00+07:00", CARD, ""],  # beyond the day of skew
        ["C6", "V001", "1970-01-01T00:00:00Z", CARD, ""],
        ["C7", "V001", "2021-11-02T09:00:00+07:00", FORMULA_CARD, ""],  # a formula as the card's name
        ["C8", "V002", "2021-11-02T09:00:00+07:00", CARD, ""],  # the venue was refused (invalid_text)
    ]
    venues_and_checkins(areas, rows, received)
    conn = db.connect(warehouse_url)
    try:
        results = checkins.ingest_landing(conn)
    finally:
        conn.close()
    assert [r["dataset"] for r in results] == ["venues", "checkins"], results
    assert problems(warehouse_url) == {
        (2, "name", "invalid_text"),  # the venues file's row 2
        (2, "scanned_at", "time_out_of_window"),
        (4, "scanned_at", "future_date"),
        (5, "scanned_at", "future_date"),
        (5, "scanned_at", "time_out_of_window"),
        (6, "scanned_at", "time_out_of_window"),
        (7, "qr_payload", "invalid_text"),
        (8, "venue_code", "unknown_venue"),
    }
    assert query(warehouse_url, "select checkin_id from core.checkin order by 1") == [("C1",), ("C3",)]
    assert query(
        warehouse_url, "select count(*) from core.checkin_person where left(full_name, 1) = '='"
    ) == [(0,)]


def test_the_window_start_and_skew_are_configurable(warehouse_url, areas, monkeypatch):
    monkeypatch.setenv("COVIDSYNC_TIME_WINDOW_START", "2021-10-01")
    monkeypatch.setenv("COVIDSYNC_TIME_WINDOW_SKEW_MINUTES", "0")
    received = dt.datetime(2021, 11, 3, 1, 0, tzinfo=VN)
    rows = [
        ["C1", "V001", "2021-11-02T08:00:00+07:00", CARD, ""],
        ["C2", "V001", "2021-09-15T08:00:00+07:00", CARD, ""],  # before the configured start
        ["C3", "V001", "2021-11-03T02:00:00+07:00", CARD, ""],  # an hour after receipt, no skew allowed
    ]
    venues_and_checkins(areas, rows, received)
    conn = db.connect(warehouse_url)
    try:
        checkins.ingest_landing(conn)
    finally:
        conn.close()
    found = {p for p in problems(warehouse_url) if p[2] == "time_out_of_window"}
    assert found == {(2, "scanned_at", "time_out_of_window"), (3, "scanned_at", "time_out_of_window")}


def test_an_unreadable_window_setting_is_one_line(monkeypatch):
    from covidsync.ingest import plausible

    monkeypatch.setenv("COVIDSYNC_TIME_WINDOW_START", "01/09/2021")
    with pytest.raises(plausible.WindowSettingError, match="COVIDSYNC_TIME_WINDOW_START"):
        plausible.rule_params()


def test_a_file_that_fails_in_merge_ends_rejected_with_a_report_and_the_others_go_on(warehouse_url, registry):
    def failing_merge(conn, f):
        if f.original_name == "a.csv":  # a real database error inside the merge's transaction
            with conn, conn.cursor() as cur:
                cur.execute("insert into core.vaccination_history select * from core.no_such_table")
        return engine.merge(conn, f)

    header = list(VACCINATION)
    folder = registry["landing"] / "17001" / "vaccinations"
    write_csv(folder / "a.csv", header, [list(VACCINATION.values())])
    other = dict(VACCINATION, **{"Mã bản ghi": "R2", "Số CCCD/CMND": "017090002222"})
    write_csv(folder / "b.csv", header, [list(other.values())])
    os.utime(folder / "b.csv", (os.path.getmtime(folder / "a.csv") + 5,) * 2)  # b after a
    summaries = ingest(warehouse_url, registry, merge_step=failing_merge)
    assert [(s["status"], s["rows_loaded"]) for s in summaries] == [("rejected", 0), ("loaded", 1)]
    report = json.loads((registry["outbox"] / "17001" / "a.csv.result.json").read_text(encoding="utf-8"))
    assert report["status"] == "rejected" and report["file_errors"] == ["merge_failed"]
    errors = (registry["outbox"] / "17001" / "a.csv.errors.csv").read_text(encoding="utf-8")
    assert ",merge_failed,error," in errors
    assert list(registry["rejected"].rglob("a.csv")), "the file waits in the rejected area"
    assert query(warehouse_url, "select kind, subject from ops.alert") == [("merge_failed", "landing_file:1")]
    (reason,) = query(
        warehouse_url, "select reason from ops.file_event where file_id = 1 and to_status = 'rejected'"
    )
    assert "UndefinedTable" in reason[0] and "42P01" in reason[0]
    assert query(warehouse_url, "select record_id from core.vaccination") == [("R2",)]

    # the next run: a's failure blocks nothing, and a reprocessed a loads once its cause is gone
    third = dict(VACCINATION, **{"Mã bản ghi": "R3", "Số CCCD/CMND": "017090003333"})
    write_csv(folder / "c.csv", header, [list(third.values())])
    conn = db.connect(warehouse_url)
    try:
        pending = landing.register(conn, registry["landing"]).pending
        assert [s["status"] for s in engine.process_group(conn, pending)] == ["loaded"]
        engine.reprocess(conn, 1, "merge failure fixed", "test")
        assert engine.process_file(conn, 1)["status"] == "loaded"
    finally:
        conn.close()
    assert query(warehouse_url, "select record_id from core.vaccination order by 1") == [
        ("R1",),
        ("R2",),
        ("R3",),
    ]


def test_partitions_are_made_in_bounded_transactions(warehouse_url, monkeypatch):
    monkeypatch.setenv("COVIDSYNC_CHECKIN_PARTITION_BATCH", "10")
    days = [dt.date(2022, 1, 1) + dt.timedelta(days=i) for i in range(25)]
    conn = db.connect(warehouse_url)
    try:
        made = checkins.ensure_partitions(conn, days)
    finally:
        conn.close()
    assert len(made) == 25
    transactions = query(
        warehouse_url,
        "select count(distinct xmin::text) from pg_class where relname like 'checkin\\_2022%%' and relkind = 'r'",
    )
    assert transactions == [(3,)], "25 days in transactions of at most 10"
