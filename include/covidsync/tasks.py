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


# --- publish_shared_datasets ------------------------------------------------------------------------------


def publish_shared_release() -> dict:
    """Publish the statuses as a new release when they changed (counts and ids only come back)."""
    from covidsync.publish import release

    conn = db.connect(warehouse_url())
    try:
        result = release.publish_release(conn)
    finally:
        conn.close()
    log.info(
        "publish: %s (release %s, current %s)",
        result["status"],
        result["release_id"],
        result["current_release_id"],
    )
    return {k: v for k, v in result.items() if k != "failed"} | {"failed": len(result.get("failed", []))}


def prune_releases() -> dict:
    from covidsync.publish import release

    conn = db.connect(warehouse_url())
    try:
        return release.prune(conn)
    finally:
        conn.close()


def reconcile_apps() -> dict:
    """Compare the apps' acknowledgements with the current release; alerts go to ops.alert."""
    from covidsync.publish import sync

    conn = db.connect(warehouse_url())
    try:
        summary = sync.reconcile(conn)
    finally:
        conn.close()
    log.info("reconciliation: %s", {k: v["state"] if isinstance(v, dict) else v for k, v in summary.items()})
    return summary
