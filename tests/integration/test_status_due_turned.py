"""A status row's due_at names a clock still ahead of its as_of (issue 19, branch s5-status).

A clock that turns at its instant (a dose visible from the local midnight after it, 14 days after it, a
recovery, the end of the green window) and equals the build's as_of has already turned: it is not due at the
next build. Before, a dose given the day before as_of made the row due at once, and every such person was
rebuilt the next day for nothing (3,636 of the 7,877 due persons of the generated day at 100k). A clock that
turns just after its instant (a test visible once sampled before as_of) and equals as_of has not turned yet:
it stays due. And a row rewritten only because a clock moved its due_at, its published values the same,
keeps its view lines (derived.person_line)."""

from __future__ import annotations

import datetime as dt

from status_equality import assert_equals_full_rebuild
from status_world import World, at

from covidsync.status import build

DAY0 = dt.date(2021, 11, 1)


def day(n: int) -> str:
    return str(DAY0 + dt.timedelta(days=n))


def _row(w: World, cid: str) -> tuple:
    rows = w.sql(
        """
        select h.as_of, h.due_at, h.xmin::text, l.xmin::text, h.latest_test_result
        from derived.health_status h join derived.person_identifier i using (person_id)
        left join derived.person_line l using (person_id)
        where i.kind = 'cccd' and i.value = %s and h.rule_set = 'hb-2021-11'
        """,
        (cid,),
    )
    assert len(rows) == 1, rows
    return rows[0]


def test_a_clock_at_as_of_is_due_only_when_it_has_not_turned(warehouse_url):
    w = World(warehouse_url)
    try:
        # a first dose on day 0: visible as of day 0 (as_of: the midnight ending it), yellow 14 days later
        w.vacc("017090000201", 1, "AZ", day(0))
        # a negative RT-PCR sampled at the very instant of day 0's as_of: not visible as of day 0
        w.test("017090000202", "RT-PCR", "negative", at(day(1), "00:00"))
        # fully vaccinated long ago, a booster 10 days before day 0: its 14 days end as of day 3, showing nothing new
        w.vacc("017090000203", 1, "Pfizer", day(-60))
        w.vacc("017090000203", 2, "Pfizer", day(-30))
        w.vacc("017090000203", 3, "Pfizer", day(-10))
        assert w.build(day(0)).mode == "full"
        as_of0 = build.as_of_for(DAY0)
        first = _row(w, "017090000201")
        assert first[0] == as_of0
        assert first[1] == build.as_of_for(
            DAY0 + dt.timedelta(days=13)
        )  # the 14 days, not the dose's visibility
        assert _row(w, "017090000202")[1] == as_of0  # sampled at as_of: turns just after it, still due
        booster = _row(w, "017090000203")
        assert booster[1] == build.as_of_for(DAY0 + dt.timedelta(days=3))

        result = w.build(day(1))
        assert result.mode == "incremental"
        assert result.touched == 1  # the test's person only
        assert _row(w, "017090000201")[:3] == first[:3]  # not rewritten
        assert _row(w, "017090000202")[4] == "negative"
        assert_equals_full_rebuild(warehouse_url, build.as_of_for(DAY0 + dt.timedelta(days=1)), "day 1")

        result = w.build(day(3))
        assert result.touched == 2  # the booster's 14 days, the test's 72 hours
        after = _row(w, "017090000203")
        assert after[2] != booster[2]  # the status row rewritten: its due_at moved
        assert after[1] != booster[1]
        assert after[3] == booster[3] and after[3] is not None  # its line kept: nothing shown changed
        assert_equals_full_rebuild(warehouse_url, build.as_of_for(DAY0 + dt.timedelta(days=3)), "day 3")
    finally:
        w.close()
