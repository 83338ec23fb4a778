"""
### publish_commune_worklists

Rebuilds the commune health stations' work lists (contract `docs/contract/arrivals.md` §3; guide
`docs/commune-stations.md`) whenever the arrivals change.

**Schedule**: on data, not on a clock: any update of the assets `derived.arrival` or
`derived.arrival_followup` (`build_health_status`).

**Steps**
1. `refresh`: `sql/communes/worklist.sql` in one transaction: `publish.commune_arrival_row` (one row per
   open arrival: `ends_on` on or after the local date of the last arrivals build's as_of; name, phone,
   origin, measure, due, sampled and overdue days, flags) and its as_of. Each station's login reads its
   communes' rows through the view `publish.commune_arrival_followup` (row-level security, role
   `commune_health`, `ops.commune_access`; `covidsync communes grant LOGIN COMMUNE…`).

The evening CSVs (`outbox/communes/<commune>/arrivals-<day>.csv`) are written by
`monitor_facility_reporting`. **Rerun**: `covidsync run publish_commune_worklists` (a rebuild from `derived`:
rerunning it changes nothing).

**Upstream**: `build_health_status` (assets `derived.arrival`, `derived.arrival_followup`). **Downstream**:
commune health stations (role `commune_health`), `monitor_facility_reporting`.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from covidsync.assets import DERIVED_ARRIVAL, DERIVED_ARRIVAL_FOLLOWUP
from covidsync.dag_defaults import DEFAULT_ARGS


@dag(
    dag_id="publish_commune_worklists",
    schedule=(DERIVED_ARRIVAL | DERIVED_ARRIVAL_FOLLOWUP),
    start_date=pendulum.datetime(2021, 11, 1, tz="Asia/Ho_Chi_Minh"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
    tags=["publish", "arrivals", "commune"],
)
def publish_commune_worklists():
    @task
    def refresh() -> dict:
        from covidsync.tasks import refresh_commune_worklists

        return refresh_commune_worklists()

    refresh()


publish_commune_worklists()
