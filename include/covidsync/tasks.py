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
        "held": registration.skipped_held,
    }
    log.info(
        "registered landing files: %d pending, %d rejected, %d duplicates, %d held",
        len(registration.pending), registration.rejected, registration.duplicates, registration.skipped_held,
    )
    return summary
