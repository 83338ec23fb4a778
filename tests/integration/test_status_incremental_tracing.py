"""Contact tracing in an incremental build settles as a full rebuild does: from the F0s that need no
candidate (an RT-PCR, two antigen tests), outwards. Two antigen-positive persons who are each other's
candidates must not keep each other F0 once the F0 that made the first of them a candidate is taken back."""

from __future__ import annotations

import datetime as dt

import pytest
from status_equality import assert_equals_full_rebuild
from status_world import World, at

from covidsync.status import build

DAY = "2021-11-20"
C, A, B = "017090000051", "017090000052", "017090000053"


@pytest.fixture
def world(warehouse_url):
    w = World(warehouse_url)
    yield w
    w.close()


def test_two_candidates_of_each_other_lose_f0_with_the_f0_behind_them(world):
    # C: an RT-PCR positive; A scanned near C inside C's window, then tested antigen positive: F0 by contact
    c_test = world.test(
        C, "RT-PCR", "positive", at("2021-11-15", "08:00"), name="Võ Văn Cường", dob="1970-01-01"
    )
    world.checkin("cccd", C, "V1", at("2021-11-14", "10:00"))
    world.checkin("cccd", A, "V1", at("2021-11-14", "10:10"))
    world.test(A, "antigen", "positive", at("2021-11-16", "09:00"), name="Võ Thị An", dob="1971-02-02")
    # A and B scanned together inside both their windows; B tested antigen positive after A: F0 by contact
    world.checkin("cccd", B, "V2", at("2021-11-15", "12:00"))
    world.checkin("cccd", A, "V2", at("2021-11-15", "12:05"))
    world.test(B, "antigen", "positive", at("2021-11-17", "09:00"), name="Võ Văn Bảo", dob="1972-03-03")
    world.build(DAY)
    paths = dict(
        world.sql(
            "select i.value, e.path from derived.f0_episode e"
            " join derived.person_identifier i on i.person_id = e.person_id and i.kind = 'cccd'"
        )
    )
    assert paths == {C: "rt_pcr", A: "antigen_contact", B: "antigen_contact"}
    # A is a candidate of B as well: each supports the other
    assert world.sql(
        "select count(*) from derived.contact_candidate c join derived.person_identifier f"
        " on f.person_id = c.f0_person_id and f.value = %s join derived.person_identifier k"
        " on k.person_id = c.candidate_person_id and k.value = %s",
        (B, A),
    ) == [(1,)]
    # C's result is taken back: nothing makes A or B an F0 any more
    world.sql("delete from core.test_result where test_result_id = %s", (c_test,))
    result = world.build(DAY)
    assert result.mode == "incremental"
    assert_equals_full_rebuild(world.url, build.as_of_for(dt.date.fromisoformat(DAY)), "after")
    assert world.sql("select count(*) from derived.f0_episode") == [(0,)]
    assert not world.status(A)["f0"] and not world.status(B)["f0"]
