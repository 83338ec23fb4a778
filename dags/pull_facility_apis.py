"""
### pull_facility_apis

Pulls the records of the facilities and labs that offer an API instead of files (contract §8,
`docs/contract/facility-files.md`) into the very same write-audit-publish path as files: each pull is one
batch, registered in `ops.landing_file` (`source = 'api'`), parsed, checked by the row rules and the Great
Expectations gate, merged into `core.vaccination` / `core.test_result`, archived, and reported to the
facility as `outbox/<facility>/api-<dataset>-<batch id>.result.json` (+ `.errors.csv`).

**Schedule**: daily at 05:00 (before the working day's reports), and on demand:
`covidsync run pull_facility_apis --date YYYY-MM-DD`, or `covidsync sources pull <source_id>` for one source.

**Steps**
1. `list_sources`: the enabled sources of `ops.api_source` (`covidsync sources add|list`).
2. `pull_source`, one mapped task per source (sources run in parallel and fail alone): finish any batch a
   crash left; ask for `updated_since = <watermark>` page by page (bearer token from the source's Airflow
   connection; retries with back-off on 429/5xx/timeouts, honouring `Retry-After`; 401/403 fail at once,
   naming the connection, without retries); write the items as canonical JSON Lines under
   `<landing>/.api/` (shared storage); register the batch by its SHA-256; `process_file` it; then move the
   watermark to the batch's newest `updated_at` once it has merged. Malformed JSON or renamed fields refuse
   the batch with a report (`unsupported_format`, `missing_columns`) and keep the watermark.
3. `summarise`: counts per status, and the Great Expectations Data Docs rebuilt once.
4. `watcher`: fails the run when any task failed.

**Rerun**: `covidsync run pull_facility_apis --date 2021-11-20` (any date: a pull asks from the watermark,
not from the run's interval). A pull that failed half-way registered nothing and left the watermark, so a
rerun asks the same window again; the same bytes are recognised by their SHA-256 and records pulled again
replace their earlier version, so nothing loads twice. After a token was refused, rotate it
(`docs/runbook.md`, "Rotate a token") and rerun.

**Upstream**: the facilities' APIs; `ops.api_source`. **Downstream**: assets `core.vaccination`,
`core.test_result`; `ops.landing_file`, `ops.api_batch`; the archive and rejected areas; outboxes.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from covidsync.assets import CORE_TEST_RESULT, CORE_VACCINATION
from covidsync.dag_defaults import DEFAULT_ARGS, mapped_label, watcher


@dag(
    dag_id="pull_facility_apis",
    schedule="0 5 * * *",
    start_date=pendulum.datetime(2021, 11, 1, tz="Asia/Ho_Chi_Minh"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
    tags=["ingest", "facility", "api"],
)
def pull_facility_apis():
    @task
    def list_sources() -> list[int]:
        from covidsync.tasks import list_api_sources

        return list_api_sources()

    @task(
        outlets=[CORE_VACCINATION, CORE_TEST_RESULT],
        max_active_tis_per_dagrun=4,
        map_index_template="{{ label }}",
    )
    def pull_source(source_id: int) -> dict:
        from covidsync.tasks import api_source_label, pull_api_source

        mapped_label(api_source_label(source_id))
        return pull_api_source(source_id)

    @task(trigger_rule="all_done")
    def summarise(results) -> dict:
        from covidsync.tasks import summarise_ingest

        # by index, not iter(): iterating reads one XCom past the end and logs '[error] XCom not found'
        return summarise_ingest([results[i] for i in range(len(results))])

    sources = list_sources()
    pulled = pull_source.expand(source_id=sources)
    [sources, pulled, summarise(pulled)] >> watcher()


pull_facility_apis()
