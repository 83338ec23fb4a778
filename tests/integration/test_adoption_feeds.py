"""The adoption feeds through the ingest engine (adoption.md §1 and §3) on a real PostgreSQL: each row code of
the app-user counts and the population file raised by a tiny file and absent from a clean one, the latest file
winning with the earlier figures kept, the population's reports in ``outbox/registry/``; venue types read from
their Vietnamese and English words; and the QR kind of each check-in written by the engine."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os

import psycopg2
import pytest

from covidsync import db
from covidsync.ingest import checkins, landing, pipeline

VN = dt.timezone(dt.timedelta(hours=7))
DAY = dt.date(2021, 11, 20)
# clean rows: the province, a district, a commune whose leading zero a spreadsheet dropped, Hà Nội as "1"
APP_HEADER = ["Ngày", "Mã địa bàn", "Số người dùng đăng ký", "Số người dùng hoạt động 7 ngày"]
APP_CLEAN = [
    ["20/11/2021", "17", "183000", "110000"],
    ["20/11/2021", "148", "40000", "25000"],
    ["20/11/2021", "4789", "2100", "1300"],
    ["20/11/2021", "1", "2500000", "1500000"],
    ["19/11/2021", "17", "182000", "109000"],
]
APP_BAD = {
    "invalid_count": ["20/11/2021", "150", "-5", "0"],
    "unknown_area": ["20/11/2021", "999", "10", "5"],
    "future_date": ["22/11/2021", "152", "10", "5"],
}
POP_HEADER = ["area_code", "year", "population", "smartphone_owners", "source"]
POP_CLEAN = [
    ["17", "2021", "854131", "521000", "GSO"],
    ["148", "2021", "100000", "", "GSO"],
    ["4789", "2021", "9000", "5000", "GSO"],
    ["150", "2021", "60000", "35000", "GSO"],
    ["01", "2021", "8330800", "", "GSO"],
]
POP_BAD = {
    "invalid_count": ["152", "2021", "90000", "95000", "GSO"],  # more smartphone owners than people
    "unknown_area": ["99999", "2021", "1000", "", "GSO"],
}


@pytest.fixture(autouse=True)
def _no_data_docs(monkeypatch):
    monkeypatch.setenv("COVIDSYNC_GX_DOCS", "0")  # the gate's verdicts are what these tests read


def _write(path, header, rows, received: dt.datetime) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    os.utime(path, (received.timestamp(), received.timestamp()))


def _codes(outbox, name) -> list[tuple[str, str, str]]:
    with (outbox / f"{name}.errors.csv").open(encoding="utf-8") as fh:
        return [(r["row_number"], r["column"], r["code"]) for r in csv.DictReader(fh)]


def _result(outbox, name) -> dict:
    return json.loads((outbox / f"{name}.result.json").read_text(encoding="utf-8"))


def _rows(url, sql, *params) -> list[tuple]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params or None)
            return cur.fetchall()
    finally:
        conn.close()


def _ingest_pccovid(url) -> list[dict]:
    conn = db.connect(url)
    try:
        return checkins.ingest_landing(conn)
    finally:
        conn.close()


def _ingest_facility(url, areas) -> list[dict]:
    """What ingest_facility_files does with the registry's population file: register, process."""
    conn = db.connect(url)
    try:
        pending = landing.register(conn, areas["landing"]).pending
        return [pipeline.process_file(conn, file_id) for file_id in sorted(pending)]
    finally:
        conn.close()


