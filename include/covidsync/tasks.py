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


def group_landing_files(file_ids: list[int]) -> list[list[int]]:
    """A run's registered files in groups (per facility, then by size; covidsync.ingest.engine.groups)."""
    from covidsync.ingest import engine

    conn = db.connect(warehouse_url())
    try:
        grouped = engine.groups(conn, file_ids)
    finally:
        conn.close()
    log.info("%d files in %d groups", len(file_ids), len(grouped))
    return grouped


def process_landing_group(file_ids: list[int]) -> list[dict]:
    """One group of registered facility files, each with its own status, merge and reports, and one Data
    Docs update for the group (counts only come back)."""
    from covidsync.ingest import engine, pipeline

    conn = db.connect(warehouse_url())
    try:
        return engine.process_group(conn, file_ids, datasets=pipeline.DATASETS)
    finally:
        conn.close()


def summarise_ingest(results: list) -> dict:
    """Totals of a run's files (each result a file's summary, or a group's list of them), and the Data
    Docs index rebuilt once for the run (the files' own pages were rendered by their groups)."""
    from covidsync.ingest import gate

    flat: list = []
    for result in results:
        flat.extend(result if isinstance(result, list) else [result])
    done = [r for r in flat if r]
    totals: dict[str, int] = {}
    for result in done:
        totals[result["status"]] = totals.get(result["status"], 0) + 1
    docs = gate.build_data_docs(validation_pages=False)
    log.info("ingest run: %d files %s; data docs at %s", len(done), totals, docs)
    return {"files": len(done), "by_status": totals, "data_docs": str(docs)}


def list_api_sources() -> list[int]:
    """The ids of the enabled API sources (contract §8), one mapped pull each."""
    from covidsync.ingest import api_pull

    conn = db.connect(warehouse_url())
    try:
        ids = [s.source_id for s in api_pull.list_sources(conn, enabled_only=True)]
    finally:
        conn.close()
    log.info("API sources to pull: %d", len(ids))
    return ids


def pull_api_source(source_id: int) -> dict:
    """Pull one API source into a batch and take it through the file pipeline (counts and ids come back).

    A refused token raises ``ApiAuthError``, an ``AirflowFailException``: the task fails without retries.
    """
    from covidsync.ingest import api_pull

    conn = db.connect(warehouse_url())
    try:
        return api_pull.pull_source(conn, source_id)
    finally:
        conn.close()


def refresh_marts(as_of_day: str, names: tuple[str, ...] | None = None) -> dict:
    """Rebuild the BI marts and facility scorecards as of a local day (rows per mart come back)."""
    import datetime as dt

    from covidsync.marts import refresh

    conn = db.connect(warehouse_url())
    try:
        counts = refresh.refresh(conn, dt.date.fromisoformat(as_of_day), names=names or refresh.ALL)
    finally:
        conn.close()
    return {"as_of_day": as_of_day, "rows": counts}


def check_facility_reporting(day: str) -> dict:
    """Raise the day's facility reporting alerts (ops.alert) and write reminders to the outboxes."""
    import datetime as dt

    from covidsync.marts import facility

    conn = db.connect(warehouse_url())
    try:
        return facility.check_reporting(
            conn, dt.date.fromisoformat(day), settings.outbox_dir(), settings.reporting_cutoff()
        )
    finally:
        conn.close()


def check_venue_compliance(day: str) -> dict:
    """Refresh the adoption and QR-compliance marts for a local day, write each district's silent venues to
    its outbox and raise the low-compliance alerts (adoption.md; counts and district codes come back)."""
    import datetime as dt

    from covidsync.marts import adoption, refresh

    conn = db.connect(warehouse_url())
    try:
        refresh.refresh(conn, dt.date.fromisoformat(day), names=refresh.ADOPTION)
        return adoption.monitor(conn, dt.date.fromisoformat(day), settings.outbox_dir())
    finally:
        conn.close()


def refresh_commune_worklists() -> dict:
    """Rebuild the commune work lists (publish.commune_arrival_row) from derived.arrival (count comes back)."""
    from covidsync import communes

    conn = db.connect(warehouse_url())
    try:
        return {"open_arrivals": communes.refresh_worklists(conn)}
    finally:
        conn.close()


def write_commune_worklists(day: str) -> dict:
    """Refresh the commune work lists, then write each commune's open arrivals to its outbox (arrivals.md §3;
    counts only come back)."""
    import datetime as dt

    from covidsync import communes

    conn = db.connect(warehouse_url())
    try:
        communes.refresh_worklists(conn)
        return communes.write_worklists(conn, dt.date.fromisoformat(day), settings.outbox_dir())
    finally:
        conn.close()


