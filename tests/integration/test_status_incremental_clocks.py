"""The clocks of an incremental build: with nothing new loaded, as_of moving a day at a time must change
exactly the statuses a full rebuild changes. Each record sits just inside a day's edge (00:30 or 23:30
local time, or the day a date rule turns), so a clock that reads a range an hour too narrow, or a day off,
misses a person whose status flips, and the incremental build then differs from the full one."""

from __future__ import annotations

import datetime as dt

import psycopg2
from status_equality import assert_equals_full_rebuild
from status_world import World, at

from covidsync.status import build

DAY0 = dt.date(2021, 11, 1)


def on(n: int, hm: str = "09:00") -> dt.datetime:
    return at(str(DAY0 + dt.timedelta(days=n)), hm)


def status_row(url: str, cid: str) -> dict:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                """
                select h.fully_vaccinated, h.card_colour, h.f0, h.contact_candidate
                from derived.health_status h join derived.person p using (person_id) where p.citizen_id = %s
                """,
                (cid,),
            )
            row = cur.fetchone()
    finally:
        conn.close()
    return dict(
        zip(("fully_vaccinated", "card_colour", "f0", "contact_candidate"), row or (None,) * 4, strict=True)
    )


def test_statuses_follow_as_of_day_by_day_as_a_full_rebuild_does(warehouse_url):
    w = World(warehouse_url)
    try:
        w.vacc("017090000101", 1, "Pfizer", str(DAY0 - dt.timedelta(days=30)))
        w.vacc("017090000101", 2, "Pfizer", str(DAY0))  # fully vaccinated 14 days after day 0
        w.vacc("017090000102", 1, "AZ", str(DAY0))  # yellow 14 days after day 0
        w.test("017090000103", "RT-PCR", "negative", on(0, "00:30"))  # yellow for 72 hours
        w.test("017090000104", "RT-PCR", "negative", on(0, "23:30"))
        w.test("017090000105", "RT-PCR", "positive", on(0, "00:30"))  # F0 for 14 days
        w.test("017090000106", "RT-PCR", "positive", on(0, "23:30"))
        w.test("017090000107", "RT-PCR", "positive", on(2, "08:00"))  # an F0 whose contacts are candidates
        w.checkin("cccd", "017090000107", "V1", on(0, "23:20"))
        w.checkin("cccd", "017090000108", "V1", on(0, "23:30"))  # candidate flag for 14 days
        w.checkin("cccd", "017090000107", "V2", on(1, "00:10"))
        w.checkin("cccd", "017090000109", "V2", on(1, "00:30"))
        days = [DAY0 + dt.timedelta(days=n) for n in range(-1, 18)] + [DAY0 + dt.timedelta(days=3)]
        seen: dict[str, set] = {}
        for n, day in enumerate(days):
            result = w.build(str(day))
            assert result.mode == ("full" if n == 0 else "incremental")
            assert_equals_full_rebuild(warehouse_url, build.as_of_for(day), f"as of {day}")
            for cid in ("017090000101", "017090000102", "017090000103", "017090000104", "017090000105"):
                seen.setdefault(cid, set()).add(tuple(status_row(warehouse_url, cid).values()))
            for cid in ("017090000106", "017090000108", "017090000109"):
                seen.setdefault(cid, set()).add(tuple(status_row(warehouse_url, cid).values()))
    finally:
        w.close()
    # every clock turned at least once in the days built
    assert all(len(states) > 1 for states in seen.values()), seen
