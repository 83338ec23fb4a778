"""What the DAGs' tasks do, as plain functions: each resolves the warehouse, does its work, and returns
a small summary (counts and ids only: XCom never carries rows or personal data).

Inside Airflow the warehouse comes from the connection ``covidsync_warehouse``; elsewhere (tests, the
CLI) from ``COVIDSYNC_WAREHOUSE_URL`` or the embedded server.
"""

from __future__ import annotations

import logging

from covidsync import db, settings
from covidsync.db import warehouse_url  # task functions written before db.session() call it

log = logging.getLogger(__name__)


def register_landing_files(scope: str) -> dict:
    from covidsync.ingest import landing

    with db.session() as conn:
        with conn:
            registry = landing.load_registry(conn)
        registration = landing.register(conn, scope=scope)
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

    with db.session() as conn:
        return pipeline.process_file(conn, file_id)


def group_landing_files(file_ids: list[int]) -> list[list[int]]:
    """A run's registered files in groups (per facility, then by size; covidsync.ingest.engine.groups)."""
    from covidsync.ingest import engine

    with db.session() as conn:
        grouped = engine.groups(conn, file_ids)
    log.info("%d files in %d groups", len(file_ids), len(grouped))
    return grouped


def process_landing_group(file_ids: list[int]) -> list[dict]:
    """One group of registered facility files, each with its own status, merge and reports, and one Data
    Docs update for the group (counts only come back)."""
    from covidsync.ingest import engine, pipeline

    with db.session() as conn:
        return engine.process_group(conn, file_ids, datasets=pipeline.FACILITY_DATASETS)


def landing_files_label(file_ids: list[int]) -> str:
    """What the UI shows for a mapped per-file or per-group task: the first file's name, and how many more."""
    ids = list(file_ids)
    if not ids:
        return "no files"
    with db.session() as conn, conn.cursor() as cur:
        cur.execute("select original_name from ops.landing_file where file_id = %s", (ids[0],))
        row = cur.fetchone()
    first = row[0] if row else f"file {ids[0]}"
    return first if len(ids) == 1 else f"{first} (+{len(ids) - 1} more)"


def api_source_label(source_id: int) -> str:
    """What the UI shows for a mapped API pull: the source's facility and dataset."""
    from covidsync.ingest import api_pull

    with db.session() as conn:
        source = api_pull.get_source(conn, source_id)
    return f"{source.facility_code} {source.dataset}"


def summarise_ingest(results: list) -> dict:
    """Totals of a run's files (each result a file's summary, or a group's list of them), and the Data
    Docs index rebuilt once for the run (the files' own pages were rendered by their groups)."""
    from covidsync.ingest import batch_gate

    flat: list = []
    for result in results:
        flat.extend(result if isinstance(result, list) else [result])
    done = [r for r in flat if r]
    totals: dict[str, int] = {}
    for result in done:
        totals[result["status"]] = totals.get(result["status"], 0) + 1
    docs = batch_gate.build_data_docs(validation_pages=False)
    log.info("ingest run: %d files %s; data docs at %s", len(done), totals, docs)
    return {"files": len(done), "by_status": totals, "data_docs": str(docs)}


def list_api_sources() -> list[int]:
    """The ids of the enabled API sources (contract §8), one mapped pull each."""
    from covidsync.ingest import api_pull

    with db.session() as conn:
        ids = [s.source_id for s in api_pull.list_sources(conn, enabled_only=True)]
    log.info("API sources to pull: %d", len(ids))
    return ids


def pull_api_source(source_id: int) -> dict:
    """Pull one API source into a batch and take it through the file pipeline (counts and ids come back).

    A refused token raises ``ApiAuthError``, an ``AirflowFailException``: the task fails without retries.
    """
    from covidsync.ingest import api_pull

    with db.session() as conn:
        return api_pull.pull_source(conn, source_id)


def refresh_marts(as_of_day: str, names: tuple[str, ...] | None = None) -> dict:
    """Rebuild the BI marts and facility scorecards as of a local day (rows per mart come back)."""
    import datetime as dt

    from covidsync.marts import refresh

    with db.session() as conn:
        counts = refresh.refresh(conn, dt.date.fromisoformat(as_of_day), names=names or refresh.ALL)
    return {"as_of_day": as_of_day, "rows": counts}


def check_facility_reporting(day: str) -> dict:
    """Raise the day's facility reporting alerts (ops.alert) and write reminders to the outboxes."""
    import datetime as dt

    from covidsync.marts import facility

    with db.session() as conn:
        return facility.check_reporting(
            conn, dt.date.fromisoformat(day), settings.outbox_dir(), settings.reporting_cutoff()
        )


