"""Build, gate and publish releases of the health status; deltas, overrides and retention.

A **release** is a numbered, immutable snapshot of the published rows (``publish.release_row``: one row per
person with a CCCD under the rule set ``COVIDSYNC_RULE_SET``), with its row count, the SHA-256 over its
canonical rows (``content_sha256``), the source watermark (the latest ``computed_at`` of the statuses) and
its ``as_of``. :func:`publish_release` (the function a benchmark calls) does, in one transaction under an
advisory lock:

1. build the candidate's rows from ``derived``; if its content hash equals the current release's (or the held
   candidate's), nothing changed: roll back, no new release;
2. record its delta against the current release (added / changed / removed) and its profile;
3. run the GX suite ``publish_release`` (completeness, no mass change without an override, exact view
   columns); a failure holds the release (kept, never current) and raises an ``ops.alert``;
4. make it current (:func:`make_current`): the views of all consumers (PC-Covid, VNeID, Sổ SKĐT) read the
   one ``is_current`` flag, switched in this transaction, and the agreement check of the three views on
   their common columns runs on the new release inside it; if any two views
   disagree the switch is rolled back to a savepoint and the release is held.

Content hashes exclude ``as_of`` (a release-level value): statuses identical under a later ``as_of`` make no
new release, so apps are not asked to re-sync rows that did not change.
"""

from __future__ import annotations

import logging
from functools import cache

from covidsync import settings
from covidsync.errors import CovidsyncError
from covidsync.publish import CONSUMERS, alerts
from covidsync.publish import gate as publish_gate

log = logging.getLogger(__name__)

PUBLISH_LOCK = 0x70756231  # pg_advisory_xact_lock key of every publisher ("pub1")
ZERO_SHA = "0" * 64


class PublishError(CovidsyncError):
    pass


@cache
def _sql_text(name: str, root: str) -> str:
    from pathlib import Path

    return (Path(root) / "publish" / f"{name}.sql").read_text(encoding="utf-8")


def sql(name: str) -> str:
    return _sql_text(name, str(settings.sql_dir()))


def _current(cur) -> tuple[int, str, int] | None:
    cur.execute("select release_id, content_sha256, row_count from publish.release where is_current")
    return cur.fetchone()


def current_release_id(conn) -> int | None:
    with conn.cursor() as cur:
        row = _current(cur)
    return row[0] if row else None


