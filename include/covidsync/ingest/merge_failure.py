"""A file whose merge fails ends in a state with a report (issue 17, item 4).

Before: a merge that failed in the database (``out of shared memory`` for a check-ins file of 1,500 days:
``max_locks_per_transaction``) left the file ``validated`` with no report, and every later run failed on it
again. Now the failed merge is rolled back whole (nothing of the file is in ``core``), the file is
``rejected`` with the file code ``merge_failed`` (its report says so, the file goes to the rejected area,
staging is cleared), an ``ops.alert`` of kind ``merge_failed`` names the file, and the run goes on with its
other files. The operator fixes the cause and runs ``covidsync files reprocess`` (docs/runbook.md).

Only a database error of the merge is taken this way, and only while the connection still works: a lost
connection (a killed server, a network cut) is raised as before, and the file is resumed by the next run.
The recorded reason is the error's class and SQLSTATE, never its message (a message or detail can quote a
value of a row).
"""

from __future__ import annotations

import logging

import psycopg2

log = logging.getLogger(__name__)

ALERT_KIND = "merge_failed"


def record(conn, f, exc: BaseException) -> bool:
    """Record ``f``'s failed merge as ``rejected``/``merge_failed``; False when it cannot be (not a
    database error, or the connection is gone): the caller raises ``exc`` again."""
    from covidsync.ingest.engine import set_status

    if not isinstance(exc, psycopg2.Error) or conn.closed:
        return False
    try:
        conn.rollback()
    except psycopg2.Error:
        return False
    state = getattr(exc, "pgcode", None) or "none"
    reason = f"merge_failed: {type(exc).__name__} (SQLSTATE {state}) while merging; nothing was loaded"
    try:
        from covidsync.publish import alerts

        with conn, conn.cursor() as cur:
            cur.execute("select status from ops.landing_file where file_id = %s for update", (f.file_id,))
            if cur.fetchone()[0] != "validated":  # the merge committed after all, or another worker took it
                return False
            cur.execute(
                "update ops.landing_file set final_path = %s, file_codes = %s where file_id = %s",
                (str(f.rejected_path), ["merge_failed"], f.file_id),
            )
            set_status(cur, f.file_id, "rejected", reason=reason, rows_loaded=0)
            alerts.raise_alert(
                cur,
                ALERT_KIND,
                f"landing_file:{f.file_id}",
                f"file {f.file_id} ({f.facility_code}/{f.dataset}) failed in merge: {type(exc).__name__} "
                f"(SQLSTATE {state}); fix the cause, then `covidsync files reprocess {f.file_id} --reason ...`",
            )
    except psycopg2.Error:
        conn.rollback()
        return False
    log.error(
        "file %s failed in merge (%s, SQLSTATE %s): rejected with merge_failed",
        f.file_id,
        type(exc).__name__,
        state,
    )
    return True
