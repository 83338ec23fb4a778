"""An incremental build equals a full rebuild, on generated data (the sample generator's population and
vaccination histories; tests, check-ins and QR links from covidsync.status.synthetic), day after day: records
sent late, a dose reported twice, a resent record, a record taken back, new check-ins for old F0 windows,
the 14-day and 72-hour clocks; then a rerun of an earlier day (as_of moving back). After each incremental
build, a full rebuild in a transaction that is rolled back must give the same derived tables, compared by
pseudonymous person key (person_id is a surrogate)."""

from __future__ import annotations

import datetime as dt

import psycopg2
from status_equality import assert_same, full_rebuild_snapshot, snapshot

from covidsync.status import build, identity
from covidsync.status.synthetic import Synthetic


def test_incremental_equals_full_day_after_day(warehouse_url, monkeypatch):
    # the proof is about resolving only what a change reaches: never fall back to resolving everyone
    monkeypatch.setattr(identity, "WHOLE_SHARE", float("inf"))
    data = Synthetic(seed=7, persons=600, days=6, venues=8, checkins_per_day=1000, late_share=0.25)
    conn = psycopg2.connect(warehouse_url)
    data.setup(conn)
    modes, scopes = [], []
    try:
        days = data.dates + [data.dates[-1] + dt.timedelta(days=n) for n in (3, 15)] + [data.dates[2]]
        for day in days:
            if day in data.dates:
                data.load_day(conn, day)
            as_of = build.as_of_for(day)
            result = build.build(conn, as_of)
            modes.append(result.mode)
            scopes.append(result.identity_scope)
            with conn.cursor() as cur:
                inc = snapshot(cur)
            conn.rollback()
            assert inc["health_status"], "nothing was built"
            assert_same(inc, full_rebuild_snapshot(warehouse_url, as_of), f"as of {as_of:%Y-%m-%d}")
    finally:
        conn.close()
    assert modes[0] == "full" and set(modes[1:]) == {"incremental"}
    assert scopes[0] is None and all(s is not None for s in scopes[1:])
    # the generated data exercised what the proof is about
    f0_paths = {r[4] for r in inc["f0_episode"]}
    assert {"rt_pcr", "antigen_pair"} <= f0_paths
    assert inc["contact_candidate"] and any(r[3] is None for r in inc["contact_candidate"])
    assert any(r[6] > 1 for r in inc["vaccination_dose"])  # a dose reported twice


def test_a_second_build_for_the_same_day_touches_nothing(warehouse_url):
    data = Synthetic(seed=3, persons=300, days=2, venues=8, checkins_per_day=400)
    conn = psycopg2.connect(warehouse_url)
    try:
        data.setup(conn)
        for day in data.dates:
            data.load_day(conn, day)
        as_of = build.as_of_for(data.dates[-1])
        build.build(conn, as_of)
        with conn.cursor() as cur:
            before = snapshot(cur)
        again = build.build(conn, as_of)
        with conn.cursor() as cur:
            after = snapshot(cur)
        conn.rollback()
    finally:
        conn.close()
    assert (again.mode, again.touched) == ("incremental", 0)
    assert_same(after, before, "rerun")
