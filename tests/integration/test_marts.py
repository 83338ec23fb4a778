"""The BI marts on a hand-made fixture (tests/integration/marts_fixture.py): figures computed by hand, no
personal data in any mart, bi_reader can read them, and a second refresh changes nothing."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import marts_fixture as fx
import psycopg2
import pytest

from covidsync.marts import refresh

AS_OF = dt.date(2021, 11, 3)


@pytest.fixture
def conn(warehouse_url):
    conn = psycopg2.connect(warehouse_url)
    fx.load(conn)
    with conn, conn.cursor() as cur:  # a commune denominator, so that coverage_pct has a figure to check
        cur.execute(
            "insert into mart.population values ('commune', '04789', 1000, 2021, 'test fixture'),"
            " ('district', '148', 4000, 2021, 'test fixture')"
        )
    refresh.refresh(conn, AS_OF, cutoff="20:00")
    yield conn
    conn.close()


def rows(conn, query, params=None):
    with conn.cursor() as cur:
        cur.execute(query, params)
        return cur.fetchall()


def mart_tables(conn) -> list[str]:
    return [
        r[0]
        for r in rows(
            conn,
            "select table_name from information_schema.tables where table_schema = 'mart' order by table_name",
        )
    ]


def snapshot(conn) -> dict:
    return {t: rows(conn, f"select * from mart.{t} order by 1, 2, 3, 4") for t in mart_tables(conn)}


def test_vaccination_coverage_matches_hand_count(conn):
    got = {
        (lvl, code, str(day), dose, product): (given, cum, pop, pct)
        for lvl, code, day, dose, product, given, cum, pop, pct in rows(
            conn,
            "select area_level, area_code, day, dose_number, product_code, doses_given, people_cumulative,"
            " population, coverage_pct from mart.vaccination_coverage",
        )
    }
    # commune 04789 (P1, P2): dose 1 on 11-01 for both; population 1000
    assert got[("commune", "04789", "2021-11-01", 1, "all")] == (2, 2, 1000, Decimal("0.20"))
    assert got[("commune", "04789", "2021-11-10", 2, "all")] == (1, 1, 1000, Decimal("0.10"))
    assert got[("commune", "04789", "2021-11-01", 1, fx.AZ)] == (1, 1, 1000, Decimal("0.10"))
    # district 148 (P1, P2, P3): dose 1 2 people on 11-01, 1 more on 11-02; population 4000
    assert got[("district", "148", "2021-11-02", 1, "all")] == (1, 3, 4000, Decimal("0.08"))
    assert got[("district", "148", "2021-11-02", 1, fx.AZ)] == (1, 2, 4000, Decimal("0.05"))
    # district 150 has no denominator: no percentage, never a guess
    assert got[("district", "150", "2021-11-02", 1, "all")] == (1, 1, None, None)
    # province 17: 4 people with dose 1, against the census count
    assert got[("province", "17", "2021-11-02", 1, "all")] == (2, 4, 854131, Decimal("0.00"))
    assert got[("province", "17", "2021-11-10", 2, "all")] == (2, 2, 854131, Decimal("0.00"))
    assert len(got) == len({k for k in got})
    names = dict(
        rows(conn, "select area_code, area_name from mart.vaccination_coverage where area_level = 'district'")
    )
    assert names["148"] == "Thành phố Hòa Bình"


def test_coverage_takes_district_figures_from_the_population_registry(conn):
    """adoption.md's population registry (core.area_population) gives a district without a figure in
    mart.population its denominator, the latest year first; a figure in mart.population wins over it."""
    with conn, conn.cursor() as cur:
        cur.execute(
            "insert into core.area_population (area_code, year, population, source) values"
            " ('150', 2020, 900, 'registry'), ('150', 2021, 1000, 'registry'), ('148', 2021, 9999, 'registry')"
        )
    refresh.refresh(conn, AS_OF, cutoff="20:00")
    got = dict(
        ((code, str(day)), (pop, pct))
        for code, day, pop, pct in rows(
            conn,
            "select area_code, day, population, coverage_pct from mart.vaccination_coverage"
            " where area_level = 'district' and dose_number = 1 and product_code = 'all'",
        )
    )
    assert got[("150", "2021-11-02")] == (1000, Decimal("0.10"))  # 1 person of 1,000 (the 2021 figure)
    assert got[("148", "2021-11-02")] == (4000, Decimal("0.08"))  # mart.population's 4,000, not 9,999


def test_test_positivity_matches_hand_count(conn):
    got = {
        (d, str(day), t): (n, p, neg, inv, pct)
        for d, day, t, n, p, neg, inv, pct in rows(
            conn,
            "select district_code, day, test_type, tests, positive, negative, invalid, positivity_pct"
            " from mart.test_positivity",
        )
    }
    assert got == {
        # 00:30 local on the 5th is still the 5th; the invalid result counts in neither side of the ratio
        ("148", "2021-11-05", "RT-PCR"): (3, 1, 1, 1, Decimal("50.00")),
        ("148", "2021-11-05", "antigen"): (2, 0, 2, 0, Decimal("0.00")),
        ("150", "2021-11-06", "RT-PCR"): (1, 1, 0, 0, Decimal("100.00")),
    }


def test_checkin_volume_matches_hand_count(conn):
    got = rows(
        conn,
        "select venue_type, district_code, day::text, hour, checkins, persons from mart.checkin_volume order by 1, 4",
    )
    # V1 at 08h: P4, P1, P1, P2 (the 09:00 'out' is not a check-in); V2 (no type, no district) at 23h local
    assert got == [("market", "148", "2021-11-05", 8, 4, 3), ("unknown", "unknown", "2021-11-05", 23, 1, 1)]


def test_contact_candidates_and_status_distribution(conn):
    assert rows(
        conn,
        "select rule_set, day::text, district_code, f0_persons, candidates, exposures"
        " from mart.contact_candidate_count",
    ) == [(fx.RULE_SET, "2021-11-05", "148", 1, 2, 3)]
    got = rows(
        conn, "select card_colour, f0, fully_vaccinated, persons from mart.status_distribution order by 1"
    )
    assert got == [("green", False, True, 2), ("red", True, False, 1), ("yellow", False, False, 1)]


def test_facility_scorecards_match_hand_count(conn):
    day = {
        (f, str(d)): rest
        for f, d, *rest in rows(
            conn,
            "select facility_code, day, expected, received, on_time, files, duplicate_files, duplicate_rows,"
            " rows_total, rows_loaded, rows_rejected, rejection_rate from mart.facility_reporting_day",
        )
    }
    assert len(day) == 9  # 3 facilities x 3 days (11-01 .. as_of 11-03)
    assert day[("17001", "2021-11-01")] == [1, 1, 1, 1, 0, 1, 100, 98, 2, Decimal("0.0200")]
    assert day[("17001", "2021-11-02")][:3] == [1, 1, 1]  # 19:59 is before the 20:00 cut-off
    assert day[("17002", "2021-11-02")] == [1, 0, 0, 0, 0, 0, 0, 0, 0, None]  # skipped the day
    assert day[("17002", "2021-11-03")] == [1, 1, 0, 1, 1, 0, 40, 40, 0, Decimal("0.0000")]  # late + a copy
    assert day[("17003", "2021-11-01")][:3] == [1, 0, 0]
    codes = rows(
        conn, "select code, rows_affected, rows_total, rate from mart.facility_rejection_day order by code"
    )
    assert codes == [
        ("duplicate_in_file", 1, 100, Decimal("0.0100")),
        ("invalid_citizen_id", 1, 100, Decimal("0.0100")),
        ("missing_required", 1, 100, Decimal("0.0100")),
    ]
    month = rows(
        conn,
        "select facility_code, expected, received, on_time, completeness_pct, timeliness_pct, rejection_rate, grade"
        " from mart.facility_reporting_month order by 1",
    )
    assert month == [
        ("17001", 3, 3, 3, Decimal("100.00"), Decimal("100.00"), Decimal("0.0067"), "A"),
        ("17002", 3, 2, 1, Decimal("66.67"), Decimal("33.33"), Decimal("0.0000"), "C"),
        ("17003", 3, 0, 0, Decimal("0.00"), Decimal("0.00"), None, "D"),
    ]


def test_cutoff_is_configurable(conn):
    refresh.refresh(conn, AS_OF, cutoff="21:00", names=refresh.SCORECARDS)
    assert rows(
        conn,
        "select on_time, cutoff::text from mart.facility_reporting_day"
        " where facility_code = '17002' and day = '2021-11-03'",
    ) == [(1, "21:00:00")]


def test_no_mart_holds_personal_data(conn):
    tables = mart_tables(conn)
    assert len(tables) >= 9
    forbidden_column = re.compile(r"citizen|cccd|cmnd|phone|full_name|birth|person_id|address|qid")
    secrets = fx.identifiers()
    for table in tables:
        columns = [
            r[0]
            for r in rows(
                conn,
                "select column_name from information_schema.columns"
                " where table_schema = 'mart' and table_name = %s",
                (table,),
            )
        ]
        for column in columns:
            assert not forbidden_column.search(column), f"mart.{table}.{column} names personal data"
        values = rows(conn, f"select t::text from mart.{table} as t")
        for (text,) in values:
            for secret in secrets:
                assert secret not in text, f"mart.{table} holds a personal value"
    # the scan can fail: the same values are in derived.person, where it finds them
    (person,) = rows(conn, "select string_agg(t::text, ' ') from derived.person as t")[0]
    assert all(s in person for s in (fx.PERSONS["P1"][0], fx.PERSONS["P1"][2], fx.PERSONS["P1"][3]))


def test_bi_reader_reads_the_marts_and_nothing_else(conn):
    with conn, conn.cursor() as cur:
        cur.execute("set local role bi_reader")
        for table in mart_tables(conn):
            cur.execute(f"select count(*) from mart.{table}")
            assert cur.fetchone()[0] >= 0
    with pytest.raises(psycopg2.errors.InsufficientPrivilege), conn, conn.cursor() as cur:
        cur.execute("set local role bi_reader")
        cur.execute("select count(*) from derived.person")


def test_refreshing_twice_changes_nothing(conn):
    before = snapshot(conn)
    assert sum(len(v) for v in before.values()) > 30
    counts = refresh.refresh(conn, AS_OF, cutoff="20:00")
    assert snapshot(conn) == before
    assert counts["facility_reporting_day"] == 9