def test_each_app_user_code_from_a_tiny_file_and_none_from_the_clean_one(warehouse_url, areas):
    folder = areas["landing"] / "pccovid" / "app_users"
    received = dt.datetime(2021, 11, 21, 6, tzinfo=VN)
    _write(folder / "clean.csv", APP_HEADER, APP_CLEAN, received)
    for code, bad in APP_BAD.items():
        _write(folder / f"{code}.csv", APP_HEADER, [*APP_CLEAN, bad], received)
    # active users above registered users is invalid_count too
    _write(folder / "active.csv", APP_HEADER, [*APP_CLEAN, ["20/11/2021", "150", "10", "11"]], received)
    results = {r["file_id"]: r for r in _ingest_pccovid(warehouse_url)}
    assert len(results) == 5
    outbox = areas["outbox"] / "pccovid"
    assert _result(outbox, "clean.csv")["status"] == "loaded" and _codes(outbox, "clean.csv") == []
    for code in APP_BAD:
        assert _result(outbox, f"{code}.csv")["status"] == "loaded_with_errors", code
        column = (
            "day" if code == "future_date" else "area_code" if code == "unknown_area" else "registered_users"
        )
        assert _codes(outbox, f"{code}.csv") == [("6", column, code)]
    assert _codes(outbox, "active.csv") == [("6", "active_users_7d", "invalid_count")]
    # the clean rows loaded once, the lost leading zeros put back (a commune of 5 digits, a province of 2)
    assert _rows(
        warehouse_url, "select day, area_code, area_level from core.app_user_count order by 1, 2"
    ) == [
        (dt.date(2021, 11, 19), "17", "province"),
        (DAY, "01", "province"),
        (DAY, "04789", "commune"),
        (DAY, "148", "district"),
        (DAY, "17", "province"),
    ]
    assert (areas["archive"] / "pccovid" / "app_users" / "2021-11-21" / "clean.csv").is_file()


def test_the_latest_app_user_file_wins_and_the_earlier_counts_are_kept(warehouse_url, areas):
    folder = areas["landing"] / "pccovid" / "app_users"
    _write(
        folder / "a.csv",
        APP_HEADER,
        [["20/11/2021", "17", "100", "50"]],
        dt.datetime(2021, 11, 21, 6, tzinfo=VN),
    )
    # the later file in JSON, numbers as numbers (the operator's API export)
    later = folder / "b.json"
    later.write_text(
        json.dumps([{"day": "2021-11-20", "area_code": 17, "registered_users": 120, "active_users_7d": 60}]),
        encoding="utf-8",
    )
    stamp = dt.datetime(2021, 11, 21, 9, tzinfo=VN).timestamp()
    os.utime(later, (stamp, stamp))
    _ingest_pccovid(warehouse_url)
    # a file received before both but processed after them changes nothing
    _write(
        folder / "c.csv",
        APP_HEADER,
        [["20/11/2021", "17", "90", "40"]],
        dt.datetime(2021, 11, 21, 5, tzinfo=VN),
    )
    (late,) = _ingest_pccovid(warehouse_url)
    assert late["status"] == "loaded"
    assert _rows(warehouse_url, "select registered_users, active_users_7d from core.app_user_count") == [
        (120, 60)
    ]
    history = _rows(
        warehouse_url,
        "select h.registered_users, f.original_name, r.original_name from core.app_user_count_history as h"
        " join ops.landing_file as f on f.file_id = h.source_file_id"
        " join ops.landing_file as r on r.file_id = h.replaced_by_file_id",
    )
    assert history == [(100, "a.csv", "b.json")]


def test_the_population_file_its_codes_history_and_registry_reports(warehouse_url, areas):
    path = areas["landing"] / "registry" / "population.csv"
    outbox = areas["outbox"] / "registry"
    when = dt.datetime(2021, 9, 26, 12, tzinfo=VN)
    _write(path, POP_HEADER, POP_CLEAN, when)
    (first,) = _ingest_facility(warehouse_url, areas)
    assert first["status"] == "loaded" and _codes(outbox, "population.csv") == []
    assert (
        not path.exists()
        and (areas["archive"] / "registry" / "population" / "2021-09-26" / "population.csv").is_file()
    )
    for n, (code, bad) in enumerate(POP_BAD.items(), start=1):
        changed = [["17", "2021", str(854131 + n), "521000", "GSO"], *POP_CLEAN[1:]]
        _write(path, POP_HEADER, [*changed, bad], when + dt.timedelta(days=n))
        (result,) = _ingest_facility(warehouse_url, areas)
        assert result["status"] == "loaded_with_errors", code
        assert _codes(outbox, "population.csv") == [
            ("6", "smartphone_owners" if code == "invalid_count" else "area_code", code)
        ]
    # a population of 0 is invalid_count too
    _write(path, POP_HEADER, [*POP_CLEAN, ["152", "2021", "0", "", "GSO"]], when + dt.timedelta(days=5))
    _ingest_facility(warehouse_url, areas)
    assert _codes(outbox, "population.csv") == [("6", "population", "invalid_count")]
    assert _rows(warehouse_url, "select population from core.area_population where area_code = '17'") == [
        (854131,)
    ]
    assert _rows(
        warehouse_url, "select population from core.area_population_history order by replaced_at"
    ) == [(854131,), (854132,), (854133,)]
    assert _rows(warehouse_url, "select count(*), count(smartphone_owners) from core.area_population") == [
        (5, 3)
    ]
    assert _rows(
        warehouse_url, "select area_code from core.area_population where area_code like '0%' order by 1"
    ) == [("01",), ("04789",)]


