"""What the sync API serves the apps (:data:`covidsync.publish.CONSUMERS`), their acknowledgements, and reconciliation.

Each app reads its own columns (those of its view, contract §6) of the current release, incrementally: the
delta from the release it holds to the current one, in pages, with tombstones. Rows travel in their
canonical text (dates ``YYYY-MM-DD``, times ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC) so that the app's copy
hashes to the release's ``view_sha256`` (:func:`view_sha256` under the release's ``hash_recipe``, the same as
``sql/publish/release_hashes.sql``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping

from psycopg2 import sql as pgsql

from covidsync import settings
from covidsync.errors import CovidsyncError
from covidsync.publish import APPS, CONSUMERS, alerts
from covidsync.publish.release import sql

# The columns of each app's rows, in canonical order (the view's columns but release_id and as_of).
FIELDS = {
    "pccovid": (
        "citizen_id", "phone", "doses", "last_dose_on", "last_dose_product", "fully_vaccinated", "card_colour",
        "latest_test_type", "latest_test_result", "latest_test_sampled_at", "f0", "contact_candidate",
    ),
    "vneid": (
        "citizen_id", "doses", "last_dose_on", "last_dose_product", "fully_vaccinated", "card_colour",
        "latest_test_type", "latest_test_result", "latest_test_sampled_at", "f0", "full_name", "date_of_birth",
        "vaccination_certificate",
    ),
    "sskdt": (
        "citizen_id", "doses", "last_dose_on", "last_dose_product", "fully_vaccinated", "card_colour",
        "latest_test_type", "latest_test_result", "latest_test_sampled_at", "f0", "full_name", "date_of_birth",
        "vaccination_certificate", "test_history", "recovered_on", "arrival_measure", "arrival_measure_ends_on",
    ),
}  # fmt: skip
# The parts of each list-valued field in its canonical text (joined by ':', the items by ';'), per app.
LIST_PARTS = {
    ("vneid", "vaccination_certificate"): ("dose", "on", "product", "facility_code"),
    ("sskdt", "vaccination_certificate"): ("dose", "on", "product", "facility_code", "lot_number"),
    ("sskdt", "test_history"): ("type", "sampled_at", "result", "pooled", "facility_code"),
}
MAX_PAGE = 5000


class NotFound(CovidsyncError):
    pass


class Gone(CovidsyncError):
    """The delta asked for starts at a release whose deltas were pruned: sync again from 0."""


def _check_app(app: str) -> None:
    if app not in APPS:
        raise NotFound(f"unknown app {app!r}: expected one of {', '.join(APPS)}")


def _sha_column(app: str) -> str:
    """The release_meta column of the app's view hash (a name from the fixed consumer table, never input)."""
    _check_app(app)
    return CONSUMERS[app].sha_column


def canonical_value(value, parts: tuple[str, ...] = ("dose", "on", "product", "facility_code")) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):  # a certificate or a test history: its items' parts
        return ";".join(":".join(canonical_value(item.get(p)) for p in parts) for item in value)
    return str(value)


# The recipes of an app's view hash (docs/sync-api.md, "Hashes"): a release says which one its view_sha256
# follows (``hash_recipe``). 1: SHA-256 of the copy's lines in citizen_id order (releases before migration 0033).
# 2: the sum modulo 2^256 of the SHA-256 of each line, as 64 hex digits (what a release can keep up to date from
# the rows it changes: covidsync.publish.release.release_hashes).
HASH_RECIPES = (1, 2)
HASH_RECIPE = 2


def view_lines(app: str, rows: Iterable[Mapping]) -> list[str]:
    """The canonical lines of an app's copy (tab-separated, null as ``\\N``, ending in a newline), in citizen_id
    order."""
    parts = {f: LIST_PARTS.get((app, f), ()) for f in FIELDS[app]}
    return [
        "\t".join(canonical_value(row.get(f), parts[f]) for f in FIELDS[app]) + "\n"
        for row in sorted(rows, key=lambda r: r["citizen_id"])
    ]


