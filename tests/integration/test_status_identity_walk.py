"""The incremental identity walk's person step (issue 19, branch s6-status): each person the scope's identifiers
resolved to at the last build is walked once, its persons noted in ``old_person`` as the walk finds them (no pass
over the scope after the walk). What the rest of the build relies on: ``old_person`` is exactly the persons of
the scope's identifiers (``_STALE`` deletes those no anchor keeps, ``person_record.sql`` deletes their records no
longer theirs), and every identifier of such a person is in the scope (it is resolved again with the others)."""

from __future__ import annotations

import psycopg2

from covidsync.status import build, identity
from covidsync.status.synthetic import Synthetic


def test_old_person_is_the_persons_of_the_scope_and_the_scope_holds_all_their_identifiers(warehouse_url):
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
            scope = identity._scope(cur, since)
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
        conn.rollback()
    finally:
        conn.close()
    assert scope and persons_of_scope, "the generated day reaches nobody: nothing is tested"
    assert len(persons_of_scope) < persons, "the day reaches everyone: the walk is not tested as a walk"
    assert old_person == persons_of_scope
    assert left_out == 0
