"""Build, gate and publish releases of the health status; deltas, overrides and retention.

A **release** is a numbered, immutable snapshot of the published rows (one row per person with a CCCD under the
rule set ``COVIDSYNC_RULE_SET``), with its row count, the SHA-256 over its canonical rows (``content_sha256``),
the source watermark (the latest ``computed_at`` of the statuses) and its ``as_of``. It is **stored by change**
(issue 19, migration 0023): ``publish.release_version`` holds each version of a person's row, valid from the
release that introduced it up to the one that replaced or removed it (a tombstone); release R is the versions
valid at R, and the views show those of the current release. :func:`publish_release` (the function a benchmark
calls) does, in one transaction under an advisory lock:

1. recompute the rows (``sql/publish/release_candidate.sql``) of the persons whose inputs changed since the last
   release (``publish.pending_person``, noted by triggers), of those whose row time alone changes at this as_of
   (``expires_at``) and of a held candidate's; of everyone on the first release (``publish.build_state``). A
   release by change probes its persons' stored view lines first (``sql/publish/release_lines.sql``); a first
   release reads every table whole, in person_id order, by its own form of the candidate
   (:func:`_first_candidate_sql`), taking the status build's row hash and lines as stored where they are known
   to hold (:func:`_lines_trusted`, migration 0082);
2. compare them with the current release (``sql/publish/release_diff.sql``: added / changed / removed); none,
   or the same as the held candidate's: no new release. Else store them as the release's versions, and hash
   the release: its content hash in one narrow pass (``sql/publish/release_content.sql``), each app's view hash
   (recipe 2, migration 0033) from the previous release's and the lines of the versions the release opens and
   closes (``sql/publish/release_hashes.sql``): the rows it changed, not every row;
3. run the GX suite ``publish_release`` (completeness, no mass change without an override, exact view
   columns); a failure holds the release (kept, never current) and raises an ``ops.alert``;
4. make it current (:func:`make_current`): the views of all consumers (PC-Covid, VNeID, Sổ SKĐT) read the
   one ``is_current`` flag, switched in this transaction, and the agreement check of the three views on
   their common columns runs on the new release inside it (on the persons it changed while the views are
   defined as at the last check of every person, ``publish.build_state.views_sha256``; one view read where the
   views' definitions show the common columns as one projection of the same rows, :func:`shared_projection`);
   if any two views disagree the switch is rolled back to a savepoint and the release is held.

``as_of`` and the source watermark come from the status build's state (``derived.build_state``), not from a
scan of the statuses.

A release superseding a held candidate takes the candidate's versions out first (:func:`_undo`): the versions
always form one chain of published releases (and at most one candidate after them).

Content hashes exclude ``as_of`` (a release-level value): statuses identical under a later ``as_of`` make no
new release, so apps are not asked to re-sync rows that did not change.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

from covidsync import settings, sqlfiles
from covidsync.errors import CovidsyncError
from covidsync.publish import CONSUMERS, alerts, release_gate
from covidsync.status import cards

log = logging.getLogger(__name__)

PUBLISH_LOCK = 0x70756231  # pg_advisory_xact_lock key of every publisher ("pub1")
ZERO_SHA = "0" * 64


class PublishError(CovidsyncError):
    pass


# Seconds per step of the last release built in this process (the benchmark reports where the time goes).
STEP_SECONDS: dict[str, float] = {}


class _Steps:
    """Times the steps of one release into :data:`STEP_SECONDS`."""

    def __init__(self) -> None:
        import time

        self._clock = time.perf_counter
        STEP_SECONDS.clear()
        self._last = self._clock()

    def done(self, name: str) -> None:
        now = self._clock()
        STEP_SECONDS[name] = round(STEP_SECONDS.get(name, 0.0) + now - self._last, 3)
        self._last = now


_steps: _Steps | None = None


def _step(name: str) -> None:
    if _steps is not None:
        _steps.done(name)


def sql(name: str) -> str:
    """``sql/publish/<name>.sql`` (:func:`covidsync.sqlfiles.load`)."""
    return sqlfiles.load("publish", name)


def _current(cur) -> tuple[int, str, int] | None:
    cur.execute("select release_id, content_sha256, row_count from publish.release where is_current")
    return cur.fetchone()


def current_release_id(conn) -> int | None:
    with conn.cursor() as cur:
        row = _current(cur)
    return row[0] if row else None


def _scope(cur, *, as_of, held: int | None) -> None:
    """Fill the temporary tables of what the next release recomputes (not a full rebuild): the persons whose
    inputs changed (``publish.pending_person``, noted by triggers), the persons whose row time alone changes by
    ``as_of`` (``expires_at``), and those of an unpublished candidate ``held`` (rebuilt against the current
    release); and the CCCDs those persons held or hold (``publish.pending_citizen``, ``derived.person``)."""
    cur.execute(sql("release_scope"), {"as_of": as_of, "held": held or 0})


def _source_state(cur, rule_set: str) -> tuple:
    """The as_of, watermark and presence of the statuses a release publishes, from the status build's own state
    (``derived.build_state``: its as_of, and the time it finished as the watermark) and one index probe, not a
    scan of the statuses. Statuses written with no build (by hand, in tests) are read whole, as before."""
    cur.execute(
        """
        select b.as_of, b.built_at, exists (select from derived.health_status as h where h.rule_set = %(rule_set)s)
        from derived.build_state as b where b.rule_set = %(rule_set)s
        """,
        {"rule_set": rule_set},
    )
    row = cur.fetchone()
    if row is not None:
        return row
    cur.execute(
        "select derived.status_as_of(%s), max(computed_at), count(*) > 0 from derived.health_status"
        " where rule_set = %s",
        (rule_set, rule_set),
    )
    return cur.fetchone()


def _undo(cur, release_id: int) -> None:
    """Take an unpublished candidate's versions out (it is discarded): its rows go, the ones it replaced reopen."""
    cur.execute("delete from publish.release_version where valid_from = %s", (release_id,))
    cur.execute("update publish.release_version set valid_to = null where valid_to = %s", (release_id,))


def publish_release(conn, *, rule_set: str | None = None, apps: tuple[str, ...] | None = None) -> dict:
    """Publish the statuses of ``rule_set`` as a new release if they changed; a small summary comes back.

    ``apps`` (default: every consumer) is for the benchmark, which measures the publish cost of the Sổ SKĐT
    view by publishing without it (its columns left empty, its hash and agreement not computed).

    ``status`` is ``unchanged`` (no new release), ``current`` (the new release is what every view shows) or
    ``held`` (kept for an operator; ``failed`` says why). Counts and ids only.

    After a first release commits, its versions are vacuumed (:func:`_vacuum_first_versions`).
    """
    stored: dict = {}
    result = _publish_release(conn, rule_set=rule_set, apps=apps, stored=stored)
    if stored.get("first"):
        _vacuum_first_versions(conn)
        _step("vacuum versions")
    return result


def _vacuum_first_versions(conn) -> None:
    """``vacuum publish.release_version`` after a first release committed (outside its transaction, which a
    vacuum cannot run in). The first release writes every version page, and its own transaction cannot mark its
    rows committed: the next reader of each page did, dirtying and writing it again. With autovacuum off (this
    server) that reader was the next day's release: +1.9-3.3 s of a day at 1M persons (issue 19, branches
    p14-day and p17-day). The vacuum sets those bits and the pages' all-visible marks once, right after the
    write. A writer that is not the table's owner gets PostgreSQL's warning and no vacuum: the day then pays as
    before, and nothing fails."""
    autocommit = conn.autocommit
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("vacuum publish.release_version")
    finally:
        conn.autocommit = autocommit