def view_sha256(app: str, rows: Iterable[Mapping], recipe: int = HASH_RECIPE) -> str:
    """The hash of an app's copy under ``recipe`` (the release's ``hash_recipe``)."""
    lines = view_lines(app, rows)
    if recipe == 1:
        digest = hashlib.sha256()
        for line in lines:
            digest.update(line.encode("utf-8"))
        return digest.hexdigest()
    if recipe != 2:
        raise ValueError(f"unknown hash recipe {recipe!r}: expected one of {HASH_RECIPES}")
    total = sum(int.from_bytes(hashlib.sha256(line.encode("utf-8")).digest(), "big") for line in lines)
    return f"{total % (1 << 256):064x}"


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def current_release(conn, app: str) -> dict | None:
    """The current release as the app sees it (metadata only), or None before the first release."""
    _check_app(app)
    with conn.cursor() as cur:
        cur.execute(
            pgsql.SQL(
                """
            select r.release_id, r.created_at, r.as_of, r.row_count, r.content_sha256, m.{sha},
                   m.published_at, m.rule_set, m.hash_recipe
            from publish.release as r inner join publish.release_meta as m using (release_id)
            where r.is_current
            """
            ).format(sha=pgsql.Identifier(_sha_column(app))),
            {"app": app},
        )
        row = cur.fetchone()
        if row is None:
            return None
        cur.execute(
            """
            select coalesce(max(release_id), 0) from publish.release_meta
            where published_at is not null and pruned_at is not null
            """
        )
        pruned_below = cur.fetchone()[0]
    release_id, created_at, as_of, row_count, content_sha, view_sha, published_at, rule_set, recipe = row
    return {
        "app": app,
        "release_id": release_id,
        "created_at": _iso(created_at),
        "as_of": _iso(as_of),
        "published_at": _iso(published_at),
        "rule_set": rule_set,
        "row_count": row_count,
        "content_sha256": content_sha,
        "view_sha256": view_sha,
        "hash_recipe": recipe,  # how view_sha256 is computed (docs/sync-api.md, "Hashes")
        # a delta since a release older than this is gone (410): sync from 0
        "oldest_delta_base": pruned_below,
    }


def etag(release: dict) -> str:
    return f'"{release["release_id"]}-{release["view_sha256"][:16]}"'


def delta_page(
    conn, app: str, *, since: int, to: int | None = None, after: str = "", limit: int = 1000
) -> dict:
    """One page of the changes from release ``since`` (0: everything) to release ``to`` (default: current).

    ``changes`` holds ``{"op": "upsert", "row": {...}}`` or ``{"op": "delete", "citizen_id": ...}`` in
    citizen_id order; ``next_after`` is the cursor of the next page, or None on the last page.
    """
    _check_app(app)
    if since < 0 or limit < 1:
        raise ValueError("since must be >= 0 and limit >= 1")
    limit = min(limit, MAX_PAGE)
    with conn.cursor() as cur:
        if to is None:
            cur.execute("select release_id from publish.release where is_current")
            row = cur.fetchone()
            if row is None:
                raise NotFound("no release has been published yet")
            to = row[0]
        cur.execute(
            pgsql.SQL(
                """
            select r.as_of, m.published_at, m.pruned_at, m.{sha}, m.hash_recipe
            from publish.release as r inner join publish.release_meta as m using (release_id)
            where r.release_id = %(release_id)s
            """
            ).format(sha=pgsql.Identifier(_sha_column(app))),
            {"app": app, "release_id": to},
        )
        target = cur.fetchone()
        if target is None or target[1] is None:
            raise NotFound(f"release {to} was never published")
        if target[2] is not None:
            raise Gone(f"release {to} has been pruned: sync from the current release")
        if since > to:
            raise ValueError(f"since ({since}) is after release {to}")
        if since:
            cur.execute("select published_at from publish.release_meta where release_id = %s", (since,))
            base = cur.fetchone()
            if base is None or base[0] is None:
                raise NotFound(f"release {since} was never published")
            cur.execute(
                """
                select count(*) from publish.release_meta
                where published_at is not null and pruned_at is not null and release_id > %s and release_id <= %s
                """,
                (since, to),
            )
            if cur.fetchone()[0]:
                raise Gone(f"the deltas after release {since} have been pruned: sync from 0")
        cur.execute(
            sql("delta"),
            {"app": app, "release_id": to, "since_release_id": since, "after": after, "page_size": limit + 1},
        )
        names = [d.name for d in cur.description]
        rows = cur.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    changes = []
    for values in rows:
        record = dict(zip(names, values, strict=True))
        if record.pop("present"):
            changes.append(
                {
                    "op": "upsert",
                    "citizen_id": record["citizen_id"],
                    "row": {f: record[f] for f in FIELDS[app]},
                }
            )
        else:
            changes.append({"op": "delete", "citizen_id": record["citizen_id"]})
    return {
        "app": app,
        "since": since,
        "release_id": to,
        "as_of": _iso(target[0]),
        "view_sha256": target[3],
        "hash_recipe": target[4],
        "changes": changes,
        "next_after": rows[-1][0] if more else None,
    }


