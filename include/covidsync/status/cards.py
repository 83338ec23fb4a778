"""The published row's stored parts (``derived.person_card``, migration 0032): each person's certificates (with
and without lot numbers), 90-day test history and their canonical texts, as of the status build's ``as_of``.

A release used to aggregate them from ``core`` for every person it published (most of a first release's time,
and most of what the Sổ SKĐT view added to it); now the status build keeps them, computing again only the cards
whose inputs changed, and a release copies them (``sql/publish/release_candidate.sql``). Both compute a card
with the one statement ``sql/status/person_card.sql``.

When a card holds:

- triggers on its inputs (``derived.vaccination_dose``, ``derived.person_record``, ``core.vaccination``'s lot
  numbers, ``core.test_result``) note the persons in ``derived.person_card_stale``; a statement changing more
  than ``derived.card_note_limit()`` rows, or a truncation, marks every card stale
  (``derived.person_card_state.all_stale``);
- time alone changes a card at its ``expires_at`` (a test leaving the 90 days or one sampled later entering, a
  dose dated after the as_of day);
- every card holds as of ``derived.person_card_state.as_of`` (the last card step's), and later until it
  expires; not before it.

:func:`build_cards` is a step of the status build (:data:`covidsync.status.build.EXTRA_STEPS`): the stale and
expired cards (everyone's on a full build, when every card is stale, or when ``as_of`` moved back), nothing
else, so a build with nothing new reads two small sets. :func:`release_cards` is the release's side: the
persons of its scope whose stored card does not hold at its ``as_of`` get theirs computed in a temporary table.
"""

from __future__ import annotations

import logging

from covidsync.status.sqlfiles import sql

log = logging.getLogger(__name__)

_SCOPE = """
create temp table if not exists card_scope (person_id bigint primary key) on commit drop;
truncate card_scope;
"""

_COLUMNS = """
person_id, vaccination_certificate, certificate_text, sskdt_certificate, sskdt_certificate_text, lot_line,
doses_shown, test_history, test_history_text, dose_expires_at, test_expires_at, expires_at
"""


def _state(cur) -> tuple:
    cur.execute("select as_of, all_stale from derived.person_card_state")
    return cur.fetchone()


def nothing_to_do(cur, params: dict) -> bool:
    """True when no card needs computing as of ``params['as_of']``: the cards hold as of that instant (not all
    stale, none noted stale, and none expired by it: every card holds as of ``person_card_state.as_of``, so at
    that same instant none is expired, even one whose expiry is that instant, a test sampled at it). Index
    probes only."""
    as_of = params["as_of"]
    state_as_of, all_stale = _state(cur)
    if all_stale or state_as_of is None or as_of < state_as_of:
        return False
    cur.execute(
        "select exists (select from derived.person_card_stale)"
        " or (%(later)s and exists (select from derived.person_card where expires_at <= %(as_of)s))",
        {"as_of": as_of, "later": as_of > state_as_of},
    )
    return not cur.fetchone()[0]


