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

# a candidate's scan resolves to whichever person now holds its pseudonym
_CANDIDATES = """
with change as (
    select distinct c.candidate_person_key as key, c.candidate_person_id as old, i.person_id as new
    from derived.contact_candidate c
    left join derived.person_identifier i on i.identity_key = c.candidate_person_key
    where c.candidate_person_id is distinct from i.person_id
),
moved as (
    update derived.contact_candidate c set candidate_person_id = ch.new
    from change ch
    where c.candidate_person_key = ch.key and c.candidate_person_id is distinct from ch.new
    returning 1
)
insert into touched (person_id)
select old from change where old is not null
union
select new from change where new is not null
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
        cur.execute(
            "create index on person_new (anchor_kind, anchor_value); create index on person_new (person_key);"
            " analyze person_new; analyze identity_birth_date; analyze identity_conflict; analyze derived.person"
        )
        cur.execute(_STALE)
        removed = cur.rowcount
        cur.execute("select count(*) from stale_person")
        removed = cur.fetchone()[0]
        cur.execute(sql("person_identifier"), params)
        cur.execute(sql("person_record"))
        cur.execute(sql("identity_review"))
        cur.execute(
            "analyze derived.person; analyze derived.person_identifier; analyze derived.person_record"
        )
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
