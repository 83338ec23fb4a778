"""An incremental build resolves only the identifiers a change since the last build reaches, yet a change
must ripple through everything connected to it: a CCCD card QR that links a CMND another person already
holds, a review decision taken between two builds, a new record that gives a person a second birth date, a
phone scanned before any record carried it. Each case: the expected outcome, a scope smaller than the
warehouse (bystanders are not resolved again), and the same derived tables as a full rebuild."""

from __future__ import annotations

import datetime as dt

import psycopg2
import pytest
from status_equality import assert_equals_full_rebuild
from status_world import World, at

from covidsync import privacy
from covidsync.status import build, identity, review

DAY1, DAY2 = "2021-11-20", "2021-11-21"


@pytest.fixture
def world(warehouse_url):
    w = World(warehouse_url)
    # bystanders: people no change below reaches
    for n in range(5):
        cid = f"0170900001{n:02d}"
        w.vacc(cid, 1, "Pfizer", "2021-09-01", name=f"Trần Văn Bình {n}", phone=f"09110000{n:02d}")
        w.checkin("cccd", cid, "V9", at("2021-11-15", f"1{n}:00"))
    yield w
    w.close()


def an_f0_at(w: World, venue: str, when: dt.datetime, cid: str = "017090000099") -> None:
    """An RT-PCR positive person who scanned ``venue`` at ``when`` (inside the transmission window)."""
    w.test(cid, "RT-PCR", "positive", at("2021-11-19", "08:00"), name="Lê Thị Mai", dob="1975-04-04")
    w.checkin("cccd", cid, venue, when)


def incremental(w: World, day: str) -> build.BuildResult:
    result = w.build(day)
    assert result.mode == "incremental"
    assert_equals_full_rebuild(w.url, build.as_of_for(dt.date.fromisoformat(day)), day)
    identifiers = w.sql("select count(*) from derived.person_identifier")[0][0]
    assert result.identity_scope is not None and result.identity_scope < identifiers, "bystanders resolved"
    return result


def candidate_persons(w: World) -> set:
    return set(w.sql("select candidate_person_id from derived.contact_candidate"))


def test_a_new_card_qr_links_a_cmnd_that_already_is_a_person(world):
    world.vacc("123456789", 1, "AZ", "2021-10-01", dob="1980-05-05")
    world.checkin("cmnd", "123456789", "V1", at("2021-11-18", "10:00"))
    world.vacc("017080000001", 2, "AZ", "2021-11-01", dob="1980-05-05")
    an_f0_at(world, "V1", at("2021-11-18", "10:10"))
    world.build(DAY1)
    cmnd_person = world.person_id("cmnd", "123456789")
    assert cmnd_person != world.person_id("cccd", "017080000001")
    assert candidate_persons(world) == {(cmnd_person,)}
    # the next day the person scans the CCCD card: its QR carries the old CMND
    world.checkin("cccd", "017080000001", "V2", at(DAY2, "09:00"))
    world.link("017080000001", "cmnd", "123456789")
    incremental(world, DAY2)
    person = world.person_id("cccd", "017080000001")
    assert world.person_id("cmnd", "123456789") == person
    assert world.sql("select count(*) from derived.person where person_id = %s", (cmnd_person,)) == [(0,)]
    assert candidate_persons(world) == {(person,)}
    s = world.status("017080000001")
    assert (s["doses"], s["primary_complete"], s["contact_candidate"]) == (2, True, True)


def test_a_review_decision_between_two_builds(world):
    for cid, name, dob in (
        ("017080000011", "Bùi Văn Nam", "1970-01-02"),
        ("017170000012", "Bùi Thị Lan", "1972-03-04"),
    ):
        world.vacc(cid, 1, "VeroCell", "2021-09-01", name=name, dob=dob, phone="0987654321")
    world.checkin("phone", "0987654321", "V1", at("2021-11-18", "10:00"))
    an_f0_at(world, "V1", at("2021-11-18", "10:20"))
    world.build(DAY1)
    assert world.person_id("phone", "0987654321") is None
    assert candidate_persons(world) == {(None,)}
    key, candidates = world.sql(
        "select review_key, candidates from derived.identity_review where kind = 'shared_phone'"
    )[0]
    conn = psycopg2.connect(world.url)
    try:
        review.decide(conn, key, candidates.index("cccd:017170000012") + 1, "merge", "called her", "test")
    finally:
        conn.close()
    incremental(world, DAY1)  # the same day: only the decision is new
    mother = world.person_id("cccd", "017170000012")
    assert world.person_id("phone", "0987654321") == mother
    assert candidate_persons(world) == {(mother,)}
    assert world.status("017170000012")["contact_candidate"] is True
    assert world.status("017080000011")["contact_candidate"] is False
    assert world.sql("select count(*) from derived.identity_review where status = 'open'") == [(0,)]