def publish_release(conn, *, rule_set: str | None = None, apps: tuple[str, ...] | None = None) -> dict:
    """Publish the statuses of ``rule_set`` as a new release if they changed; a small summary comes back.

    ``apps`` (default: every consumer) is for the benchmark, which measures the publish cost of the Sổ SKĐT
    view by publishing without it (its columns left empty, its hash and agreement not computed).

    ``status`` is ``unchanged`` (no new release), ``current`` (the new release is what every view shows) or
    ``held`` (kept for an operator; ``failed`` says why). Counts and ids only.
    """
    rule_set = rule_set or settings.rule_set()
    with conn, conn.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(%s)", (PUBLISH_LOCK,))
        current = _current(cur)
        cur.execute(
            """
            select r.release_id, r.content_sha256, m.status
            from publish.release as r inner join publish.release_meta as m using (release_id)
            order by r.release_id desc limit 1
            """
        )
        latest = cur.fetchone()
        cur.execute(
            "select derived.status_as_of(%s), max(computed_at), count(*) from derived.health_status"
            " where rule_set = %s",
            (rule_set, rule_set),
        )
        as_of, watermark, statuses = cur.fetchone()
        if not statuses:
            return {
                "status": "unchanged",
                "release_id": None,
                "current_release_id": current and current[0],
                "reason": f"no health status for rule set {rule_set}",
            }
        release_id = (latest[0] if latest else 0) + 1
        cur.execute(
            "insert into publish.release (release_id, as_of, row_count, content_sha256) values (%s, %s, 0, %s)",
            (release_id, as_of, ZERO_SHA),
        )
        apps = tuple(apps or CONSUMERS)
        cur.execute(
            sql("release_row"),
            {"release_id": release_id, "rule_set": rule_set, "with_sskdt": "sskdt" in apps},
        )
        cur.execute(
            """
            select count(*), encode(sha256(convert_to(coalesce(
                string_agg(citizen_id || E'\\t' || row_sha256 || E'\\n', '' order by citizen_id), ''), 'UTF8')), 'hex')
            from publish.release_row where release_id = %s
            """,
            (release_id,),
        )
        row_count, content_sha = cur.fetchone()
        same_as_current = current is not None and current[1] == content_sha
        same_as_held = latest is not None and latest[2] in ("held", "candidate") and latest[1] == content_sha
        if same_as_current or same_as_held:
            conn.rollback()
            log.info("publish: statuses unchanged since release %s; no new release", latest and latest[0])
            return {
                "status": "unchanged",
                "release_id": None,
                "current_release_id": current and current[0],
                "held_release_id": latest[0] if same_as_held else None,
            }
        previous = current[0] if current else None
        cur.execute(
            "update publish.release set row_count = %s, content_sha256 = %s where release_id = %s",
            (row_count, content_sha, release_id),
        )
        cur.execute(sql("release_delta"), {"release_id": release_id, "previous_release_id": previous})
        cur.execute(
            "select change, count(*) from publish.release_delta where release_id = %s group by change",
            (release_id,),
        )
        changes = dict(cur.fetchall())
        cur.execute(
            """
            select count(*) from publish.release_row as n
            inner join publish.release_row as p on n.citizen_id = p.citizen_id and p.release_id = %s
            where n.release_id = %s and (n.card_colour <> p.card_colour or n.f0 <> p.f0)
            """,
            (previous, release_id),
        )
        status_changed = cur.fetchone()[0]
        cur.execute(
            """
            insert into publish.release_meta (
                release_id, rule_set, source_watermark, previous_release_id, rows_added, rows_changed,
                rows_removed, status_changed
            ) values (%s, %s, %s, %s, %s, %s, %s, %s)
            """,
            (
                release_id,
                rule_set,
                watermark,
                previous,
                changes.get("added", 0),
                changes.get("changed", 0),
                changes.get("removed", 0),
                status_changed,
            ),
        )
        # an older candidate nobody approved can no longer be made current: this one supersedes it
        cur.execute(
            """
            update publish.release_meta set status = 'discarded'
            where status in ('held', 'candidate') and release_id < %s
            """,
            (release_id,),
        )
        return _gate_and_promote(cur, release_id, override=False, apps=apps)


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
    cur, release_id: int, *, override: bool, apps: tuple[str, ...] = tuple(CONSUMERS)
) -> dict:
    import json

    profile = _profile(cur, release_id)
    max_change = 1.0 if override else settings.publish_max_status_change()
    result = publish_gate.run(
        profile, min_kept_share=settings.publish_min_kept_share(), max_status_changed_share=max_change
    )
    cur.execute(
        "update publish.release_meta set gate = %s::jsonb where release_id = %s",
        (json.dumps(result.results), release_id),
    )
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
    agreement = make_current(cur, release_id, apps=apps)
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
        set status = 'current', published_at = now(), {hashes}, held_reason = null
        where release_id = %(release_id)s
        """
        ).format(hashes=hashes),
        {**{app: agreement[f"{app}_sha256"] for app in apps}, "release_id": release_id},
    )
    alerts.resolve_alerts(cur, "publish_held")
    log.info("publish: release %s is current (%s rows)", release_id, profile["row_count"])
    return {**summary, "status": "current", "failed": [], "current_release_id": release_id}


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


@cache
def agreement_sql(apps: tuple[str, ...]) -> str:
    """One row: persons, mismatches, then the number of distinct releases each view of ``apps`` shows.

    The views are joined (full outer) on citizen_id to the first; a mismatch is a person missing from a view,
    or whose common columns differ from the first view's (equal to the first in every view: all are equal).
    View names come from the fixed table :data:`covidsync.publish.CONSUMERS`, never from input.
    """
    views = [CONSUMERS[app].view for app in apps]
    aliases = [f"v{i}" for i in range(len(views))]
    joins = [f"publish.{views[0]} as v0"]
    ids = ["v0.citizen_id"]
    for alias, view in zip(aliases[1:], views[1:], strict=True):
        joins.append(
            f"full outer join publish.{view} as {alias} on coalesce({', '.join(ids)}) = {alias}.citizen_id"
        )
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
        f"(select count(distinct r{i}.release_id) from publish.{view} as r{i})"  # noqa: S608 - fixed names
        for i, view in enumerate(views)
    )
    return (
        f"select count(*), count(*) filter (where {missing} or not ({same})), {releases} "  # noqa: S608 - fixed names
        f"from {' '.join(joins)}"
    )


def check_agreement(cur, apps: tuple[str, ...] | None = None) -> dict:
    """The agreement check of the views on the current release (:func:`agreement_sql`): every view shows the
    one release, the same persons, and the same common columns (contract §7)."""
    apps = tuple(apps or CONSUMERS)
    cur.execute(agreement_sql(apps))
    persons, mismatches, *releases = cur.fetchone()
    shown = dict(zip(apps, releases, strict=True))
    cur.execute("select row_count from publish.release where is_current")
    row = cur.fetchone()
    expected = row[0] if row else 0
    ok = mismatches == 0 and persons == expected and set(shown.values()) == {1 if expected else 0}
    return {
        "ok": ok,
        "persons": persons,
        "mismatches": mismatches,
        **{f"{app}_releases": n for app, n in shown.items()},
    }


def make_current(cur, release_id: int, *, apps: tuple[str, ...] | None = None) -> dict:
    """Switch the views to ``release_id``, check that they agree, store the result with the release.

    Runs in the caller's transaction; the caller rolls back (to a savepoint) when ``ok`` is False. Refuses a
    release built against a release that is no longer current (its delta would not chain).
    """
    cur.execute("select previous_release_id from publish.release_meta where release_id = %s", (release_id,))
    row = cur.fetchone()
    if row is None:
        raise PublishError(f"release {release_id} does not exist")
    current = _current(cur)
    if (current[0] if current else None) != row[0]:
        raise PublishError(
            f"release {release_id} was built against release {row[0]}, but release "
            f"{current[0] if current else 'none'} is current: publish again instead"
        )
    apps = tuple(apps or CONSUMERS)
    switch_views(cur, release_id)
    agreement = check_agreement(cur, apps)
    for app in apps:
        cur.execute(sql(f"{app}_view_sha256"))
        agreement[f"{app}_sha256"] = cur.fetchone()[0]
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
            cur.execute("delete from publish.release_delta where release_id = any(%s)", (victims,))
            cur.execute("delete from publish.release_row where release_id = any(%s)", (victims,))
            cur.execute(
                "update publish.release_meta set pruned_at = now() where release_id = any(%s)", (victims,)
            )
        return {"pruned": len(victims), "oldest_kept": oldest}
