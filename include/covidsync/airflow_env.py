"""The environment that runs Airflow on this project (``covidsync run``, ``covidsync airflow``, ``make airflow``,
``make cluster``, tests): one function, :func:`environ`, so every way of starting Airflow gets the same one.

Airflow is configured entirely by environment variables, so nothing is written into ``airflow.cfg``:
``AIRFLOW_HOME`` inside the project (git-ignored), SQLite metadata for development, the project's
``dags/`` and ``plugins/`` folders, no example DAGs, and the warehouse as the Airflow connection
``covidsync_warehouse`` made from the resolved warehouse URL. Variables already set in the caller's
environment win, so a deployment can point any of them elsewhere.

Three things make ``airflow standalone`` work from a plain shell (no activated virtual environment):

* ``PATH`` starts with the directory of this Python's scripts (``.venv/bin``): ``airflow standalone`` starts
  its scheduler, DAG processor, triggerer and API server as ``airflow ...`` found on ``PATH``, and the
  task processes do the same;
* the API server's port is one variable, ``COVIDSYNC_AIRFLOW_PORT`` (or Airflow's own ``AIRFLOW__API__PORT``;
  default 8080), and the base URL that workers call back on (``AIRFLOW__API__BASE_URL``, hence the execution
  API's URL) is derived from it: setting only the port used to leave every task calling ``localhost:8080``;
* in the development setup (the default SQLite metadata database) the project's DAGs are created unpaused,
  so a run triggered in the UI runs instead of waiting ``queued`` (``make airflow`` unpauses them once its
  API server answers), and workers wait up to 30 s for the execution API instead of 5 s (one API server
  worker on a small machine, all DAGs starting together).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from covidsync import settings

DEFAULT_PORT = 8080


def connection_uri(url: str) -> str:
    """An Airflow connection URI for a libpq URL (Airflow names the type ``postgres``)."""
    for prefix in ("postgresql+psycopg2://", "postgresql://"):
        if url.startswith(prefix):
            return "postgres://" + url[len(prefix) :]
    return url


def port(env: dict[str, str] | None = None) -> int:
    """The Airflow API server's (and UI's) port: ``COVIDSYNC_AIRFLOW_PORT``, else ``AIRFLOW__API__PORT``, else 8080."""
    env = os.environ if env is None else env
    value = env.get("COVIDSYNC_AIRFLOW_PORT") or env.get("AIRFLOW__API__PORT") or str(DEFAULT_PORT)
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 0 < number < 65536:
        from covidsync.errors import CovidsyncError

        raise CovidsyncError(f"COVIDSYNC_AIRFLOW_PORT must be a TCP port number (1-65535), not {value!r}")
    return number


def base_url(env: dict[str, str] | None = None) -> str:
    """The URL of the Airflow UI and API server (``AIRFLOW__API__BASE_URL`` if set, else derived from the port)."""
    env = os.environ if env is None else env
    return (env.get("AIRFLOW__API__BASE_URL") or f"http://localhost:{port(env)}").rstrip("/")


def scripts_dir() -> Path:
    """The directory holding this Python's ``airflow`` and ``covidsync`` scripts (``.venv/bin``)."""
    return Path(sys.executable).parent


def is_development(env: dict[str, str]) -> bool:
    """The development setup: Airflow's metadata in SQLite (``make airflow``), not a deployment's database."""
    return env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "").startswith("sqlite")


def environ(warehouse_url: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every Airflow process started for this project (see the module's docstring)."""
    env = dict(os.environ if base is None else base)
    home = settings.home()
    airflow_home = Path(env.get("AIRFLOW_HOME") or settings.airflow_home())
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
    api_port = port(env)
    env.setdefault("AIRFLOW__API__PORT", str(api_port))
    env.setdefault("AIRFLOW__API__BASE_URL", f"http://localhost:{api_port}")
    if is_development(env):
        env.setdefault("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "False")
        # one API server worker on a small machine: when the unpaused DAGs start together, a task's first
        # call to the execution API can take longer than Airflow's 5 s and the task failed before it ran
        env.setdefault("AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT", "30")
    scripts = str(scripts_dir())
    path = env.get("PATH", "")
    if scripts not in path.split(os.pathsep):
        env["PATH"] = scripts + (os.pathsep + path if path else "")
    env["AIRFLOW_CONN_" + settings.WAREHOUSE_CONN_ID.upper()] = connection_uri(warehouse_url)
    env["COVIDSYNC_WAREHOUSE_URL"] = warehouse_url
    return env


def passwords_file(env: dict[str, str]) -> Path:
    """Where ``airflow standalone`` keeps the generated password of the user ``admin``."""
    configured = env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
    return (
        Path(configured)
        if configured
        else Path(env["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated"
    )


def unpause_project_dags(env: dict[str, str]) -> list[str]:
    """In the development setup, unpause the project's DAGs already in the metadata database (DAGs created
    before ``DAGS_ARE_PAUSED_AT_CREATION`` was off); return the ones unpaused. A no-op elsewhere."""
    if not is_development(env):
        return []
    import sqlite3

    database = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///")
    if not Path(database).is_file():
        return []
    dag_ids = _project_dag_ids(env)
    if not dag_ids:
        return []
    ids = json.dumps(dag_ids)
    try:
        with sqlite3.connect(database) as conn:
            paused = [
                r[0]
                for r in conn.execute(
                    "select dag_id from dag where is_paused and dag_id in (select value from json_each(?))",
                    (ids,),
                )
            ]
            conn.execute(
                "update dag set is_paused = 0 where dag_id in (select value from json_each(?))", (ids,)
            )
    except sqlite3.Error:
        return []
    return paused


def set_run_start(env: dict[str, str], dag_id: str, run_id: str) -> None:
    """Development setup: a ``dags test`` run's start date is its logical date (a 2021 demo day shows as a
    run of five years); set it to when its first task started."""
    if not is_development(env):
        return
    import sqlite3

    database = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///")
    try:
        with sqlite3.connect(database) as conn:
            conn.execute(
                """
                update dag_run set start_date = coalesce(
                    (select min(start_date) from task_instance t
                     where t.dag_id = dag_run.dag_id and t.run_id = dag_run.run_id), start_date)
                where dag_id = ? and run_id = ?
                """,
                (dag_id, run_id),
            )
    except sqlite3.Error:
        return


def project_dags_unpaused(env: dict[str, str]) -> bool:
    """True when every DAG of the project's dags/ folder is in the metadata database and unpaused."""
    import sqlite3

    database = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].removeprefix("sqlite:///")
    dag_ids = _project_dag_ids(env)
    try:
        with sqlite3.connect(database) as conn:
            (count,) = conn.execute(
                "select count(*) from dag where not is_paused and dag_id in (select value from json_each(?))",
                (json.dumps(dag_ids),),
            ).fetchone()
    except sqlite3.Error:
        return False
    return count == len(dag_ids)


def _project_dag_ids(env: dict[str, str]) -> list[str]:
    return sorted(
        p.stem for p in Path(env["AIRFLOW__CORE__DAGS_FOLDER"]).glob("*.py") if not p.stem.startswith("_")
    )
