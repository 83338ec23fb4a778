"""Arrivals and follow-up (contract docs/contract/arrivals.md §2-§3): the contract's cases, each on a
hand-made person, built once as of the end of 2021-11-20 (one database, one build); then the incremental
build equal to a full one after new declarations, scans, tests and a level file."""

from __future__ import annotations

import pytest
from arrivals_world import HB_COMMUNE, HB_COMMUNE_2, ArrivalWorld, at

DAY = "2021-11-20"


def cid(n: int) -> str:
    return f"0010900{n:05d}"


@pytest.fixture(scope="module")
def built(pg_admin_url, template_db):
    from pgdb import execute as _execute
    from pgdb import with_database as _with_database

    name = f"{template_db}_arrivals"
    _execute(pg_admin_url, f'create database "{name}" template "{template_db}"')
    w = ArrivalWorld(_with_database(pg_admin_url, name))
    w.checkpoint("CP01", HB_COMMUNE)
    w.checkpoint("CP02", HB_COMMUNE_2)
    # Hà Nội level 4 until 2021-11-14, level 2 from 2021-11-15; Ba Đình district level 3 on 11-16..11-17
    w.risk_levels(
        [
            ("01", 4, "2021-11-01", "2021-11-14"),
            ("01", 2, "2021-11-15", None),
            ("001", 3, "2021-11-16", "2021-11-17"),
        ]
    )
    # 1: scan + declaration within 24 h: one arrival, both; the declaration's destination wins
    w.scan(cid(1), at("2021-11-10", "09:00"), "CP01")
    w.declare(cid(1), travel="2021-11-10", destination=HB_COMMUNE_2)
    # 2: declaration only: arrival at travel_date 12:00
    w.declare(cid(2), travel="2021-11-12")
    # 3: scan only: origin unknown, level 2, destination the checkpoint's commune
    w.scan(cid(3), at("2021-11-12", "07:00"), "CP02")
    # 4: origin Hòa Bình: not an arrival; 5: destination outside the province: not an arrival
    w.declare(cid(4), travel="2021-11-12", origin=("17", "148", "04789"))
    w.declare(cid(5), travel="2021-11-12", destination="00004")
    # 6: scans 20 h apart are one journey; a scan 30 h after the last is another; an 'out' scan is none
    w.scan(cid(6), at("2021-11-10", "08:00"), "CP01")
    w.scan(cid(6), at("2021-11-11", "04:00"), "CP02")
    w.scan(cid(6), at("2021-11-12", "10:00"), "CP01")
    w.scan(cid(7), at("2021-11-12", "10:00"), "CP01", direction="out")
    # 8/9: level change between two travel dates (Hà Nội 4, then 2); 10: the district's level wins on 11-16
    w.declare(cid(8), travel="2021-11-10")
    w.declare(cid(9), travel="2021-11-18")
    w.declare(cid(10), travel="2021-11-16")
    # 11/12: recovered 100 days before the arrival (F0 RT-PCR 114 days before: recovery at +14 days) vs 200
    w.test(cid(11), "RT-PCR", "positive", at("2021-07-19", "09:00"))  # recovered 2021-08-02 = 100 days
    w.declare(cid(11), travel="2021-11-10")
    w.test(cid(12), "RT-PCR", "positive", at("2021-04-10", "09:00"))  # recovered 2021-04-24: 200 days
    w.declare(cid(12), travel="2021-11-10")
    # 13: fully vaccinated (2 doses, the last 14+ days before the arrival)
    w.vacc(cid(13), 1, "AZ", "2021-08-01"), w.vacc(cid(13), 2, "AZ", "2021-10-01")
    w.declare(cid(13), travel="2021-11-10")
    # 14/15/16: level 4, not vaccinated: tests due on days 1, 7, 14 (2021-11-10, 11-16, 11-23); sampled on
    # the due day, the day after, two days after
    for n, sampled in ((14, "2021-11-10"), (15, "2021-11-11"), (16, "2021-11-12")):
        w.vacc(cid(n), 1, "AZ", "2021-11-01")  # a known person, one dose: not fully vaccinated
        w.scan(cid(n), at("2021-11-10", "06:00"), "CP01")
        w.declare(cid(n), travel="2021-11-09")  # scanned the day after the travel date: joins
        w.test(cid(n), "antigen", "negative", at(sampled, "10:00"))
    # 17: a health declaration with a symptom and contact with an F0, after the arrival
    w.declare(cid(17), travel="2021-11-15")
    w.declare(cid(17), "health", submitted=at("2021-11-16", "08:00"), symptoms=True, contact=True)
    w.build(DAY, full=True)
    yield w
    w.close()
    _execute(pg_admin_url, f'drop database if exists "{name}" with (force)')


