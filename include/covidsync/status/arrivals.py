"""Arrivals into the province and their follow-up, in the status build (contract docs/contract/arrivals.md §2-§3,
rule set ``hb-arrivals-2021-11``).

:func:`build_arrivals` runs inside the health-status build's transaction, after the status (it reads the
``touched`` persons, ``derived.f0_episode`` and ``derived.vaccination_dose``), and writes
``derived.arrival`` and ``derived.arrival_followup`` (assets: the marts and the commune work lists,
:func:`covidsync.communes.refresh_worklists`, schedule on them).

Incremental like the rest: the scope is a set of pseudonymous person keys (``sql/status/arrival_scope.sql``):
arrival scans and declarations loaded since the last arrivals build, the arrivals of the persons the status
build touched, the keys identity resolution moved to another person or to none when they or the person they
left had an arrival (``changed_key``, ``key_left``: a touched person without an arrival has no input that
could make one, so its keys are not read), what ``as_of`` moving made visible or overdue, and the arrivals a
newly loaded risk-level file reaches
(``arrival_scope_registry.sql``). The scope is widened to every key of the persons it names
(``arrival_map.sql``), their arrivals deleted and derived again from all their scans and declarations
(``arrival.sql``, ``arrival_followup.sql``). A full build's scope is every key: both
run the same SQL, so an incremental build equals a full one (``tests/integration/test_arrivals.py``). A new
arrival-measures matrix reaches every arrival: that build is full.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from covidsync.status.sqlfiles import sql

log = logging.getLogger(__name__)

ARRIVAL_RULE_SET = "hb-arrivals-2021-11"
PROVINCE_CODE = "17"  # Hòa Bình

_TEMP = """
create temp table if not exists arr_key (raw_key text primary key) on commit drop;
create temp table if not exists arr_map (raw_key text primary key, group_key text not null, person_id bigint)
    on commit drop;
create index if not exists arr_map_group on arr_map (group_key);
-- identity resolution's keys whose person changed (status.identity); empty when the arrivals are built alone
create temp table if not exists changed_key (identity_key text primary key) on commit drop;
create temp table if not exists key_left (identity_key text not null, person_id bigint not null) on commit drop;
-- identity resolution's persons whose identifiers changed (status.identity); empty when the arrivals are built alone
create temp table if not exists rekeyed (person_id bigint primary key) on commit drop;
-- the persons whose arrivals this step deletes or derives again: their published rows' lines are computed again
-- by the card step (covidsync.status.cards.build_lines)
create temp table if not exists arrival_person (person_id bigint primary key) on commit drop;
truncate arr_key, arr_map, arrival_person;
"""

# the persons of the arrivals arrival.sql is about to delete (its condition, less the arrivals of removed persons)
_LEAVING = """
insert into arrival_person (person_id)
select distinct a.person_id from derived.arrival as a
where
    a.rule_set = %(rule_set)s
    and a.person_id is not null
    and (a.person_key in (select m.group_key from arr_map as m) or a.person_key in (select k.raw_key from arr_key as k))
on conflict do nothing
"""

# where arrival.sql's insert begins (after its delete)
_INSERT_ARRIVAL = "insert into derived.arrival ("

_ALL_KEYS = """
insert into arr_key (raw_key)
select c.person_key from core.checkin as c
join core.venue as v on v.venue_code = c.venue_code and v.venue_type = 'checkpoint'
union
select d.person_key from core.declaration as d
union
select a.person_key from derived.arrival as a where a.rule_set = %(rule_set)s
on conflict do nothing
"""

_REGISTRY = """
select
    coalesce(max(version_id) filter (where registry = 'risk_levels'), 0),
    coalesce(max(version_id) filter (where registry = 'arrival_measures'), 0)