def _publish_release(conn, *, rule_set: str | None, apps: tuple[str, ...] | None, stored: dict) -> dict:
    """:func:`publish_release`'s transaction; ``stored["first"]`` says a first release stored its rows."""
    global _steps
    rule_set = rule_set or settings.rule_set()
    apps = tuple(apps or CONSUMERS)
    with_sskdt = "sskdt" in apps
    _steps = _Steps()
    with conn, conn.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(%s)", (PUBLISH_LOCK,))
        # the candidate's joins are estimated far above what a day's changes hold: JIT compiling them cost
        # seconds (5 s of a 20,000-person release on the loaded bench machine) for statements of milliseconds
        cur.execute("set local jit = off")
        # sorts and hashes of a first release's rows (the certificates' aggregates, the changes, the hashes'
        # pass in CCCD order) spilled to disk at the server's 4 MB: 64 MB, as the status build
        cur.execute("set local work_mem = '64MB'")
        # the status builds' triggers wait while a release takes what they noted (none is lost in between)
        cur.execute(
            "lock table publish.build_state, publish.pending_person, publish.pending_citizen in exclusive mode"
        )
        current = _current(cur)
        cur.execute(
            """
            select r.release_id, r.content_sha256, m.status
            from publish.release as r inner join publish.release_meta as m using (release_id)
            order by r.release_id desc limit 1
            """
        )
        latest = cur.fetchone()
        as_of, watermark, statuses = _source_state(cur, rule_set)
        if not statuses:
            return {
                "status": "unchanged",
                "release_id": None,
                "current_release_id": current and current[0],
                "reason": f"no health status for rule set {rule_set}",
            }
        held = latest[0] if latest is not None and latest[2] in ("held", "candidate") else None
        cur.execute("select rule_set, with_sskdt, as_of, full_rebuild from publish.build_state")
        built = cur.fetchone()
        full = bool(
            built[3]
            or built[0] != rule_set
            or built[1] != with_sskdt
            or built[2] is None
            or as_of < built[2]  # an earlier as_of: time ran backwards, the windows' bounds do not hold
        )
        previous = current[0] if current else None
        first = full and previous is None and held is None
        if first:
            cur.execute("select not exists (select from publish.release_version)")
            first = cur.fetchone()[0]
        cur.execute(
            "create temporary table publish_citizen_scope (citizen_id text primary key) on commit drop"
        )
        if first:
            # everyone, as a view of the statuses for the cards' step alone (cards.release_cards): the first form
            # of the candidate reads every status itself, so no table of a million persons is written and
            # analysed (0.8-1.1 s at 1M persons; issue 19, branch p9-first). Dropped before the candidate.
            cur.execute(
                "create temporary view publish_scope as select person_id from derived.health_status"
                " where rule_set = %s",
                (rule_set,),
            )
        elif full:  # everyone: a table of every person, so that the candidate's plan is estimated as it runs
            cur.execute("create temporary table publish_scope (person_id bigint primary key) on commit drop")
            cur.execute(
                "insert into publish_scope (person_id) select person_id from derived.health_status"
                " where rule_set = %s",
                (rule_set,),
            )
            cur.execute("analyze publish_scope")
        else:
            # a release by change reads its few persons' rows by their keys (statuses, persons, cards, versions),
            # from tables a day leaves in memory: at the server's random_page_cost (4) the planner read whole
            # tables instead (the cards' and the persons' every row for 5 % of them; issue 19, p4-dayrelease)
            cur.execute("set local random_page_cost = 1.1")
            cur.execute("create temporary table publish_scope (person_id bigint primary key) on commit drop")
            _scope(cur, as_of=as_of, held=held)
            cur.execute(
                "select exists (select from publish_scope) or exists (select from publish_citizen_scope)"
            )
            if not cur.fetchone()[0]:  # nothing noted, nothing expired: the rows are the current release's
                _built(cur, rule_set=rule_set, with_sskdt=with_sskdt, as_of=as_of)
                conn.commit()
                _step("scope")
                log.info("publish: nothing changed since release %s; no new release", current and current[0])
                return {
                    "status": "unchanged",
                    "release_id": None,
                    "current_release_id": current and current[0],
                    "held_release_id": None,
                }
        _step("scope")
        # the persons' cards as the status build stored them, or computed now where a stored one does not hold
        computed_cards = cards.release_cards(cur, as_of)
        if first:  # (a temporary view is not dropped at commit: the next release creates the table)
            cur.execute("drop view publish_scope")
        candidate = {"rule_set": rule_set, "as_of": as_of, "with_sskdt": with_sskdt, "with_base": False}
        if first:  # every person's row, read in person_id order by merge joins (_first_candidate_sql)
            trusted = _lines_trusted(cur, rule_set=rule_set, as_of=as_of)
            cur.execute(
                "create temporary view publish_candidate as "
                + _first_candidate_sql(sql("release_candidate"), computed_cards > 0, trusted),
                candidate,
            )
        elif (
            full
        ):  # every person's row: read once by the changes below (no temporary copy of every row between)
            cur.execute("create temporary view publish_candidate as " + sql("release_candidate"), candidate)
        else:
            _day_candidate(cur, candidate)
        _step("candidate rows")
        first_hashes = None
        if first:  # every row is added: stored straight from the candidate rows, no changes' table between
            with _first_settings(cur):  # and hashed as the insert returns them
                added, first_hashes = _store_first(cur, (latest[0] if latest else 0) + 1, apps)
                stored["first"] = added > 0
                changed, removed, status_changed = 0, 0, 0
            cur.execute("drop view publish_candidate")
            _step("store versions")
        else:
            cur.execute(
                "create temporary table publish_diff on commit drop as " + sql("release_diff"),
                {"current_release_id": previous or 0, "all_persons": full},
            )
            if full:
                cur.execute("drop view publish_candidate")
            cur.execute(
                """
                select count(*) filter (where change = 'added'), count(*) filter (where change = 'changed'),
                       count(*) filter (where change = 'removed'), count(*) filter (where status_changed)
                from publish_diff
                """
            )
            added, changed, removed, status_changed = cur.fetchone()
            _step("changes")
        same_as_current = added + changed + removed == 0
        same_as_held = False
        if held is not None and not same_as_current:
            cur.execute(
                """
                select count(*) from publish_diff as d
                full outer join (
                    select citizen_id, row_sha256 from publish.release_version where valid_from = %s
                ) as h on d.citizen_id = h.citizen_id
                where d.citizen_id is null or h.citizen_id is null or d.row_sha256 is distinct from h.row_sha256
                """,
                (held,),
            )
            same_as_held = cur.fetchone()[0] == 0
        if same_as_current or same_as_held:
            if held is None:  # keep what was learnt: the next release starts from here
                _built(cur, rule_set=rule_set, with_sskdt=with_sskdt, as_of=as_of)
                conn.commit()
            else:  # a held candidate stays as it is, for an operator
                conn.rollback()
            log.info("publish: statuses unchanged since release %s; no new release", latest and latest[0])
            return {
                "status": "unchanged",
                "release_id": None,
                "current_release_id": current and current[0],
                "held_release_id": held if same_as_held else None,
            }
        release_id = (latest[0] if latest else 0) + 1
        # an older candidate nobody approved can no longer be made current: this one supersedes it
        if held is not None:
            _undo(cur, held)
        cur.execute(
            """
            update publish.release_meta set status = 'discarded'
            where status in ('held', 'candidate') and release_id < %s
            """,
            (release_id,),
        )
        if not first:
            cur.execute(sql("release_store_versions"), {"release_id": release_id})
        _built(cur, rule_set=rule_set, with_sskdt=with_sskdt, as_of=as_of)
        _step("store versions")
        if first_hashes is not None:
            hashes = first_hashes
        elif not full:  # a day: the view hashes from the changes' own lines (no version read again)
            hashes = _day_hashes(cur, release_id, apps=apps, previous=previous)
        else:
            hashes = release_hashes(cur, release_id, apps=apps, by_change=True, previous=previous, timed=True)
        _step("view hashes")
        cur.execute(
            "insert into publish.release (release_id, as_of, row_count, content_sha256) values (%s, %s, %s, %s)",
            (release_id, as_of, hashes["row_count"], hashes["content_sha256"]),
        )
        cur.execute(
            """
            insert into publish.release_meta (
                release_id, rule_set, source_watermark, previous_release_id, rows_added, rows_changed,
                rows_removed, status_changed
            ) values (%s, %s, %s, %s, %s, %s, %s, %s)
            """,
            (release_id, rule_set, watermark, previous, added, changed, removed, status_changed),
        )
        return _gate_and_promote(cur, release_id, override=False, apps=apps, hashes=hashes)


# The stored lines as release_candidate.sql joins them, and what a release by change joins instead
_STORED_LINES = "left join derived.person_line as l"
_DAY_LINES = "left join publish_line as l"
# The statuses of the persons in scope as release_candidate.sql selects them, and a release by change's form: the
# day's persons probed by key (an array: one descent of health_status_person each), where the planner read every
# status (1M at 1M persons, 0.6-0.8 s) to hash-join the scope's 50,000 (issue 19, branch p8-day)
_SCOPED_STATUSES = "and hs.person_id in (select sc.person_id from publish_scope as sc)"
_DAY_STATUSES = "and hs.person_id = any(array(select sc.person_id from publish_scope as sc))"


@cache
def _day_candidate_sql(text: str) -> str:
    """``release_candidate.sql`` reading the lines of ``publish_line`` (``release_lines.sql``) in place of
    ``derived.person_line``, and the statuses of the day's persons by their key: the same rows, the same hashes."""
    for stored, day in ((_STORED_LINES, _DAY_LINES), (_SCOPED_STATUSES, _DAY_STATUSES)):
        if text.count(stored) != 1:
            raise PublishError(f"release_candidate.sql: {stored!r} is not where release.py expects it")
        text = text.replace(stored, day)
    return text


