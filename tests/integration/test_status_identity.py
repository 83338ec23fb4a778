"""Identity resolution: the rules in order, the conflicts that go to review, decisions that survive a full
rebuild, keys that do not change when nothing changed; and the CLI an operator decides with."""

from __future__ import annotations

import unicodedata

import pytest
from status_world import World, at

from covidsync import privacy
from covidsync.cli import main

DAY = "2021-11-20"


@pytest.fixture
def world(warehouse_url):
    w = World(warehouse_url)
    yield w
    w.close()


def reviews(w: World) -> dict:
    return {
        (r[0], r[1]): (r[2], r[3])
        for r in w.sql(
            "select kind, subject_value, candidates, review_key from derived.identity_review where status = 'open'"
        )
    }


def test_cccd_exact_and_a_cmnd_linked_by_the_card_qr(world):
    world.vacc("123456789", 1, "AZ", "2021-08-01", dob="1980-05-05")  # CMND first
    world.vacc("017080000001", 2, "AZ", "2021-10-01", dob="1980-05-05")  # the CCCD later
    world.test("017080000001", "RT-PCR", "negative", at("2021-11-19"), dob="1980-05-05")
    world.link("017080000001", "cmnd", "123456789")
    world.build(DAY)
    person = world.person_id("cccd", "017080000001")
    assert person is not None and world.person_id("cmnd", "123456789") == person
    s = world.status("017080000001")
    assert (s["doses"], s["primary_complete"]) == (2, True)
    row = world.sql(
        "select citizen_id, cmnd, person_key from derived.person where person_id = %s", (person,)
    )[0]
    assert row == ("017080000001", "123456789", privacy.pseudonym("person", "cccd:017080000001"))
    assert world.sql("select count(*) from derived.person")[0][0] == 1


def test_cmnd_before_its_cccd_is_known_then_joins_it(world):
    world.vacc("123456789", 1, "AZ", "2021-08-01")
    world.build("2021-11-01")
    assert world.sql("select citizen_id, cmnd from derived.person") == [(None, "123456789")]
    world.vacc("017080000001", 2, "AZ", "2021-10-01")
    world.link("017080000001", "cmnd", "123456789")
    world.build(DAY)
    assert world.sql("select citizen_id, cmnd from derived.person") == [("017080000001", "123456789")]
    assert world.status("017080000001")["doses"] == 2


def test_phone_birth_date_and_an_nfd_name_join_a_cmnd_to_its_cccd(world):
    nfd = unicodedata.normalize("NFD", "Nguyễn Thị Hòa")
    assert nfd != "Nguyễn Thị Hòa"
    world.vacc("123456789", 1, "AZ", "2021-08-01", name=nfd, dob="1990-02-03", phone="0912345678")
    world.vacc(
        "017190000002", 2, "AZ", "2021-10-01", name="NGUYEN  THI HOA", dob="1990-02-03", phone="0912345678"
    )
    world.build(DAY)
    assert world.person_id("cmnd", "123456789") == world.person_id("cccd", "017190000002")
    assert world.status("017190000002")["doses"] == 2


def test_a_family_sharing_one_phone_stays_apart_and_its_phone_scans_go_to_review(world):
    for cid, name, dob in (
        ("017080000011", "Bùi Văn Nam", "1970-01-02"),
        ("017170000012", "Bùi Thị Lan", "1972-03-04"),
        ("017200000013", "Bùi Văn Minh", "2000-05-06"),
    ):
        world.vacc(cid, 1, "VeroCell", "2021-09-01", name=name, dob=dob, phone="0987654321")
    world.checkin("phone", "0987654321", "V1", at("2021-11-10", "10:00"))
    world.build(DAY)
    persons = {world.person_id("cccd", c) for c in ("017080000011", "017170000012", "017200000013")}
    assert len(persons) == 3 and None not in persons
    assert world.person_id("phone", "0987654321") is None
    candidates, key = reviews(world)[("shared_phone", "0987654321")]
    assert len(candidates) == 3
    # the operator knows whose phone it is: the scans are the mother's
    mother = candidates.index("cccd:017170000012") + 1
    assert (
        main(["review", "decide", key, "--candidate", str(mother), "--merge", "--reason", "called her"]) == 0
    )
    world.build(DAY)
    assert world.person_id("phone", "0987654321") == world.person_id("cccd", "017170000012")
    assert ("shared_phone", "0987654321") not in reviews(world)


