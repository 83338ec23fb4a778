"""The arrivals registries (contract arrivals.md §1.3, §1.4, §4; issue 24): a risk-level or measures file is
validated whole; one bad row rejects it (registry_rejected, report in outbox/registry/) and changes nothing;
a corrected file replaces it; the level of a place on a day is its most specific area in force."""

from __future__ import annotations

import datetime as dt
import json
import os

import psycopg2

from covidsync import db
from covidsync.ingest import registry_arrivals as registry

DAY = dt.date(2021, 11, 20)
RISK = [
    "area_code,level,effective_from,effective_to,source",
    "01,3,2021-11-01,,CV 1",  # Hà Nội, until replaced
    "001,4,2021-11-10,2021-11-25,CV 2",  # Ba Đình district
    "1,2,2021-11-22,,CV 3",  # Hà Nội again (leading zero lost): replaces level 3 from the 22nd
]
MEASURES = "effective_from,origin_level,category,measure,days,test_days\n" + "".join(
    f"2021-11-15,{level},{category},home_quarantine,7,1;7\n"
    for level in range(1, 5)
    for category in ("recovered", "fully_vaccinated", "not_fully_vaccinated")
)


def write(areas, relative, text, mtime=None):
    path = areas["landing"] / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def load(url):
    conn = db.connect(url)
    try:
        return registry.load_registries(conn)
    finally:
        conn.close()


def level(url, province, district, commune, day=DAY):
    conn = db.connect(url)
    try:
        return registry.level_on(conn, province, district, commune, day)
    finally:
        conn.close()


def query(url, sql):
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def report(areas, name):
    folder = areas["outbox"] / "registry"
    result = json.loads((folder / f"{name}.result.json").read_text("utf-8"))
    errors = (folder / f"{name}.errors.csv").read_text("utf-8")
    return result, errors


def test_levels_most_specific_latest_and_unknown(warehouse_url, areas, monkeypatch):
    write(areas, "registry/risk_levels/w46.csv", "\n".join(RISK) + "\n")
    [outcome] = load(warehouse_url)
    assert outcome["status"] == "loaded" and outcome["rows_total"] == 3
    assert level(warehouse_url, "01", "001", "00001")["level"] == 4  # the district's level wins
    assert level(warehouse_url, "01", "002", None)["level"] == 3
    assert level(warehouse_url, "01", "002", None, dt.date(2021, 11, 22))["level"] == 2  # replaced mid-period
    assert level(warehouse_url, "01", "001", None, dt.date(2021, 11, 26))["level"] == 2  # district ended
    assert level(warehouse_url, "02", None, None) == {
        "level": 1,
        "area_code": None,
        "version_id": None,
        "origin_known": True,
    }
    unknown = level(warehouse_url, "01", "148", None)  # a Hòa Bình district is not in Hà Nội
    assert (unknown["level"], unknown["origin_known"]) == (2, False)
    monkeypatch.setenv("COVIDSYNC_UNKNOWN_ORIGIN_LEVEL", "3")
    assert level(warehouse_url, "99", None, None)["level"] == 3
    # a later file replaces the same area and period; the same bytes again are not read twice
    write(
        areas,
        "registry/risk_levels/w47.csv",
        "area_code,level,effective_from\n01,1,2021-11-01\n",
        mtime=os.path.getmtime(areas["landing"] / "registry/risk_levels/w46.csv") + 60,
    )
    outcomes = load(warehouse_url)
    assert [o["status"] for o in outcomes] == ["unchanged", "loaded"]
    assert level(warehouse_url, "01", "002", None)["level"] == 1
    assert level(warehouse_url, "01", "001", None)["level"] == 4
    # two rows of one area overlapping with different levels: both get the code (the third row is fine)
    write(
        areas,
        "registry/risk_levels/w48.csv",
        "area_code,level,effective_from,effective_to\n"
        "02,3,2021-11-01,2021-11-10\n02,4,2021-11-05,\n02,3,2021-11-20,\n",
        mtime=2e9,
    )
    assert load(warehouse_url)[-1]["status"] == "rejected"
    _, errors = report(areas, "w48.csv")
    assert errors.count("overlapping_risk_level") == 2
    assert level(warehouse_url, "02", None, None)["level"] == 1


