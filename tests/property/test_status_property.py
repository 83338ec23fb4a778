"""Property test of the health-status build on random populations (issue 23): for each seed, a few thousand
people with random doses, tests and clustered check-ins (``status_population``), delivered day by day; after
each day's delivery an incremental build as of the end of that day. Checked, for every seed:

1. every build completes (no "did not settle", no limit reached);
2. after the last day, the incremental build's tables equal a full rebuild's (rolled back);
3. after every day, an independent plain-Python reading of the contract §2–§5 (``status_oracle``, no SQL of
   the build) gives the same status for every person, the same F0 episodes and the same contact candidates.

CI runs the fixed seeds below (``make test``); ``make property SEEDS=200`` runs seeds 1..200 (environment:
``COVIDSYNC_PROPERTY_SEEDS`` = a count or a comma-separated list, ``COVIDSYNC_PROPERTY_PERSONS``)."""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter

import psycopg2
import pytest
from status_oracle import read
from status_population import Population

from covidsync.status import build

CI_SEEDS = (1, 2)
PERSONS = int(os.environ.get("COVIDSYNC_PROPERTY_PERSONS", "2000"))
DAYS = 10


def _seeds() -> list[int]:
    given = os.environ.get("COVIDSYNC_PROPERTY_SEEDS", "").strip()
    if not given:
        return list(CI_SEEDS)
    if "," in given:
        return [int(s) for s in given.split(",") if s.strip()]
    return list(range(1, int(given) + 1))


pytestmark = [pytest.mark.integration, pytest.mark.property]

STATUS_COLUMNS = (
    "doses",
    "last_dose_on",
    "last_dose_product",
    "primary_complete",
    "last_primary_dose_on",
    "booster_doses",
    "fully_vaccinated",
    "latest_test_type",
    "latest_test_result",
    "latest_test_sampled_at",
    "f0",
    "f0_since",
    "recovered_on",
    "contact_candidate",
    "card_colour",
)
BUILT_STATUS = f"""
select i.value, {", ".join("h." + c for c in STATUS_COLUMNS)}
from derived.health_status h join derived.person_identifier i on i.person_id = h.person_id and i.kind = 'cccd'
"""
BUILT_EPISODES = """
select i.value, e.f0_since, e.f0_test_id, e.path, e.window_end, e.recovered_at, e.recovery_test_id
from derived.f0_episode e join derived.person_identifier i on i.person_id = e.person_id and i.kind = 'cccd'
"""
BUILT_CANDIDATES = """
select i.value, c.candidate_person_key, c.venue_code, c.f0_scanned_at, c.candidate_scanned_at, c.f0_since
from derived.contact_candidate c join derived.person_identifier i on i.person_id = c.f0_person_id and i.kind = 'cccd'
"""
SNAPSHOT = (
    BUILT_STATUS.replace("select i.value,", "select i.value, derived.status_as_of(h.rule_set), h.due_at,"),
    BUILT_EPISODES,
    BUILT_CANDIDATES + " order by 1, 2, 3, 4, 5",
    "select i.value, d.dose_number, d.vaccinated_on, d.product_code, d.vaccination_id, d.reported_by"
    " from derived.vaccination_dose d join derived.person_identifier i on i.person_id = d.person_id"
    " and i.kind = 'cccd'",
)


def _rows(cur, query: str) -> list[tuple]:
    cur.execute(query)
    return sorted(cur.fetchall(), key=repr)


def _diff(label: str, built: list, expected: list) -> str:
    b, e = set(built), set(expected)
    return f"{label}: build only {sorted(b - e, key=repr)[:3]}; contract reading only {sorted(e - b, key=repr)[:3]}"


def _check_against_reading(cur, data: Population, index: int, as_of: dt.datetime) -> dict:
    doses, tests, scans = data.delivered(index)
    persons = {d.cccd for d in doses} | {t.cccd for t in tests} | {s.cccd for s in scans}
    reading = read(as_of, persons, doses, tests, scans)
    status = _rows(cur, BUILT_STATUS)
    expected = sorted(((c, *(s[k] for k in STATUS_COLUMNS)) for c, s in reading.status.items()), key=repr)
    assert Counter(status) == Counter(expected), _diff(
        f"as of {as_of:%Y-%m-%d}: health_status", status, expected
    )
    episodes = _rows(cur, BUILT_EPISODES)
    expected = sorted(
        (
            (e.cccd, e.since, e.test_id, e.path, e.window_end, e.recovered_at, e.recovery_test_id)
            for e in reading.episodes
        ),
        key=repr,
    )
    assert Counter(episodes) == Counter(expected), _diff(
        f"as of {as_of:%Y-%m-%d}: f0_episode", episodes, expected
    )
    candidates = _rows(cur, BUILT_CANDIDATES)
    expected = sorted(((*row, since) for row, since in reading.candidates.items()), key=repr)
    assert Counter(candidates) == Counter(expected), _diff(
        f"as of {as_of:%Y-%m-%d}: contact_candidate", candidates, expected
    )
    return {"episodes": reading.episodes}


def _setup(conn) -> int:
    """The two facilities the records name and one landing file they come from."""
    with conn, conn.cursor() as cur:
        for code in ("17001", "17002"):
            cur.execute(
                "insert into ops.facility (facility_code, name, facility_type, province_code, registry_sha256)"
                " values (%s, %s, 'hospital', '17', %s)",
                (code, f"facility {code}", "0" * 64),
            )
        cur.execute(
            "insert into ops.landing_file (sha256, relative_path, original_name, size_bytes, received_at, status)"
            " values (%s, 'property/records.csv', 'records.csv', 1, now(), 'merged') returning file_id",
            ("b" * 64,),
        )
        return cur.fetchone()[0]


@pytest.mark.parametrize("seed", _seeds())
def test_random_population_builds_settle_agree_with_a_full_build_and_with_the_contract(warehouse_url, seed):
    data = Population(seed=seed, persons=PERSONS, days=DAYS)
    conn = psycopg2.connect(warehouse_url)
    file_id = _setup(conn)
    seen_paths: set[str] = set()
    try:
        for index in range(DAYS + 2):
            data.load(conn, file_id, index)
            as_of = build.as_of_for(data.day(index))
            result = build.build(conn, as_of)  # (1): raises on any failure
            assert result.mode == ("full" if index == 0 else "incremental")
            with conn.cursor() as cur:
                found = _check_against_reading(cur, data, index, as_of)  # (3)
            conn.rollback()
            seen_paths |= {e.path for e in found["episodes"]}
        with conn.cursor() as cur:
            built = [_rows(cur, q) for q in SNAPSHOT]
        conn.rollback()
        build.build_uncommitted(conn, as_of, full=True)
        with conn.cursor() as cur:
            full = [_rows(cur, q) for q in SNAPSHOT]
        conn.rollback()
        for query, a, b in zip(SNAPSHOT, built, full, strict=True):  # (2)
            assert a == b, _diff(f"incremental vs full: {query.split()[-9]}", a, b)
    finally:
        conn.close()
    # the population exercised every path to F0
    assert seen_paths == {"rt_pcr", "antigen_pair", "antigen_contact"}, seen_paths