def _day_candidate(cur, candidate: dict) -> None:
    """A release by change's candidate rows (``publish_candidate``, a temporary table) of the persons in
    ``publish_scope``. Their stored lines are probed first, by key, into ``publish_line``
    (``sql/publish/release_lines.sql``), and the candidate joins those: within the candidate the planner,
    estimating its rows at 200 times a day's, read and hashed every stored line (900,000 at 1M persons, in
    batches past ``work_mem``) for a day's 50,000 (issue 20, docs/performance-log.md: branch p5-dayview). A first or
    full release joins ``derived.person_line`` itself, in one hash join of every row as before."""
    cur.execute(sql("release_lines"))  # (no analyze: the candidate joins it once, planned from its size)
    cur.execute(
        "create temporary table publish_candidate on commit drop as "
        + _day_candidate_sql(sql("release_candidate")),
        candidate,
    )
    # the statistics the changes' statement joins by (release_diff.sql: the CCCDs), not those of every column: a
    # whole analyze sorted a sample of each certificate, test history and their texts (jsonb and long text), the
    # Sổ SKĐT columns the largest of them: 2.0 s against 0.2 s for the CCCD at 1M persons, loaded
    cur.execute("analyze publish_candidate (citizen_id)")


# A first release's candidate (release_candidate.sql for every person, nothing stored yet): the fragments that
# narrow it to publish_scope, which then holds every person, or that keep its joins from reading the tables in
# their primary key's order, each with what replaces it
_FIRST_EDITS = (
    # the parameters as constants in the rows' expressions (one reader: no cross join with a CTE of one row, which
    # as the outer side of a nested loop hid the order the rows come in, so they were sorted again)
    ("with param as (\n", "with param as not materialized (\n"),
    # the statuses: every person's (publish_scope is every person with a status under the rule set)
    ("        and hs.person_id in (select sc.person_id from publish_scope as sc)\n", ""),
    # the stored cards: every one that holds (publish_card_scope: those computed now)
    (
        "        c.person_id in (select sc.person_id from publish_scope as sc)\n        and not exists (",
        "        not exists (",
    ),
    # the arrival measures: every person's in force (the rows join them by person); not a second reader of the
    # statuses, which then stay a CTE read once, inlined (in person_id order, no materialised copy)
    ("    inner join status as s on a.person_id = s.person_id\n", ""),
    # the stored lines: joined by person (the row hash a condition on the pair, not a key to sort both sides by)
    (
        "        and r.row_sha256 = case when pa.with_sskdt then l.row_sha256 else l.base_sha256 end;",
        "        and (r.row_sha256 = case when pa.with_sskdt then l.row_sha256 else l.base_sha256 end) is true;",
    ),
)
# No card computed for the release (every stored card holds, as after a status build): the cards are the stored
# ones alone, read in their key's order (appended to the computed ones, they were sorted: 426 MB on disk)
_FIRST_STORED_CARDS = re.compile(
    r"\n    where\n        not exists \(\n            select from publish_card_scope as cs\n.*?\n    from publish_card as r\n",
    re.S,
)


# The stored lines known fresh (trusted: _lines_trusted), read beside the rows in person_id order: each row's row
# hash and lines' hashes taken as stored, not computed (issue 19, branch p12-first, migration 0082), and computed
# as before for a row whose line is missing, expired at the release's as_of, noted stale, or whose card the
# release computed (publish_card_scope; no such condition when it computed none). coalesce evaluates lazily: a
# row with a trusted line computes no SHA-256.
_TRUSTED_LINES = """-- the status build's lines known to hold (derived.person_line_state, migration 0082; release.py)
line_fresh as (
    select
        l.person_id,
        case when pa.with_sskdt then l.row_sha256 else l.base_sha256 end as row_sha256,
        case when pa.with_sskdt then l.line_sha256 else substring(l.line_sha256 from 1 for 64) end as line_sha256
    from derived.person_line as l
    cross join param as pa
    where
        (l.expires_at is null or l.expires_at > pa.as_of)
        and not exists (
            select from derived.person_line_stale as st
            where st.person_id = l.person_id
        ){card_scope}
),

"""
_TRUSTED_CARD_SCOPE = """
        and not exists (
            select from publish_card_scope as cs
            where cs.person_id = l.person_id
        )"""
_TRUSTED_EDITS = (
    (
        "-- the rows; their lines' hashes below\ncandidate_row as (\n",
        None,
    ),  # the CTE above, inserted before it
    (
        "        encode(\n            sha256(\n                convert_to(\n                    concat_ws(\n",
        "        coalesce(lf.row_sha256, encode(\n            sha256(\n                convert_to(\n"
        "                    concat_ws(\n",
    ),
    (
        "            'hex'\n        ) as row_sha256,\n",
        "            'hex'\n        )) as row_sha256,\n        lf.line_sha256 as fresh_line_sha256,\n",
    ),
    (
        "    left join measure as m on s.person_id = m.person_id\n)\n",
        "    left join measure as m on s.person_id = m.person_id\n    left join line_fresh as lf on s.person_id = lf.person_id\n)\n",
    ),
    (
        "        case when pa.with_sskdt then l.line_sha256 else substring(l.line_sha256 from 1 for 64) end,\n",
        "        r.fresh_line_sha256,\n",
    ),
    (
        "left join derived.person_line as l\n    on\n        r.person_id = l.person_id\n"
        "        and (r.row_sha256 = case when pa.with_sskdt then l.row_sha256 else l.base_sha256 end) is true;",
        ";",
    ),
)


@cache
def _first_candidate_sql(text: str, cards_computed: bool = True, trusted: bool = False) -> str:
    """``release_candidate.sql`` for a first release: the same rows and hashes, without the joins that narrow it
    to ``publish_scope`` (every person then), so that statuses, persons, cards and stored lines are read whole,
    each in its primary key's order, and joined by merge joins with no sort between (the planner sorted the
    statuses (98 MB) and the cards (426 MB) on disk for the joins it estimated at 3.3 billion rows, and hashed
    every person twice for the scope; issue 19, docs/performance-log.md: branches p6-first and p7-first).
    ``cards_computed`` false: no card was computed for the release (``publish_card`` is empty)."""
    for old, new in _FIRST_EDITS:
        if text.count(old) != 1:
            raise PublishError(
                "release_candidate.sql: a fragment a first release changes is not where release.py expects it"
            )
        text = text.replace(old, new)
    if not cards_computed:
        text, found = _FIRST_STORED_CARDS.subn("\n", text)
        if found != 1:
            raise PublishError(
                "release_candidate.sql: the computed cards are not where release.py expects them"
            )
    if trusted:
        lines = _TRUSTED_LINES.format(card_scope=_TRUSTED_CARD_SCOPE if cards_computed else "")
        for old, new in _TRUSTED_EDITS:
            if text.count(old) != 1:
                raise PublishError(
                    "release_candidate.sql: a fragment a first release changes to trust the stored lines is not"
                    " where release.py expects it"
                )
            text = text.replace(old, lines + old if new is None else new)
    return text


def _lines_trusted(cur, *, rule_set: str, as_of) -> bool:
    """Whether a first release may take the status build's stored lines as they are, for the persons not noted
    stale (``derived.person_line_state``, migration 0082): not every line stale, lines of this rule set, computed
    as of no later than the release's ``as_of``, with this candidate statement and line function
    (:func:`covidsync.status.cards.line_recipe`). Else every row hash and line is computed (and a stored line used
    only where the computed row hash is its own), as before."""
    cur.execute("select rule_set, as_of, recipe, all_stale from derived.person_line_state")
    state = cur.fetchone()
    if state is None or state[3] or state[0] != rule_set or state[1] is None or as_of < state[1]:
        return False
    return state[2] == cards.line_recipe(cur, sql("release_candidate"))


# The planner's settings of a first release's one statement: every table read in its primary key's order (the
# order of person_id a status build writes statuses, cards and lines in, and identities are numbered in), joined
# by merge joins with no sort (the rows' order is what the planner would otherwise sort for, on disk), and the
# stored lines probed by key beside each row (not read whole and sorted). Set for that statement alone.
_FIRST_SETTINGS = (("random_page_cost", "1.1"), ("enable_hashjoin", "off"), ("enable_sort", "off"))

# Those settings pay only where the tables read in person_id order are stored in that order: a status build's
# full rebuild and the bench's seed write them so, but rows an incremental build rewrote, or a table reloaded in
# another order, are not. At 1M persons with statuses and cards shuffled, the forced merge joins read the heaps in
# random order and stored in 15.5 / 14.3 s against the planner's own 12.5 / 12.4 s (9.8 s forced when ordered;
# docs/performance-log.md, "After the fourth round merged"). The planner's statistics tell: the correlation of
# person_id with the heap's order, which ANALYZE keeps (no statistics: not known to be ordered).
_FIRST_ORDERED_TABLES = ("health_status", "person", "person_card")
_FIRST_MIN_CORRELATION = 0.9


def _stored_in_person_order(cur) -> bool:
    """Whether every table a first release reads in person_id order is stored in that order (the planner's
    correlation of ``person_id`` at least :data:`_FIRST_MIN_CORRELATION`)."""
    cur.execute(
        """
        select count(distinct tablename) filter (where correlation >= %s) = %s
        from pg_stats
        where schemaname = 'derived' and tablename = any(%s) and attname = 'person_id'
        """,
        (_FIRST_MIN_CORRELATION, len(_FIRST_ORDERED_TABLES), list(_FIRST_ORDERED_TABLES)),
    )
    return bool(cur.fetchone()[0])