def build_cards(cur, params: dict, full: bool) -> int:
    """Compute the cards that no longer hold as of the build's ``as_of`` (every card when ``full``), in the
    build's transaction; returns how many persons' cards were computed. Seconds are logged."""
    import time

    started = time.perf_counter()
    as_of = params["as_of"]
    cur.execute(_SCOPE)
    state_as_of, all_stale = _state(cur)
    everyone = full or all_stale or state_as_of is None or as_of < state_as_of
    # the cards this step writes leave the stored lines trusted (migration 0082: any other writer of
    # derived.person_card marks every line stale): build_lines computes the lines of every card written here
    cur.execute("select set_config('covidsync.card_step', 'on', true)")
    if everyone:
        # a concurrent load's notes not yet committed stay (a delete, not a truncate): computed again next time
        cur.execute("truncate derived.person_card")
        cur.execute("delete from derived.person_card_stale")
        cur.execute("insert into card_scope (person_id) select person_id from derived.person")
    else:
        cur.execute(
            """
            insert into card_scope (person_id)
            select person_id from derived.person_card_stale
            union
            select person_id from derived.person_card where expires_at <= %(as_of)s
            """,
            {"as_of": as_of},
        )
        cur.execute("delete from derived.person_card where person_id in (select person_id from card_scope)")
        cur.execute(
            "delete from derived.person_card_stale where person_id in (select person_id from card_scope)"
        )
    cur.execute("analyze card_scope")
    cur.execute("select count(*) from card_scope")
    scope = cur.fetchone()[0]
    if scope:
        if everyone:
            # The grouped parts (certificates, test times, histories) are estimated at 200 persons whatever their
            # number (no statistics of a grouping over joins); at 300,000 persons a plan joined the histories by a
            # nested loop over them, every person's card against every history: the full build's card step ran
            # for more than 11 minutes where hash joins take under a minute (branch s3-status). For everyone: hash
            # joins (the nested loops left are those with the one-row parameters, which have no alternative).
            cur.execute("set local enable_nestloop = off")
        # in person_id order: the primary key's pages fill in order
        cur.execute(
            f"insert into derived.person_card ({_COLUMNS}) select * from ({sql('person_card')}) as c"  # noqa: S608
            " order by person_id",
            {"as_of": as_of},
        )
        if everyone:
            cur.execute("reset enable_nestloop")
    # (the card writes above and before: the line step below computes the lines of every card written)
    cur.execute("select set_config('covidsync.card_step', 'off', true)")
    cur.execute("update derived.person_card_state set as_of = %s, all_stale = false", (as_of,))
    log.info(
        "person cards: %s computed (%s) in %.2f s",
        scope,
        "everyone" if everyone else "stale or expired",
        time.perf_counter() - started,
    )
    build_lines(cur, params, everyone)
    return scope


# The build's temporary tables naming the persons whose line inputs it changed (build_lines), each with the
# select of their person ids
_BUILD_CHANGES = (
    # the touched persons whose status row the build wrote or deleted with other published values: health_status.sql
    # computes every touched person's row and notes those whose stored row shows the same values
    # (status_shown_same: the columns sql/publish/release_candidate.sql reads; not as_of, due_at, the dose series
    # or the ids behind the fields), and a line reads only those, so such a row leaves the line as it was
    # (issue 19: a clock falling due moves due_at and most often changes nothing shown; branch s5-status)
    (
        "touched",
        "select t.person_id from touched as t where not exists"
        " (select 1 from status_shown_same as s where s.person_id = t.person_id)",
    ),
    ("stale_person", "select person_id from stale_person"),
    # the rows person.sql inserted or changed (created_at / updated_at: this transaction's start)
    (
        "person_new",
        "select p.person_id from person_new as n inner join derived.person as p on n.person_key = p.person_key"
        " where p.updated_at = now() or p.created_at = now()",
    ),
    ("arrival_person", "select person_id from arrival_person"),
)


