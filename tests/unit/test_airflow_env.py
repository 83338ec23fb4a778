"""The one environment of every Airflow process: .venv/bin on PATH, the port and the base URL from one
variable, DAGs unpaused in development only, and the unpausing of DAGs created paused before."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

from covidsync import airflow_env
from covidsync.errors import CovidsyncError

URL = "postgresql://u@127.0.0.1:5432/w"


def test_path_starts_with_this_pythons_scripts():
    env = airflow_env.environ(URL, {"PATH": "/usr/bin:/bin"})
    assert env["PATH"].split(":")[0] == str(Path(sys.executable).parent)
    assert (Path(env["PATH"].split(":")[0]) / "airflow").exists()
    again = airflow_env.environ(URL, env)
    assert again["PATH"] == env["PATH"], "not added twice"


@pytest.mark.parametrize(
    ("given", "port"),
    [({}, 8080), ({"COVIDSYNC_AIRFLOW_PORT": "8085"}, 8085), ({"AIRFLOW__API__PORT": "9090"}, 9090)],
)
def test_one_port_variable_and_the_base_url_follows(given, port):
    env = airflow_env.environ(URL, {"PATH": "/bin", **given})
    assert env["AIRFLOW__API__PORT"] == str(port)
    assert env["AIRFLOW__API__BASE_URL"] == f"http://localhost:{port}"
    assert airflow_env.base_url(env) == f"http://localhost:{port}"


def test_a_port_that_is_not_a_port_is_a_clear_error():
    with pytest.raises(CovidsyncError, match="COVIDSYNC_AIRFLOW_PORT must be a TCP port number"):
        airflow_env.environ(URL, {"COVIDSYNC_AIRFLOW_PORT": "http://x"})


def test_dags_unpaused_in_development_only(tmp_path):
    dev = airflow_env.environ(URL, {"AIRFLOW_HOME": str(tmp_path)})
    assert dev["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "False"
    deployed = airflow_env.environ(URL, {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql://a@b/c"})
    assert "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION" not in deployed


def test_project_dags_created_paused_are_unpaused(tmp_path):
    env = airflow_env.environ(URL, {"AIRFLOW_HOME": str(tmp_path)})
    with sqlite3.connect(tmp_path / "airflow.db") as conn:
        conn.execute("create table dag (dag_id text primary key, is_paused boolean)")
        conn.executemany(
            "insert into dag values (?, ?)", [("refresh_marts", 1), ("ingest_checkins", 0), ("not_ours", 1)]
        )
    assert airflow_env.unpause_project_dags(env) == ["refresh_marts"]
    with sqlite3.connect(tmp_path / "airflow.db") as conn:
        assert dict(conn.execute("select dag_id, is_paused from dag")) == {
            "refresh_marts": 0, "ingest_checkins": 0, "not_ours": 1,
        }  # fmt: skip
