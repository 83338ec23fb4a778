"""An incremental build with nothing new returns before any walk (issue 19: nothing new <= 0.02 of a full
rebuild, robustly): one index probe per source against the watermarks the last build stored, and the extra
steps' own checks. It must never skip a build that has something to do: each source below gets one new fact
after the last build, as of the same day, and the build must take it (the derived tables then equal a full
rebuild's); and a load that was open when the last build began, and committed after it, is new to the next
build even though its rows are stamped before that build ended."""

from __future__ import annotations

import datetime as dt

import psycopg2
import pytest
from arrivals_world import ArrivalWorld
from status_equality import assert_equals_full_rebuild
from status_world import at

from covidsync.status import build

DAY = "2021-11-20"
AS_OF = build.as_of_for(dt.date.fromisoformat(DAY))
F0, SCANNER, OTHER = "017090000001", "017090000002", "017090000003"


@pytest.fixture
def world(warehouse_url):
    w = ArrivalWorld(warehouse_url)
    w.checkpoint("CP01")
    w.vacc(SCANNER, 1, "Pfizer", "2021-09-01", name="Trần Văn Bình", phone="0911000001")
    w.vacc(OTHER, 1, "AZ", "2021-09-02", name="Lê Thị Hoa", dob="1985-05-05", phone="0911000002")
    w.test(F0, "RT-PCR", "positive", at("2021-11-19", "08:00"), name="Lê Thị Mai", dob="1975-04-04")
    w.checkin("cccd", F0, "V1", at("2021-11-18", "10:00"))
    w.checkin("cccd", OTHER, "V2", at("2021-11-18", "10:00"))
    w.scan(OTHER, at("2021-11-15", "07:00"))
    w.declare(OTHER, travel="2021-11-15")
    first = w.build(DAY)
    assert first.mode == "full"
    yield w
    w.close()


def _state(w) -> list[tuple]:
    return w.sql("select as_of, checkin_watermark, record_watermark, mode, built_at from derived.build_state")


def test_nothing_new_returns_before_any_walk(world):
    first = world.build(DAY)  # the first incremental build after the full one: writes its state
    before = _state(world)
    arrivals_before = world.sql("select as_of, watermark, built_at from derived.arrival_build_state")
    result = world.build(DAY)
    assert (result.mode, result.touched, result.identity_scope, result.rounds) == ("incremental", 0, 0, 0)
    assert (result.persons, result.f0_active, result.candidates, result.open_reviews) == (
        first.persons,
        first.f0_active,
        first.candidates,
        first.open_reviews,
    )
    # nothing was written: the state (its watermarks, its end) is the last build's
    assert _state(world) == before
    assert world.sql("select as_of, watermark, built_at from derived.arrival_build_state") == arrivals_before
    assert_equals_full_rebuild(world.url, AS_OF, "nothing new")


def test_a_later_as_of_takes_the_walk(world):
    before = _state(world)
    result = world.build("2021-11-21")
    assert result.mode == "incremental"
    after = _state(world)
    assert after[0][0] == build.as_of_for(dt.date(2021, 11, 21)) and after[0][4] > before[0][4]
    assert_equals_full_rebuild(world.url, build.as_of_for(dt.date(2021, 11, 21)), "a day later")


def _vaccination(w):
    w.vacc(SCANNER, 2, "Pfizer", "2021-10-01", name="Trần Văn Bình", phone="0911000001")


def _test_result(w):
    w.test(SCANNER, "RT-PCR", "positive", at("2021-11-20", "08:00"), name="Trần Văn Bình")


def _checkin_identity(w):  # a new phone identity: resolved to the person whose records carry the phone
    w.checkin("phone", "0911000002", "V3", at("2021-11-19", "12:00"))


def _checkin_near_an_f0(w):  # a scan of a known identity (no new identity): the F0 is traced again
    w.checkin("cccd", OTHER, "V1", at("2021-11-18", "10:10"))


def _identity_link(w):
    w.vacc("123456789", 1, "AZ", "2021-10-01", dob="1985-05-05", name="Lê Thị Hoa")


def _qr_link(w):
    w.link(OTHER, "qid", "QID-0001")


def _decision(w):
    w.sql(
        "insert into derived.identity_decision (kind, value, other_kind, other_value, decision, reason, decided_by)"
        " values ('cccd', %s, 'cccd', %s, 'distinct', 'test', 'tester')",
        (SCANNER, OTHER),
    )


def _record_deleted(w):  # logged in core.identity_change by a trigger
    w.sql("delete from core.vaccination where citizen_id = %s", (OTHER,))


