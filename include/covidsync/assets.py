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
PUBLISH_RELEASE = Asset(name="publish.release", uri=f"{_WAREHOUSE}/publish/release")
# issue 24: declarations and the arrivals registries (risk levels, measures), for the arrivals build
CORE_DECLARATION = Asset(name="core.declaration", uri=f"{_WAREHOUSE}/core/declaration")
REF_ARRIVALS_REGISTRY = Asset(name="ref.arrivals_registry", uri=f"{_WAREHOUSE}/ref/risk_level")