def build_lines(cur, params: dict, everyone: bool) -> int:
    """Each published person's row hash and view lines' hashes (``derived.person_line``, migration 0035) as of
    the build's ``as_of``, after the cards (they read the cards just stored): every person's when ``everyone``
    (or none are stored yet), else those of the persons whose published inputs this build changed and those
    whose line expired. A line's inputs are the person's status, person row, card and arrivals, which only the
    status build writes (a card's core inputs make it stale, and the card step computes it again): so the
    persons whose card was just computed (``card_scope``), those whose status row was written or deleted (the
    build's ``touched`` less ``status_shown_same``, the rows ``sql/status/health_status.sql`` found showing the
    same values), those identity resolution removed (``stale_person``) or whose person row it wrote
    (``person_new``, a changed or new row), and those whose arrivals the arrivals step deleted or derived
    again (``arrival_person``); a temporary table absent (the card step run alone) adds nobody. Not the
    persons noted in ``publish.pending_person``: those are the changes since the last *release*, so with no
    release between two builds (or after a full build, which notes everyone or sets ``full_rebuild``) they
    were every person, and every line was computed again by every build (issue 19).
    The rows are ``sql/publish/release_candidate.sql``'s, so a release finds exactly its own row hash beside the
    lines; a line that no longer matches its row (an input changed with no build since) is never used, only
    recomputed by the release: a stale line costs time, never a wrong hash. Returns how many were computed."""
    import time

    from covidsync import settings, sqlfiles

    started = time.perf_counter()
    as_of = params["as_of"]
    rule_set = params.get("rule_set") or settings.rule_set()
    cur.execute(
        """
        create temp table if not exists publish_scope (person_id bigint primary key) on commit drop;
        truncate publish_scope;
        select exists (select from derived.person_line);
        """
    )
    everyone = everyone or not cur.fetchone()[0]
    statement = sqlfiles.load("publish", "release_candidate")
    recipe = line_recipe(cur, statement)
    # the status rows this transaction deleted, kept by the triggers until put back (0082): their notes are taken
    # in below; a row put back after this step is a new write
    cur.execute("select to_regclass('pg_temp.line_rewrite') is not null")
    if cur.fetchone()[0]:
        cur.execute("truncate pg_temp.line_rewrite")
    if everyone:
        # every line fresh from here (migration 0082): said first, so that a statement still noting under
        # all_stale (it holds the state row) is waited for and then seen by the lines computed below; the notes
        # taken out before the lines are computed (a note committed after stays: its change may be unseen)
        cur.execute(
            "update derived.person_line_state set rule_set = %s, as_of = %s, recipe = %s, all_stale = false",
            (rule_set, as_of, recipe),
        )
        cur.execute("delete from derived.person_line_stale")
        cur.execute("truncate derived.person_line")
        cur.execute(
            "insert into publish_scope (person_id) select person_id from derived.health_status where rule_set = %s",
            (rule_set,),
        )
    else:
        # the persons noted since their line was computed, whoever changed their inputs (0082), beside those
        # this build knows it changed
        cur.execute(
            """
            insert into publish_scope (person_id)
            select person_id from card_scope
            union
            select person_id from derived.person_line where expires_at <= %(as_of)s
            union
            select person_id from derived.person_line_stale
            """,
            {"as_of": as_of},
        )
        cur.execute("select to_regclass('pg_temp.status_shown_same')")
        statuses_compared = cur.fetchone()[0] is not None
        for table, persons in _BUILD_CHANGES:
            if table == "touched" and not statuses_compared:  # no health_status step ran: all of them
                persons = "select person_id from touched"
            cur.execute("select to_regclass(%s)", (f"pg_temp.{table}",))
            if cur.fetchone()[0] is not None:
                cur.execute(
                    f"insert into publish_scope (person_id) {persons} on conflict do nothing"  # noqa: S608
                )
        cur.execute(
            "delete from derived.person_line where person_id in (select person_id from publish_scope)"
        )
        cur.execute(
            "delete from derived.person_line_stale where person_id in (select person_id from publish_scope)"
        )
        # lines of another rule set or recipe beside the stored ones: none trusted; else the latest as_of
        cur.execute(
            """
            update derived.person_line_state
            set all_stale = all_stale or rule_set is distinct from %(rule_set)s or recipe is distinct from %(recipe)s,
                as_of = greatest(as_of, %(as_of)s)
            """,
            {"rule_set": rule_set, "recipe": recipe, "as_of": as_of},
        )
    cur.execute(
        """
        analyze publish_scope;
        create temp table if not exists publish_card_scope (person_id bigint) on commit drop;
        truncate publish_card_scope;
        create temp table if not exists publish_card on commit drop as
            select * from derived.person_card with no data;
        truncate publish_card;
        """
    )
    # the card step has just stored every card as of as_of: none computed again (publish_card is empty)
    cur.execute(
        "insert into derived.person_line (person_id, row_sha256, base_sha256, line_sha256, expires_at)"  # noqa: S608
        " select person_id, row_sha256, base_sha256, line_sha256, expires_at from ("
        + _without_stored_lines(statement).strip().rstrip(";")
        + ") as c order by person_id",
        {"rule_set": rule_set, "as_of": as_of, "with_sskdt": True, "with_base": True},
    )
    computed = cur.rowcount
    cur.execute("drop table publish_scope, publish_card_scope, publish_card")
    log.info(
        "person lines: %s computed (%s) in %.2f s",
        computed,
        "everyone" if everyone else "changed or expired",
        time.perf_counter() - started,
    )
    return computed


