"""The Airflow Assets this project publishes, so downstream DAGs schedule on data, not on clocks.

URIs name host, port, database, schema and table, as Airflow's postgres URI scheme requires; the host
is the logical name of the warehouse, not a machine address.
"""

from __future__ import annotations

from airflow.sdk import Asset

_WAREHOUSE = "postgres://warehouse:5432/covidsync"

CORE_VACCINATION = Asset(name="core.vaccination", uri=f"{_WAREHOUSE}/core/vaccination")
CORE_TEST_RESULT = Asset(name="core.test_result", uri=f"{_WAREHOUSE}/core/test_result")
