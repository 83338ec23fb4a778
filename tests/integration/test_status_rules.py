"""Every branch of every rule of the health-status contract (§2 vaccination, §3 tests/F0/recovery, §4 card
colour), each on a hand-made person, built once as of the end of 2021-11-20 (as_of = 2021-11-21 00:00
+07:00): one database, one build, one assertion group per rule branch."""

from __future__ import annotations

import datetime as dt

import pytest
from status_world import World, at

DAY = "2021-11-20"


def cid(n: int) -> str:
    return f"0170800{n:05d}"


@pytest.fixture(scope="module")
def built(pg_admin_url, template_db):
    from pgdb import execute as _execute
    from pgdb import with_database as _with_database

    name = f"{template_db}_rules"
    _execute(pg_admin_url, f'create database "{name}" template "{template_db}"')
    w = World(_with_database(pg_admin_url, name))
    # §2 vaccination
    w.vacc(cid(1), 1, "AZ", "2021-09-01"), w.vacc(cid(1), 2, "AZ", "2021-11-07")  # 14 days exactly
    w.vacc(cid(2), 1, "AZ", "2021-09-01"), w.vacc(cid(2), 2, "AZ", "2021-11-08")  # 13 days
    w.vacc(cid(3), 1, "Janssen", "2021-10-01")
    w.vacc(cid(4), 1, "Abdala", "2021-10-01"), w.vacc(cid(4), 2, "Abdala", "2021-10-15")
    for n, day in enumerate(("2021-10-01", "2021-10-15", "2021-10-29"), start=1):
        w.vacc(cid(5), n, "Abdala", day)
    w.vacc(cid(6), 1, "AZ", "2021-08-01"), w.vacc(cid(6), 2, "Pfizer", "2021-10-01")
    w.vacc(cid(7), 1, "Pfizer", "2021-06-01"), w.vacc(cid(7), 2, "Pfizer", "2021-06-25")
    w.vacc(cid(7), 3, "Moderna", "2021-11-10")
    w.vacc(cid(8), 1, "Janssen", "2021-07-01"), w.vacc(cid(8), 2, "Pfizer", "2021-11-01")
    w.vacc(cid(9), 1, "VeroCell", "2021-10-01"), w.vacc(cid(9), 1, "VeroCell", "2021-10-03", facility="17002")
    w.vacc(cid(10), 1, "AZ", "2021-11-07")
    w.vacc(cid(11), 1, "AZ", "2021-11-08")
    w.vacc(cid(12), 1, "AZ", "2021-10-01"), w.vacc(cid(12), 2, "AZ", "2021-11-25")  # dose after as_of
    w.vacc(cid(13), 2, "AZ", "2021-10-01")  # dose 2 without dose 1
    # §3 tests
    w.test(cid(20), "RT-PCR", "positive", at("2021-11-19"), pooled=True)
    w.test(cid(21), "RT-PCR", "negative", at("2021-11-19"), pooled=True)
    w.test(cid(22), "RT-PCR", "negative", at("2021-11-18", "00:00"))  # exactly 72 h before as_of
    w.test(cid(23), "RT-PCR", "negative", at("2021-11-17", "23:59"))
    w.test(cid(24), "antigen", "negative", at("2021-11-19", "08:00"), resulted=at("2021-11-19", "08:30"))
    w.test(cid(24), "RT-PCR", "negative", at("2021-11-19", "08:00"), resulted=at("2021-11-19", "20:00"))
    w.test(cid(25), "RT-PCR", "positive", at("2021-11-15"))
    w.vacc(cid(25), 1, "Janssen", "2021-08-01")  # fully vaccinated but an active F0
    w.test(cid(26), "antigen", "positive", at("2021-11-15", "08:00"))
    w.test(cid(26), "antigen", "positive", at("2021-11-15", "15:00"))  # 7 h later
    w.test(cid(27), "antigen", "positive", at("2021-11-15", "06:00"))
    w.test(cid(27), "antigen", "positive", at("2021-11-15", "15:00"))  # 9 h later
    w.test(cid(28), "antigen", "positive", at("2021-11-17"))  # a contact candidate of cid(29)
    w.test(cid(29), "RT-PCR", "positive", at("2021-11-16", "10:00"), resulted=at("2021-11-16", "18:00"))
    w.checkin("cccd", cid(29), "V1", at("2021-11-15", "12:00"))
    w.checkin("cccd", cid(28), "V1", at("2021-11-15", "12:20"))
    w.test(cid(30), "RT-PCR", "positive", at("2021-11-10"))
    w.test(cid(30), "antigen", "negative", at("2021-11-12"))  # recovery by a negative test
    w.test(cid(31), "RT-PCR", "positive", at("2021-11-01", "09:00"))  # recovery after 14 days
    w.test(cid(32), "RT-PCR", "positive", at("2021-05-12"))  # recovered 2021-05-26: within 180 days
    w.test(cid(33), "RT-PCR", "positive", at("2021-05-10"))  # recovered 2021-05-24: 181 days
    w.test(cid(34), "RT-PCR", "positive", at("2021-10-01"))  # a second episode after recovery
    w.test(cid(34), "RT-PCR", "negative", at("2021-10-05"))
    w.test(cid(34), "RT-PCR", "positive", at("2021-11-18"))
    w.test(cid(34), "RT-PCR", "positive", at("2021-11-19"))
    w.test(cid(35), "RT-PCR", "positive", at("2021-11-21", "08:00"))  # after as_of: not counted
    result = w.build(DAY)
    yield w, result
    w.close()
    _execute(pg_admin_url, f'drop database if exists "{name}" with (force)')


