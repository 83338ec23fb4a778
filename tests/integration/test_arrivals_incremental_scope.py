"""The incremental arrivals build reads only the keys a change can reach (issue 19): a person whose status was
built again but who has no arrival brings no key; a key identity moves to another person, or to nobody,
brings its arrival along. Each build is compared with a full one."""

from __future__ import annotations

from arrivals_world import ArrivalWorld, at

PHONE = "0912000111"


def _check(w: ArrivalWorld, day: str) -> int:
    """Incremental build as of ``day``, then a full one: equal; returns the keys the incremental one read."""
    assert w.build(day).mode == "incremental"
    ((mode, keys),) = w.sql("select mode, touched from derived.arrival_build_state")
    assert mode == "incremental"
    incremental = w.snapshot()
    w.build(day, full=True)
    assert w.snapshot() == incremental
    return keys


def test_a_status_change_of_a_person_without_an_arrival_reads_no_arrival_key(warehouse_url):
    w = ArrivalWorld(warehouse_url)
    try:
        w.checkpoint("CP01")
        w.risk_levels([("01", 4, "2021-11-01", None)])
        w.scan("001090000001", at("2021-11-10", "06:00"))  # an arrival: not reached below
        w.vacc("001090000002", 1, "AZ", "2021-10-01")  # a resident: no scan, no declaration
        w.build("2021-11-12", full=True)
        w.vacc("001090000002", 2, "AZ", "2021-11-11")
        w.test("001090000002", "antigen", "negative", at("2021-11-12", "08:00"))
        assert _check(w, "2021-11-12") == 0
        assert w.sql("select count(*) from derived.arrival")[0][0] == 1
    finally:
        w.close()


def test_a_phone_that_becomes_shared_takes_its_arrival_from_its_person(warehouse_url):
    w = ArrivalWorld(warehouse_url)
    try:
        w.checkpoint("CP01")
        w.risk_levels([("01", 4, "2021-11-01", None)])
        w.vacc("001090000011", 1, "AZ", "2021-10-01", phone=PHONE)
        # scanned in by the phone alone: the phone is the vaccinated person's, so is the arrival
        w.checkin("phone", PHONE, "CP01", at("2021-11-10", "07:00"))
        w.build("2021-11-12", full=True)
        ((person,),) = w.sql("select person_id from derived.arrival")
        assert person is not None
        # another person's record carries the phone: it resolves to nobody, the arrival to the phone's key
        w.vacc("001090000012", 1, "AZ", "2021-11-11", name="Trần Thị Bình", dob="1990-02-02", phone=PHONE)
        assert _check(w, "2021-11-12") >= 1
        assert w.sql("select person_id from derived.arrival") == [(None,)]
    finally:
        w.close()


def test_a_cmnd_linked_to_a_card_brings_its_arrival_to_the_card_holder(warehouse_url):
    w = ArrivalWorld(warehouse_url)
    try:
        w.checkpoint("CP01")
        w.risk_levels([("01", 4, "2021-11-01", None)])
        w.vacc("001090000021", 1, "AZ", "2021-10-01")
        w.checkin("cmnd", "171234567", "CP01", at("2021-11-10", "07:00"))  # a person of its own
        w.build("2021-11-12", full=True)
        holder = "select p.citizen_id from derived.arrival a join derived.person p using (person_id)"
        assert w.sql(holder) == [(None,)]
        w.link("001090000021", "cmnd", "171234567")  # a card QR: the CMND is the card holder's
        assert _check(w, "2021-11-12") >= 1
        assert w.sql(holder) == [("001090000021",)]
    finally:
        w.close()