def acknowledge(conn, app: str, release_id: int, view_sha256: str, hash_recipe: int | None = None) -> dict:
    """Record that ``app`` applied ``release_id`` and that its copy hashes to ``view_sha256``.

    The hash is compared with the release's, made with the release's ``hash_recipe``; an app that says it
    hashed with another recipe (``hash_recipe``) does not match (its copy may be right: it hashes it again
    with the release's recipe, which the answer gives)."""
    _check_app(app)
    with conn, conn.cursor() as cur:
        cur.execute(
            pgsql.SQL(
                "select m.{sha}, m.hash_recipe from publish.release_meta as m where m.release_id = %(release_id)s"
            ).format(sha=pgsql.Identifier(_sha_column(app))),
            {"app": app, "release_id": release_id},
        )
        row = cur.fetchone()
        if row is None or row[0] is None:
            raise NotFound(f"release {release_id} was never published")
        matches = row[0] == view_sha256 and hash_recipe in (None, row[1])
        cur.execute(
            """
            insert into publish.app_ack (app, release_id, view_sha256, hash_matches)
            values (%s, %s, %s, %s) returning acked_at
            """,
            (app, release_id, view_sha256, matches),
        )
        acked_at = cur.fetchone()[0]
    return {
        "app": app,
        "release_id": release_id,
        "hash_matches": matches,
        "hash_recipe": row[1],
        "acked_at": _iso(acked_at),
    }


def reconcile(conn, *, max_lag_minutes: float | None = None, now: dt.datetime | None = None) -> dict:
    """Compare each app's latest acknowledgement with the releases; alert (``ops.alert``) when it is off.

    ``sync_behind``: the app has not acknowledged the current release ``max_lag_minutes`` after it was
    published (``COVIDSYNC_SYNC_MAX_LAG_MINUTES``). ``sync_hash_mismatch``: its latest acknowledgement
    reports a hash other than the release's. An alert closes when the app is in step again.
    """
    lag = dt.timedelta(
        minutes=settings.sync_max_lag_minutes() if max_lag_minutes is None else max_lag_minutes
    )
    summary: dict = {}
    with conn, conn.cursor() as cur:
        cur.execute("select coalesce(%s, now())", (now,))
        now = cur.fetchone()[0]
        cur.execute(
            """
            select r.release_id, m.published_at from publish.release as r
            inner join publish.release_meta as m using (release_id) where r.is_current
            """
        )
        current = cur.fetchone()
        for app in APPS:
            cur.execute(
                """
                select release_id, hash_matches, acked_at from publish.app_ack
                where app = %s order by acked_at desc, ack_id desc limit 1
                """,
                (app,),
            )
            ack = cur.fetchone()
            state = {"acked_release_id": ack[0] if ack else None, "hash_matches": ack[1] if ack else None}
            if current is None:
                summary[app] = {**state, "state": "no_release"}
                continue
            in_release = ack is not None and ack[0] == current[0]
            behind = not in_release and now - current[1] > lag
            mismatch = ack is not None and not ack[1]
            if behind:
                alerts.raise_alert(
                    cur, "sync_behind", app,
                    f"{app} last acknowledged release {state['acked_release_id']}; release {current[0]} is "
                    f"current since {current[1].isoformat()} (over {lag} ago)",
                )  # fmt: skip
            elif in_release:
                alerts.resolve_alerts(cur, "sync_behind", app)
            if mismatch:
                alerts.raise_alert(
                    cur, "sync_hash_mismatch", app,
                    f"{app} acknowledged release {ack[0]} with a hash other than the release's: its copy differs",
                )  # fmt: skip
            elif ack is not None:
                alerts.resolve_alerts(cur, "sync_hash_mismatch", app)
            label = (
                "hash_mismatch"
                if mismatch
                else "behind"
                if behind
                else "in_step"
                if in_release
                else "syncing"
            )
            summary[app] = {**state, "state": label}
        summary["current_release_id"] = current[0] if current else None
    return summary