def _arrival_declaration(w):  # the arrivals step's own source
    w.declare(SCANNER, travel="2021-11-18")


def _arrival_scan(w):
    w.scan(SCANNER, at("2021-11-19", "07:00"))


NEW = {
    "vaccination": _vaccination,
    "test_result": _test_result,
    "checkin_identity": _checkin_identity,
    "checkin_near_an_f0": _checkin_near_an_f0,
    "cmnd_record": _identity_link,
    "qr_link": _qr_link,
    "decision": _decision,
    "record_deleted": _record_deleted,
    "arrival_declaration": _arrival_declaration,
    "arrival_scan": _arrival_scan,
}


@pytest.mark.parametrize("source", sorted(NEW))
def test_a_new_fact_after_the_mark_is_built(world, source):
    world.build(DAY)  # an incremental build as of the same day: its watermarks are now
    before = _state(world)
    arrivals_before = world.snapshot()
    NEW[source](world)
    result = world.build(DAY)
    assert result.mode == "incremental"
    # the build ran (its state moved on), and gives what a full rebuild gives
    assert _state(world)[0][4] > before[0][4], f"{source}: the new fact was not built"
    built = assert_equals_full_rebuild(world.url, AS_OF, source)
    if source.startswith("arrival"):
        assert world.snapshot() != arrivals_before, f"{source}: the arrivals did not change"
    elif source == "checkin_identity":
        assert world.person_id("phone", "0911000002") == world.person_id("cccd", OTHER)
    elif source not in ("qr_link", "decision"):
        assert result.touched > 0, f"{source}: nobody touched"
    assert built


def test_a_load_open_when_the_last_build_began_is_built_after_it_commits(world):
    """The load's rows are stamped with its transaction's start, before the build; the build's watermark is
    the start of the oldest open transaction, so the next build still sees them (a mark taken from what the
    last build saw, or from its end, would miss them)."""
    world.build(DAY)
    # something else new, committed: the next build runs (and stores the open load's start as its watermark)
    world.test(OTHER, "RT-PCR", "negative", at("2021-11-20", "07:00"), name="Lê Thị Hoa", dob="1985-05-05")
    load = psycopg2.connect(world.url)
    try:
        with load.cursor() as cur:  # open, uncommitted, while the build runs
            cur.execute(
                "insert into core.vaccination (facility_code, record_key, full_name, date_of_birth, citizen_id,"
                " phone, province_code, district_code, commune_code, vaccine_code, lot_number, dose_number,"
                " vaccinated_on, source_file_id, source_row) values ('17001', 'late', 'Trần Văn Bình',"
                " '1980-01-01', %s, '0911000001', '17', '148', '04687', 'EU/1/20/1528', 'LOT1', 2,"
                " '2021-10-01', %s, 999)",
                (SCANNER, world.file_id),
            )
        during = world.build(DAY)
        assert during.touched > 0 and world.status(SCANNER)["doses"] == 1  # the load is not visible yet
        load.commit()
    finally:
        load.close()
    result = world.build(DAY)
    assert result.touched > 0, "a load committed after the last build began was missed"
    assert world.status(SCANNER)["doses"] == 2
    assert_equals_full_rebuild(world.url, AS_OF, "late load")


def test_a_card_expiring_at_the_as_of_itself_does_not_stop_the_fast_path(world):
    """A test sampled at the as_of instant is not visible yet and makes its person's card expire at that
    instant (it enters the history just after): at that same as_of every card still holds, so a build with
    nothing new still returns before any walk (the bench's generated data has such a test)."""
    world.test(OTHER, "antigen", "negative", AS_OF, name="Lê Thị Hoa", dob="1985-05-05")
    world.build(DAY)
    assert world.sql("select count(*) from derived.person_card where expires_at = %s", (AS_OF,)) == [(1,)]
    before = _state(world)
    result = world.build(DAY)
    assert (result.touched, result.identity_scope) == (0, 0)
    assert _state(world) == before
    assert_equals_full_rebuild(world.url, AS_OF, "card expiring at as_of")


def test_the_marks_before_every_watermark_are_deleted(world):
    world.vacc(SCANNER, 2, "Pfizer", "2021-10-01", name="Trần Văn Bình", phone="0911000001")
    world.build(DAY)
    (watermark,) = world.sql("select record_watermark from derived.build_state")[0]
    assert world.sql("select count(*) from core.load_mark where loaded_at < %s", (watermark,)) == [(0,)]