def test_one_cccd_with_two_birth_dates_goes_to_review_and_the_decision_survives_a_rebuild(world, capsys):
    world.vacc("017080000021", 1, "AZ", "2021-08-01", dob="1980-01-15")
    world.vacc("017080000021", 2, "AZ", "2021-10-01", dob="1980-01-15")
    world.test("017080000021", "RT-PCR", "positive", at("2021-11-18"), dob="1985-07-07")  # another person?
    world.build(DAY)
    row = world.sql("select date_of_birth from derived.person where citizen_id = '017080000021'")
    assert row == [(None,)]  # no birth date guessed while the conflict is open
    candidates, key = reviews(world)[("birth_date_conflict", "017080000021")]
    assert candidates == ["dob:1980-01-15", "dob:1985-07-07"]
    assert main(["review", "list"]) == 0
    assert key in capsys.readouterr().out
    assert world.status("017080000021")["f0"] is True
    # health staff find the test was someone else's, typed with this CCCD
    assert main(["review", "decide", key, "--candidate", "2", "--distinct", "--reason", "lab typo"]) == 0
    world.build(DAY)
    s = world.status("017080000021")
    assert (s["f0"], s["latest_test_type"], s["doses"]) == (False, None, 2)
    assert world.sql("select date_of_birth::text from derived.person where citizen_id = '017080000021'") == [
        ("1980-01-15",)
    ]
    assert reviews(world) == {}
    keys = world.sql("select person_key from derived.person order by 1")
    world.build(DAY, full=True)
    assert world.sql("select person_key from derived.person order by 1") == keys
    assert world.status("017080000021")["f0"] is False


def test_a_cmnd_linked_to_two_cccds_is_not_merged_by_guess(world):
    world.vacc("017080000031", 1, "AZ", "2021-08-01")
    world.vacc("017080000032", 1, "AZ", "2021-08-01")
    world.vacc("223456789", 2, "AZ", "2021-10-01")
    world.link("017080000031", "cmnd", "223456789")
    world.link("017080000032", "cmnd", "223456789")
    world.build(DAY)
    assert world.person_id("cmnd", "223456789") not in (
        world.person_id("cccd", "017080000031"),
        world.person_id("cccd", "017080000032"),
    )
    candidates, key = reviews(world)[("link_conflict", "223456789")]
    assert candidates == ["cccd:017080000031", "cccd:017080000032"]
    assert main(["review", "decide", key, "--candidate", "1", "--merge", "--reason", "card seen"]) == 0
    world.build(DAY, full=True)
    assert world.person_id("cmnd", "223456789") == world.person_id("cccd", "017080000031")
    assert world.status("017080000031")["doses"] == 2


def test_two_cccds_cannot_be_merged(world):
    from covidsync.status import review

    world.sql(
        "insert into derived.identity_review values ('k', 'link_conflict', 'cccd', '017080000041',"
        " '[\"cccd:017080000042\"]', 'open')"
    )
    with pytest.raises(review.ReviewError, match="two people"):
        review.decide(world.conn, "k", 1, "merge", "x", "tester")


def test_a_qid_joins_by_its_personal_qr_link_and_identity_keys_match_checkins(world):
    world.vacc("017080000051", 1, "Janssen", "2021-08-01")
    key = world.checkin("qid", "162979388586171100", "V9", at("2021-11-10"), name="NGUYEN VAN AN")
    world.link("017080000051", "qid", "162979388586171100", source="personal_qr")
    world.build(DAY)
    person = world.person_id("cccd", "017080000051")
    assert world.person_id("qid", "162979388586171100") == person
    got = world.sql("select identity_key from derived.person_identifier where kind = 'qid'")
    assert got == [(key,)]


def test_person_keys_are_stable_across_full_rebuilds(world):
    world.vacc("017080000061", 1, "AZ", "2021-08-01")
    world.vacc("323456789", 1, "AZ", "2021-08-01")
    world.build(DAY)
    before = world.sql("select person_key, citizen_id, cmnd from derived.person order by 1")
    world.sql(
        "delete from derived.health_status; delete from derived.vaccination_dose;"
        " delete from derived.person_identifier; delete from derived.person_record;"
        " delete from derived.f0_episode; delete from derived.person"
    )
    world.build(DAY, full=True)
    assert world.sql("select person_key, citizen_id, cmnd from derived.person order by 1") == before
