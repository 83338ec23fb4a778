"""
### publish_shared_datasets

Publishes the health status (`derived.health_status`, rule set `COVIDSYNC_RULE_SET`) as numbered, immutable
releases that PC-Covid and VNeID read, so that the two apps always show a citizen the same status
(contract: `docs/contract/health-status.md` §6; app teams: `docs/sync-api.md`).

**Schedule**: on every update of the asset `derived.health_status`, and every 30 minutes (so that
reconciliation notices an app that stopped syncing even when no status changed; a run with no change makes
no release).

**Steps**
1. `publish`: builds the candidate release from `derived` (persons with a CCCD only); identical content makes
   no release (the task is skipped, no asset event). Else it records the delta against the current release,
   runs the GX suite `publish_release` (completeness, no mass change without an override, exact view
   columns), and makes it current: both views switch in one transaction, with the agreement check of the
   two views inside it. A failed check holds the release (an `ops.alert`, task skipped); an operator may
   override a mass-change hold: `covidsync publish override <release_id> --reason "..."`.
2. `prune`: keeps the rows and deltas of the last `COVIDSYNC_RELEASE_RETENTION` published releases.
3. `reconcile`: compares each app's acknowledgements with the current release; raises `sync_behind` or
   `sync_hash_mismatch` in `ops.alert` (see docs/runbook.md).

**Rerun**: `covidsync run publish_shared_datasets` (or `covidsync publish run`): idempotent, a rerun with no
new statuses changes nothing. A day is not a unit here: a release is the statuses as they are.

**Upstream**: `build_health_status` (asset `derived.health_status`). **Downstream**: asset `publish.release`
(`refresh_marts`); the apps, through the sync API (plugins/covidsync_sync_api.py) or the views.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag, task

from covidsync.assets import DERIVED_HEALTH_STATUS, PUBLISH_RELEASE
from covidsync.dag_defaults import DEFAULT_ARGS

TZ = "Asia/Ho_Chi_Minh"


@dag(
    dag_id="publish_shared_datasets",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("*/30 * * * *", timezone=TZ), assets=[DERIVED_HEALTH_STATUS]
    ),
    start_date=pendulum.datetime(2021, 11, 1, tz=TZ),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
    tags=["publish", "pc-covid", "vneid"],
)
def publish_shared_datasets():
    @task(outlets=[PUBLISH_RELEASE])
    def publish() -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        from covidsync.tasks import publish_shared_release

        result = publish_shared_release()
        if result["status"] != "current":
            # no new current release: no asset event for the marts (a hold has raised an ops.alert)
            raise AirflowSkipException(f"no new release: {result['status']}")
        return result

    @task(trigger_rule="none_failed")
    def prune() -> dict:
        from covidsync.tasks import prune_releases

        return prune_releases()

    @task(trigger_rule="none_failed")
    def reconcile() -> dict:
        from covidsync.tasks import reconcile_apps

        return reconcile_apps()

    publish() >> prune() >> reconcile()


publish_shared_datasets()