def test_scan_and_declaration_within_a_day_are_one_arrival(built):
    (a,) = built.arrivals(cid(1))
    assert a["seen_by"] == "both" and a["scans"] == 1 and a["checkpoint_venue_code"] == "CP01"
    assert a["arrived_at"] == at("2021-11-10", "09:00")
    assert a["origin_province_code"] == "01" and a["origin_known"]
    assert a["destination_commune_code"] == HB_COMMUNE_2 and a["destination_district_code"] == "148"
    assert a["arrival_rule_set"] == "hb-arrivals-2021-11" and a["measures_version"]


def test_declaration_only_is_timed_at_noon_of_the_travel_date(built):
    (a,) = built.arrivals(cid(2))
    assert a["seen_by"] == "declaration" and a["arrived_at"] == at("2021-11-12", "12:00")
    assert a["checkpoint_venue_code"] is None and a["scans"] == 0


def test_scan_only_has_an_unknown_origin_at_the_default_level(built):
    (a,) = built.arrivals(cid(3))
    assert a["seen_by"] == "scan" and not a["origin_known"] and a["origin_province_code"] is None
    assert a["origin_level"] == 2 and a["destination_commune_code"] == HB_COMMUNE_2
    (row,) = built.sql(
        "select needs_declaration, origin from publish.commune_arrival_row where arrival_key = %s",
        (a["arrival_key"],),
    )
    assert row[0] is True and "không rõ" in row[1]


def test_hoa_binh_origin_and_outside_destination_are_not_arrivals(built):
    assert built.arrivals(cid(4)) == []
    assert built.arrivals(cid(5)) == []
    assert built.arrivals(cid(7)) == []  # an 'out' scan


def test_scans_under_24_hours_apart_are_one_journey(built):
    first, second = built.arrivals(cid(6))
    assert first["scans"] == 2 and first["arrived_at"] == at("2021-11-10", "08:00")
    assert second["scans"] == 1 and second["arrived_at"] == at("2021-11-12", "10:00")


def test_level_change_between_two_travel_dates_gives_two_measures(built):
    (before,) = built.arrivals(cid(8))
    (after,) = built.arrivals(cid(9))
    assert (before["origin_level"], before["measure"], before["days"]) == (4, "concentrated_quarantine", 14)
    assert before["test_days"] == [1, 7, 14] and str(before["ends_on"]) == "2021-11-23"
    assert (after["origin_level"], after["measure"], after["test_days"]) == (2, "self_monitoring", [1])
    (district,) = built.arrivals(cid(10))
    assert district["origin_level"] == 3 and district["origin_level_area"] == "001"
    assert district["risk_level_version"] is not None


def test_recovered_100_days_before_is_recovered_200_is_not(built):
    (r100,) = built.arrivals(cid(11))
    (r200,) = built.arrivals(cid(12))
    assert (
        r100["category"] == "recovered" and r100["measure"] == "home_quarantine" and r100["test_days"] == [7]
    )
    assert r200["category"] == "not_fully_vaccinated" and r200["measure"] == "concentrated_quarantine"
    (fv,) = built.arrivals(cid(13))
    assert fv["category"] == "fully_vaccinated" and fv["test_days"] == [1, 7]


def test_sample_on_due_day_or_day_after_counts_two_days_after_is_overdue(built):
    on_day, day_after, two_after = (built.arrivals(cid(n))[0] for n in (14, 15, 16))
    for a in (on_day, day_after, two_after):
        assert a["seen_by"] == "both" and a["category"] == "not_fully_vaccinated" and a["origin_level"] == 4
    assert on_day["followup"][0] == {"day": 1, "due": "2021-11-10", "sampled": True, "overdue": False}
    assert day_after["followup"][0]["sampled"] and not day_after["followup"][0]["overdue"]
    assert two_after["followup"][0] == {"day": 1, "due": "2021-11-10", "sampled": False, "overdue": True}
    # day 7 (2021-11-16): nobody sampled, as_of (end of 11-20) is past 11-17: overdue; day 14: not yet due
    assert [f["overdue"] for f in two_after["followup"]] == [True, True, False]


def test_the_measure_in_force_per_person_for_the_sskdt_view(built):
    # person 13 (fully vaccinated, level 4 on 2021-11-10): home quarantine 7 days, ended 2021-11-16: none in
    # force on 2021-11-20; person 14 (level 4, one dose, arrived 2021-11-10): 14 days, until 2021-11-23
    rows = dict(
        built.sql(
            "select i.value, m.measure || ' ' || m.ends_on from derived.person_arrival_measure m"
            " join derived.person_identifier i using (person_id) where i.kind = 'cccd'"
        )
    )
    assert cid(13) not in rows
    assert rows[cid(14)] == "concentrated_quarantine 2021-11-23"


def test_health_declaration_flags_the_arrival(built):
    (a,) = built.arrivals(cid(17))
    assert a["symptoms_reported"] and a["reported_contact_with_f0"]
    (b,) = built.arrivals(cid(2))
    assert not b["symptoms_reported"] and not b["reported_contact_with_f0"]