def export_scorecards(day: str) -> dict:
    """Write each facility's scorecard for the month of ``day`` to its outbox."""
    import datetime as dt

    from covidsync.marts import facility

    conn = db.connect(warehouse_url())
    try:
        written = facility.export_scorecards(conn, settings.outbox_dir(), dt.date.fromisoformat(day))
    finally:
        conn.close()
    return {"month": day[:7], "facilities": written}


def notify_alerts(context: dict | None = None) -> dict:
    """Deliver pending alerts through :class:`covidsync.marts.notify.AlertNotifier` (webhook / e-mail)."""
    from covidsync.marts.notify import AlertNotifier

    notifier = AlertNotifier(warehouse_url=warehouse_url())
    notifier(context or {})
    return {"delivered": notifier.delivered}


def render_daily_report(day: str) -> dict:
    """Render the static daily HTML report for a local day; its path comes back."""
    import datetime as dt

    from covidsync.marts import report

    conn = db.connect(warehouse_url())
    try:
        path = report.render(conn, dt.date.fromisoformat(day), settings.report_dir())
    finally:
        conn.close()
    return {"report": str(path)}


def run_local_day(context) -> str:
    """The local day (Asia/Ho_Chi_Minh, ISO) a DAG run is about: its logical date, else when it was due."""
    import pendulum

    when = context.get("logical_date") or context["dag_run"].run_after
    return pendulum.instance(when).in_timezone(settings.LOCAL_TZ).date().isoformat()


# -- ingest_checkins ---------------------------------------------------------------------------------
def register_pccovid_files() -> dict:
    """Register ``pccovid/``; the pending files split by dataset, each in the order received."""
    from covidsync.ingest import checkins

    summary = register_landing_files(scope="pccovid")
    conn = db.connect(warehouse_url())
    try:
        pending = checkins.pending_by_dataset(conn, summary["pending_file_ids"])
    finally:
        conn.close()
    return {**pending, "rejected": summary["rejected"], "duplicates": summary["duplicates"]}


def process_pccovid_files(file_ids: list[int]) -> list[dict]:
    """Ingest PC-Covid files one after the other, in the order given (venues: each can update the last)."""
    from covidsync.ingest import checkins

    conn = db.connect(warehouse_url())
    try:
        return [checkins.ingest_file(conn, file_id) for file_id in file_ids]
    finally:
        conn.close()


def process_checkin_file(file_id: int) -> dict:
    """Parse, validate, gate, merge and report one check-ins file (counts only come back)."""
    return process_pccovid_files([file_id])[0]


def maintain_checkin_partitions(day: str) -> dict:
    """Check-in partitions made ahead of the local ``day`` (YYYY-MM-DD); those past retention dropped."""
    import datetime as dt

    from covidsync.ingest import checkins

    conn = db.connect(warehouse_url())
    try:
        result = checkins.maintain_partitions(conn, dt.date.fromisoformat(day))
    finally:
        conn.close()
    log.info(
        "check-in partitions: %d ensured, %d dropped",
        result["partitions_ensured"],
        len(result["partitions_dropped"]),
    )
    return result


def process_declaration_file(file_id: int) -> dict:
    """Parse, validate, gate, merge and report one declarations file (issue 24; counts only come back)."""
    return process_pccovid_files([file_id])[0]


def load_arrival_registries() -> dict:
    """Read the new risk-level files and arrival-measures matrix (issue 24); counts by status come back."""
    from covidsync.ingest import registry_arrivals

    conn = db.connect(warehouse_url())
    try:
        outcomes = registry_arrivals.load_registries(conn)
    finally:
        conn.close()
    by_status: dict[str, int] = {}
    for outcome in outcomes:
        by_status[outcome["status"]] = by_status.get(outcome["status"], 0) + 1
    return {"files": len(outcomes), "by_status": by_status}


def summarise_checkins(results: list) -> dict:
    """Totals of a run's PC-Covid files (venues and check-ins)."""
    done: list[dict] = []
    for result in results:
        if isinstance(result, list):
            done.extend(r for r in result if r)
        elif result:
            done.append(result)
    totals: dict[str, int] = {}
    for result in done:
        totals[result["status"]] = totals.get(result["status"], 0) + 1
    loaded = sum(r.get("rows_loaded", 0) for r in done if r.get("dataset") == "checkins")
    declarations = sum(r.get("rows_loaded", 0) for r in done if r.get("dataset") == "declarations")
    log.info(
        "ingest_checkins run: %d files %s, %d check-ins and %d declarations loaded",
        len(done),
        totals,
        loaded,
        declarations,
    )
    return {
        "files": len(done),
        "by_status": totals,
        "checkins_loaded": loaded,
        "declarations_loaded": declarations,
    }


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
