"""
### ingest_checkins

Loads PC-Covid venues, check-ins, app-user counts and declarations from `<landing>/pccovid/` (contracts
`docs/contract/facility-files.md` §5, `adoption.md`, `arrivals.md`) through the ingest engine into `core.venue`,
`core.checkin` (partitioned by local day), `core.app_user_count` and `core.declaration`; core keeps a
pseudonymous person key, never a QR payload.

**Schedule**: hourly (PC-Covid exports every hour; contact tracing wants scans within the hour), and on demand:
`covidsync run ingest_checkins --date YYYY-MM-DD`.

**Steps**
1. `maintain_partitions`: the check-in partitions of the run's local day and `COVIDSYNC_CHECKIN_PARTITIONS_AHEAD`
   (default 7) days ahead are made; partitions of days before `COVIDSYNC_CHECKIN_RETENTION_DAYS` (default 30)
   are detached and dropped (docs/runbook.md, "Check-in retention").
2. `register_files`: registers every complete file under `pccovid/` (SHA-256: the same bytes load once),
   refuses at once what cannot be read, and splits the waiting files into venues and check-ins.
3. `process_venues`: venue files one after the other, in the order received, so that check-ins see the
   venues registered before them.
4. `process_checkins`, one mapped task per file: parse and stage (`COPY`), row rules in SQL
   (`unknown_venue`, `invalid_qr_payload`, `missing_person_key`, …) into `quarantine` with payloads masked,
   the Great Expectations gate over the batch profile (`batch_rejected` holds the file), merge into the day
   partitions in one transaction, reports to `<outbox>/pccovid/`, the file to the archive.
5. `process_app_users`: the app operator's daily counts, one file after the other in the order received (a day
   and area sent again replaces the counts; the earlier ones kept in `core.app_user_count_history`).
6. `process_declarations`, one mapped task per file (issue 24, `docs/contract/arrivals.md`): health and domestic
   movement declarations of PC-Covid and Sổ SKĐT through the same engine into `core.declaration` (history in
   `core.declaration_history`), codes `invalid_declaration_kind`, `unknown_origin_area`,
   `destination_outside_province` and the check-in ones; reports to `<outbox>/pccovid/`.
7. `load_registries` (issue 24): new files under `registry/risk_levels/` and `registry/arrival_measures.csv`,
   each validated whole, loaded as a version or rejected whole (`registry_rejected`, report in
   `<outbox>/registry/`); skipped when no file changed, so the arrivals build is not triggered for nothing.
8. `summarise`, then `watcher` (fails the run when any task failed).

**Rerun a day**: `covidsync run ingest_checkins --date 2021-11-20`. Files are keyed by their SHA-256 and each
step records the file's status: a rerun loads nothing twice. To load a file again:
`covidsync files reprocess <file_id> --reason "..."` (its rows are replaced).

**Upstream**: PC-Covid exports (files). **Downstream**: asset `core.checkin` (identity resolution, contact
tracing); `core.app_user_count` (the adoption marts); assets `core.declaration` and `ref.arrivals_registry` (the
arrivals build); `ops.landing_file`; the archive and rejected areas; `<outbox>/pccovid/`.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from covidsync.assets import CORE_CHECKIN, CORE_DECLARATION, REF_ARRIVALS_REGISTRY
from covidsync.dag_defaults import DEFAULT_ARGS, mapped_label, watcher


@dag(
    dag_id="ingest_checkins",
    schedule="@hourly",
    start_date=pendulum.datetime(2021, 11, 1, tz="Asia/Ho_Chi_Minh"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
    tags=["ingest", "pccovid"],
)
def ingest_checkins():
    @task
    def maintain_partitions(data_interval_end=None) -> dict:
        from covidsync.tasks import local_day, maintain_checkin_partitions

        # the local day of the interval's end; of now for a manual run without a data interval
        return maintain_checkin_partitions(local_day(data_interval_end))

    @task
    def register_files() -> dict:
        from covidsync.tasks import register_pccovid_files

        return register_pccovid_files()

    @task
    def process_venues(registered: dict) -> list[int]:
        from covidsync.tasks import process_pccovid_files

        process_pccovid_files(registered["venues"])
        return registered["checkins"]

    @task
    def process_app_users(registered: dict) -> list[dict]:
        from covidsync.tasks import process_pccovid_files

        return process_pccovid_files(registered["app_users"])

    @task(outlets=[CORE_CHECKIN], max_active_tis_per_dagrun=2, map_index_template="{{ label }}")
    def process_checkins(file_id: int) -> dict:
        from covidsync.tasks import landing_files_label, process_checkin_file

        mapped_label(landing_files_label([file_id]))
        return process_checkin_file(file_id)

    @task(outlets=[CORE_DECLARATION], max_active_tis_per_dagrun=2, map_index_template="{{ label }}")
    def process_declarations(file_id: int) -> dict:
        from covidsync.tasks import landing_files_label, process_declaration_file

        mapped_label(landing_files_label([file_id]))
        return process_declaration_file(file_id)

    @task
    def declaration_ids(registered: dict) -> list[int]:
        return registered.get("declarations", [])

    @task(outlets=[REF_ARRIVALS_REGISTRY])
    def load_registries() -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        from covidsync.tasks import load_arrival_registries

        summary = load_arrival_registries()
        if set(summary["by_status"]) <= {"unchanged"}:
            raise AirflowSkipException("no new risk-level or measures file")  # no asset event
        return summary

    @task(trigger_rule="all_done")
    def summarise(results, declared) -> dict:
        from covidsync.tasks import summarise_checkins

        # by index, not iter(): iterating reads one XCom past the end and logs '[error] XCom not found'
        return summarise_checkins(
            [results[i] for i in range(len(results))] + [declared[i] for i in range(len(declared))]
        )

    partitions = maintain_partitions()
    registered = register_files()
    checkin_ids = process_venues(registered)
    processed = process_checkins.expand(file_id=checkin_ids)
    app_users = process_app_users(registered)
    declarations = process_declarations.expand(file_id=declaration_ids(registered))
    registries = load_registries()
    partitions >> registered
    summary = summarise(processed, declarations)
    [
        partitions,
        registered,
        checkin_ids,
        processed,
        app_users,
        declarations,
        registries,
        summary,
    ] >> watcher()


ingest_checkins()
