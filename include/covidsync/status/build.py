"""The health-status build: identity, deduplicated doses, F0 episodes, contact candidates, the status.

``build(conn, as_of, rule_set=None, full=False)`` runs in one transaction, under an advisory lock:

1. identity resolution (:mod:`covidsync.status.identity`): everyone resolved again by a full build, only the
   identifiers a change since the last build can reach by an incremental one; the differences applied; the
   persons whose records changed, and the persons created, are *touched* (a status reads no identifier: a
   person whose identifiers alone changed keeps its status; its scans and arrivals follow ``rekeyed``);
2. an incremental build also touches the persons whose status can change only because ``as_of`` moved
   forward: each status row stores ``due_at``, the first instant its clocks (doses and recoveries ageing
   past 14 or 180 days, 72-hour RT-PCRs, candidate flags after 14 days, records becoming visible) can change
   it, and the rows due by the new ``as_of`` are read through an index (``sql/status/touched_by_due.sql``;
   a move back to an earlier ``as_of`` reads the records' clocks, ``touched_by_time.sql``). It retraces the
   F0s whose window meets the scans that arrived since the last build (``core.checkin.loaded_at`` from the
   watermark on: the start of the oldest transaction open when the last build began, so that a load
   committing late is not missed) or that ``as_of`` made visible, and the F0s whose identifiers changed
   (their scans are others);
3. F0 episodes of the touched persons; contact candidates of the F0s whose episodes changed (and of those
   retraced above: nothing else is an input of an F0's candidates); the persons whose candidacy changed are
   touched in turn (an antigen positive of a candidate is an F0), until nothing changes. A test is supported only by an episode that began before it (contract §3: support runs forward
   in time), so the rounds reach the contract's unique result from any start, the same from a full build's
   empty tables as from an incremental build's last result; no two people can keep each other F0. The
   rounds are bounded (:func:`round_limit`); past the bound the build stops on :class:`NotSettledBug`;
4. doses and the status of every touched person, then the :data:`EXTRA_STEPS`.

The build's ``as_of`` is stored once, in ``derived.build_state`` (``derived.status_as_of(rule_set)``): a
status row keeps the ``as_of`` it was computed as of until its ``due_at``, so a new day rewrites only the
rows that change. Nothing in an incremental build reads a whole derived table: the counts it reports are
kept from its changes (persons, candidate rows) or read through partial indexes (active F0s, open reviews).

An incremental build as of the last build's ``as_of`` that finds nothing since its watermarks (one index probe
per source, ``core.load_mark`` for the facility records and declarations, migration 0037) and whose extra
steps are idle (:data:`IDLE_CHECKS`) returns before any of this and writes nothing (:func:`_nothing_new`).

A full build touches everyone; both run the same SQL, so an incremental build equals a full one (proved by
``tests/integration/test_status_incremental.py``). The functions a benchmark calls: :func:`full_build`,
:func:`incremental_build`, :func:`trace`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from zoneinfo import ZoneInfo

from covidsync import privacy, settings
from covidsync.errors import CovidsyncError
from covidsync.status import arrivals, cards, identity, rules
from covidsync.status.sqlfiles import sql

log = logging.getLogger(__name__)

LOCK_KEY = 0x68737461  # "hsta": one build at a time
# The watermark of a build: rows loaded from it on are new to the next build. It is the start of the oldest
# transaction open in the warehouse when the build starts (its own included): core's loaded_at is the
# loading transaction's start, so a load still open now, committing after this build's snapshot, has a
# loaded_at at or after it and is seen by the next build; anything older was committed and is seen now.
_HORIZON = """
select least(now(), coalesce((
    select min(xact_start) from pg_stat_activity
    where datname = current_database() and pid <> pg_backend_pid() and xact_start is not null
), now()))
"""
# rounds of F0 decisions after which a build reads its limit (round_limit); generated 100k-person days
# settle in a handful
SETTLE_ROUNDS = 20
# Steps run after the statuses, in the build's transaction, each called as step(cur, params, full): cur a
# cursor, params the build's SQL parameters (rule set, as_of, the rule set's values, pseudonym keys), full
# whether everyone is rebuilt; the temporary table ``touched`` holds the persons whose status was rebuilt.
# Later stages of the status build append theirs here (issue 24: the arrivals).
EXTRA_STEPS: list[Callable] = [
    arrivals.build_arrivals,  # derived.arrival, its follow-up, work lists
    cards.build_cards,  # derived.person_card: the published row's certificates and test history (issue 19)
]
BUG_KEYS = 20  # pseudonymous person keys a bug report names (the count says how many were involved)
ALERT_KIND = "health_status_build_bug"


class NotSettledBug(CovidsyncError):
    """The F0 decisions went on past the most rounds the contract's rule can need: a bug in the build.

    The build's transaction is rolled back (the previous status, and so the current release, stays); the
    message names the count of persons still being decided and the pseudonymous keys of a few of them."""

    def __init__(self, rule_set: str, as_of, limit: int, involved: int, person_keys: list[str]):
        self.rule_set, self.as_of, self.limit = rule_set, as_of, limit
        self.involved, self.person_keys = involved, person_keys
        super().__init__(
            f"health-status build {rule_set} as of {as_of.isoformat()} stopped: the F0 episodes were still"
            f" changing after {limit} rounds, the most the contract's rule can need. This is a bug in the"
            f" build, not in the data: nothing was changed and the previous release stays current. Report it"
            f" with this message; {involved} persons were still being decided, among them (pseudonymous"
            f" keys): {', '.join(k[:16] for k in person_keys)}"
        )


@dataclass
class BuildResult:
    rule_set: str
    as_of: str
    mode: str
    persons: int
    touched: int
    f0_active: int
    candidates: int
    open_reviews: int
    rounds: int
    identity_scope: int | None = None  # identifiers an incremental build resolved again (None: everyone)

    def as_dict(self) -> dict:
        return asdict(self)


def as_of_for(day: dt.date) -> dt.datetime:
    """Contract §1: ``<day> 24:00 +07:00``, i.e. the next local midnight."""
    tz = ZoneInfo(settings.LOCAL_TZ)
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=tz)


def current_day() -> dt.date:
    return dt.datetime.now(ZoneInfo(settings.LOCAL_TZ)).date()


_TEMP = """
create temp table touched (person_id bigint primary key) on commit drop;
create temp table pending (person_id bigint primary key) on commit drop;
create temp table retrace (person_id bigint primary key) on commit drop;
"""

# Each record's person by the primary key (offset 0 keeps the subquery a lookup): joined as sets, the planner
# hashed all of derived.person_record, twice, for the day's records (whole-table passes; issue 19, s6-status)
_CHANGED_RECORDS = """
insert into touched (person_id)
select r.person_id
from (
    select 'vaccination' as source, v.vaccination_id as record_id from core.vaccination v
    where v.loaded_at >= %(since)s
    union all
    select 'test_result', t.test_result_id from core.test_result t
    where t.loaded_at >= %(since)s
) c
cross join lateral (
    select p.person_id from derived.person_record p
    where p.source = c.source and p.record_id = c.record_id
    offset 0
) r
on conflict do nothing
"""

_EPISODE_SNAPSHOT = """
select person_id, f0_since, f0_test_id, path, window_end, recovered_at, recovery_test_id
from derived.f0_episode where rule_set = %(rule_set)s and person_id in (select person_id from pending)
"""

# with f0_since: a candidacy supports a test only after its episode began, so a row whose episode moves is a
# change to its candidate (found by the property test: an F0 whose episode moved earlier supported nobody new)
_CANDIDATE_SNAPSHOT = """
select candidate_person_id, f0_person_id, candidate_person_key, venue_code, f0_scanned_at, candidate_scanned_at,
    f0_since