def test_incremental_equals_full_after_each_kind_of_change(warehouse_url):
    w = ArrivalWorld(warehouse_url)
    try:
        w.checkpoint("CP01", HB_COMMUNE)
        w.risk_levels([("01", 4, "2021-11-01", None)])
        w.vacc(cid(20), 1, "AZ", "2021-11-01")
        w.scan(cid(20), at("2021-11-10", "06:00"))
        w.declare(cid(21), travel="2021-11-11")
        for n in range(30, 40):  # bystanders no change below reaches
            w.declare(cid(n), travel="2021-11-05")
        w.build("2021-11-12", full=True)

        def check(day: str) -> dict:
            result = w.build(day)
            assert result.mode == "incremental"
            ((mode, touched),) = w.sql("select mode, touched from derived.arrival_build_state")
            assert mode == "incremental" and touched <= 3  # the keys a change reaches, not everyone's
            incremental = w.snapshot()
            w.build(day, full=True)
            assert w.snapshot() == incremental
            return incremental

        # a new declaration joins person 20's journey (scan only -> both, origin and level 4)
        w.declare(cid(20), travel="2021-11-10")
        snap = check("2021-11-12")
        assert [r for r in w.arrivals(cid(20)) if r["seen_by"] == "both"]
        # new scans: person 21's declaration gets its scan; a new person scans in
        w.scan(cid(21), at("2021-11-12", "09:00"))
        w.scan(cid(22), at("2021-11-13", "09:00"))
        snap = check("2021-11-13")
        assert len(snap["arrival"]) == 13  # 3 and the 10 bystanders
        # a new test: person 20's day-1 test (due 2021-11-10) sampled the day after
        w.test(cid(20), "antigen", "negative", at("2021-11-11", "15:00"))
        check("2021-11-14")
        assert w.arrivals(cid(20))[0]["followup"][0]["sampled"]
        # a new level file: Hà Nội level 2 from 2021-11-10 (a later version replaces the earlier)
        w.risk_levels([("01", 2, "2021-11-10", None)])
        check("2021-11-15")
        assert {r["origin_level"] for r in w.arrivals(cid(20)) + w.arrivals(cid(21))} == {2}
    finally:
        w.close()


def test_marts_count_arrivals_without_personal_data(built):
    import datetime as dt

    from covidsync.marts import refresh

    counts = refresh.refresh(built.conn, dt.date(2021, 11, 20), names=refresh.ARRIVALS)
    assert counts["arrival_day"] > 0
    (total,) = built.sql("select sum(arrivals) from mart.arrival_day")[0]
    assert total == built.sql("select count(*) from derived.arrival")[0][0]
    # by origin level, province and how seen: the scan-only arrival has an unknown province
    assert (
        built.sql(
            "select sum(arrivals) from mart.arrival_day where origin_province_code = 'unknown' and seen_by = 'scan'"
        )[0][0]
        == 3
    )  # person 3 and person 6's two journeys
    # coverage at CP01 on 2021-11-10: persons 1, 6 (scan only), 14, 15, 16 scanned; 1, 14, 15, 16 declared
    assert built.sql(
        "select arrival_scans, with_declaration, coverage from mart.arrival_declaration_coverage"
        " where venue_code = 'CP01' and day = '2021-11-10'"
    ) == [(5, 4, __import__("decimal").Decimal("0.8000"))]
    # the week of 2021-11-08 in HB_COMMUNE: due tests whose window closed, sampled, overdue
    week = built.sql(
        "select due_tests, sampled, overdue from mart.arrival_followup_week"
        " where commune_code = %s and week = '2021-11-08'",
        (HB_COMMUNE,),
    )
    assert week and week[0][1] >= 2 and week[0][2] >= 1
    assert built.sql("select * from mart.arrival_flag_day where day = '2021-11-16'") == [
        (__import__("datetime").date(2021, 11, 16), 1, 1, 1)
    ]


def test_report_section_charts_arrivals_and_lists_overdue_communes(built, tmp_path):
    import datetime as dt
    import re

    from browser import headless

    from covidsync.marts import daily_report, refresh

    refresh.refresh(built.conn, dt.date(2021, 11, 20), names=refresh.ARRIVALS)
    target = daily_report.render(built.conn, dt.date(2021, 11, 10), tmp_path / "reports")
    page = target.read_text(encoding="utf-8")
    assert 'id="arrivals"' in page and "Nguyễn" not in page
    proc = headless("--dump-dom", target.as_uri(), tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    drawn = dict(re.findall(r'data-chart="(\w+)"[^>]*data-marks-drawn="(\d+)"', proc.stdout))
    assert int(drawn["arrivals"]) >= 2  # level 4 and the unknown-origin level 2, today and over 7 days
    table = re.search(r'<table id="arrivals-overdue">.*?</table>', proc.stdout, re.S).group(0)
    assert HB_COMMUNE in table and "Thái Bình" in table