BAD_RISK_ROWS = [
    ("invalid_risk_level", "01,5,2021-11-01,,x"),  # a level outside 1-4
    ("invalid_risk_level", "99,2,2021-11-01,,x"),  # no such area
    ("invalid_risk_level", "01,2,2021-11-10,2021-11-01,x"),  # ends before it starts
    ("overlapping_risk_level", "001,3,2021-11-20,2021-11-30,x"),  # overlaps row 3 with another level
]


def test_one_bad_risk_row_changes_nothing_and_a_corrected_file_replaces_it(warehouse_url, areas):
    write(areas, "registry/risk_levels/w46.csv", "\n".join(RISK[:2]) + "\n")
    load(warehouse_url)
    before = query(warehouse_url, "select * from ref.risk_level order by 1, 2")
    for i, (code, bad_row) in enumerate(BAD_RISK_ROWS):
        write(areas, "registry/risk_levels/w47.csv", "\n".join([*RISK, bad_row]) + "\n", mtime=2e9 + i)
        outcome = load(warehouse_url)[-1]
        assert outcome["status"] == "rejected", bad_row
        assert query(warehouse_url, "select * from ref.risk_level order by 1, 2") == before
        assert level(warehouse_url, "01", "001", None)["level"] == 3
        result, errors = report(areas, "w47.csv")
        assert result["status"] == "rejected" and result["file_errors"] == ["registry_rejected"]
        assert f",{code}," in errors and errors.startswith("row_number") and ",registry_rejected," in errors
    write(areas, "registry/risk_levels/w47.csv", "\n".join(RISK) + "\n", mtime=2e9 + 60)
    assert load(warehouse_url)[-1]["status"] == "loaded"
    assert level(warehouse_url, "01", "001", None)["level"] == 4
    result, errors = report(areas, "w47.csv")
    assert result["status"] == "loaded" and errors.count("\n") == 1


BAD_MEASURES = [
    ("2021-11-15", "1", "recovered", "quarantine_hotel", "7", ""),  # an unknown measure
    ("2021-11-15", "1", "children", "self_monitoring", "7", ""),  # an unknown category
    ("2021-11-15", "1", "recovered", "self_monitoring", "7", "1;8"),  # a test day after the last day
]


def test_a_bad_measures_file_keeps_the_default_and_a_corrected_one_is_in_force(warehouse_url, areas):
    default_sql = "select measure, days, test_days from ref.arrival_measure_for(4, 'recovered', '2021-11-20')"
    for bad in BAD_MEASURES:
        lines = MEASURES.splitlines()
        lines[1] = ",".join(bad)
        write(areas, "registry/arrival_measures.csv", "\n".join(lines) + "\n")
        [outcome] = load(warehouse_url)
        assert outcome["status"] == "rejected", bad
        _, errors = report(areas, "arrival_measures.csv")
        assert ",invalid_measure," in errors
        assert query(warehouse_url, default_sql) == [("home_quarantine", 7, [7])]  # the shipped default
    write(areas, "registry/arrival_measures.csv", MEASURES)
    [outcome] = load(warehouse_url)
    assert outcome["status"] == "loaded"
    assert query(
        warehouse_url,
        "select measure, days, test_days from ref.arrival_measure_for(1, 'recovered', '2021-11-20')",
    ) == [("home_quarantine", 7, [1, 7])]
    # before the new matrix's effective_from nothing of it applies
    assert query(
        warehouse_url, "select count(*) from ref.arrival_measure_for(1, 'recovered', '2021-11-01')"
    ) == [(0,)]
    # the clean file (no test days at all) has no problem either
    write(areas, "registry/arrival_measures.csv", MEASURES.replace("1;7", ""))
    assert load(warehouse_url)[0]["status"] == "loaded"