from derived.contact_candidate where rule_set = %(rule_set)s and f0_person_id in (select person_id from retrace)
"""


def _fetch(cur, query: str, params: dict) -> set[tuple]:
    cur.execute(query, params)
    return set(cur.fetchall())


def _fill(cur, table: str, ids) -> None:
    cur.execute(f"truncate {table}")
    ids = sorted(set(ids))
    if ids:
        cur.execute(
            f"insert into {table} (person_id) select unnest(%s::bigint[]) on conflict do nothing", (ids,)
        )


def build(conn, as_of: dt.datetime, rule_set: str | None = None, full: bool = False) -> BuildResult:
    """Build the derived layer as of ``as_of`` under a rule set, in one transaction (commits).

    A build that hits :class:`NotSettledBug` changes nothing (rolled back); the bug is logged with the
    pseudonymous keys of the persons involved, an alert is raised in ``ops.alert``, and the error re-raised
    (the task fails, so nothing is published: the previous release stays current)."""
    try:
        with conn:
            return build_uncommitted(conn, as_of, rule_set, full)
    except NotSettledBug as bug:
        log.error("%s", bug)
        _alert(conn, bug)
        raise


def _alert(conn, bug: NotSettledBug) -> None:
    from covidsync.publish.alerts import raise_alert

    with conn, conn.cursor() as cur:
        raise_alert(
            cur,
            ALERT_KIND,
            f"{bug.rule_set} as of {bug.as_of.isoformat()}",
            f"the health-status build stopped on a bug (F0 episodes still changing after {bug.limit} rounds,"
            f" {bug.involved} persons involved; their pseudonymous keys are in the task log); nothing was"
            " published, the previous release stays current; report it to the covidsync developers",
        )


def build_uncommitted(
    conn, as_of: dt.datetime, rule_set: str | None = None, full: bool = False
) -> BuildResult:
    """:func:`build` in the caller's transaction, which the caller commits or rolls back (explain for a date)."""
    rs = rules.get(rule_set)
    params = rs.sql_params() | {"as_of": as_of} | privacy.sql_params()
    with conn.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        cur.execute("set local work_mem = '64MB'")
        cur.execute("set local jit = off")  # compiling costs more than it saves on these statements
        cur.execute(
            "select as_of, checkin_watermark, rule_set_version, record_watermark from derived.build_state"
            " where rule_set = %s",
            (rs.name,),
        )
        state = cur.fetchone()
        if state is None or state[2] != rs.version:
            full = True
        # derived.person's rows as the last build (of any rule set) left them: no count of the table
        cur.execute("select persons from derived.build_state order by built_at desc limit 1")
        last = cur.fetchone()
        persons_before = None if full or last is None else last[0]
        if not full and last is not None and _nothing_new(cur, params, state):
            return _unchanged(cur, rs.name, as_of, persons_before)
        cur.execute(_HORIZON)
        checkin_watermark = record_watermark = cur.fetchone()[0]
        cur.execute(_TEMP)
        if full:
            cur.execute("delete from derived.contact_candidate where rule_set = %s", (rs.name,))
            cur.execute("delete from derived.health_status where rule_set = %s", (rs.name,))
            cur.execute("delete from derived.f0_episode where rule_set = %s", (rs.name,))
        since = None if full or state is None else state[3]
        ident = identity.resolve(conn, since, persons_before)
        if full:
            cur.execute("truncate touched; insert into touched select person_id from derived.person")
            cur.execute("insert into retrace select person_id from touched")
        else:
            previous_as_of, previous_watermark, previous_records = state[0], state[1], state[3]
            if previous_records is not None:
                # records changed in place (a merge replaces a record with a new id: identity sees that)
                cur.execute(_CHANGED_RECORDS, {"since": previous_records})
            span = {"lo": min(previous_as_of, as_of), "hi": max(previous_as_of, as_of)}
            if as_of > previous_as_of:
                cur.execute(sql("touched_by_due"), params | span)
            elif as_of < previous_as_of:
                cur.execute(sql("touched_by_time"), params | span)
            if previous_as_of != as_of:
                cur.execute(sql("retrace_by_window"), params | span)
            if previous_watermark is not None:
                cur.execute(
                    "select min(scanned_at), max(scanned_at) from core.checkin where loaded_at >= %s",
                    (previous_watermark,),
                )
                lo, hi = cur.fetchone()
                if lo is not None:
                    cur.execute(sql("retrace_by_window"), params | {"lo": lo, "hi": hi})
            elif checkin_watermark is not None:
                cur.execute("insert into retrace select person_id from derived.person on conflict do nothing")
        cur.execute("insert into pending select person_id from touched")
        # an F0 whose identifiers changed has other scans: they are found again (its episode, if it changes,
        # is retraced by _settle)
        cur.execute(
            "insert into retrace select distinct e.person_id from derived.f0_episode e join rekeyed k"
            " using (person_id) where e.rule_set = %(rule_set)s on conflict do nothing",
            params,
        )
        rounds, candidate_change = _settle(cur, params)
        cur.execute("analyze touched")  # a few persons or everyone: the plans differ (index lookups or scans)
        cur.execute(sql("vaccination_dose"), params)
        if full:
            # every dose written again: the card step groups them by person, and without statistics (a new
            # warehouse's first build) the planner takes 200 persons for 300,000 (branch s3-status)
            cur.execute("analyze derived.vaccination_dose")
        cur.execute(sql("health_status"), params)
        # an untouched status holds as of the new as_of too (none of its clocks falls due by it): its row keeps
        # the as_of it was computed as of; the build's as_of is in build_state (derived.status_as_of)
        for step in EXTRA_STEPS:
            step(cur, params, full)
        cur.execute("select count(*) from touched")
        touched = cur.fetchone()[0]
        candidates = None
        if not full:
            cur.execute("select candidates from derived.build_state where rule_set = %s", (rs.name,))
            kept = cur.fetchone()
            if kept is not None and kept[0] is not None:
                candidates = kept[0] + candidate_change
        if candidates is None:
            cur.execute("select count(*) from derived.contact_candidate where rule_set = %s", (rs.name,))
            candidates = cur.fetchone()[0]
        cur.execute(
            """
            insert into derived.build_state (
                rule_set, rule_set_version, as_of, checkin_watermark, record_watermark, mode, persons, touched,
                candidates, built_at
            ) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, clock_timestamp())
            on conflict (rule_set) do update set
                rule_set_version = excluded.rule_set_version, as_of = excluded.as_of,
                checkin_watermark = excluded.checkin_watermark, record_watermark = excluded.record_watermark,
                mode = excluded.mode,
                persons = excluded.persons, touched = excluded.touched, candidates = excluded.candidates,
                built_at = excluded.built_at
            """,
            (
                rs.name,
                rs.version,
                as_of,
                checkin_watermark,
                record_watermark,
                "full" if full else "incremental",
                ident.persons,
                touched,
                candidates,
            ),
        )
        # the change log rows every rule set's next build starts after are never read again (nor the marks of
        # loads before every rule set's watermarks, of the status and of the arrivals)
        cur.execute(
            "delete from core.identity_change"
            " where changed_at < (select min(record_watermark) from derived.build_state)"
        )
        cur.execute(
            "delete from core.load_mark where loaded_at < least("
            " (select min(record_watermark) from derived.build_state),"
            " (select min(watermark) from derived.arrival_build_state))"
        )
        # the active F0s only, through the partial index health_status_f0
        cur.execute("select count(*) from derived.health_status where rule_set = %s and f0", (rs.name,))
        f0 = cur.fetchone()[0]
    result = BuildResult(
        rule_set=rs.name,
        as_of=as_of.isoformat(),
        mode="full" if full else "incremental",
        persons=ident.persons,
        touched=touched,
        f0_active=f0,
        candidates=candidates,
        open_reviews=ident.open_reviews,
        rounds=rounds,
        identity_scope=ident.scope,
    )
    log.info("health status %s as of %s: %s", rs.name, as_of.isoformat(), result.as_dict())
    return result


