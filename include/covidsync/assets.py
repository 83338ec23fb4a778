"""The Airflow Assets this project publishes, so downstream DAGs schedule on data, not on clocks.

URIs name host, port, database, schema and table, as Airflow's postgres URI scheme requires; the host
is the logical name of the warehouse, not a machine address.
"""

from __future__ import annotations

from airflow.sdk import Asset

_WAREHOUSE = "postgres://warehouse:5432/covidsync"

CORE_VACCINATION = Asset(name="core.vaccination", uri=f"{_WAREHOUSE}/core/vaccination")
CORE_TEST_RESULT = Asset(name="core.test_result", uri=f"{_WAREHOUSE}/core/test_result")
CORE_CHECKIN = Asset(name="core.checkin", uri=f"{_WAREHOUSE}/core/checkin")
DERIVED_HEALTH_STATUS = Asset(name="derived.health_status", uri=f"{_WAREHOUSE}/derived/health_status")
# arrivals into the province and their follow-up (issue 24), written by build_health_status
DERIVED_ARRIVAL = Asset(name="derived.arrival", uri=f"{_WAREHOUSE}/derived/arrival")
DERIVED_ARRIVAL_FOLLOWUP = Asset(
    name="derived.arrival_followup", uri=f"{_WAREHOUSE}/derived/arrival_followup"
)
PUBLISH_RELEASE = Asset(name="publish.release", uri=f"{_WAREHOUSE}/publish/release")
# issue 24: declarations and the arrivals registries (risk levels, measures), for the arrivals build
CORE_DECLARATION = Asset(name="core.declaration", uri=f"{_WAREHOUSE}/core/declaration")
REF_ARRIVALS_REGISTRY = Asset(name="ref.arrivals_registry", uri=f"{_WAREHOUSE}/ref/risk_level")
