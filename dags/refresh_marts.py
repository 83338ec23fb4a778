"""
### refresh_marts

Rebuilds the BI marts in schema `mart` (aggregates and pseudonymous keys only; data dictionary:
`docs/data-dictionary.md`, "Marts") and the facility scorecards, whenever the data under them changes.

**Schedule**: on data, not on a clock: any update of the assets `core.vaccination`, `core.test_result`,
`core.checkin`, `derived.health_status`, `derived.arrival` or `derived.arrival_followup`
(`ingest_facility_files`, check-in ingest, `build_health_status`).

**Steps**
1. `refresh`: runs `sql/marts/<table>.sql` for every mart (vaccination coverage, test positivity, check-in
   volume, contact-candidate counts, status distribution, facility reporting by day / rejection code / month,
   arrivals by day, declaration coverage per checkpoint, follow-up compliance per commune and week, symptom
   and contact flags per day),
   each a delete-and-insert, all in one transaction under an advisory lock: readers see the old marts or the
   new ones. The scorecards count days up to the local day the run was due, with the cut-off
   `COVIDSYNC_REPORTING_CUTOFF` (default 20:00).

**Rerun**: `covidsync run refresh_marts --date 2021-11-20` (or "Trigger DAG" in the UI). A refresh is a pure
function of the tables it reads, so rerunning it changes nothing.

**Upstream**: `ingest_facility_files`, check-in ingest, `build_health_status` (through their assets).
**Downstream**: BI tools (role `bi_reader`), `monitor_facility_reporting` and its daily report
(`data/reports/latest.html`).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from covidsync.assets import (
    CORE_CHECKIN,
    CORE_TEST_RESULT,
    CORE_VACCINATION,
    DERIVED_ARRIVAL,
    DERIVED_ARRIVAL_FOLLOWUP,
    DERIVED_HEALTH_STATUS,
)
from covidsync.dag_defaults import DEFAULT_ARGS


@dag(
    dag_id="refresh_marts",
    schedule=(
        CORE_VACCINATION
        | CORE_TEST_RESULT
        | CORE_CHECKIN
        | DERIVED_HEALTH_STATUS
        | DERIVED_ARRIVAL
        | DERIVED_ARRIVAL_FOLLOWUP
    ),
    start_date=pendulum.datetime(2021, 11, 1, tz="Asia/Ho_Chi_Minh"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
    tags=["mart", "bi"],
)
def refresh_marts():
    @task
    def refresh() -> dict:
        from airflow.sdk import get_current_context

        from covidsync.tasks import refresh_marts, run_local_day

        return refresh_marts(run_local_day(get_current_context()))

    refresh()


refresh_marts()
