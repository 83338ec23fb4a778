"""A person whose identifiers alone changed keeps its status row (issue 19, branch s5-status).

A status reads no identifier (doses, tests, episodes and candidacy by person_id), so identity resolution no
longer touches a person who only gains or loses an identifier: the row is not rebuilt (2,784 of the generated
day's 5,044 such persons at 100k had an equal row). A person the build creates is still touched (it has no
row yet), and the incremental build still equals a full rebuild."""

from __future__ import annotations

import datetime as dt

from status_equality import assert_equals_full_rebuild
from status_world import World

from covidsync.status import build

DAY = "2021-11-10"


def _status_xmin(w: World, cid: str) -> str:
    rows = w.sql(
        "select h.xmin::text from derived.health_status h join derived.person_identifier i using (person_id)"
        " where i.kind = 'cccd' and i.value = %s",
        (cid,),
    )
    assert len(rows) == 1, rows
    return rows[0][0]


def test_an_identifier_alone_leaves_the_status_row(warehouse_url):
    w = World(warehouse_url)
    try:
        w.vacc("017090000301", 1, "AZ", "2021-10-01", phone="0912000301")
        assert w.build(DAY).mode == "full"
        before = _status_xmin(w, "017090000301")
        person = w.person_id("cccd", "017090000301")
        assert w.person_id("phone", "0912000301") == person  # the only person whose records carry it
        # a relative's record with the same phone: a new person, and the phone resolves to nobody any more
        w.vacc(
            "017080000302", 1, "AZ", "2021-10-02", name="Bùi Thị Lan", dob="1972-03-04", phone="0912000301"
        )
        result = w.build(DAY)
        assert result.mode == "incremental"
        assert w.person_id("phone", "0912000301") is None  # the first person lost an identifier, nothing else
        assert w.person_id("cccd", "017090000301") == person
        assert result.touched == 1  # the new person only
        assert w.status("017080000302")["doses"] == 1
        assert _status_xmin(w, "017090000301") == before
        assert_equals_full_rebuild(warehouse_url, build.as_of_for(dt.date.fromisoformat(DAY)), "identifier")
    finally:
        w.close()
