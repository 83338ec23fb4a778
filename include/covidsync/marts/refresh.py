"""Rebuild the marts: each ``sql/marts/<table>.sql`` deletes its table's rows and inserts them again.

All of a refresh runs in one transaction under an advisory lock, so readers see the old marts or the new
ones, never half, and two refreshes never interleave. Every mart is a pure function of the layers it reads
(and of ``as_of_day`` and the cut-off for the scorecards), so refreshing twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging

from covidsync import settings, sqlfiles

log = logging.getLogger(__name__)

_LOCK_KEY = 0x6D617274  # "mart"

# The analysts' marts, then the facility scorecards (the month reads the day: order matters).
MARTS = (
    "vaccination_coverage",
    "test_positivity",
    "checkin_volume",
    "contact_candidate_count",
    "status_distribution",
)
# PC-Covid adoption and QR compliance (adoption.md §2; covidsync.marts.adoption)
ADOPTION = ("app_adoption", "venue_compliance_day", "silent_venue", "population_scanning")
SCORECARDS = ("facility_reporting_day", "facility_rejection_day", "facility_reporting_month")
# arrivals into the province (arrivals.md §3; issue 24): read derived.arrival / arrival_followup
ARRIVALS = ("arrival_day", "arrival_declaration_coverage", "arrival_followup_week", "arrival_flag_day")
ALL = MARTS + ADOPTION + SCORECARDS + ARRIVALS


def sql(name: str) -> str:
    """``sql/marts/<name>.sql`` (:func:`covidsync.sqlfiles.load`)."""
    return sqlfiles.load("marts", name)


def _rule_set() -> str:
    from covidsync.status import rules

    return rules.get().name


def refresh(conn, as_of_day: dt.date, *, cutoff: str | None = None, names=ALL) -> dict[str, int]:
    """Rebuild the named marts in one transaction; returns rows per mart (counts only)."""
    params = {
        "as_of_day": as_of_day,
        "cutoff": cutoff or settings.reporting_cutoff(),
        "silent_days": settings.silent_venue_days(),
        "rule_set": _rule_set(),
    }
    counts: dict[str, int] = {}
    with conn, conn.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        for name in names:
            cur.execute(sql(name), params)
            counts[name] = cur.rowcount
    log.info("marts refreshed as of %s: %s", as_of_day, counts)
    return counts
