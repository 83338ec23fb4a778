"""PC-Covid adoption and QR compliance (contract docs/contract/adoption.md): storing the two feeds, and
monitoring the districts.

- The two feeds, ``landing/pccovid/app_users/`` and ``landing/registry/population.csv``, reach
  ``core.app_user_count`` and ``core.area_population`` through the ingest engine like every dataset (dataset
  specs ``covidsync.ingest.datasets.app_users`` and ``population``; row codes of adoption.md §3; a (day, area)
  or (area, year) sent again with other figures replaces the earlier ones, which move to the history table).
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

import datetime as dt
import logging
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


def _write_csv(path: Path, rows: list[tuple]) -> None:
    from covidsync.ingest.sender_report import _atomic_write

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
