"""Fourteen generated days built incrementally, each compared with a full rebuild as of the same day (issue 19):
the build's as_of is stored once (derived.build_state), a status row keeps the as_of it was computed as of
until one of its clocks falls due (health_status.due_at), F0s are traced again only when their episodes or
identifiers change, and the counts come from the changes. Whatever the build skips, the derived tables must be
those a full rebuild gives, day after day, and the counts it reports those a full rebuild counts."""

from __future__ import annotations

import psycopg2
from status_equality import assert_equals_full_rebuild

from covidsync.status import build, identity
from covidsync.status.synthetic import Synthetic


def test_fourteen_generated_days_incrementally_equal_a_full_rebuild_each_day(warehouse_url, monkeypatch):
    monkeypatch.setattr(identity, "WHOLE_SHARE", float("inf"))  # never fall back to resolving everyone
    data = Synthetic(seed=19, persons=250, days=14, venues=5, checkins_per_day=250, late_share=0.2)
    conn = psycopg2.connect(warehouse_url)
    data.setup(conn)
    kept_as_of = 0
    try:
        for day in data.dates:
            data.load_day(conn, day)
            as_of = build.as_of_for(day)
            result = build.build(conn, as_of)
            built = assert_equals_full_rebuild(warehouse_url, as_of, f"day {day}")
            # the counts an incremental build keeps from its changes are those of the tables
            assert result.persons == len(built["person"])
            assert result.candidates == len(built["contact_candidate"])
            assert result.f0_active == sum(1 for r in built["health_status"] if r[15])
            with conn.cursor() as cur:
                cur.execute(
                    "select derived.status_as_of('hb-2021-11'), count(*) filter (where as_of < %s)"
                    " from derived.health_status",
                    (as_of,),
                )
                view_as_of, older = cur.fetchone()
            conn.rollback()
            assert view_as_of == as_of
            if result.mode == "incremental":
                kept_as_of += older
                assert result.touched < result.persons
    finally:
        conn.close()
    # rows no clock or record reached kept the as_of they were computed as of: no daily stamp of every row
    assert kept_as_of > 0
    f0_paths = {r[4] for r in built["f0_episode"]}
    assert "rt_pcr" in f0_paths and built["contact_candidate"]
