"""
### ingest_facility_files

Takes the files that health facilities drop in the landing zone (contract: `docs/contract/facility-files.md`;
guide for facility staff: `docs/facility-guide.vi.md`, `docs/facility-guide.en.md`) through write-audit-publish
into `core.vaccination` and `core.test_result`, and tells each facility what happened to each row.

**Schedule**: every 15 minutes (facilities send all day; a file waits at most a quarter of an hour), and on
demand: `covidsync run ingest_facility_files --date YYYY-MM-DD`.

**Steps**
1. `register_files`: loads `<landing>/registry/facilities.csv` into `ops.facility` when it changed, registers
   every complete file (SHA-256, size, facility, dataset, time received) in `ops.landing_file`, and refuses at
   once what cannot be read at all (unknown facility, unsupported format, empty, too large, same bytes again).
   The population registry file `<landing>/registry/population.csv` (contract `docs/contract/adoption.md`) is
   registered here too and taken through the same steps into `core.area_population` (figures sent again
   replace the earlier ones, kept in `core.area_population_history`); its reports go to `<outbox>/registry/`.
2. `group_files`: the pending files in groups, per facility then by size (`COVIDSYNC_INGEST_GROUP_FILES`,
   default 200 files, `COVIDSYNC_INGEST_GROUP_BYTES`, default 64 MiB): a national day of thousands of small
   files is a few dozen tasks, not thousands (Airflow pays seconds per task instance).
3. `process_group`, one mapped task per group (groups run in parallel): each file of the group on its own —
   read and type it in batches, `COPY` to `staging`, row rules as SQL sets into `quarantine`, a Great
   Expectations gate over the batch profile (a failed gate holds that file only: `batch_rejected`), merge into
   `core` in one transaction, then the file moves to the archive (or the rejected area) and `result.json` +
   `errors.csv` go to the outbox; one bad file never holds the others. The Data Docs site is updated once
   per group.
4. `summarise`: counts per status, and the Great Expectations Data Docs rebuilt
   (`great_expectations/gx/uncommitted/data_docs/local_site/index.html`); it runs even when a file failed.
5. `watcher`: fails the run when any task failed, so that `summarise` cannot hide a failure.

**Rerun a day**: `covidsync run ingest_facility_files --date 2021-11-20`. Files are keyed by their SHA-256 and
each step records the file's status, so a rerun loads nothing twice and resumes whatever an interrupted run
left (a file committed as merged but not yet moved is finished). To load a file again:
`covidsync files reprocess <file_id> --reason "..."`; to merge a held file: `covidsync files release`.

**Upstream**: facilities (files). **Downstream**: assets `core.vaccination`, `core.test_result`
(`build_health_status`, `refresh_marts`); `ops.landing_file`; the archive and rejected areas; outboxes.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from covidsync.assets import CORE_TEST_RESULT, CORE_VACCINATION
from covidsync.dag_defaults import DEFAULT_ARGS, mapped_label, watcher


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
    def register_files() -> list[int]:
        from covidsync.tasks import register_landing_files

        return register_landing_files(scope="facility")["pending_file_ids"]

    @task
    def group_files(file_ids: list[int]) -> list[list[int]]:
        from covidsync.tasks import group_landing_files

        return group_landing_files(file_ids)

    @task(
        outlets=[CORE_VACCINATION, CORE_TEST_RESULT],
        max_active_tis_per_dagrun=4,
        map_index_template="{{ label }}",
    )
    def process_group(file_ids: list[int]) -> list[dict]:
        from covidsync.tasks import landing_files_label, process_landing_group

        mapped_label(landing_files_label(file_ids))
        return process_landing_group(file_ids)

    @task(trigger_rule="all_done")
    def summarise(results) -> dict:
        from covidsync.tasks import summarise_ingest

        # by index, not iter(): iterating reads one XCom past the end and logs '[error] XCom not found'
        return summarise_ingest([results[i] for i in range(len(results))])

    registered = register_files()
    grouped = group_files(registered)
    processed = process_group.expand(file_ids=grouped)
    [registered, grouped, processed, summarise(processed)] >> watcher()


ingest_facility_files()
