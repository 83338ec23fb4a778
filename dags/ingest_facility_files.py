"""
### ingest_facility_files

Takes the files that health facilities drop in the landing zone (contract: `shared/spec/facility-files.md`,
published as `docs/facility-guide.md`) into the warehouse.

**Schedule**: every 15 minutes (facilities send all day; a file waits at most a quarter of an hour), and on
demand: `covidsync run ingest_facility_files --date YYYY-MM-DD`.

**Steps**
1. `register_files`: reads `<landing>/registry/facilities.csv` into `ops.facility` when it changed, then
   registers every complete file (SHA-256, size, facility, dataset, time received) in `ops.landing_file`.
   Files that cannot be read at all (unknown facility folder, unsupported format, empty, too large, the same
   bytes again) go straight to the rejected area with a report in the facility's outbox.
2. The per-file parse, validate, gate and merge steps are added by the file-ingest work (issue #4); until then
   registered files wait in `received`.

**Rerun a day**: `covidsync run ingest_facility_files --date 2021-11-20`. Registration is keyed by each file's
SHA-256, so a rerun registers nothing twice and resumes files an interrupted run left unfinished.

**Upstream**: facilities (files). **Downstream**: `ops.landing_file`, the archive/rejected areas, outboxes.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from covidsync.dag_defaults import DEFAULT_ARGS


@dag(
    dag_id="ingest_facility_files",
    schedule="*/15 * * * *",
    start_date=pendulum.datetime(2021, 11, 1, tz="Asia/Ho_Chi_Minh"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
    tags=["ingest", "facility"],
)
def ingest_facility_files():
    @task
    def register_files() -> dict:
        from covidsync.tasks import register_landing_files

        return register_landing_files(scope="facility")

    register_files()


ingest_facility_files()
