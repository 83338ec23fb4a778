"""`make airflow` as a new user meets it: a plain shell (no activated .venv, no `airflow` on PATH), a port
chosen by the one documented variable, the UI's health endpoint answering, and a DAG triggered through the
REST API that runs to success (the project's DAGs are unpaused in this development setup).

One start of `airflow standalone` (about a minute on two cores) serves every check here.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

PROJECT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 600  # a loaded 2-core machine took over 4 min; an idle one about 75 s
RUN_TIMEOUT = 420


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _clean_env(**extra: str) -> dict[str, str]:
    """What a new user's shell has: system PATH only, no virtual environment, no Airflow variables."""
    keep = {k: os.environ[k] for k in ("HOME", "LANG", "TZ", "USER") if k in os.environ}
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", **keep, **extra}


@pytest.fixture(scope="module")
def standalone(module_warehouse_url, tmp_path_factory, gx_project):
    root = tmp_path_factory.mktemp("make-airflow")
    port = _free_port()
    env = _clean_env(
        COVIDSYNC_WAREHOUSE_URL=module_warehouse_url,
        COVIDSYNC_AIRFLOW_PORT=str(port),
        AIRFLOW_HOME=str(root / "airflow"),
        COVIDSYNC_DATA_DIR=str(root / "data"),
        COVIDSYNC_GX_DIR=str(gx_project),
    )
    assert subprocess.run(["sh", "-c", "command -v airflow"], env=env).returncode != 0, (
        "the test's shell must not find `airflow` on PATH"
    )
    log = (root / "make-airflow.log").open("w")
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "airflow"],
        cwd=PROJECT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://localhost:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert proc.poll() is None, (
                "make airflow exited:\n" + (root / "make-airflow.log").read_text()[-4000:]
            )
            try:
                health = requests.get(f"{base}/api/v2/monitor/health", timeout=15)
                if health.status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or busy starting
                pass
            assert time.monotonic() < deadline, (
                "the UI never answered:\n" + (root / "make-airflow.log").read_text()[-4000:]
            )
            time.sleep(2)
        yield {"base": base, "env": env, "root": root, "health": health.json()}
    finally:
        # every process `make airflow` started, taken before the stop: airflow standalone starts its
        # components in process groups of their own, and the scheduler's LocalExecutor workers renamed
        # by setproctitle show neither their command nor their environment any more
        tree = _process_tree(proc.pid)
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        _stop_leftovers(tree)


def _process_tree(pid: int) -> list:
    import psutil

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _stop_leftovers(tree: list) -> None:
    """The processes of the tree that outlived the stop of `make airflow`, killed: nothing is left behind."""
    import psutil

    _, alive = psutil.wait_procs(tree, timeout=10)
    for leftover in alive:
        try:
            leftover.kill()
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(alive, timeout=10)
    assert not alive, f"processes of make airflow still running: {[p.pid for p in alive]}"


@pytest.mark.airflow
def test_make_airflow_serves_the_ui_and_runs_a_dag_triggered_through_the_api(standalone):
    base, root = standalone["base"], standalone["root"]
    output = (root / "make-airflow.log").read_text()
    assert "FileNotFoundError" not in output, output[-4000:]
    assert f"Airflow UI on {base}" in output and "log in as admin" in output, output[:4000]
    assert standalone["health"]["metadatabase"]["status"] == "healthy"
    assert requests.get(base + "/", timeout=90).status_code == 200, "the UI's page"

    # the login the README documents: user admin, the generated password
    passwords = json.loads((root / "airflow" / "simple_auth_manager_passwords.json.generated").read_text())
    token = requests.post(
        f"{base}/auth/token", json={"username": "admin", "password": passwords["admin"]}, timeout=90
    )
    assert token.status_code in (200, 201), token.text
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

    dag_id = "refresh_marts"
    deadline = time.monotonic() + RUN_TIMEOUT
    # the DAG processor parses the project's DAGs shortly after start-up; `make airflow` unpauses them
    # (development setup) once the UI answers, without anyone touching the UI
    while True:
        dag = requests.get(f"{base}/api/v2/dags/{dag_id}", headers=headers, timeout=90)
        if dag.status_code == 200 and dag.json()["is_paused"] is False:
            break
        assert time.monotonic() < deadline, f"{dag_id} never showed unpaused: {dag.text[:500]}"
        time.sleep(2)
    output = (root / "make-airflow.log").read_text()
    assert f"the Airflow UI is up on {base}" in output and "(development setup)" in output, output[-4000:]

    # the development setup keeps Airflow's metadata in SQLite: while the scheduler writes the runs of the
    # DAGs it has just unpaused, a write through the API can meet "database is locked" and answer 500 once
    for _ in range(5):
        created = requests.post(
            f"{base}/api/v2/dags/{dag_id}/dagRuns",
            headers=headers,
            json={"logical_date": "2021-11-20T00:00:00+07:00", "dag_run_id": "test_make_airflow"},
            timeout=90,
        )
        if created.status_code < 500:
            break
        time.sleep(3)
    assert created.status_code in (200, 201), created.text
    while True:
        state = requests.get(
            f"{base}/api/v2/dags/{dag_id}/dagRuns/test_make_airflow", headers=headers, timeout=90
        ).json()["state"]
        if state in ("success", "failed"):
            break
        assert time.monotonic() < deadline, f"run still {state}"
        time.sleep(2)
    assert state == "success", (root / "make-airflow.log").read_text()[-4000:]