def test_primary_series_and_the_14_day_rule(built):
    w, _ = built
    s = w.status(cid(1))
    assert (s["doses"], s["primary_doses"], s["primary_complete"], s["fully_vaccinated"]) == (
        2,
        2,
        True,
        True,
    )
    assert s["last_primary_dose_on"] == dt.date(2021, 11, 7) and s["card_colour"] == "green"
    assert s["last_dose_product"] == "AstraZeneca"
    s = w.status(cid(2))
    assert (s["primary_complete"], s["fully_vaccinated"], s["card_colour"]) == (True, False, "yellow")


def test_janssen_one_dose_and_abdala_three(built):
    w, _ = built
    s = w.status(cid(3))
    assert (s["primary_doses"], s["primary_complete"], s["fully_vaccinated"]) == (1, True, True)
    s = w.status(cid(4))
    assert (s["primary_doses"], s["primary_complete"], s["doses"], s["card_colour"]) == (
        3,
        False,
        2,
        "yellow",
    )
    assert s["last_primary_dose_on"] is None
    s = w.status(cid(5))
    assert (s["primary_doses"], s["primary_complete"], s["fully_vaccinated"]) == (3, True, True)
    assert s["last_primary_dose_on"] == dt.date(2021, 10, 29)


def test_mixed_products_and_boosters(built):
    w, _ = built
    s = w.status(cid(6))
    assert (s["primary_doses"], s["primary_complete"], s["last_dose_product"]) == (2, True, "Pfizer-BioNTech")
    s = w.status(cid(7))
    assert (s["doses"], s["booster_doses"], s["last_dose_product"]) == (3, 1, "Moderna")
    assert s["last_primary_dose_on"] == dt.date(2021, 6, 25) and s["fully_vaccinated"]
    s = w.status(cid(8))
    assert (s["primary_doses"], s["booster_doses"], s["doses"]) == (1, 1, 2)


def test_one_dose_reported_by_two_facilities_counts_once_earliest_wins(built):
    w, _ = built
    s = w.status(cid(9))
    assert s["doses"] == 1 and s["last_dose_on"] == dt.date(2021, 10, 1)
    rows = w.sql(
        "select vaccinated_on, facility_code, reported_by from derived.vaccination_dose where person_id = %s",
        (s["person_id"],),
    )
    assert rows == [(dt.date(2021, 10, 1), "17001", 2)]