@contextmanager
def _first_settings(cur) -> Iterator[None]:
    """The planner's settings of a first release's statement (:data:`_FIRST_SETTINGS`) for the statement run in
    the block, then back to what they were (``set local``: the rest of the release plans as before); none where
    the tables are not stored in person_id order (:func:`_stored_in_person_order`): the planner's own plan then."""
    if not _stored_in_person_order(cur):
        log.info(
            "first release: statuses, persons or cards not stored in person_id order; the planner's own plan"
        )
        yield
        return
    cur.execute("select " + ", ".join(f"current_setting('{name}')" for name, _ in _FIRST_SETTINGS))
    saved = cur.fetchone()
    for name, value in _FIRST_SETTINGS:
        cur.execute(f"set local {name} = {value}")
    yield
    for (name, _), value in zip(_FIRST_SETTINGS, saved, strict=True):
        cur.execute("select set_config(%s, %s, true)", (name, value))


def _built(cur, *, rule_set: str, with_sskdt: bool, as_of) -> None:
    """Record what the release just built saw, and forget the changes it took in."""
    cur.execute(
        """
        update publish.build_state set rule_set = %s, with_sskdt = %s, as_of = %s, full_rebuild = false
        """,
        (rule_set, with_sskdt, as_of),
    )
    cur.execute("delete from publish.pending_person")
    cur.execute("delete from publish.pending_citizen")


# The recipe of the view hashes a release is made with (docs/sync-api.md, "Hashes"; release_meta.hash_recipe).
HASH_RECIPE = 2
_HASH_MODULUS = 1 << 256


class _LineHashSums:
    """A file for ``COPY … TO STDOUT (FORMAT binary)`` of ``sql/publish/release_hashes.sql``: fixed-width rows (a
    sign, three 32-byte hashes) summed as they arrive, vectorised (numpy), in chunks of whole rows: each app's
    sum of its lines' hashes (signed) as 8 sums of 32-bit big-endian words, and the sum of the signs."""

    # PGCOPY header (signature, flags, extension length); each row: field count, then length and value per field
    _HEADER = 11 + 4 + 4

    def __init__(self) -> None:
        import numpy as np

        self._np = np
        self._row = np.dtype(
            [("n", ">i2"), ("l0", ">i4"), ("sign", ">i2")]
            + [f for i in range(3) for f in ((f"l{i + 1}", ">i4"), (f"h{i + 1}", "u1", 32))]
        )
        self._pending = bytearray()
        self._header = True
        self.rows = 0
        self.signs = 0
        self.words = np.zeros((3, 8), dtype=np.int64)

    def write(self, data) -> int:
        self._pending += data
        if len(self._pending) >= 1 << 23:
            self._take()
        return len(data)

    def _take(self, final: bool = False) -> None:
        np = self._np
        if self._header:
            if len(self._pending) < self._HEADER:
                return
            del self._pending[: self._HEADER]
            self._header = False
        whole = len(self._pending) // self._row.itemsize
        if final:  # the trailer: a field count of -1
            if len(self._pending) - whole * self._row.itemsize != 2:
                raise PublishError("the line hashes did not arrive as fixed-width rows")
        rows = np.frombuffer(bytes(self._pending[: whole * self._row.itemsize]), dtype=self._row)
        del self._pending[: whole * self._row.itemsize]
        if not len(rows):
            return
        if (rows["n"] != 4).any() or any((rows[f"l{i}"] != (2 if i == 0 else 32)).any() for i in range(4)):
            raise PublishError("the line hashes did not arrive as fixed-width rows")
        sign = rows["sign"].astype(np.int64)[:, None]
        for i in range(3):
            words = np.ascontiguousarray(rows[f"h{i + 1}"]).view(">u4").astype(np.int64)
            self.words[i] += (words * sign).sum(axis=0)
        self.rows += len(rows)
        self.signs += int(sign.sum())

    def close(self) -> list[int]:
        """The sum of each app's line hashes (pccovid, vneid, sskdt), as numbers (not yet modulo 2^256)."""
        self._take(final=True)
        return [sum(int(w) << (32 * (7 - k)) for k, w in enumerate(app)) for app in self.words]


