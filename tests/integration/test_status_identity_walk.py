"""The incremental identity walk's person step (issue 19, branch s6-status): each person the scope's identifiers
resolved to at the last build is walked once, its persons noted in ``old_person`` as the walk finds them (no pass
over the scope after the walk). What the rest of the build relies on: ``old_person`` is exactly the persons of
the scope's identifiers (``_STALE`` deletes those no anchor keeps, ``person_record.sql`` deletes their records no
longer theirs), and every identifier of such a person is in the scope (it is resolved again with the others)."""

from __future__ import annotations

import psycopg2

from covidsync.status import build, identity
from covidsync.status.synthetic import Synthetic


def _walked(warehouse_url, inspect):
    """A built sample with one more day loaded, its incremental scope walked (``identity._scope``) in an open
    transaction; ``inspect(cur, scope)`` reads what it needs, then everything is rolled back."""
    data = Synthetic(seed=6, persons=300, days=3, venues=5, checkins_per_day=300)
    conn = psycopg2.connect(warehouse_url)
    data.setup(conn)
    try:
        for day in data.dates[:-1]:
            data.load_day(conn, day)
        build.build(conn, build.as_of_for(data.dates[-2]))
        data.load_day(conn, data.dates[-1])
        conn.commit()
        with conn.cursor() as cur:
            cur.execute("select record_watermark from derived.build_state")
            since = cur.fetchone()[0]
            cur.execute(identity._WORK_TABLES)
            found = inspect(cur, identity._scope(cur, since))
        conn.rollback()
    finally:
        conn.close()
    return found


def test_old_person_is_the_persons_of_the_scope_and_the_scope_holds_all_their_identifiers(warehouse_url):
    def inspect(cur, scope):
        cur.execute(
            "select distinct i.person_id from identity_scope s"
            " join derived.person_identifier i on i.kind = s.kind and i.value = s.value"
        )
        persons_of_scope = {r[0] for r in cur.fetchall()}
        cur.execute("select person_id from old_person")
        old_person = {r[0] for r in cur.fetchall()}
        cur.execute(
            "select count(*) from old_person o join derived.person_identifier i using (person_id)"
            " where not exists (select 1 from identity_scope s where s.kind = i.kind and s.value = i.value)"
        )
        left_out = cur.fetchone()[0]
        cur.execute("select count(*) from derived.person")
        persons = cur.fetchone()[0]
        return scope, persons_of_scope, old_person, left_out, persons

    scope, persons_of_scope, old_person, left_out, persons = _walked(warehouse_url, inspect)
    assert scope and persons_of_scope, "the generated day reaches nobody: nothing is tested"
    assert len(persons_of_scope) < persons, "the day reaches everyone: the walk is not tested as a walk"
    assert old_person == persons_of_scope
    assert left_out == 0


# identity_obs.sql reads the walk's kept rows instead of core (issue 19, s9-status): they must be exactly the core
# rows of the scope's identifiers, as its joins to core read them before
_KEPT = {
    "vaccination": (
        "select v.vaccination_id from identity_scope s join core.vaccination v on s.value = v.citizen_id"
        " and s.kind = case length(v.citizen_id) when 12 then 'cccd' else 'cmnd' end",
        "select v.vaccination_id from scope_vaccination v"
        " where v.fkind = case length(v.citizen_id) when 12 then 'cccd' else 'cmnd' end",
    ),
    "test_result": (
        "select t.test_result_id from identity_scope s join core.test_result t on s.value = t.citizen_id"
        " and s.kind = case length(t.citizen_id) when 12 then 'cccd' else 'cmnd' end",
        "select t.test_result_id from scope_test_result t"
        " where t.fkind = case length(t.citizen_id) when 12 then 'cccd' else 'cmnd' end",
    ),
    "checkin_person": (
        "select c.person_kind, c.person_key from identity_scope s join core.checkin_person c"
        " on s.kind = c.person_kind and s.value = c.identifier",
        "select c.person_kind, c.person_key from scope_checkin_person c",
    ),
}


def test_the_walk_keeps_exactly_the_core_rows_of_the_scope(warehouse_url):
    def inspect(cur, _scope):
        found = {}
        for name, (from_core, kept) in _KEPT.items():
            cur.execute(from_core)
            want = sorted(cur.fetchall())
            cur.execute(kept)
            found[name] = (want, sorted(cur.fetchall()))
        return found

    found = _walked(warehouse_url, inspect)
    for name, (want, got) in found.items():
        assert want, f"the scope holds no {name} row: nothing is tested"
        assert got == want, name