def check_venue_compliance(day: str) -> dict:
    """Refresh the adoption and QR-compliance marts for a local day, write each district's silent venues to
    its outbox and raise the low-compliance alerts (adoption.md; counts and district codes come back)."""
    import datetime as dt

    from covidsync.marts import adoption, refresh

    with db.session() as conn:
        refresh.refresh(conn, dt.date.fromisoformat(day), names=refresh.ADOPTION)
        return adoption.monitor(conn, dt.date.fromisoformat(day), settings.outbox_dir())


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

    with db.session() as conn:
        written = facility.export_scorecards(conn, settings.outbox_dir(), dt.date.fromisoformat(day))
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

    from covidsync.marts import daily_report

    with db.session() as conn:
        path = daily_report.render(conn, dt.date.fromisoformat(day), settings.report_dir())
    return {"report": str(path)}


def local_day(moment=None) -> str:
    """The local day (Asia/Ho_Chi_Minh, ISO) of ``moment`` (a datetime), or of now: the one place a run's
    time becomes the day it is about."""
    import pendulum

    when = pendulum.now("UTC") if moment is None else pendulum.instance(moment)
    return when.in_timezone(settings.LOCAL_TZ).date().isoformat()


def run_local_day(context) -> str:
    """The local day (Asia/Ho_Chi_Minh, ISO) a DAG run is about: its logical date, else when it was due."""
    return local_day(context.get("logical_date") or context["dag_run"].run_after)


# -- ingest_checkins ---------------------------------------------------------------------------------
def register_pccovid_files() -> dict:
    """Register ``pccovid/``; the pending files split by dataset, each in the order received."""
    from covidsync.ingest import checkins

    summary = register_landing_files(scope="pccovid")
    with db.session() as conn:
        pending = checkins.pending_by_dataset(conn, summary["pending_file_ids"])
    return {**pending, "rejected": summary["rejected"], "duplicates": summary["duplicates"]}


def process_pccovid_files(file_ids: list[int]) -> list[dict]:
    """Ingest PC-Covid files one after the other, in the order given (venues: each can update the last)."""
    from covidsync.ingest import checkins

    with db.session() as conn:
        return [checkins.ingest_file(conn, file_id) for file_id in file_ids]


def process_checkin_file(file_id: int) -> dict:
    """Parse, validate, gate, merge and report one check-ins file (counts only come back)."""
    return process_pccovid_files([file_id])[0]


def maintain_checkin_partitions(day: str) -> dict:
    """Check-in partitions made ahead of the local ``day`` (YYYY-MM-DD); those past retention dropped."""
    import datetime as dt

    from covidsync.ingest import checkins

    with db.session() as conn:
        result = checkins.maintain_partitions(conn, dt.date.fromisoformat(day))
    log.info(
        "check-in partitions: %d ensured, %d dropped",
        result["partitions_ensured"],
        len(result["partitions_dropped"]),
    )
    return result


def prune_data_docs(day: str) -> dict:
    """The GX validation results and Data Docs pages of runs before ``day`` minus
    ``COVIDSYNC_GX_RETENTION_DAYS`` removed (covidsync.gx_retention); counts come back."""
    import datetime as dt

    from covidsync import gx_retention

    return gx_retention.prune(dt.date.fromisoformat(day))


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

    with db.session() as conn:
        result = release.publish_release(conn)
    log.info(
        "publish: %s (release %s, current %s)",
        result["status"],
        result["release_id"],
        result["current_release_id"],
    )
    return {k: v for k, v in result.items() if k != "failed"} | {"failed": len(result.get("failed", []))}


def prune_releases() -> dict:
    from covidsync.publish import release

    with db.session() as conn:
        return release.prune(conn)


def reconcile_apps() -> dict:
    """Compare the apps' acknowledgements with the current release; alerts go to ops.alert."""
    from covidsync.publish import sync

    with db.session() as conn:
        summary = sync.reconcile(conn)
    log.info("reconciliation: %s", {k: v["state"] if isinstance(v, dict) else v for k, v in summary.items()})
    return summary


def build_health_status(logical_date, full: bool = False, rule_set: str | None = None) -> dict:
    """Identity, doses, F0, tracing and status as of the end of the run's local day (contract §1): the
    logical date's day, or today (local) for a run without one (triggered by an asset event)."""
    import datetime as dt

    from covidsync.status import build

    day = dt.date.fromisoformat(local_day(logical_date))  # today (local) without a logical date
    with db.session() as conn:
        return build.build(conn, build.as_of_for(day), rule_set, full=full).as_dict()


def report_identity_reviews(summary: dict) -> dict:
    """Counts of the identity conflicts waiting for a decision (never the identifiers)."""
    with db.session() as conn:
        with conn.cursor() as cur:
            cur.execute(
                "select kind, count(*) from derived.identity_review where status = 'open' group by kind"
            )
            open_items = dict(cur.fetchall())
        conn.rollback()
    if open_items:
        log.warning("identity conflicts wait for review (covidsync review list): %s", open_items)
    return {"open_reviews": open_items, "as_of": summary.get("as_of")}