VENUES = [
    ["V1", "UBND xã Yên Mông", "17", "148", "04789", "", "Cơ quan nhà nước"],
    ["V2", "Chợ Phương Lâm", "17", "148", "04789", "", "CHỢ"],
    ["V3", "Chốt Kim Bôi", "17", "148", "04789", "", "chot kiem dich"],
    ["V4", "Trường THCS", "17", "148", "04789", "", "School"],
    ["V5", "Bến xe", "17", "148", "04789", "", "bus_station"],
    ["V6", "Xưởng", "17", "148", "04789", "", "xưởng mộc"],
    ["V7", "Không rõ", "17", "148", "04789", "", ""],
]
CARD = "017190001234|123456789|Bùi Văn Nam|05031990|Nam|Xóm Mít, Hòa Bình|15072021"
PERSONAL = "017090001111|BUI XUAN QUAN|1990-06-23|0|183471582224943384|<1<HS4010120878821<0398474790"


def test_venue_types_from_their_words_and_the_qr_kind_of_each_checkin(warehouse_url, areas):
    root = areas["landing"] / "pccovid"
    received = dt.datetime(2021, 11, 2, 20, tzinfo=VN)
    _write(
        root / "venues" / "venues.csv",
        ["Mã địa điểm", "Tên địa điểm", "Mã tỉnh", "Mã huyện", "Mã xã", "Địa chỉ", "Loại địa điểm"],
        VENUES,
        received,
    )
    scans = [
        ["C1", "V1", "2021-11-02T08:00:00+07:00", CARD, "", ""],
        ["C2", "V2", "2021-11-02T08:05:00+07:00", PERSONAL, "", ""],
        ["C3", "V3", "2021-11-02T08:10:00+07:00", "", "017203009999", ""],
        ["C4", "V4", "2021-11-02T08:15:00+07:00", "", "", "0912345678"],
    ]
    _write(
        root / "checkins" / "scans.csv",
        ["checkin_id", "venue_code", "scanned_at", "qr_payload", "citizen_id", "phone"],
        scans,
        received,
    )
    assert {r["status"] for r in _ingest_pccovid(warehouse_url)} == {"loaded"}
    assert dict(_rows(warehouse_url, "select venue_code, venue_type from core.venue")) == {
        "V1": "agency",
        "V2": "market",
        "V3": "checkpoint",
        "V4": "school",
        "V5": "transport",
        "V6": "other",  # a word the vocabulary does not know
        "V7": None,  # none sent
    }
    assert dict(_rows(warehouse_url, "select checkin_id, qr_kind from core.checkin")) == {
        "C1": "cccd_qr",
        "C2": "personal_qr",
        "C3": "typed",
        "C4": "typed",
    }


def test_the_report_names_a_district_without_app_user_counts_or_population(warehouse_url):
    from covidsync.marts import adoption_report

    conn = psycopg2.connect(warehouse_url)
    try:
        with conn, conn.cursor() as cur:  # venues scanned in Đà Bắc (150), no counts nor population for it
            cur.execute(
                "insert into mart.venue_compliance_day (day, district_code, commune_code, venue_type,"
                " registered_venues, active_venues, compliance_share, scans) values (%s, '150', 'all', 'all',"
                " 4, 3, 0.75, 9)",
                (DAY,),
            )
        page = adoption_report.section(conn, DAY)
    finally:
        conn.close()
    assert "<td>150</td><td>Huyện Đà Bắc</td>" in page
