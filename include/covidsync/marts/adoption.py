"""PC-Covid adoption and QR compliance (contract docs/contract/adoption.md): storing the two feeds, and
monitoring the districts.

- :func:`store_app_user_counts` and :func:`store_population` write the app operator's counts and the
  population registry into ``core`` set-based (COPY into a temporary table, then one statement each): a
  (day, area) or (area, year) sent again with other figures replaces the earlier ones, which move to the
  history table (latest file wins, history kept). The file ingest of ``landing/pccovid/app_users/`` and
  ``landing/registry/population.csv`` is a dataset spec of the ingest engine, added with it; it is meant to
  call these.
- The marts (``sql/marts/app_adoption.sql``, ``venue_compliance_day.sql``, ``silent_venue.sql``,
  ``population_scanning.sql``) are refreshed with the others (:data:`covidsync.marts.refresh.ADOPTION`).
- :func:`monitor`: each district's silent venues in ``<outbox>/districts/<district>/silent-venues-<day>.csv``
  (every district with registered venues gets its file, empty but for the header when none is silent), and an
  alert ``district_venue_compliance_low`` (``ops.alert``, subject ``district:<code>:<day>``) when a district's
  share of venues scanning that day is under ``COVIDSYNC_MIN_VENUE_COMPLIANCE``: raised once per district and
  day, whatever the reruns; delivered by the alert channels (``covidsync.marts.notify``: webhook, e-mail).

Venue data (name, address) is not personal; no person appears in any of it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from collections.abc import Iterable
from pathlib import Path

from covidsync import settings, textsafe

log = logging.getLogger(__name__)

ALERT_KIND = "district_venue_compliance_low"
SILENT_COLUMNS = (
    "venue_code",
    "venue_type",
    "name",
    "address",
    "commune_code",
    "last_scan_day",
    "silent_days",
)
_SILENT_SELECT = "venue_code, venue_type, name, location, commune_code, last_scan_day, silent_days"


def _copy(cur, table: str, columns: tuple[str, ...], rows: Iterable[tuple]) -> int:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    n = 0
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
        n += 1
    buf.seek(0)
    cur.copy_expert(f"copy {table} ({', '.join(columns)}) from stdin with (format csv)", buf)
    return n


def store_app_user_counts(conn, rows: Iterable[tuple], *, file_id: int | None = None) -> dict:
    """Store ``(day, area_code, registered_users, active_users_7d)`` rows (already checked); latest wins.

    Returns counts: rows given, inserted, replaced (their earlier figures kept in the history), unchanged.
    """
    with conn, conn.cursor() as cur:
        cur.execute(
            "create temp table app_user_in (day date, area_code text, registered_users integer,"
            " active_users_7d integer) on commit drop"
        )
        given = _copy(cur, "app_user_in", ("day", "area_code", "registered_users", "active_users_7d"), rows)
        cur.execute(
            """
            insert into core.app_user_count_history (
                day, area_code, registered_users, active_users_7d, source_file_id, loaded_at, replaced_by_file_id
            )
            select a.day, a.area_code, a.registered_users, a.active_users_7d, a.source_file_id, a.loaded_at, %s
            from core.app_user_count as a
            inner join app_user_in as i on a.day = i.day and a.area_code = i.area_code
            where (a.registered_users, a.active_users_7d) is distinct from (i.registered_users, i.active_users_7d)
            """,
            (file_id,),
        )
        replaced = cur.rowcount
        cur.execute(
            """
            insert into core.app_user_count (day, area_code, registered_users, active_users_7d, source_file_id)
            select day, area_code, registered_users, active_users_7d, %s from app_user_in
            on conflict (day, area_code) do update
            set registered_users = excluded.registered_users, active_users_7d = excluded.active_users_7d,
                source_file_id = excluded.source_file_id, loaded_at = now()
            where (core.app_user_count.registered_users, core.app_user_count.active_users_7d)
                is distinct from (excluded.registered_users, excluded.active_users_7d)
            """,
            (file_id,),
        )
        written = cur.rowcount
    return {"rows": given, "inserted": written - replaced, "replaced": replaced, "unchanged": given - written}


def store_population(conn, rows: Iterable[tuple], *, file_id: int | None = None) -> dict:
    """Store ``(area_code, year, population, smartphone_owners or None, source)`` rows; latest wins."""
    with conn, conn.cursor() as cur:
        cur.execute(
            "create temp table population_in (area_code text, year integer, population integer,"
            " smartphone_owners integer, source text) on commit drop"
        )
        given = _copy(
            cur, "population_in", ("area_code", "year", "population", "smartphone_owners", "source"), rows
        )
        cur.execute(
            """
            insert into core.area_population_history (
                area_code, year, population, smartphone_owners, source, source_file_id, loaded_at,
                replaced_by_file_id
            )
            select a.area_code, a.year, a.population, a.smartphone_owners, a.source, a.source_file_id, a.loaded_at, %s
            from core.area_population as a
            inner join population_in as i on a.area_code = i.area_code and a.year = i.year
            where (a.population, a.smartphone_owners, a.source)
                is distinct from (i.population, i.smartphone_owners, i.source)
            """,
            (file_id,),
        )
        replaced = cur.rowcount
        cur.execute(
            """
            insert into core.area_population (area_code, year, population, smartphone_owners, source, source_file_id)
            select area_code, year, population, smartphone_owners, source, %s from population_in
            on conflict (area_code, year) do update
            set population = excluded.population, smartphone_owners = excluded.smartphone_owners,
                source = excluded.source, source_file_id = excluded.source_file_id, loaded_at = now()
            where (core.area_population.population, core.area_population.smartphone_owners,
                   core.area_population.source)
                is distinct from (excluded.population, excluded.smartphone_owners, excluded.source)
            """,
            (file_id,),
        )
        written = cur.rowcount
    return {"rows": given, "inserted": written - replaced, "replaced": replaced, "unchanged": given - written}


def _write_csv(path: Path, rows: list[tuple]) -> None:
    from covidsync.ingest.report import _atomic_write

    def write(fh) -> None:
        writer = textsafe.writer(fh, lineterminator="\n")  # issue 17: formula-like cells neutralised
        writer.writerow(SILENT_COLUMNS)
        writer.writerows(["" if v is None else v for v in row] for row in rows)

    _atomic_write(path, write)


def monitor(conn, day: dt.date, outbox: Path, *, min_compliance: float | None = None) -> dict:
    """Write each district's silent-venue list for ``day`` and raise the day's low-compliance alerts.

    Reads ``mart.silent_venue`` and ``mart.venue_compliance_day`` (refresh the marts first). Returns counts
    and district codes only.
    """
    threshold = settings.min_venue_compliance() if min_compliance is None else min_compliance
    with conn.cursor() as cur:
        cur.execute(
            "select distinct district_code from mart.venue_compliance_day where day = %s order by 1", (day,)
        )
        districts = [r[0] for r in cur.fetchall()]
        cur.execute(
            f"select district_code, {_SILENT_SELECT} from mart.silent_venue"  # noqa: S608 - constants
            " where as_of_day = %s order by district_code, silent_days desc, venue_code",
            (day,),
        )
        silent: dict[str, list[tuple]] = {}
        for district, *row in cur.fetchall():
            silent.setdefault(district, []).append(tuple(row))
        cur.execute(
            """
            select district_code, registered_venues, active_venues, compliance_share
            from mart.venue_compliance_day
            where day = %s and commune_code = 'all' and venue_type = 'all' and compliance_share < %s
            order by district_code
            """,
            (day, threshold),
        )
        low = cur.fetchall()
    conn.rollback()
    for district in sorted(set(districts) | set(silent)):
        _write_csv(
            outbox / "districts" / district / f"silent-venues-{day.isoformat()}.csv", silent.get(district, [])
        )
    raised = []
    with conn, conn.cursor() as cur:
        for district, registered, active, share in low:
            subject = f"district:{district}:{day.isoformat()}"
            message = (
                f"district {district}: {active} of {registered} venues scanned visitors on {day.isoformat()} "
                f"({float(share):.0%}), under the {threshold:.0%} required; "
                f"{len(silent.get(district, []))} venues silent for {settings.silent_venue_days()}+ days"
            )
            cur.execute(  # once per district and day: a resolved alert is not raised again on a rerun
                """
                insert into ops.alert (kind, subject, message)
                select %(kind)s, %(subject)s, %(message)s
                where not exists (select from ops.alert where kind = %(kind)s and subject = %(subject)s)
                returning alert_id
                """,
                {"kind": ALERT_KIND, "subject": subject, "message": message},
            )
            if cur.fetchone():
                raised.append(district)
    log.info(
        "venue compliance on %s: %d districts, %d under %.2f (%d alerts raised), %d silent venues",
        day, len(districts), len(low), threshold, len(raised), sum(len(v) for v in silent.values()),
    )  # fmt: skip
    return {
        "day": day.isoformat(),
        "districts": len(set(districts) | set(silent)),
        "silent_venues": {d: len(v) for d, v in sorted(silent.items())},
        "low_compliance": [d for d, *_ in low],
        "raised": raised,
    }