def test_a_new_record_gives_a_person_a_second_birth_date(world):
    world.vacc("017080000021", 1, "AZ", "2021-08-01", dob="1980-01-15")
    world.vacc("017080000021", 2, "AZ", "2021-10-01", dob="1980-01-15")
    world.build(DAY1)
    assert world.sql("select date_of_birth::text from derived.person where citizen_id = '017080000021'") == [
        ("1980-01-15",)
    ]
    world.test("017080000021", "RT-PCR", "positive", at(DAY2, "08:00"), dob="1985-07-07")
    incremental(world, DAY2)
    assert world.sql("select date_of_birth from derived.person where citizen_id = '017080000021'") == [
        (None,)
    ]
    assert world.sql("select kind, subject_value from derived.identity_review where status = 'open'") == [
        ("birth_date_conflict", "017080000021")
    ]
    assert world.status("017080000021")["f0"] is True


def test_a_phone_scan_resolves_once_a_record_carries_the_phone(world):
    world.checkin("phone", "0977000111", "V1", at("2021-11-18", "10:00"))
    an_f0_at(world, "V1", at("2021-11-18", "10:05"))
    world.build(DAY1)
    assert world.person_id("phone", "0977000111") is None
    assert candidate_persons(world) == {(None,)}
    # a vaccination record with that phone arrives
    world.vacc("017200000031", 1, "Moderna", "2021-11-21", name="Phạm Văn Hùng", phone="0977000111")
    incremental(world, DAY2)
    person = world.person_id("cccd", "017200000031")
    assert world.person_id("phone", "0977000111") == person
    assert candidate_persons(world) == {(person,)}
    assert world.status("017200000031")["contact_candidate"] is True
    assert world.sql(
        "select count(*) from derived.person_identifier where identity_key = %s",
        (privacy.pseudonym("phone", "0977000111"),),
    ) == [(1,)]


def test_a_record_taken_back_splits_what_its_phone_joined(world):
    """A deletion leaves no row behind: the trigger's log makes the old phone a seed."""
    world.vacc("123456780", 1, "AZ", "2021-08-01", name="Đỗ Văn Tâm", dob="1966-06-06", phone="0966000222")
    wrong = world.vacc(
        "017066000041", 1, "AZ", "2021-08-01", name="Do Van Tam", dob="1966-06-06", phone="0966000222"
    )
    world.vacc("017066000041", 2, "AZ", "2021-10-01", name="Đỗ Văn Tâm", dob="1966-06-06")
    world.build(DAY1)
    assert world.person_id("cmnd", "123456780") == world.person_id("cccd", "017066000041")
    world.sql("delete from core.vaccination where vaccination_id = %s", (wrong,))
    incremental(world, DAY2)
    assert world.person_id("cmnd", "123456780") != world.person_id("cccd", "017066000041")
    assert world.person_id("phone", "0966000222") == world.person_id("cmnd", "123456780")


def test_a_change_that_reaches_most_people_resolves_everyone(world, monkeypatch):
    monkeypatch.setattr(identity, "WHOLE_SHARE", 0.0)
    world.vacc("017080000061", 1, "AZ", "2021-10-01")
    world.build(DAY1)
    world.vacc("017080000061", 2, "AZ", "2021-11-21", phone="0912000061")  # a new fact: it seeds the scope
    result = world.build(DAY2)
    assert (result.mode, result.identity_scope) == ("incremental", None)
    assert world.status("017080000061")["doses"] == 2
    assert_equals_full_rebuild(world.url, build.as_of_for(dt.date.fromisoformat(DAY2)), DAY2)


def test_a_record_that_repeats_what_its_person_is_known_by_resolves_nobody(world):
    world.vacc("017080000031", 1, "AZ", "2021-08-01", phone="0912000031")
    world.build(DAY1)
    second = world.vacc("017080000031", 2, "AZ", "2021-10-01", phone="0912000031")
    result = incremental(world, DAY2)
    assert result.identity_scope == 0  # nothing about anyone's identity changed
    person = world.person_id("cccd", "017080000031")
    assert world.sql(
        "select person_id from derived.person_record where source = 'vaccination' and record_id = %s",
        (second,),
    ) == [(person,)]
    assert world.status("017080000031")["doses"] == 2


