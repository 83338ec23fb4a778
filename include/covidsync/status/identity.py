"""Identity resolution: one person across facility records and check-in identities.

Deterministic rules, in order (``sql/status/identity_anchor.sql``): a CCCD is one person; a CMND joins the
CCCD a card QR (or an earlier record) linked it to; a personal QR's QID joins the same way; then records with
the same phone + birth date + name key (``derived.name_key``) join. What the rules cannot settle (one CMND
linked to two CCCDs, one CCCD with two birth dates, a phone scanned by a family) goes to
``derived.identity_review``; an operator's decisions (``derived.identity_decision``) are applied by every
run, full or incremental.

A full run resolves everyone again (set-based). An incremental run (``since``: the last build's watermark)
resolves only the identifiers a change since then can reach (``sql/status/identity_seed.sql``, then
``identity_scope.sql`` round after round): those of the records, check-in identities, QR links and decisions
written since (a record that repeats what an older record of its identifier said, already its person's, is
only given that person: ``record_known.sql``; a new check-in identity of that kind is left out:
``checkin_known.sql``), and every identifier connected to them by a record's phone, a QR link, a decision, or the
person they resolved to at the last build. The rules decide each connected component from its own facts
alone, so resolving the components a change reached gives what resolving everyone gives (proved by
``tests/integration/test_status_incremental.py``). Either way only the differences are applied, and the
persons whose records or identifiers changed are returned: the health-status build recomputes those.
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
    scope: int | None = None  # identifiers resolved again by an incremental run (None: everyone)


_WORK_TABLES = """
create temp table identity_anchor (
    kind text not null, value text not null, anchor_kind text not null, anchor_value text not null,
    rule text not null, primary key (kind, value)
) on commit drop;
create index on identity_anchor (anchor_kind, anchor_value);
create temp table identity_conflict (
    kind text not null, value text not null, conflict_kind text not null, candidates text[] not null
) on commit drop;
create temp table identity_scope (
    kind text not null, value text not null, round integer not null, primary key (kind, value)
) on commit drop;
create index on identity_scope (round);
create temp table old_person (person_id bigint primary key) on commit drop;
create temp table changed_key (identity_key text primary key) on commit drop;
-- the persons the keys of changed_key left (their identifier rows deleted): the arrivals step reads them
create temp table key_left (identity_key text not null, person_id bigint not null) on commit drop;
create temp table rekeyed (person_id bigint primary key) on commit drop;
-- the core rows the incremental walk read for the scope's identifiers (identity_scope.sql), the columns
-- identity_obs.sql uses, a facility record with the kind of the frontier identifier that found it (fkind):
-- identity_obs.sql reads these, not core again (issue 19, s9-status)
create temp table scope_vaccination on commit drop as
select v.vaccination_id, v.citizen_id, v.full_name, v.date_of_birth, v.birth_year_only, v.gender, v.phone,
    v.province_code, v.district_code, v.commune_code, v.vaccinated_on, ''::text as fkind
from core.vaccination as v with no data;
create temp table scope_test_result on commit drop as
select t.test_result_id, t.citizen_id, t.full_name, t.date_of_birth, t.birth_year_only, t.gender, t.phone,
    t.province_code, t.district_code, t.commune_code, t.sampled_at, ''::text as fkind
from core.test_result as t with no data;
create temp table scope_checkin_person on commit drop as select c.* from core.checkin_person as c with no data;
"""

MAX_SCOPE_ROUNDS = 1000
# an incremental run whose scope holds more than this share of the identifiers resolves everyone instead
WHOLE_SHARE = 0.5

_STALE = """
create temp table stale_person on commit drop as
    select p.person_id from derived.person p
    where p.person_id in (  -- one branch is dropped by the planner; "everyone or ..." would read all persons
        select o.person_id from old_person o where not %(everyone)s
        union all select x.person_id from derived.person x where %(everyone)s
    )
    and not exists (select 1 from person_new n where n.person_key = p.person_key);
analyze stale_person;  -- a few persons or none: the deletes below then look them up by index
update derived.contact_candidate set candidate_person_id = null
    where candidate_person_id in (select person_id from stale_person);
-- the candidate rows of every rule set kept in its build state, less those that go (no count of the table)
with gone as (
    delete from derived.contact_candidate where f0_person_id in (select person_id from stale_person)
    returning rule_set
)
update derived.build_state as b set candidates = b.candidates - g.n
from (select rule_set, count(*) as n from gone group by rule_set) as g
where b.rule_set = g.rule_set;
delete from derived.health_status where person_id in (select person_id from stale_person);
delete from derived.f0_episode where person_id in (select person_id from stale_person);
delete from derived.vaccination_dose where person_id in (select person_id from stale_person);
with gone as (
    delete from derived.person_identifier where person_id in (select person_id from stale_person)
    returning identity_key, person_id
),

left_ as (insert into key_left select identity_key, person_id from gone)

