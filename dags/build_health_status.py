"""
### build_health_status

The merge the two apps exist for: resolves one person across facility records and PC-Covid check-ins,
deduplicates doses across facilities, derives each person's health status as of the end of the run's
local day, and finds the contact candidates of every F0 (contract: `docs/contract/health-status.md`).
Rules come from a named, versioned rule set (`COVIDSYNC_RULE_SET`, default `hb-2021-11`).

**Schedule**: on data, not on a clock: whenever any of the assets `core.vaccination`, `core.test_result`,
`core.checkin`, `core.declaration` or `ref.arrivals_registry` is updated (`ingest_facility_files`, check-in,
declaration and registry ingest). A run triggered by an asset has no
logical date: it builds as of the end of the current local day. On demand:
`covidsync run build_health_status --date YYYY-MM-DD` (as of the end of that day).

**Steps**
1. `build_status` (outlet `derived.health_status`), one transaction under an advisory lock: identity
   resolution (`derived.person`, `person_identifier`, `person_record`, the review queue
   `derived.identity_review`); then, for the persons touched since the last build (records or identifiers
   changed, a status whose stored due date as_of reached, candidacy changed), F0 episodes, contact
   candidates (`derived.contact_candidate`), doses (`derived.vaccination_dose`) and the status
   (`derived.health_status`). The first build of a rule set, or a new rule-set version, is full. Then the
   arrivals into the province (outlets `derived.arrival`, `derived.arrival_followup`; contract
   `docs/contract/arrivals.md`): the arrivals the new scans, declarations, tests, level files or as_of reach,
   and their due tests matched with the tests.
2. `report_reviews`: logs how many identity conflicts wait for a person (`covidsync review list`).

**Rerun a day**: `covidsync run build_health_status --date 2021-11-20`; the build is idempotent for its
as_of (a second run touches nothing new and changes nothing). Force a full rebuild: trigger with the param
`{"full": true}` or `covidsync status build --date 2021-11-20 --full`. Explain a status:
`covidsync explain <CCCD or person key> --date 2021-11-20`.

**Upstream**: assets `core.vaccination`, `core.test_result`, `core.checkin`; `core.identity_link`,
`core.checkin_person`. **Downstream**: asset `derived.health_status` (publish, marts); assets
`derived.arrival`, `derived.arrival_followup` (`refresh_marts`, `publish_commune_worklists`).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task

from covidsync.assets import (
    CORE_CHECKIN,
    CORE_DECLARATION,
    CORE_TEST_RESULT,
    CORE_VACCINATION,
    DERIVED_ARRIVAL,
    DERIVED_ARRIVAL_FOLLOWUP,
    DERIVED_HEALTH_STATUS,
    REF_ARRIVALS_REGISTRY,
)
from covidsync.dag_defaults import DEFAULT_ARGS


@dag(
    dag_id="build_health_status",
    schedule=(CORE_VACCINATION | CORE_TEST_RESULT | CORE_CHECKIN | CORE_DECLARATION | REF_ARRIVALS_REGISTRY),
    start_date=pendulum.datetime(2021, 11, 1, tz="Asia/Ho_Chi_Minh"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
    params={
        "full": Param(False, type="boolean", description="rebuild everything, not only what changed"),
        "rule_set": Param(None, type=["null", "string"], description="default: COVIDSYNC_RULE_SET"),
    },
    tags=["derived", "health-status", "identity"],
)
def build_health_status():
    @task(outlets=[DERIVED_HEALTH_STATUS, DERIVED_ARRIVAL, DERIVED_ARRIVAL_FOLLOWUP])
    def build_status(**context) -> dict:
        from covidsync.tasks import build_health_status as build

        params = context["params"]
        return build(
            context.get("logical_date"), full=bool(params.get("full")), rule_set=params.get("rule_set")
        )

    @task
    def report_reviews(summary: dict) -> dict:
        from covidsync.tasks import report_identity_reviews

        return report_identity_reviews(summary)

    report_reviews(build_status())


build_health_status()