def test_a_newer_record_with_another_phone_is_resolved_again(world):
    world.vacc("017080000032", 1, "AZ", "2021-08-01", phone="0912000032")
    world.build(DAY1)
    world.vacc("017080000032", 2, "AZ", "2021-10-01", phone="0912999032")
    result = incremental(world, DAY2)
    assert result.identity_scope > 0
    assert world.sql("select phone from derived.person where citizen_id = '017080000032'") == [
        ("0912999032",)
    ]


def test_a_record_repeating_an_outranked_record_changes_the_persons_phone(world):
    # the person's phone comes from the most recent record; a new record repeats an older one word for word,
    # but that older record's phone is no longer the person's, so the new record is not "nothing new"
    world.vacc("017080000033", 1, "AZ", "2021-08-01", phone="0912000033")
    world.vacc("017080000033", 2, "AZ", "2021-09-01", phone="0912999033")
    world.build(DAY1)
    assert world.sql("select phone from derived.person where citizen_id = '017080000033'") == [
        ("0912999033",)
    ]
    world.vacc("017080000033", 3, "AZ", "2021-11-21", phone="0912000033")
    result = incremental(world, DAY2)
    assert result.identity_scope > 0
    assert world.sql("select phone from derived.person where citizen_id = '017080000033'") == [
        ("0912000033",)
    ]


def test_a_first_scan_by_a_card_a_record_already_carries_resolves_nobody(world):
    world.vacc("017080000034", 1, "AZ", "2021-08-01", phone="0912000034")
    world.build(DAY1)
    world.checkin(
        "cccd",
        "017080000034",
        "V1",
        at(DAY2, "10:00"),
        name="Nguyễn Văn An",
        dob="1980-01-01",
        phone="0912000034",
    )
    result = incremental(world, DAY2)
    assert result.identity_scope == 0


def test_a_first_scan_by_a_card_with_a_new_phone_lets_that_phones_scans_resolve(world):
    world.vacc("017080000035", 1, "AZ", "2021-08-01", phone="0912000035")
    # a phone scan with the person's name and birth date: no record carries this phone yet
    world.checkin(
        "phone", "0912999035", "V1", at("2021-11-19", "10:00"), name="Nguyễn Văn An", dob="1980-01-01"
    )
    world.build(DAY1)
    assert world.person_id("phone", "0912999035") is None
    world.checkin(
        "cccd",
        "017080000035",
        "V1",
        at(DAY2, "10:00"),
        name="Nguyễn Văn An",
        dob="1980-01-01",
        phone="0912999035",
    )
    result = incremental(world, DAY2)
    assert result.identity_scope > 0
    assert world.person_id("phone", "0912999035") == world.person_id("cccd", "017080000035")


def test_a_check_in_identity_whose_facts_change_logs_its_identifier(world):
    world.checkin("cccd", "017080000036", "V1", at(DAY1, "10:00"), name="Nguyễn Văn An", dob="1980-01-01")
    world.sql("delete from core.identity_change")
    world.sql(
        "update core.checkin_person set full_name = 'Nguyễn Văn Ân' where person_kind = 'cccd' and identifier = %s",
        ("017080000036",),
    )
    assert world.sql("select kind, value from core.identity_change") == [("cccd", "017080000036")]
    world.sql(
        "update core.checkin_person set last_seen_at = last_seen_at + interval '1 hour'"
        " where person_kind = 'cccd' and identifier = %s",
        ("017080000036",),
    )
    assert world.sql("select count(*) from core.identity_change") == [(1,)]  # a new scan alone logs nothing


def test_the_change_log_is_pruned_once_every_rule_set_has_read_it(world, monkeypatch):
    import dataclasses

    from covidsync.status import rules

    other = dataclasses.replace(rules.get(), name="test-other", version=1)
    monkeypatch.setitem(rules.RULE_SETS, other.name, other)
    wrong = world.vacc("017080000071", 1, "AZ", "2021-10-01", phone="0912000071")
    world.build(DAY1)
    monkeypatch.setenv("COVIDSYNC_RULE_SET", other.name)
    world.build(DAY1)
    monkeypatch.delenv("COVIDSYNC_RULE_SET")
    world.sql("delete from core.vaccination where vaccination_id = %s", (wrong,))
    logged = world.sql("select count(*) from core.identity_change")[0][0]
    assert logged > 0
    incremental(world, DAY2)
    # the other rule set has not built since the delete: its next build still needs the log
    assert world.sql("select count(*) from core.identity_change") == [(logged,)]
    monkeypatch.setenv("COVIDSYNC_RULE_SET", other.name)
    world.build(DAY2)
    assert world.sql("select count(*) from core.identity_change") == [(0,)]