insert into changed_key select identity_key from gone on conflict do nothing;
delete from derived.person_record where person_id in (select person_id from stale_person);
delete from derived.person where person_id in (select person_id from stale_person);
"""

# a candidate's scan resolves to whichever person now holds its pseudonym (those whose person changed)
_CANDIDATES = """
with change as (
    select distinct c.candidate_person_key as key, c.candidate_person_id as old, i.person_id as new
    from changed_key k
    join derived.contact_candidate c on c.candidate_person_key = k.identity_key
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


# persons this run created (created_at is the transaction's start: rows inserted by this transaction)
_CREATED = """
select count(*) from person_new n join derived.person p using (person_key) where p.created_at = now()
"""


def resolve(conn, since=None, persons: int | None = None) -> IdentityResult:
    """Resolve everyone again (``since`` None), or the identifiers a change since ``since`` can reach, in the
    caller's transaction; the persons whose records changed or who were created are added to the temporary table
    ``touched`` (which the caller created), those whose identifiers changed to ``rekeyed`` (created
    here, dropped at commit). ``persons``: the rows of ``derived.person`` before this run when the caller
    knows them (the last build's count), so that an incremental run counts no whole table."""
    everyone = since is None
    params = privacy.sql_params() | {"everyone": everyone}
    with conn.cursor() as cur:
        if persons is None:
            cur.execute("select count(*) from derived.person")
            persons = cur.fetchone()[0]
        before = persons
        cur.execute(_WORK_TABLES)
        scope = _scope(cur, since) if not everyone else None
        if scope is not None and scope > WHOLE_SHARE * _identifiers(cur):
            # a change reached most people: the lookups cost more than reading everyone (same result)
            everyone, scope = True, None
            params["everyone"] = True
        cur.execute(sql("identity_obs"), params)
        cur.execute("create index on identity_obs (kind, value); create index on identity_obs (pdn)")
        # the columns later statements join or filter on only: the names, genders, addresses and name keys cost
        # most of the statistics (long texts, each sorted) and no plan reads them (issue 19, s8-status)
        cur.execute(
            "analyze identity_obs (kind, value, source, record_id, phone, pdn, date_of_birth, birth_year_only,"
            " excluded)"
        )
        for kind in KIND_ORDER:
            cur.execute(sql("identity_anchor"), params | {"kind": kind})
            cur.execute("analyze identity_anchor")
        cur.execute(sql("identity_birth_date"))
        cur.execute(sql("person"), params)
        cur.execute(
            "create index on person_new (anchor_kind, anchor_value); create index on person_new (person_key);"
            " analyze person_new; analyze identity_birth_date; analyze identity_conflict"
        )
        if everyone:  # an incremental run changes too few rows to move the statistics
            cur.execute("analyze derived.person")
        cur.execute(_CREATED)
        created = cur.fetchone()[0]
        cur.execute(_STALE, params)
        cur.execute("select count(*) from stale_person")
        removed = cur.fetchone()[0]
        if everyone:
            # the stale rows' delete: estimated at one row (nearly every identifier is still there), joined by a
            # nested loop to the whole table's identifiers, read again for each stale row: quadratic (42 s for 286
            # stale rows at 100k persons; a full rebuild of a warehouse with history). Hash joins for this step.
            cur.execute("set local enable_nestloop = off")
        cur.execute(sql("person_identifier"), params)
        if everyone:
            cur.execute("reset enable_nestloop")
        cur.execute(sql("person_record"), params)
        if not everyone:
            cur.execute(sql("identity_record_attach"))
        cur.execute(sql("identity_review"), params)
        if everyone:
            cur.execute(
                "analyze derived.person; analyze derived.person_identifier; analyze derived.person_record"
            )
        cur.execute(_CANDIDATES)
        cur.execute("select count(*) from touched")
        touched = cur.fetchone()[0]
        # the open items only (a partial index): no pass over the decided ones
        cur.execute("select count(*) from derived.identity_review where status = 'open'")
        reviews = cur.fetchone()[0]
    return IdentityResult(
        persons=before + created - removed,
        created=created,
        removed=removed,
        touched=touched,
        open_reviews=reviews,
        scope=scope,
    )


def _identifiers(cur) -> float:
    """The planner's estimate of the rows of derived.person_identifier (no count of a big table)."""
    cur.execute(
        "select greatest(reltuples, 0) from pg_class where oid = 'derived.person_identifier'::regclass"
    )
    return cur.fetchone()[0]


def _scope(cur, since) -> int:
    """Fill ``identity_scope`` with the identifiers a change since ``since`` can reach, and ``old_person``."""
    cur.execute(sql("record_known"), {"since": since})
    cur.execute(sql("checkin_known"), {"since": since})
    cur.execute(sql("identity_seed"), {"since": since})
    for round_ in range(MAX_SCOPE_ROUNDS):
        cur.execute(sql("identity_scope"), {"round": round_})
        if not cur.rowcount:
            break
    else:
        raise RuntimeError(f"the identity scope did not close in {MAX_SCOPE_ROUNDS} rounds")
    cur.execute("analyze identity_scope")
    # old_person: the persons the scope's identifiers resolved to at the last build (all their identifiers are in
    # the scope), filled by the walk's person step
    cur.execute("analyze old_person")
    cur.execute("select count(*) from identity_scope")
    return cur.fetchone()[0]