# The stored lines as release_candidate.sql joins them, and what the line step joins instead: nothing. Every line of
# publish_scope was deleted above (all of them on a step of everyone), so the join could find none, and it read and
# hashed every other stored line to learn that (78,000 rows for the generated day's 15,000 at 100k persons; issue
# 19, branch s8-status). The recipe stays the md5 of the statement as written.
_STORED_LINES = "left join derived.person_line as l"
_NO_LINES = "left join (select * from derived.person_line where false) as l"


def _without_stored_lines(statement: str) -> str:
    if statement.count(_STORED_LINES) != 1:
        raise RuntimeError(f"release_candidate.sql: {_STORED_LINES!r} is not where cards.py expects it")
    return statement.replace(_STORED_LINES, _NO_LINES)


def line_recipe(cur, statement: str) -> str:
    """What the stored lines are computed with (``derived.person_line_state.recipe``, migration 0082): the md5 of
    the candidate statement (``sql/publish/release_candidate.sql``, its row hash) and of the definition of
    ``publish.view_line_sha256`` (the lines' hashes). A release trusts stored lines only under the same recipe."""
    cur.execute(
        """
        select md5(%s || coalesce((
            select string_agg(pg_get_functiondef(p.oid), '' order by p.oid)
            from pg_proc as p inner join pg_namespace as n on p.pronamespace = n.oid
            where n.nspname = 'publish' and p.proname = 'view_line_sha256'
        ), ''))
        """,
        (statement,),
    )
    return cur.fetchone()[0]


def release_cards(cur, as_of) -> int:
    """For a release as of ``as_of`` over the persons of the temporary table ``publish_scope``: the persons whose
    stored card does not hold (stale, expired, every card stale, or ``as_of`` before the cards'), in the
    temporary table ``publish_card_scope``, and their cards computed now in ``publish_card`` (the columns of
    ``derived.person_card``). The others' cards are ``derived.person_card``'s rows (none: empty). Returns how
    many were computed."""
    cur.execute(_SCOPE)
    state_as_of, all_stale = _state(cur)
    if all_stale or state_as_of is None or as_of < state_as_of:
        cur.execute("insert into card_scope (person_id) select person_id from publish_scope")
    else:
        cur.execute(
            """
            insert into card_scope (person_id)
            select st.person_id from derived.person_card_stale as st
            where st.person_id in (select sc.person_id from publish_scope as sc)
            union
            select c.person_id from derived.person_card as c
            where c.expires_at <= %(as_of)s and c.person_id in (select sc.person_id from publish_scope as sc)
            """,
            {"as_of": as_of},
        )
    cur.execute("analyze card_scope")
    cur.execute(
        "create temporary table publish_card_scope on commit drop as select person_id from card_scope"
    )
    cur.execute(
        "create temporary table publish_card on commit drop as " + sql("person_card"), {"as_of": as_of}
    )
    cur.execute("analyze publish_card_scope; analyze publish_card")
    cur.execute("select count(*) from publish_card_scope")
    return cur.fetchone()[0]