class _FirstReleaseSums:
    """A file for ``COPY (insert … returning citizen_id, row_sha256, line_sha256) TO STDOUT (FORMAT binary)``: a
    first release's rows as its insert writes them (``sql/publish/release_first_versions.sql``, in CCCD order),
    hashed as they stream back, so that neither the content hash nor the view hashes reads the 900,000 rows
    again (issue 19, branch p9-first: 1.7 s of two more passes at 1M persons). The content hash is the SHA-256 of
    the rows' ``citizen_id<TAB>row_sha256`` lines in CCCD order (``release_content.sql``'s value); each view hash
    the sum of the rows' line hashes (``release_hashes.sql``'s with every row). Vectorised (numpy) over chunks of
    whole rows, which must be fixed-width: every CCCD of one length and only digits (so that the byte order the
    insert writes in is the order of any collation), strictly increasing, every line hash of the width the apps
    want. Where one is not, :meth:`hashes` is None and the caller hashes the stored rows in SQL, as before."""

    _HEADER = 11 + 4 + 4  # PGCOPY signature, flags, extension length
    _CHUNK = 1 << 23  # bytes taken at a time (whole rows)

    def __init__(self, with_sskdt: bool) -> None:
        import hashlib

        import numpy as np

        self._np = np
        self._width = 96 if with_sskdt else 64
        self._row = None  # the rows' dtype, from the first row's CCCD length
        self._pending = bytearray()
        self._header = True
        self._last = None
        self._content = hashlib.sha256()
        self.valid = True
        self.rows = 0
        self.words = np.zeros((3, 8), dtype=np.int64)

    def write(self, data) -> int:
        if self.valid:
            self._pending += data
            if len(self._pending) >= self._CHUNK:
                self._take()
        return len(data)

    def _take(self, final: bool = False) -> None:
        np = self._np
        if self._header:
            if len(self._pending) < self._HEADER:
                self.valid = not final
                return
            del self._pending[: self._HEADER]
            self._header = False
        if self._row is None:
            if len(self._pending) < 6:
                # no row at all (the trailer alone) is an empty release
                self.valid = not final or bytes(self._pending) == b"\xff\xff"
                return
            length = int.from_bytes(self._pending[2:6], "big", signed=True)
            if length <= 0:
                self.valid = False
                return
            self._row = np.dtype(
                [("n", ">i2"), ("l0", ">i4"), ("cid", "u1", length), ("l1", ">i4"), ("row", "u1", 64)]
                + [("l2", ">i4"), ("line", "u1", self._width)]
            )
        size = self._row.itemsize
        whole = len(self._pending) // size
        if final and (len(self._pending) - whole * size != 2 or self._pending[-2:] != b"\xff\xff"):
            self.valid = False
            return
        rows = np.frombuffer(bytes(self._pending[: whole * size]), dtype=self._row)
        del self._pending[: whole * size]
        if not len(rows):
            return
        length = self._row["cid"].shape[0]
        cid = np.ascontiguousarray(rows["cid"])
        if (
            (rows["n"] != 3).any()
            or (rows["l0"] != length).any()
            or (rows["l1"] != 64).any()
            or (rows["l2"] != self._width).any()
            or (cid < ord("0")).any()
            or (cid > ord("9")).any()
        ):
            self.valid = False
            return
        keys = cid.view(f"S{length}").ravel()
        if (keys[1:] <= keys[:-1]).any() or (self._last is not None and keys[0] <= self._last):
            self.valid = False
            return
        self._last = keys[-1]
        lines = np.empty((len(rows), length + 66), dtype=np.uint8)
        lines[:, :length] = cid
        lines[:, length] = ord("\t")
        lines[:, length + 1 : length + 65] = rows["row"]
        lines[:, length + 65] = ord("\n")
        self._content.update(lines)
        words = np.ascontiguousarray(rows["line"]).view(">u4").astype(np.int64)
        for i in range(self._width // 32):
            self.words[i] += words[:, 8 * i : 8 * i + 8].sum(axis=0)
        self.rows += len(rows)

    def hashes(self, apps: tuple[str, ...]) -> dict | None:
        """What :func:`release_hashes` gives for the release (every row), or None where the stream did not hold."""
        if self.valid:
            self._take(final=True)
        if not self.valid:
            return None
        sums = [sum(int(w) << (32 * (7 - k)) for k, w in enumerate(app)) for app in self.words]
        hashes = {"row_count": self.rows, "content_sha256": self._content.hexdigest(), "by_change": False}
        for app, total in zip(CONSUMERS, sums, strict=True):
            hashes[f"{app}_sha256"] = f"{total % _HASH_MODULUS:064x}" if app in apps else None
        return hashes


def first_sort_memory() -> str:
    """``COVIDSYNC_PUBLISH_FIRST_SORT_MEMORY`` (default 1GB): the ``work_mem`` of a first release's one sort,
    every row by CCCD (the heap's and the primary key's fill order, and the order the rows are hashed in as they
    stream back): about 600 MB at 1M persons, which spilled to disk at the release's 64 MB (500 MB written and
    read back). A first release runs once per rule set: for that statement alone, then back to the release's
    (issue 19, branch p9-first: 0.3-0.4 s of 3.2-3.4 s at 300,000 persons)."""
    return settings.memory_size("COVIDSYNC_PUBLISH_FIRST_SORT_MEMORY", "1GB")


def _store_first(cur, release_id: int, apps: tuple[str, ...]) -> tuple[int, dict | None]:
    """Store a first release's rows (``sql/publish/release_first_versions.sql``) and hash them as the insert
    returns them (:class:`_FirstReleaseSums`): the rows stored, and the release's hashes (None: hash in SQL)."""
    statement = cur.mogrify(sql("release_first_versions").strip().rstrip(";"), {"release_id": release_id})
    sink = _FirstReleaseSums("sskdt" in apps)
    work_mem = _set_local(cur, "work_mem", first_sort_memory())
    cur.copy_expert(
        "copy (" + statement.decode("utf-8") + "\nreturning citizen_id, row_sha256, line_sha256)"
        " to stdout (format binary)",
        sink,
    )
    rows = cur.rowcount
    _set_local(cur, "work_mem", work_mem)
    hashes = sink.hashes(apps)
    if hashes is None or hashes["row_count"] != rows:
        log.warning(
            "publish: first release %s did not stream as fixed-width rows; hashing in SQL", release_id
        )
        return rows, None
    return rows, hashes


def release_hashes(
    cur,
    release_id: int,
    *,
    apps: tuple[str, ...] = tuple(CONSUMERS),
    by_change: bool = False,
    previous: int | None = None,
    timed: bool = False,
) -> dict:
    """Row count, content hash and each app's view hash (recipe 2) of ``release_id``.

    The content hash is the SHA-256 of the release's ``citizen_id<TAB>row_sha256`` lines (one narrow pass:
    ``sql/publish/release_content.sql``). A view hash is the sum modulo 2^256 of the SHA-256 of each row's line:
    ``by_change``, it is the previous release's (``previous``, else the one the release was built against;
    recipe 2, every app of ``apps`` hashed) plus the lines the
    release opens minus those it closes, reading only the versions of the persons it changed; else, or when
    there is no such previous hash, the lines of every row. A release whose row count does not follow from
    its changes is hashed from every row (the versions do not chain as they should: never trust a shortcut).
    ``timed``: the content hash's time is a step of :data:`STEP_SECONDS` (:func:`publish_release`)."""
    # the lines in citizen_id order by the primary key (citizen_id, valid_from), not by a sort: the versions are
    # stored in citizen_id order, so the walk reads the heap nearly in order, where the planner's scan and sort of
    # 900,000 lines spilled to disk (1.2-1.8 s against 0.7-0.9 s at 1M persons; issue 19, branch p8-day)
    sort = _set_local(cur, "enable_sort", "off")
    cur.execute(sql("release_content"), {"release_id": release_id})
    row_count, content = cur.fetchone()
    _set_local(cur, "enable_sort", sort)
    if timed:
        _step("content hash")
    base = None
    if by_change:
        cur.execute(
            """
            select p.hash_recipe, p.pccovid_sha256, p.vneid_sha256, p.sskdt_sha256, r.row_count
            from publish.release_meta as p inner join publish.release as r using (release_id)
            where p.release_id = coalesce(
                %(previous)s, (select m.previous_release_id from publish.release_meta as m where m.release_id = %(r)s)
            )
            """,
            {"previous": previous, "r": release_id},
        )
        previous = cur.fetchone()
        if previous is not None and previous[0] == HASH_RECIPE:
            stored = dict(zip(CONSUMERS, previous[1:4], strict=True))
            if all(stored[app] is not None for app in apps):
                base = {app: int(stored[app], 16) for app in apps}, previous[4]
    statement = cur.mogrify(
        sql("release_hashes").strip().rstrip(";"),
        {"release_id": release_id, "all_rows": base is None, "with_sskdt": "sskdt" in apps},
    ).decode("utf-8")
    sink = _LineHashSums()
    cur.copy_expert(f"copy ({statement}) to stdout (format binary)", sink)
    sums = sink.close()
    count = sink.signs
    if base is not None and base[1] + count != row_count:
        log.warning("publish: release %s does not follow from its changes; hashing every row", release_id)
        return release_hashes(cur, release_id, apps=apps)
    hashes = {"row_count": row_count, "content_sha256": content, "by_change": base is not None}
    for app, total in zip(CONSUMERS, sums, strict=True):
        value = None
        if app in apps:
            value = f"{((base[0][app] if base else 0) + total) % _HASH_MODULUS:064x}"
        hashes[f"{app}_sha256"] = value
    return hashes


# A day's view lines from its changes (publish_diff: release_diff.sql), recipe 2 as release_hashes.sql gives them:
# each row the release opens counts positive (its new line hashes), each version it closes negative (the replaced
# version's, old_line_sha256, read by the changes' own probe), fixed-width for _LineHashSums.
_DAY_LINES_SQL = """
select d.sign, substring(d.lines from 1 for 32) as pccovid, substring(d.lines from 33 for 32) as vneid,
    case
        when %(with_sskdt)s then substring(d.lines from 65 for 32)
        else '\\x0000000000000000000000000000000000000000000000000000000000000000'::bytea
    end as sskdt
from (
    select 1::smallint as sign, n.line_sha256 as lines from publish_diff as n where n.change <> 'removed'
    union all
    select -1::smallint, o.old_line_sha256 from publish_diff as o where o.change <> 'added'
) as d
"""
# Lines a day cannot add up as they are (stored before migration 0035, or without the Sổ SKĐT line it wants)
_DAY_LINES_UNUSABLE_SQL = """
select count(*) from (
    select n.line_sha256 as lines from publish_diff as n where n.change <> 'removed'
    union all
    select o.old_line_sha256 from publish_diff as o where o.change <> 'added'
) as d
where not coalesce(length(d.lines) = 96 or (length(d.lines) = 64 and not %(with_sskdt)s), false)
"""


def _day_hashes(cur, release_id: int, *, apps: tuple[str, ...], previous: int | None) -> dict:
    """A day's row count, content hash and view hashes: what :func:`release_hashes` gives by change, but each
    view hash from the lines of the changes' table (``publish_diff``), which already holds the new rows' line
    hashes and those of the versions they replace (``release_diff.sql``): no version is probed again by its key
    (issue 19, branch p14-day). Where the previous release has no recipe-2 hash of every app, or a line is not
    stored at the width the apps want, :func:`release_hashes` as before."""
    with_sskdt = "sskdt" in apps
    cur.execute(
        """
        select p.hash_recipe, p.pccovid_sha256, p.vneid_sha256, p.sskdt_sha256, r.row_count
        from publish.release_meta as p inner join publish.release as r using (release_id)
        where p.release_id = %s
        """,
        (previous,),
    )
    row = cur.fetchone()
    stored = dict(zip(CONSUMERS, row[1:4], strict=True)) if row is not None and row[0] == HASH_RECIPE else {}
    if not stored or any(stored[app] is None for app in apps):
        return release_hashes(cur, release_id, apps=apps, by_change=True, previous=previous, timed=True)
    cur.execute(_DAY_LINES_UNUSABLE_SQL, {"with_sskdt": with_sskdt})
    if cur.fetchone()[0]:
        return release_hashes(cur, release_id, apps=apps, by_change=True, previous=previous, timed=True)
    base, base_count = {app: int(stored[app], 16) for app in apps}, row[4]
    # the content hash (release_content.sql), as release_hashes computes it: the lines by the primary key, no sort
    sort = _set_local(cur, "enable_sort", "off")
    cur.execute(sql("release_content"), {"release_id": release_id})
    row_count, content = cur.fetchone()
    _set_local(cur, "enable_sort", sort)
    _step("content hash")
    sink = _LineHashSums()
    statement = cur.mogrify(_DAY_LINES_SQL, {"with_sskdt": with_sskdt}).decode("utf-8")
    cur.copy_expert(f"copy ({statement}) to stdout (format binary)", sink)
    sums = sink.close()
    if base_count + sink.signs != row_count:
        log.warning("publish: release %s does not follow from its changes; hashing every row", release_id)
        return release_hashes(cur, release_id, apps=apps)
    hashes = {"row_count": row_count, "content_sha256": content, "by_change": True}
    for app, total in zip(CONSUMERS, sums, strict=True):
        hashes[f"{app}_sha256"] = f"{(base[app] + total) % _HASH_MODULUS:064x}" if app in apps else None
    return hashes


def _profile(cur, release_id: int) -> dict:
    cur.execute(
        """
        select r.row_count, m.previous_release_id, m.rows_removed, m.status_changed, p.row_count
        from publish.release as r
        inner join publish.release_meta as m using (release_id)
        left join publish.release as p on m.previous_release_id = p.release_id
        where r.release_id = %s
        """,
        (release_id,),
    )
    row_count, previous, removed, status_changed, previous_count = cur.fetchone()
    if previous is None or not previous_count:
        kept_share, changed_share = 1.0, 0.0
    else:
        kept = previous_count - removed
        kept_share = kept / previous_count
        changed_share = status_changed / kept if kept else 0.0
    columns = {}
    for app in CONSUMERS:
        cur.execute(
            """
            select column_name from information_schema.columns
            where table_schema = 'publish' and table_name = %s order by ordinal_position
            """,
            (CONSUMERS[app].view,),
        )
        columns[app] = [r[0] for r in cur.fetchall()]
    return {
        "release_id": release_id,
        "previous_release_id": previous,
        "row_count": row_count,
        "rows_removed": removed,
        "status_changed": status_changed,
        "previous_kept_share": kept_share,
        "status_changed_share": changed_share,
        **{f"{app}_columns": columns[app] for app in CONSUMERS},
    }


def _hold(cur, release_id: int, reason: str) -> None:
    cur.execute(
        "update publish.release_meta set status = 'held', held_reason = %s where release_id = %s",
        (reason, release_id),
    )
    alerts.raise_alert(cur, "publish_held", f"release {release_id}", f"release {release_id} held: {reason}")
    log.warning("publish: release %s held: %s", release_id, reason)


def _gate_and_promote(
    cur,
    release_id: int,
    *,
    override: bool,
    apps: tuple[str, ...] = tuple(CONSUMERS),
    hashes: dict | None = None,
) -> dict:
    import json

    profile = _profile(cur, release_id)
    max_change = 1.0 if override else settings.publish_max_status_change()
    result = release_gate.run(
        profile, min_kept_share=settings.publish_min_kept_share(), max_status_changed_share=max_change
    )
    cur.execute(
        "update publish.release_meta set gate = %s::jsonb where release_id = %s",
        (json.dumps(result.results), release_id),
    )
    _step("gate")
    summary = {
        "release_id": release_id,
        "previous_release_id": profile["previous_release_id"],
        "row_count": profile["row_count"],
        "status_changed": profile["status_changed"],
    }
    if not result.success:
        _hold(cur, release_id, "; ".join(result.failed))
        return {
            **summary,
            "status": "held",
            "failed": result.failed,
            "current_release_id": profile["previous_release_id"],
        }
    cur.execute("savepoint make_current")
    agreement = make_current(cur, release_id, apps=apps, hashes=hashes)
    _step("switch and agreement")
    if not agreement["ok"]:
        cur.execute("rollback to savepoint make_current")
        cur.execute(
            "update publish.release set views_agree = false, agreement_mismatches = %s where release_id = %s",
            (agreement["mismatches"], release_id),
        )
        shown = ", ".join(f"{app} {agreement[f'{app}_releases']}" for app in apps)
        reason = (
            f"the views disagree on {agreement['mismatches']} of {agreement['persons']} persons "
            f"(releases shown: {shown})"
        )
        _hold(cur, release_id, reason)
        return {
            **summary,
            "status": "held",
            "failed": [reason],
            "current_release_id": profile["previous_release_id"],
        }
    cur.execute("release savepoint make_current")
    cur.execute(
        """
        update publish.release_meta set status = 'superseded'
        where status = 'current' and release_id <> %s
        """,
        (release_id,),
    )
    from psycopg2 import sql as pgsql

    hashes = pgsql.SQL(", ").join(
        pgsql.SQL("{} = {}").format(pgsql.Identifier(CONSUMERS[app].sha_column), pgsql.Placeholder(app))
        for app in apps
    )
    cur.execute(
        pgsql.SQL(
            """
        update publish.release_meta
        set status = 'current', published_at = now(), {hashes}, hash_recipe = %(recipe)s, held_reason = null
        where release_id = %(release_id)s
        """
        ).format(hashes=hashes),
        {
            **{app: agreement[f"{app}_sha256"] for app in apps},
            "release_id": release_id,
            "recipe": HASH_RECIPE,
        },
    )
    alerts.resolve_alerts(cur, "publish_held")
    _step("finish")
    log.info("publish: release %s is current (%s rows)", release_id, profile["row_count"])
    return {
        **summary,
        "status": "current",
        "failed": [],
        "current_release_id": release_id,
        "agreement_checked": "changed persons" if agreement["by_change"] else "every person",
        "view_hashes_from": "changed rows" if agreement["hashes_by_change"] else "every row",
    }


def switch_views(cur, release_id: int) -> None:
    """Point the views at ``release_id`` (in the caller's transaction: readers see the switch at commit).

    Every view joins the one ``is_current`` row, so no snapshot can show two of them on different releases.
    """
    cur.execute(
        "update publish.release set is_current = false where is_current and release_id <> %s", (release_id,)
    )
    cur.execute("update publish.release set is_current = true where release_id = %s", (release_id,))
    if cur.rowcount != 1:
        raise PublishError(f"release {release_id} does not exist")


# The columns every view shows and on which they must agree (contract §7).
COMMON_COLUMNS = (
    "release_id", "citizen_id", "doses", "last_dose_on", "last_dose_product", "fully_vaccinated", "card_colour",
    "latest_test_type", "latest_test_result", "latest_test_sampled_at", "f0", "as_of",
)  # fmt: skip


# The persons a release changed (its versions: rows and tombstones), for the agreement check by change.
_CHANGED = "array(select x.citizen_id from publish.release_version as x where x.valid_from = %(release_id)s)"


def _source(view: str, by_change: bool) -> str:
    """The view, or (by change) its rows of the persons the release changed: a condition on citizen_id that the
    security barrier lets through to the view's index (texteq is leakproof), not a join it would have to
    read the whole view for."""
    if not by_change:
        return f"publish.{view}"
    return f"(select * from publish.{view} where citizen_id = any({_CHANGED}))"  # noqa: S608 - fixed names


@cache
def agreement_sql(apps: tuple[str, ...], by_change: bool = False) -> str:
    """One row: persons, mismatches, then the number of distinct releases each view of ``apps`` shows.

    The views are joined (full outer) on citizen_id to the first; a mismatch is a person missing from a view,
    or whose common columns differ from the first view's (equal to the first in every view: all are equal).
    ``by_change``: only the persons release ``%(release_id)s`` changed. View names come from the fixed table
    :data:`covidsync.publish.CONSUMERS`, never from input.
    """
    views = [_source(CONSUMERS[app].view, by_change) for app in apps]
    aliases = [f"v{i}" for i in range(len(views))]
    joins = [f"{views[0]} as v0"]
    ids = ["v0.citizen_id"]
    for alias, view in zip(aliases[1:], views[1:], strict=True):
        joins.append(f"full outer join {view} as {alias} on coalesce({', '.join(ids)}) = {alias}.citizen_id")
        ids.append(f"{alias}.citizen_id")
    same = (
        " and ".join(
            f"v0.{c} is not distinct from {alias}.{c}"
            for alias in aliases[1:]
            for c in COMMON_COLUMNS
            if c != "citizen_id"
        )
        or "true"
    )
    missing = " or ".join(f"{alias}.citizen_id is null" for alias in aliases)
    releases = ", ".join(
        f"(select count(distinct r{i}.release_id) from {view} as r{i})"  # noqa: S608 - fixed names
        for i, view in enumerate(views)
    )
    return (
        f"select count(*), count(*) filter (where {missing} or not ({same})), {releases} "  # noqa: S608 - fixed names
        f"from {' '.join(joins)}"
    )


def _fingerprint(view: str, hashed: bool = True) -> str:
    """The fingerprint of ``view`` (a view's rows, or a subquery of them) as one row: its rows, the least and
    greatest release it shows, and the sum of the 64-bit hashes of each row's common columns (``hashed`` false:
    0, for a view whose common columns need no comparison: :func:`shared_projection`)."""
    columns = ", ".join(f"v.{c}" for c in COMMON_COLUMNS)
    fingerprint = f"coalesce(sum(hash_record_extended(row({columns}), 0)), 0)" if hashed else "0"
    return f"select count(*), min(v.release_id), max(v.release_id), {fingerprint} from {view} as v"  # noqa: S608


# A view's select list item that is a plain column reference (alias.column, renamed or not): the only kind a view may
# have for shared_projection to hold (no function, no expression, no set-returning call that would add rows)
_PLAIN_COLUMN = re.compile(r'^("?[a-z_][a-z0-9_]*"?)\.("?[a-z_][a-z0-9_]*"?)(?: AS ("?[a-z_][a-z0-9_]*"?))?$')


def _split_targets(select_list: str) -> list[str] | None:
    """The items of a view's select list (``pg_get_viewdef``'s text between SELECT and FROM), split at the commas
    outside parentheses and quotes; None where the text cannot be split so (an unclosed quote or parenthesis)."""
    items, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(select_list):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(select_list[start:i].strip())
            start = i + 1
    if quote or depth:
        return None
    items.append(select_list[start:].strip())
    return items


_NOT_THE_SAME_ROWS = re.compile(r"\b(TABLESAMPLE|LIMIT|OFFSET|FETCH|UNION|INTERSECT|EXCEPT)\b")
_CALL = re.compile(r'([A-Za-z_][A-Za-z0-9_.$]*|"[^"]*")\s*\(')  # a word before "(": a call, unless it groups
_GROUPING_WORDS = frozenset({"FROM", "JOIN", "ON", "WHERE", "AND", "OR", "NOT"})


def shared_projection(cur, apps: tuple[str, ...]) -> bool:
    """Whether the views of ``apps`` show their common columns as one projection of the same rows, so that they
    agree on them for every person by their definitions (contract §7), whatever the rows: each view (its text by
    ``pg_get_viewdef``) is one SELECT whose every item is a plain column reference, each common column referring
    to the same column in every view, with the same FROM ... WHERE text (the same relations, joins and
    conditions: the same rows), and the views have one owner and the same options (the same row security).
    Then the agreement check reads one view for its rows and releases, not every view's rows hashed (issue 20:
    the third view's read was +0.8 s of backend CPU in a first release at 1M persons). Any other definition (a
    view redefined to show a column otherwise, or other rows; an expression; DISTINCT; another owner or options)
    is False: every view is read and compared, as before."""
    if len(apps) < 2:
        return False
    cur.execute(
        """
        select
            a.app,
            pg_get_viewdef(c.oid, false),
            c.relowner,
            coalesce(c.reloptions, '{}')::text,
            exists (  -- a function that may answer differently per row or per read: not the same rows
                select
                from pg_rewrite as w
                join pg_depend as d
                    on d.classid = 'pg_rewrite'::regclass and d.objid = w.oid and d.refclassid = 'pg_proc'::regclass
                join pg_proc as p on p.oid = d.refobjid
                where w.ev_class = c.oid and p.provolatile <> 'i'
            )
        from unnest(%s::text[], %s::text[]) with ordinality as a (app, view, n)
        left join pg_class as c on c.oid = to_regclass('publish.' || a.view) and c.relkind = 'v'
        order by a.n
        """,
        (list(apps), [CONSUMERS[app].view for app in apps]),
    )
    shapes = set()
    for _app, definition, owner, options, volatile in cur.fetchall():
        if definition is None or volatile:
            return False
        text = definition.strip().rstrip(";")
        head, sep, tail = text.partition("\n   FROM ")
        if not sep or not head.startswith("SELECT ") or "\n   FROM " in tail:
            return False
        if _NOT_THE_SAME_ROWS.search(
            tail
        ):  # a sample, a slice or a set operation: rows that may differ per read
            return False
        # a call in the rows' text (random(), now(), a subquery after IN or EXISTS): not proven the same rows per
        # read; built-in functions are pinned, so pg_depend above does not list them (only functions of ours)
        if any(word.upper() not in _GROUPING_WORDS for word in _CALL.findall(tail)):
            return False
        items = _split_targets(head[len("SELECT ") :])
        if items is None:
            return False
        columns = {}
        for item in items:
            match = _PLAIN_COLUMN.match(item)
            if match is None:
                return False
            alias, column, name = match.groups()
            columns[(name or column).strip('"')] = (alias, column)
        if not set(COMMON_COLUMNS) <= set(columns):
            return False
        shapes.add((tuple(columns[c] for c in COMMON_COLUMNS), tail, owner, options))
    return len(shapes) == 1


@cache
def fingerprint_sql(app: str, by_change: bool = False, hashed: bool = True) -> str:
    """One row for the app's view: its rows, the least and greatest release it shows, and the sum of the 64-bit
    hashes of each row's common columns (an order-free fingerprint: equal for two views showing the same common
    values for the same persons; a difference in any value of any person changes it). One scan of the view, no
    join, no sort: the least and greatest release say whether it shows one release (equal) where a count of the
    distinct ones sorted every row (a first release: 900,000 per view); ``by_change``: only the rows of the
    persons release ``%(release_id)s`` changed (index lookups); ``hashed`` false: no hash (0)."""
    return _fingerprint(
        _source(CONSUMERS[app].view, by_change), hashed
    )  # a name from the fixed consumer table


# The persons a release changed, in batches of this many (by CCCD), for the agreement check by change: each batch's
# rows of every view are read in one statement, so that the second and third view find the versions' pages the
# first one read still in shared buffers (about three pages per person: the closed version, its dead original, the
# new one; 2,000 persons about 50 MB, within the server's 128 MB). Read one view after the other, each view read
# the 62,000 pages of a day's 50,000 persons at 1M again (docs/performance-log.md, branch p11-agree).
AGREEMENT_BATCH = 2000

_AGREEMENT_BATCHES = """
create temporary table publish_agreement_batch on commit drop as
select
    b.n,
    array_agg(b.citizen_id order by b.citizen_id) as citizen_ids,
    count(*) filter (where b.change <> 'removed') as opened
from (
    select x.citizen_id, x.change, (row_number() over (order by x.citizen_id) - 1) / %(size)s as n
    from publish.release_version as x
    where x.valid_from = %(release_id)s
) as b
group by b.n
"""


@cache
def batch_fingerprints_sql(apps: tuple[str, ...], hashed: bool = True) -> str:
    """One row: the fingerprint (:func:`fingerprint_sql`) of each view of ``apps``, side by side, over the persons
    of batch ``%(n)s`` of ``publish_agreement_batch`` (a condition on citizen_id that the security barrier lets
    through to the view's index, as by change). View names come from the fixed table
    :data:`covidsync.publish.CONSUMERS`, never from input."""
    batch = "citizen_id = any((select ab.citizen_ids from publish_agreement_batch as ab where ab.n = %(n)s)::text[])"
    views = [f"(select * from publish.{CONSUMERS[app].view} where {batch})" for app in apps]  # noqa: S608
    parts = [f"({_fingerprint(view, hashed)}) as p{i}" for i, view in enumerate(views)]
    return "select * from " + " cross join ".join(parts)  # noqa: S608 - fixed names


@cache
def releases_shown_sql(app: str, by_change: bool = False) -> str:
    """How many distinct releases the app's view shows (only asked when its fingerprint shows more than one)."""
    view = _source(CONSUMERS[app].view, by_change)  # a name from the fixed consumer table, never input
    return f"select count(distinct v.release_id) from {view} as v"  # noqa: S608


def _set_local(cur, name: str, value: str) -> str:
    """Set the planner setting ``name`` for the rest of the transaction; its value before comes back (to restore)."""
    cur.execute("select current_setting(%s), set_config(%s, %s, true)", (name, name, value))
    return cur.fetchone()[0]


def check_agreement(cur, apps: tuple[str, ...] | None = None, *, changed_in: int | None = None) -> dict:
    """The agreement check of the views on the current release: every view shows the one release, the same
    persons, and the same common columns (contract §7).

    Each view is read for its fingerprint (:func:`fingerprint_sql`); when the fingerprints differ, the views are
    joined person by person (:func:`agreement_sql`) to count the persons on which they disagree. ``changed_in``
    (the current release): only the persons it changed are read, and must be the rows it opened (``persons``
    counts them); the caller knows that the other persons' rows, and the views' definitions, are those the
    previous release was checked with (:func:`make_current`). By change the persons are read in batches
    (:data:`AGREEMENT_BATCH`), every view's rows of a batch in one statement (:func:`batch_fingerprints_sql`).

    Views that show the common columns as one projection of the same rows (:func:`shared_projection`: the views
    as migrated) agree on them by their definitions: then only the first view is read, for its rows and
    releases, without a hash (``views_read`` 1), and stands for the others; a view defined otherwise makes the
    check read and compare every view as above."""
    apps = tuple(apps or CONSUMERS)
    by_change = changed_in is not None
    params = {"release_id": changed_in}
    # views that show the common columns as one projection of the same rows (shared_projection) agree on them by
    # their definitions: the first is read for its rows and releases (no hash), and stands for the others
    shared = shared_projection(cur, apps)
    read = apps[:1] if shared else apps
    # for these statements alone (the caller's settings restored after them):
    # - each view's join of the current release row to the versions reads that one row once, not by a probe of
    #   release_pkey for each version (the planner's choice from a release table it had no statistics of: 950,000
    #   probes, 1.9M buffers, per view of a first release at 1M persons; docs/performance-log.md, p11-agree);
    # - by change, the versions of the changed persons are found by their key, never by a sequential scan
    #   testing every version against the changed CCCDs (a linear search per row: 0.9 s for 1,000 persons among
    #   20,000 after a table was refilled with stale statistics, minutes at 1M; p8-day and p10-day); in full, by
    #   one sequential scan of the versions, not a bitmap of every one
    # - by change, no parallel workers: a batch's statement reads 2,000 persons per view, and starting two
    #   workers for each view of each batch cost more than the batch (a day at 1M: 75 gathers)
    planner = {
        "enable_indexscan": "off",
        "enable_seqscan": "off" if by_change else "on",
        "enable_bitmapscan": "on" if by_change else "off",
        **({"max_parallel_workers_per_gather": "0"} if by_change else {}),
    }
    saved = {name: _set_local(cur, name, value) for name, value in planner.items()}
    prints, shown = {}, {}
    if by_change:
        # the statistics of the releases' table (a page): without them (truncated, or analysed empty) the planner
        # took it for hundreds of rows and probed it once for each version of a batch (a bitmap scan of
        # release_pkey per row) instead of reading its one current row once (docs/performance-log.md, p11-agree)
        cur.execute("analyze publish.release")
        cur.execute("drop table if exists pg_temp.publish_agreement_batch")
        cur.execute(_AGREEMENT_BATCHES, {"release_id": changed_in, "size": AGREEMENT_BATCH})
        cur.execute("select count(*), coalesce(sum(opened), 0)::bigint from publish_agreement_batch")
        batches, expected = cur.fetchone()
        totals = {app: [0, None, None, 0] for app in read}  # rows, least and greatest release, hash sum
        for n in range(batches):
            cur.execute(batch_fingerprints_sql(read, not shared), {"n": n})
            row = cur.fetchone()
            for i, app in enumerate(read):
                rows, least, greatest, total = row[4 * i : 4 * i + 4]
                t = totals[app]
                t[0] += rows
                t[3] += int(total)
                if least is not None:
                    t[1] = least if t[1] is None else min(t[1], least)
                    t[2] = greatest if t[2] is None else max(t[2], greatest)
        cur.execute("drop table pg_temp.publish_agreement_batch")
        fingerprints = {app: tuple(t) for app, t in totals.items()}
    else:
        cur.execute("select row_count from publish.release where is_current")
        row = cur.fetchone()
        expected = row[0] if row else 0
        fingerprints = {}
        for app in read:
            cur.execute(fingerprint_sql(app, by_change, not shared), params)
            fingerprints[app] = cur.fetchone()
    for app in apps:
        rows, least, greatest, total = fingerprints[app if app in fingerprints else read[0]]
        prints[app] = rows, int(total)
        if least is None:
            shown[app] = 0
        elif least == greatest:
            shown[app] = 1
        elif app in fingerprints:  # more than one release in one view: counted for the operator's message
            cur.execute(releases_shown_sql(app, by_change), params)
            shown[app] = cur.fetchone()[0]
        else:  # the view read for it (shared_projection): the same rows
            shown[app] = shown[read[0]]
    if len(set(prints.values())) == 1:
        persons, mismatches = prints[apps[0]][0], 0
    else:
        cur.execute(agreement_sql(apps, by_change), params)
        persons, mismatches, *releases = cur.fetchone()
        shown = dict(zip(apps, releases, strict=True))
        mismatches = max(mismatches, 1)  # the fingerprints differ: they disagree somewhere
    for name, value in saved.items():
        _set_local(cur, name, value)
    ok = mismatches == 0 and persons == expected and set(shown.values()) == {1 if expected else 0}
    return {
        "ok": ok,
        "persons": persons,
        "mismatches": mismatches,
        "by_change": by_change,
        "views_read": len(read),
        **{f"{app}_releases": n for app, n in shown.items()},
    }


def views_sha256(cur, apps: tuple[str, ...]) -> str:
    """SHA-256 of the definitions of the views of ``apps`` (``pg_get_viewdef``, with the apps' names): what the
    agreement check last checked in full (``publish.build_state.views_sha256``)."""
    cur.execute(
        """
        select encode(sha256(convert_to(string_agg(
            a.app || E'\t' || pg_get_viewdef(('publish.' || a.view)::regclass), E'\n' order by a.n
        ), 'UTF8')), 'hex')
        from unnest(%s::text[], %s::text[]) with ordinality as a (app, view, n)
        """,
        (list(apps), [CONSUMERS[app].view for app in apps]),
    )
    return cur.fetchone()[0]


def make_current(
    cur,
    release_id: int,
    *,
    apps: tuple[str, ...] | None = None,
    hashes: dict | None = None,
) -> dict:
    """Switch the views to ``release_id``, check that they agree, store the result with the release.

    Runs in the caller's transaction; the caller rolls back (to a savepoint) when ``ok`` is False. Refuses a
    release built against a release that is no longer current (its delta would not chain).

    The agreement check reads only the persons the release changed when the release it replaces passed the
    check and the views are defined as they were at the last check of every person (``views_sha256``);
    otherwise (a first release, a view redefined, another set of apps) it checks every person, and records
    the definitions when they agree.
    """
    cur.execute("select previous_release_id from publish.release_meta where release_id = %s", (release_id,))
    row = cur.fetchone()
    if row is None:
        raise PublishError(f"release {release_id} does not exist")
    cur.execute("select release_id, views_agree from publish.release where is_current")
    current = cur.fetchone()
    if (current[0] if current else None) != row[0]:
        raise PublishError(
            f"release {release_id} was built against release {row[0]}, but release "
            f"{current[0] if current else 'none'} is current: publish again instead"
        )
    apps = tuple(apps or CONSUMERS)
    # the views held as they are until the transaction ends: a view replaced (its ACCESS EXCLUSIVE lock) between
    # reading the definitions here and reading the rows below would be checked by its old definition
    cur.execute(
        "lock table "
        + ", ".join(f"publish.{CONSUMERS[app].view}" for app in apps)  # names from the fixed consumer table
        + " in access share mode"
    )
    definitions = views_sha256(cur, apps)
    cur.execute("select views_sha256 from publish.build_state")
    checked = cur.fetchone()
    by_change = (
        current is not None and current[1] is True and checked is not None and checked[0] == definitions
    )
    switch_views(cur, release_id)
    agreement = check_agreement(cur, apps, changed_in=release_id if by_change else None)
    if agreement["ok"] and not by_change:
        cur.execute("update publish.build_state set views_sha256 = %s", (definitions,))
    hashes = hashes or release_hashes(cur, release_id, apps=apps, by_change=True)
    for app in apps:
        agreement[f"{app}_sha256"] = hashes[f"{app}_sha256"]
    agreement["hashes_by_change"] = hashes["by_change"]
    cur.execute(
        "update publish.release set views_agree = %s, agreement_mismatches = %s where release_id = %s",
        (agreement["ok"], agreement["mismatches"], release_id),
    )
    return agreement


def record_override(conn, release_id: int, *, actor: str, reason: str) -> dict:
    """Record an operator's override of a held release's mass-change check, and try to publish it again.

    Only the latest release, held, can be overridden. The override lifts the mass-change limit only:
    completeness, the view columns and the agreement check still apply.
    """
    if not reason or len(reason.strip()) < 10:
        raise PublishError("give a reason of at least 10 characters (it is kept with the release)")
    with conn, conn.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(%s)", (PUBLISH_LOCK,))
        cur.execute("set local jit = off")
        cur.execute("set local work_mem = '64MB'")
        cur.execute("select max(release_id) from publish.release")
        latest = cur.fetchone()[0]
        cur.execute("select status from publish.release_meta where release_id = %s", (release_id,))
        row = cur.fetchone()
        if row is None:
            raise PublishError(f"release {release_id} does not exist")
        if row[0] != "held" or release_id != latest:
            raise PublishError(
                f"release {release_id} is {row[0]}{'' if release_id == latest else ', not the latest'}: "
                "only the latest held release can be overridden"
            )
        cur.execute(
            "insert into publish.release_override (release_id, actor, reason) values (%s, %s, %s)",
            (release_id, actor, reason.strip()),
        )
        return _gate_and_promote(cur, release_id, override=True)


def prune(conn, keep: int | None = None) -> dict:
    """Keep the rows and deltas of the last ``keep`` published releases (``COVIDSYNC_RELEASE_RETENTION``).

    Older releases keep their ``publish.release`` row (the history) and lose their rows and deltas. An app on
    any kept release, or on the published release just before the oldest kept, still syncs by delta.
    """
    keep = keep or settings.release_retention()
    with conn, conn.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(%s)", (PUBLISH_LOCK,))
        cur.execute(
            """
            select min(release_id) from (
                select release_id from publish.release_meta where published_at is not null
                order by release_id desc limit %s
            ) as kept
            """,
            (keep,),
        )
        oldest = cur.fetchone()[0]
        if oldest is None:
            return {"pruned": 0, "oldest_kept": None}
        cur.execute(
            """
            select m.release_id from publish.release_meta as m
            inner join publish.release as r using (release_id)
            where m.release_id < %s and m.pruned_at is null and not r.is_current
            """,
            (oldest,),
        )
        victims = [r[0] for r in cur.fetchall()]
        if victims:
            # the versions no kept release shows (nor the current one), and the tombstones of pruned releases
            cur.execute("select release_id from publish.release where is_current")
            row = cur.fetchone()
            below = min(oldest, row[0]) if row else oldest
            cur.execute(
                """
                delete from publish.release_version
                where (change <> 'removed' and valid_to <= %(below)s)
                   or (change = 'removed' and valid_from < %(below)s)
                """,
                {"below": below},
            )
            cur.execute(
                "update publish.release_meta set pruned_at = now() where release_id = any(%s)", (victims,)
            )
        return {"pruned": len(victims), "oldest_kept": oldest}
