"""What the DAGs' tasks do, as plain functions: each resolves the warehouse, does its work, and returns
a small summary (counts and ids only: XCom never carries rows or personal data).

Inside Airflow the warehouse comes from the connection ``covidsync_warehouse``; elsewhere (tests, the
CLI) from ``COVIDSYNC_WAREHOUSE_URL`` or the embedded server.
"""

from __future__ import annotations

import logging
import os

from covidsync import db, settings

log = logging.getLogger(__name__)


def warehouse_url() -> str:
    """The Airflow connection inside a task; ``COVIDSYNC_WAREHOUSE_URL`` or the embedded server elsewhere."""
    if os.environ.get("AIRFLOW_CTX_DAG_ID"):
        return db.airflow_url(settings.WAREHOUSE_CONN_ID)
    from covidsync import warehouse

    return warehouse.resolve_url(start=False)


def register_landing_files(scope: str) -> dict:
    from covidsync.ingest import landing

    conn = db.connect(warehouse_url())
    try:
        with conn:
            registry = landing.load_registry(conn)
        registration = landing.register(conn, scope=scope)
    finally:
        conn.close()
    summary = {
        "facilities": registry.facilities,
        "registry_changed": registry.changed,
        "pending_file_ids": registration.pending,
        "rejected": registration.rejected,
        "duplicates": registration.duplicates,
    }
    log.info(
        "registered landing files: %d pending, %d rejected, %d duplicates",
        len(registration.pending),
        registration.rejected,
        registration.duplicates,
    )
    return summary


def process_landing_file(file_id: int) -> dict:
    """Parse, validate, gate, merge and report one registered facility file (counts only come back)."""
    from covidsync.ingest import pipeline

    conn = db.connect(warehouse_url())
    try:
        return pipeline.process_file(conn, file_id)
    finally:
        conn.close()


def summarise_ingest(results: list[dict | None]) -> dict:
    """Totals of a run's files, and the Data Docs site rebuilt once for the run."""
    from covidsync.ingest import gate

    done = [r for r in results if r]
    totals: dict[str, int] = {}
    for result in done:
        totals[result["status"]] = totals.get(result["status"], 0) + 1
    docs = gate.build_data_docs()
    log.info("ingest run: %d files %s; data docs at %s", len(done), totals, docs)
    return {"files": len(done), "by_status": totals, "data_docs": str(docs)}


def build_health_status(logical_date, full: bool = False, rule_set: str | None = None) -> dict:
    """Identity, doses, F0, tracing and status as of the end of the run's local day (contract §1): the
    logical date's day, or today (local) for a run without one (triggered by an asset event)."""
    from covidsync.status import build

    if logical_date is None:
        day = build.current_day()
    else:
        import pendulum

        day = pendulum.instance(logical_date).in_timezone(settings.LOCAL_TZ).date()
    conn = db.connect(warehouse_url())
    try:
        return build.build(conn, build.as_of_for(day), rule_set, full=full).as_dict()
    finally:
        conn.close()


def report_identity_reviews(summary: dict) -> dict:
    """Counts of the identity conflicts waiting for a decision (never the identifiers)."""
    conn = db.connect(warehouse_url())
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select kind, count(*) from derived.identity_review where status = 'open' group by kind"
            )
            open_items = dict(cur.fetchall())
        conn.rollback()
    finally:
        conn.close()
    if open_items:
        log.warning("identity conflicts wait for review (covidsync review list): %s", open_items)
    return {"open_reviews": open_items, "as_of": summary.get("as_of")}