def test_yellow_from_a_dose_14_days_old_red_at_13(built):
    w, _ = built
    assert w.status(cid(10))["card_colour"] == "yellow"
    assert w.status(cid(11))["card_colour"] == "red"


def test_only_doses_before_as_of_count_and_a_series_needs_dose_1(built):
    w, _ = built
    s = w.status(cid(12))
    assert (s["doses"], s["primary_complete"]) == (1, False)
    s = w.status(cid(13))
    assert (s["doses"], s["primary_doses"], s["primary_complete"], s["booster_doses"]) == (1, None, False, 0)


def test_pooled_tubes(built):
    w, _ = built
    s = w.status(cid(20))
    assert (s["latest_test_result"], s["f0"], s["card_colour"]) == ("pooled_positive", False, "red")
    s = w.status(cid(21))
    assert (s["latest_test_result"], s["card_colour"]) == ("negative", "yellow")


def test_negative_rt_pcr_within_72_hours(built):
    w, _ = built
    assert w.status(cid(22))["card_colour"] == "yellow"
    assert w.status(cid(23))["card_colour"] == "red"


def test_latest_test_tie_prefers_rt_pcr(built):
    w, _ = built
    s = w.status(cid(24))
    assert s["latest_test_type"] == "RT-PCR"


def test_f0_by_rt_pcr_is_red_even_when_fully_vaccinated(built):
    w, _ = built
    s = w.status(cid(25))
    assert (s["f0"], s["fully_vaccinated"], s["card_colour"]) == (True, True, "red")
    assert s["f0_since"] == at("2021-11-15")


def test_f0_by_two_antigen_tests_within_8_hours(built):
    w, _ = built
    s = w.status(cid(26))
    assert s["f0"] and s["f0_since"] == at("2021-11-15", "15:00")
    s = w.status(cid(27))
    assert not s["f0"] and s["latest_test_result"] == "positive"


def test_f0_by_antigen_of_a_contact_candidate(built):
    w, _ = built
    s = w.status(cid(28))
    assert (s["f0"], s["contact_candidate"], s["f0_since"]) == (True, True, at("2021-11-17"))
    path = w.sql("select path from derived.f0_episode where person_id = %s", (s["person_id"],))
    assert path == [("antigen_contact",)]


def test_recovery_by_negative_test_and_after_14_days(built):
    w, _ = built
    s = w.status(cid(30))
    assert (s["f0"], s["recovered_on"], s["card_colour"]) == (False, dt.date(2021, 11, 12), "green")
    s = w.status(cid(31))
    assert (s["f0"], s["recovered_on"], s["card_colour"]) == (False, dt.date(2021, 11, 15), "green")


def test_green_for_180_days_after_recovery(built):
    w, _ = built
    s = w.status(cid(32))
    assert (s["recovered_on"], s["card_colour"]) == (dt.date(2021, 5, 26), "green")
    s = w.status(cid(33))
    assert (s["recovered_on"], s["card_colour"]) == (dt.date(2021, 5, 24), "red")


def test_a_new_episode_after_recovery(built):
    w, _ = built
    s = w.status(cid(34))
    assert s["f0"] and s["f0_since"] == at("2021-11-18")
    episodes = w.sql(
        "select f0_since from derived.f0_episode where person_id = %s order by 1", (s["person_id"],)
    )
    assert [e[0] for e in episodes] == [at("2021-10-01"), at("2021-11-18")]


def test_records_after_as_of_do_not_count(built):
    w, _ = built
    s = w.status(cid(35))
    assert (s["latest_test_type"], s["f0"], s["card_colour"]) == (None, False, "red")


def test_every_person_has_one_status_as_of_the_day(built):
    w, result = built
    rows = w.sql("select count(*), count(distinct as_of), min(as_of) from derived.health_status")
    assert rows[0][0] == result.persons and rows[0][1] == 1 and rows[0][2] == at("2021-11-21", "00:00")
