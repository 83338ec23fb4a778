"""The environment that runs Airflow on this project (``covidsync run``, ``covidsync airflow``, tests).

Airflow is configured entirely by environment variables, so nothing is written into ``airflow.cfg``:
``AIRFLOW_HOME`` inside the project (git-ignored), SQLite metadata for development, the project's
``dags/`` and ``plugins/`` folders, no example DAGs, and the warehouse as the Airflow connection
``covidsync_warehouse`` made from the resolved warehouse URL. Variables already set in the caller's
environment win, so a deployment can point any of them elsewhere.
"""

from __future__ import annotations

import os

from covidsync import settings


def connection_uri(url: str) -> str:
    """An Airflow connection URI for a libpq URL (Airflow names the type ``postgres``)."""
    for prefix in ("postgresql+psycopg2://", "postgresql://"):
        if url.startswith(prefix):
            return "postgres://" + url[len(prefix) :]
    return url


def environ(warehouse_url: str, base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    home = settings.home()
    airflow_home = settings.airflow_home()
    defaults = {
        "COVIDSYNC_HOME": str(home),
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DEFAULT_TIMEZONE": settings.LOCAL_TZ,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
        "AIRFLOW__CORE__DAGBAG_IMPORT_ERROR_TRACEBACK_DEPTH": "5",
        "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
    }
    for key, value in defaults.items():
        env.setdefault(key, value)
    env["AIRFLOW_CONN_" + settings.WAREHOUSE_CONN_ID.upper()] = connection_uri(warehouse_url)
    env["COVIDSYNC_WAREHOUSE_URL"] = warehouse_url
    return env