# One probe per source through a b-tree on its time: does anything stand at or after the watermark the last
# build stopped at? (A load still open then is stamped at or after it: see _HORIZON.) These are the seeds of
# every incremental walk: records (their statements' marks, core.load_mark: their own loaded_at has a BRIN
# index, which reads every page range not yet summarised), check-in identities, QR links, decisions, identity
# changes (a record updated or deleted), check-ins (a day's partition is built aside and attached, so no
# statement on core.checkin marks it: its loaded_at is probed, a BRIN per partition).
_ARRIVED = """
select
    exists (select from core.load_mark where loaded_at >= %(records)s)
    or exists (select from core.checkin_person where changed_at >= %(records)s)
    or exists (select from core.identity_link where first_seen_at >= %(records)s)
    or exists (select from derived.identity_decision where decided_at >= %(records)s)
    or exists (select from core.identity_change where changed_at >= %(records)s)
    or exists (select from core.checkin where loaded_at >= %(checkins)s)
"""
# Each step of EXTRA_STEPS with its check "nothing to do as of params['as_of']" (cur, params) -> bool; a
# build skips everything only when every step has one and it says so (a step without one runs every time).
IDLE_CHECKS: dict[Callable, Callable] = {
    arrivals.build_arrivals: arrivals.nothing_to_do,
    cards.build_cards: cards.nothing_to_do,
}


