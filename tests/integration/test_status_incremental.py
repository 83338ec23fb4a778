"""An incremental build equals a full rebuild, on generated data (the sample generator's population and
vaccination histories; tests, check-ins and QR links from covidsync.status.synthetic), day after day: records
sent late, a dose reported twice, a resent record, a record taken back, new check-ins for old F0 windows,
the 14-day and 72-hour clocks; then a rerun of an earlier day (as_of moving back). After each incremental
build, a full rebuild in a transaction that is rolled back must give the same derived tables, compared by
pseudonymous person key (person_id is a surrogate)."""

from __future__ import annotations

import datetime as dt

import psycopg2
import pytest

from covidsync.status import build, identity
from covidsync.status.synthetic import Synthetic

SNAPSHOT = {
    "person": """
        select person_key, citizen_id, cmnd, qid, full_name, name_key, date_of_birth, birth_year_only, gender,
               phone, province_code, district_code, commune_code from derived.person""",
    "person_identifier": """
        select i.kind, i.value, i.identity_key, p.person_key
        from derived.person_identifier i join derived.person p using (person_id)""",
    "person_record": """
        select r.source, r.record_id, p.person_key from derived.person_record r join derived.person p using (person_id)""",
    "vaccination_dose": """
        select p.person_key, d.dose_number, d.vaccinated_on, d.product_code, d.facility_code, d.vaccination_id,
               d.reported_by
        from derived.vaccination_dose d join derived.person p using (person_id)""",
    "health_status": """
        select h.rule_set, p.person_key, derived.status_as_of(h.rule_set), h.due_at, h.doses, h.last_dose_on,
               h.last_dose_product, h.primary_doses, h.primary_complete, h.last_primary_dose_on, h.booster_doses, h.fully_vaccinated, h.latest_test_type,
               h.latest_test_result, h.latest_test_sampled_at, h.f0, h.f0_since, h.recovered_on,
               h.contact_candidate, h.card_colour, h.last_dose_vaccination_id, h.latest_test_id, h.f0_test_id,
               h.recovery_test_id
        from derived.health_status h join derived.person p using (person_id)""",
    "f0_episode": """
        select e.rule_set, p.person_key, e.f0_since, e.f0_test_id, e.path, e.window_end, e.recovered_at,
               e.recovery_test_id
        from derived.f0_episode e join derived.person p using (person_id)""",
    "contact_candidate": """
        select c.rule_set, f.person_key, c.candidate_person_key, cp.person_key, c.venue_code, c.f0_scanned_at,
               c.candidate_scanned_at, c.f0_since, c.window_end
        from derived.contact_candidate c join derived.person f on f.person_id = c.f0_person_id
        left join derived.person cp on cp.person_id = c.candidate_person_id""",
    "identity_review": "select review_key, kind, subject_kind, subject_value, candidates::text, status"
    " from derived.identity_review",
}


def snapshot(cur) -> dict[str, list]:
    out = {}
    for name, query in SNAPSHOT.items():
        cur.execute(query)
        out[name] = sorted(cur.fetchall(), key=repr)
    return out


def assert_same(incremental: dict, full: dict, label: str) -> None:
    for table in SNAPSHOT:
        a, b = incremental[table], full[table]
        if a != b:
            only_a = [r for r in a if r not in set(b)][:3]
            only_b = [r for r in b if r not in set(a)][:3]
            pytest.fail(f"{label}: {table} differs: incremental only {only_a}; full only {only_b}")


def full_rebuild_snapshot(url: str, as_of: dt.datetime) -> dict:
    conn = psycopg2.connect(url)
    try:
        build.build_uncommitted(conn, as_of, full=True)
        with conn.cursor() as cur:
            return snapshot(cur)
    finally:
        conn.rollback()
        conn.close()


def assert_equals_full_rebuild(url: str, as_of: dt.datetime, label: str) -> dict:
    """The derived tables as the last build left them, compared with a full rebuild as of ``as_of`` (rolled
    back); returns them."""
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            built = snapshot(cur)
    finally:
        conn.close()
    assert_same(built, full_rebuild_snapshot(url, as_of), label)
    return built


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
