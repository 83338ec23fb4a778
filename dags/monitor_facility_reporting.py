"""
### monitor_facility_reporting

Every evening, after the reporting cut-off, checks which facilities reported the day's data late or not at
all, or sent a volume far from their usual one; tells people; gives each facility its scorecard; and renders
the daily report.

**Schedule**: `30 20 * * *` Asia/Ho_Chi_Minh, half an hour after the default cut-off (20:00,
`COVIDSYNC_REPORTING_CUTOFF`; move this schedule with the cut-off: `docs/runbook.md`).

**Steps**
1. `refresh_scorecards`: rebuilds `mart.facility_reporting_day`, `mart.facility_rejection_day` and
   `mart.facility_reporting_month` up to the day (one report expected per facility and day; on time = a
   file arrived by the cut-off).
2. `check_reporting`: a facility with nothing by the cut-off (`facility_not_reported`), or whose rows that
   day are under half or over twice the median of its reporting days among the last 28
   (`facility_volume_anomaly`), gets one open row in `ops.alert` and a reminder
   `reminder-<day>-<kind>.txt` (Vietnamese and English) in its outbox.
2b. `check_venue_compliance`: refreshes the adoption and QR-compliance marts for the day
   (`mart.app_adoption`, `mart.venue_compliance_day`, `mart.silent_venue`, `mart.population_scanning`),
   writes each district's silent venues to `outbox/districts/<district>/silent-venues-<day>.csv`, and raises
   `district_venue_compliance_low` (once per district and day) where under `COVIDSYNC_MIN_VENUE_COMPLIANCE`.
2c. `write_commune_worklists`: each commune's open arrivals (as of the last status build) to
   `outbox/communes/<commune>/arrivals-<day>.csv` (UTF-8 with BOM, Vietnamese headers; the same rows as
   `publish.commune_arrival_followup`; docs/commune-stations.md).
3. `notify`: the `AlertNotifier` (an `airflow.sdk.BaseNotifier`) POSTs pending alerts as JSON to
   `COVIDSYNC_ALERT_WEBHOOK` and/or e-mails them to `COVIDSYNC_ALERT_EMAIL`, once each.
4. `export_scorecards`: `scorecard-YYYY-MM.csv` (days) and `.json` (month, grade A-D) in each outbox.
5. `render_report`: the daily HTML report, `data/reports/daily-YYYY-MM-DD.html` and `latest.html`
   (`COVIDSYNC_REPORT_DIR`): coverage by district, positivity trend, timeliness heat map, open review items
   and alerts, charts as inline SVG that open offline.
6. `prune_data_docs`: Great Expectations validation results and Data Docs pages of runs older than
   `COVIDSYNC_GX_RETENTION_DAYS` (default 30; 0 keeps all) are removed and the site's index rebuilt (each
   gate's outcome stays in `ops.validation_result` and the facility's `result.json`).

**Rerun a day**: `covidsync run monitor_facility_reporting --date 2021-11-20`. It raises no alert twice (an
open alert of the same kind and facility-day is kept), resolves alerts whose condition no longer holds (a late
file recounted), rewrites the same reminders and scorecards, and sends only alerts not yet sent.

**Upstream**: `ingest_facility_files` (`ops.landing_file`, `quarantine.row_problem`), `refresh_marts` for the
report's charts. **Downstream**: people (webhook, e-mail), facilities (outboxes), the report.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from covidsync.dag_defaults import DEFAULT_ARGS


@dag(
    dag_id="monitor_facility_reporting",
    schedule="30 20 * * *",
    start_date=pendulum.datetime(2021, 11, 1, tz="Asia/Ho_Chi_Minh"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
    tags=["mart", "monitoring", "facility"],
)
def monitor_facility_reporting():
    @task
    def refresh_scorecards() -> str:
        from airflow.sdk import get_current_context

        from covidsync.marts.refresh import SCORECARDS
        from covidsync.tasks import refresh_marts, run_local_day

        day = run_local_day(get_current_context())
        refresh_marts(day, names=SCORECARDS)
        return day

    @task
    def check_reporting(day: str) -> dict:
        from covidsync.tasks import check_facility_reporting

        return check_facility_reporting(day)

    @task
    def check_venue_compliance(day: str) -> dict:
        from covidsync.tasks import check_venue_compliance

        return check_venue_compliance(day)

    @task
    def write_commune_worklists(day: str) -> dict:
        from covidsync.tasks import write_commune_worklists

        return write_commune_worklists(day)

    @task
    def notify(checked: dict) -> dict:
        from airflow.sdk import get_current_context

        from covidsync.tasks import notify_alerts

        return notify_alerts(get_current_context())

    @task
    def export_scorecards(day: str) -> dict:
        from covidsync.tasks import export_scorecards

        return export_scorecards(day)

    @task
    def render_report(day: str) -> dict:
        from covidsync.tasks import render_daily_report

        return render_daily_report(day)

    @task
    def prune_data_docs(day: str) -> dict:
        from covidsync.tasks import prune_data_docs

        return prune_data_docs(day)

    day = refresh_scorecards()
    checked = check_reporting(day)
    compliance = check_venue_compliance(day)
    notified = notify(checked)
    compliance >> notified
    exported = export_scorecards(day)
    checked >> exported
    worklists = write_commune_worklists(day)
    [notified, exported, worklists] >> render_report(day) >> prune_data_docs(day)


monitor_facility_reporting()