def _nothing_new(cur, params: dict, state) -> bool:
    """True when an incremental build as of ``params['as_of']`` has nothing to do (issue 19: nothing new
    <= 0.02 of a full rebuild, robustly): the last build of the rule set was as of the same instant (so no
    clock can fall due: every ``due_at`` and card expiry lies after it), nothing arrived in any source since
    its watermarks, and every extra step says it is idle. A handful of index probes, no walk."""
    if state is None or state[0] != params["as_of"] or state[1] is None or state[3] is None:
        return False
    cur.execute(_ARRIVED, {"records": state[3], "checkins": state[1]})
    if cur.fetchone()[0]:
        return False
    # the steps need not probe again what is known to have arrived since then: nothing
    quiet = params | {"nothing_since": min(state[1], state[3])}
    return all(step in IDLE_CHECKS and IDLE_CHECKS[step](cur, quiet) for step in EXTRA_STEPS)


def _unchanged(cur, rule_set: str, as_of: dt.datetime, persons: int) -> BuildResult:
    """The result of a build that found nothing to do: the last build's state stays as it is (its watermarks
    too: nothing after them was seen, so the next build looks from there again)."""
    cur.execute("select candidates from derived.build_state where rule_set = %s", (rule_set,))
    candidates = cur.fetchone()[0]
    cur.execute("select count(*) from derived.health_status where rule_set = %s and f0", (rule_set,))
    f0 = cur.fetchone()[0]
    cur.execute("select count(*) from derived.identity_review where status = 'open'")
    reviews = cur.fetchone()[0]
    if candidates is None:
        cur.execute("select count(*) from derived.contact_candidate where rule_set = %s", (rule_set,))
        candidates = cur.fetchone()[0]
    result = BuildResult(
        rule_set=rule_set,
        as_of=as_of.isoformat(),
        mode="incremental",
        persons=persons,
        touched=0,
        f0_active=f0,
        candidates=candidates,
        open_reviews=reviews,
        rounds=0,
        identity_scope=0,
    )
    log.info("health status %s as of %s: nothing new, %s", rule_set, as_of.isoformat(), result.as_dict())
    return result


