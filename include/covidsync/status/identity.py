"""Identity resolution: one person across facility records and check-in identities.

Deterministic rules, in order (``sql/status/identity_anchor.sql``): a CCCD is one person; a CMND joins the
CCCD a card QR (or an earlier record) linked it to; a personal QR's QID joins the same way; then records with
the same phone + birth date + name key (``derived.name_key``) join. What the rules cannot settle (one CMND
linked to two CCCDs, one CCCD with two birth dates, a phone scanned by a family) goes to
``derived.identity_review``; an operator's decisions (``derived.identity_decision``) are applied by every
run, full or incremental. Each run resolves everyone again (set-based) and applies only the differences,
returning the persons whose records or identifiers changed: the health-status build recomputes those.
"""

from __future__ import annotations

from dataclasses import dataclass

from covidsync import privacy
from covidsync.status.sqlfiles import sql

KIND_ORDER = ("cccd", "cmnd", "qid", "phone")


@dataclass
class IdentityResult:
    persons: int
    created: int
    removed: int
    touched: int
    open_reviews: int


_WORK_TABLES = """
create temp table identity_anchor (
    kind text not null, value text not null, anchor_kind text not null, anchor_value text not null,
    rule text not null, primary key (kind, value)
) on commit drop;
create index on identity_anchor (anchor_kind, anchor_value);
create temp table identity_conflict (
    kind text not null, value text not null, conflict_kind text not null, candidates text[] not null
) on commit drop;
create temp table old_record on commit drop as
    select r.source, r.record_id, p.person_key from derived.person_record r join derived.person p using (person_id);
create temp table old_identifier on commit drop as
    select i.kind, i.value, p.person_key from derived.person_identifier i join derived.person p using (person_id);
"""

_STALE = """
create temp table stale_person on commit drop as
    select p.person_id from derived.person p
    where not exists (select 1 from person_new n where n.person_key = p.person_key);
update derived.contact_candidate set candidate_person_id = null
    where candidate_person_id in (select person_id from stale_person);
delete from derived.contact_candidate where f0_person_id in (select person_id from stale_person);
delete from derived.health_status where person_id in (select person_id from stale_person);
delete from derived.f0_episode where person_id in (select person_id from stale_person);
delete from derived.vaccination_dose where person_id in (select person_id from stale_person);
delete from derived.person_identifier where person_id in (select person_id from stale_person);
delete from derived.person_record where person_id in (select person_id from stale_person);
delete from derived.person where person_id in (select person_id from stale_person);
"""

# persons (by key) whose records or identifiers changed, new persons included
_CHANGED = """
insert into touched (person_id)
select p.person_id from derived.person p
where p.person_key in (
    select person_key from (
        (select source, record_id, person_key from old_record
         except select r.source, r.record_id, p2.person_key
                from derived.person_record r join derived.person p2 using (person_id))
        union all
        (select r.source, r.record_id, p2.person_key
         from derived.person_record r join derived.person p2 using (person_id)
         except select source, record_id, person_key from old_record)
    ) records
    union
    select person_key from (
        (select kind, value, person_key from old_identifier
         except select i.kind, i.value, p2.person_key
                from derived.person_identifier i join derived.person p2 using (person_id))
        union all
        (select i.kind, i.value, p2.person_key
         from derived.person_identifier i join derived.person p2 using (person_id)
         except select kind, value, person_key from old_identifier)
    ) identifiers
)
on conflict do nothing
"""

# a candidate's scan resolves to whichever person now holds its pseudonym
_CANDIDATES = """
with moved as (
    update derived.contact_candidate c set candidate_person_id = i.person_id
    from (select c2.ctid as id, i2.person_id
          from derived.contact_candidate c2
          left join derived.person_identifier i2 on i2.identity_key = c2.candidate_person_key) i
    where c.ctid = i.id and c.candidate_person_id is distinct from i.person_id
    returning c.candidate_person_id
)
insert into touched (person_id) select candidate_person_id from moved where candidate_person_id is not null
on conflict do nothing
"""


def resolve(conn) -> IdentityResult:
    """Resolve everyone again, in the caller's transaction; the persons whose records or identifiers changed
    are added to the temporary table ``touched`` (which the caller created)."""
    params = privacy.sql_params()
    with conn.cursor() as cur:
        cur.execute("select count(*) from derived.person")
        before = cur.fetchone()[0]
        cur.execute(_WORK_TABLES)
        cur.execute(sql("identity_obs"))
        cur.execute("create index on identity_obs (kind, value); create index on identity_obs (pdn)")
        cur.execute("analyze identity_obs")
        for kind in KIND_ORDER:
            cur.execute(sql("identity_anchor"), {"kind": kind})
            cur.execute("analyze identity_anchor")
        cur.execute(sql("identity_birth_date"))
        cur.execute(sql("person"), params)
        cur.execute(_STALE)
        removed = cur.rowcount
        cur.execute("select count(*) from stale_person")
        removed = cur.fetchone()[0]
        cur.execute(sql("person_identifier"), params)
        cur.execute(sql("person_record"))
        cur.execute(sql("identity_review"))
        cur.execute(_CHANGED)
        cur.execute(_CANDIDATES)
        cur.execute("select count(*) from touched")
        touched = cur.fetchone()[0]
        cur.execute("select count(*) from derived.person")
        persons = cur.fetchone()[0]
        cur.execute("select count(*) from derived.identity_review where status = 'open'")
        reviews = cur.fetchone()[0]
    return IdentityResult(
        persons=persons,
        created=persons - before + removed,
        removed=removed,
        touched=touched,
        open_reviews=reviews,
    )
