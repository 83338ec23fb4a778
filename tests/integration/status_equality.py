"""An incremental status build equals a full rebuild: the derived tables compared by pseudonymous person key
(person_id is a surrogate), shared by the incremental status tests."""

from __future__ import annotations

import datetime as dt

import psycopg2
import pytest

from covidsync.status import build

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
    # the published row's stored parts (0032), with the cards' as_of and stale marks: after a build none is stale
    "person_card": """
        select p.person_key, c.vaccination_certificate::text, c.certificate_text, c.sskdt_certificate::text,
               c.sskdt_certificate_text, c.lot_line, c.doses_shown, c.test_history::text, c.test_history_text,
               c.dose_expires_at, c.test_expires_at, c.expires_at, s.as_of, s.all_stale,
               exists (select from derived.person_card_stale as st where st.person_id = c.person_id)
        from derived.person_card c join derived.person p using (person_id)
        cross join derived.person_card_state s""",
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