# the instants at which an F0 by candidacy can begin: positive individual antigen tests before as_of
_DECISION_TIMES = """
select count(distinct sampled_at) from core.test_result
where test_type = 'antigen' and not pooled and result = 'positive' and sampled_at < %(as_of)s
"""
_PENDING_KEYS = """
select p.person_key from derived.person p join pending using (person_id) order by p.person_key limit %s
"""


def round_limit(cur, params: dict) -> int:
    """The most rounds :func:`_settle` can need: support runs forward in time only (contract §3), so after
    round k every episode that began before the k-th earliest positive antigen test is final, and one more
    round finds nothing to change. Past it the build has a bug: nothing in the data can cause that."""
    cur.execute(_DECISION_TIMES, params)
    return 2 * cur.fetchone()[0] + 3


def _settle(cur, params: dict) -> tuple[int, int]:
    """F0 episodes of the pending persons and candidates of the retraced F0s, until nothing changes; returns
    the rounds and the change in the rule set's candidate rows (inserted less deleted).

    Each round decides the pending persons' episodes from the candidates the round before left, traces the
    F0s whose episodes changed, and makes pending the persons whose candidacy changed. Support counts only
    from an episode that began before the supported test (``sql/status/f0_episode.sql``), so the rounds
    reach the contract's unique result from any start (a full build's empty tables or an incremental
    build's last result): the decisions are final in order of time, at least one more instant per round.
    The limit (:func:`round_limit`) is read only when a build needs more than ``SETTLE_ROUNDS`` rounds."""
    limit = None
    round_ = 0
    change = 0
    while True:
        round_ += 1
        if round_ > SETTLE_ROUNDS:
            if limit is None:
                limit = round_limit(cur, params)
            if round_ > limit:
                cur.execute("select count(*) from pending")
                involved = cur.fetchone()[0]
                cur.execute(_PENDING_KEYS, (BUG_KEYS,))
                raise NotSettledBug(params["rule_set"], params["as_of"], limit, involved, [r[0] for r in cur])
        cur.execute("analyze pending")
        before = _fetch(cur, _EPISODE_SNAPSHOT, params)
        cur.execute(sql("f0_episode"), params)
        after = _fetch(cur, _EPISODE_SNAPSHOT, params)
        changed = {row[0] for row in before ^ after}
        if changed:
            cur.execute(
                "insert into retrace select unnest(%s::bigint[]) on conflict do nothing", (sorted(changed),)
            )
        cur.execute("select count(*) from retrace")
        if not cur.fetchone()[0]:
            return round_, change
        cur.execute("analyze retrace")
        before_c = _fetch(cur, _CANDIDATE_SNAPSHOT, params)
        cur.execute(sql("contact_candidate"), params)
        after_c = _fetch(cur, _CANDIDATE_SNAPSHOT, params)
        change += len(after_c) - len(before_c)
        moved = {row[0] for row in before_c ^ after_c if row[0] is not None}
        cur.execute("truncate retrace")
        if not moved:
            return round_, change
        _fill(cur, "pending", moved)
        cur.execute("insert into touched select person_id from pending on conflict do nothing")