from ops.registry_version where status = 'loaded'
"""

# see covidsync.status.build._HORIZON: rows loaded from it on are new to the next build
_HORIZON = """
select least(now(), coalesce((
    select min(xact_start) from pg_stat_activity
    where datname = current_database() and pid <> pg_backend_pid() and xact_start is not null
), now()))
"""


def unknown_origin_level() -> int:
    """``COVIDSYNC_UNKNOWN_ORIGIN_LEVEL`` (1-4, default 2), read where the registries read it."""
    from covidsync.ingest.registry_arrivals import unknown_origin_level as read

    return read()


@dataclass
class ArrivalResult:
    mode: str
    arrivals: int
    touched: int
    followups_overdue: int

    def as_dict(self) -> dict:
        return asdict(self)


def _registry_state(cur) -> tuple[int, int]:
    cur.execute(_REGISTRY)
    risk, measures = cur.fetchone()
    return int(risk), int(measures)


def _parse_state(text: str) -> tuple[int, int, int]:
    parts = dict(p.split(":", 1) for p in text.split(";") if ":" in p)
    return int(parts.get("risk", 0)), int(parts.get("measures", 0)), int(parts.get("unknown", 0))


def nothing_to_do(cur, params: dict) -> bool:
    """True when :func:`build_arrivals` as of ``params['as_of']`` would change nothing, given that the status
    build touched nobody and moved no key: the last arrivals build was as of the same instant, no arrival scan
    or declaration was loaded since its watermark, and the registries and the unknown-origin level are the
    ones it used (the status build's fast path for a build with nothing new; index probes only).
    ``params['nothing_since']``, when given: an instant since which the caller found nothing loaded (no mark of
    core.load_mark, no check-in), so that a watermark at or after it needs no probe."""
    cur.execute(
        "select as_of, watermark, registry_state from derived.arrival_build_state where rule_set = %s",
        (params["rule_set"],),
    )
    state = cur.fetchone()
    if state is None or state[0] != params["as_of"] or state[1] is None:
        return False
    risk, measures = _registry_state(cur)
    if _parse_state(state[2]) != (risk, measures, unknown_origin_level()):
        return False
    if params.get("nothing_since") is not None and params["nothing_since"] <= state[1]:
        return True  # the status build found no mark and no check-in since an earlier instant
    cur.execute(  # declarations: their statements' marks (migration 0037); check-ins: their loaded_at
        "select exists (select from core.load_mark where loaded_at >= %(w)s)"
        " or exists (select from core.checkin where loaded_at >= %(w)s)",
        {"w": state[1]},
    )
    return not cur.fetchone()[0]


def build_arrivals(cur, params: dict, full: bool) -> ArrivalResult:
    """Arrivals, follow-up and work list rows as of ``params['as_of']`` in the caller's transaction.

    ``params``: the status build's (rule set parameters, ``as_of``); ``touched`` must exist (the status
    build's temporary table of the persons whose status was computed again)."""
    rule_set, as_of = params["rule_set"], params["as_of"]
    cur.execute(
        "select as_of, watermark, registry_state, arrivals from derived.arrival_build_state where rule_set = %s",
        (rule_set,),
    )
    state = cur.fetchone()
    cur.execute(_HORIZON)
    watermark = cur.fetchone()[0]
    risk_version, measures_version = _registry_state(cur)
    if state is None:
        full = True
    else:
        previous_risk, previous_measures, previous_unknown = _parse_state(state[2])
        if previous_measures != measures_version or previous_unknown != unknown_origin_level():
            full = True  # a new matrix, or a new level for unknown origins, reaches every arrival
    p = params | {
        "province_code": PROVINCE_CODE,
        "unknown_origin_level": unknown_origin_level(),
        "arrival_rule_set": ARRIVAL_RULE_SET,
    }
    cur.execute(_TEMP)
    if full:
        cur.execute(
            "insert into arrival_person (person_id) select distinct person_id from derived.arrival"
            " where rule_set = %s and person_id is not null",
            (rule_set,),
        )
        cur.execute("delete from derived.arrival where rule_set = %s", (rule_set,))
        cur.execute(_ALL_KEYS, p)
    else:
        previous_as_of, previous_watermark = state[0], state[1]
        lo, hi = min(previous_as_of, as_of), max(previous_as_of, as_of)
        if lo == hi:
            lo = hi = as_of  # an empty span: [as_of, as_of)
        cur.execute(sql("arrival_scope"), p | {"watermark": previous_watermark, "lo": lo, "hi": hi})
        if previous_risk != risk_version:
            cur.execute(sql("arrival_scope_registry"), p | {"risk_version": previous_risk})
    cur.execute(sql("arrival_map"), p)
    cur.execute("analyze arr_map")
    cur.execute("select count(*) from arr_map")
    touched = cur.fetchone()[0]
    cur.execute(_LEAVING, p)
    # arrival.sql is a delete and an insert: run one by one, their row counts keep the table's count (no count of
    # the whole table in an incremental build, issue 19)
    delete, insert = sql("arrival").split(_INSERT_ARRIVAL, 1)
    cur.execute(delete, p)
    deleted = cur.rowcount
    cur.execute(_INSERT_ARRIVAL + insert, p)
    inserted = cur.rowcount
    cur.execute(
        "insert into arrival_person (person_id) select distinct person_id from arr_map where person_id is not null"
        " on conflict do nothing"
    )
    cur.execute(sql("arrival_followup"), p)
    if full:
        arrivals = inserted  # every arrival of the rule set was deleted first
    else:
        arrivals = state[3] - deleted + inserted
    # the overdue ones only, through the partial index arrival_followup_overdue (migration 0056)
    cur.execute(
        "select count(*) from derived.arrival_followup where rule_set = %s and overdue",
        (rule_set,),
    )
    overdue = cur.fetchone()[0]
    mode = "full" if full else "incremental"
    cur.execute(
        """
        insert into derived.arrival_build_state (
            rule_set, as_of, watermark, registry_state, mode, arrivals, touched, built_at
        ) values (%s, %s, %s, %s, %s, %s, %s, now())
        on conflict (rule_set) do update set
            as_of = excluded.as_of, watermark = excluded.watermark, registry_state = excluded.registry_state,
            mode = excluded.mode, arrivals = excluded.arrivals, touched = excluded.touched,
            built_at = excluded.built_at
        """,
        (
            rule_set,
            as_of,
            watermark,
            f"risk:{risk_version};measures:{measures_version};unknown:{p['unknown_origin_level']}",
            mode,
            arrivals,
            touched,
        ),
    )
    result = ArrivalResult(mode=mode, arrivals=arrivals, touched=touched, followups_overdue=overdue)
    log.info("arrivals %s as of %s: %s", rule_set, as_of.isoformat(), result.as_dict())
    return result