def full_build(url: str, day: dt.date, rule_set: str | None = None) -> BuildResult:
    """Benchmark entry: a full rebuild as of the end of ``day``."""
    from covidsync import db

    conn = db.connect(url)
    try:
        return build(conn, as_of_for(day), rule_set, full=True)
    finally:
        conn.close()


def incremental_build(url: str, day: dt.date, rule_set: str | None = None) -> BuildResult:
    """Benchmark entry: an incremental build as of the end of ``day`` (full when nothing was built yet)."""
    from covidsync import db

    conn = db.connect(url)
    try:
        return build(conn, as_of_for(day), rule_set, full=False)
    finally:
        conn.close()


def trace(url: str, day: dt.date, rule_set: str | None = None) -> int:
    """Benchmark entry: contact tracing alone, for every F0 episode already built; returns the candidates.

    Runs the same SQL as the build (``sql/status/contact_candidate.sql``) and rolls back, so it measures
    the range joins without changing the warehouse."""
    from covidsync import db

    rs = rules.get(rule_set)
    params = rs.sql_params() | {"as_of": as_of_for(day)}
    conn = db.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("create temp table retrace (person_id bigint primary key)")
            cur.execute(
                "insert into retrace select distinct person_id from derived.f0_episode where rule_set = %s",
                (rs.name,),
            )
            cur.execute(sql("contact_candidate"), params)
            cur.execute("select count(*) from derived.contact_candidate where rule_set = %s", (rs.name,))
            count = cur.fetchone()[0]
        conn.rollback()
        return count
    finally:
        conn.close()
