"""One source of truth for the Celery cluster: deploy/cluster.env is what docker-compose.yml's Airflow
containers and `make cluster`'s processes both get (executor settings, queues, pools, concurrency); the
cluster policy gives the tasks their queues and pools from covidsync.cluster, and only on Celery."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from covidsync import cluster

ROOT = Path(__file__).resolve().parents[2]
SHARED = "deploy/cluster.env"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def shared() -> dict[str, str]:
    return cluster.shared_settings(ROOT / SHARED)


def _airflow_services(compose: dict) -> dict[str, dict]:
    image = compose["x-airflow-common"]["image"]
    return {name: s for name, s in compose["services"].items() if s.get("image") == image}


def test_the_shared_file_is_plain_key_value(shared):
    assert shared["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    for key, value in shared.items():
        assert "$" not in value and not value.startswith(("'", '"')), (
            f"{key}: Compose and covidsync.cluster must read the same text (no quotes, no ${{...}})"
        )
    for key in (
        "AIRFLOW__CELERY__WORKER_CONCURRENCY",
        "COVIDSYNC_WORKER_QUEUES",
        "COVIDSYNC_POOL_LONG_SLOTS",
        "COVIDSYNC_POOL_WAREHOUSE_RESERVED_CONNECTIONS",
        "COVIDSYNC_POOL_WAREHOUSE_CONNECTIONS_PER_TASK",
    ):
        assert key in shared


def test_every_compose_airflow_container_reads_the_shared_file_and_overrides_none_of_it(compose, shared):
    services = _airflow_services(compose)
    assert {"airflow-scheduler", "airflow-worker", "airflow-apiserver", "airflow-init"} <= set(services)
    for name, service in services.items():
        assert service.get("env_file") == [SHARED], f"{name} does not read {SHARED}"
        overridden = sorted(set(service.get("environment") or {}) & set(shared))
        assert not overridden, f"{name} sets {overridden} itself: they belong in {SHARED} only"


def test_compose_workers_listen_on_the_shared_queues(compose, shared):
    command = compose["services"]["airflow-worker"]["command"]
    words = command.split() if isinstance(command, str) else list(command)
    assert words[:2] == ["celery", "worker"]
    queues = words[words.index("--queues") + 1].split(",")
    assert queues == cluster.worker_queues(shared) == [cluster.QUEUE_DEFAULT, cluster.QUEUE_LONG]


def test_compose_sets_the_pools_from_the_warehouse(compose):
    command = compose["services"]["warehouse-init"]["command"]
    assert "python -m covidsync.cluster pools" in " ".join(command)


def test_make_cluster_processes_get_the_shared_settings(tmp_path, monkeypatch, shared):
    for key in shared:
        monkeypatch.delenv(key, raising=False)
    layout = cluster.Layout(home=tmp_path / "c", api_port=18086, redis_port=16386, log_port=18796, workers=2)
    meta = "postgresql+psycopg2://postgres@127.0.0.1:5432/airflow"
    env = cluster.environ(layout, "postgresql://postgres@127.0.0.1:5432/covidsync", meta)
    for key, value in shared.items():
        assert env[key] == value, f"make cluster's {key} is {env.get(key)!r}, {SHARED} says {value!r}"
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://127.0.0.1:16386/0"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == meta
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+postgresql://postgres@127.0.0.1:5432/airflow"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18086/execution/"
    monkeypatch.setattr(cluster, "redis_server", lambda: "/usr/bin/redis-server")
    comps = {c.name: c for c in cluster.components(layout, env)}
    assert set(comps) == {
        "redis",
        "scheduler",
        "dag-processor",
        "triggerer",
        "api-server",
        "worker-1",
        "worker-1-logs",
        "worker-2",
        "worker-2-logs",
    }
    folders = set()
    for n in (1, 2):
        argv = comps[f"worker-{n}"].argv
        assert argv[argv.index("--queues") + 1].split(",") == cluster.worker_queues(shared)
        assert argv[argv.index("--concurrency") + 1] == shared["AIRFLOW__CELERY__WORKER_CONCURRENCY"]
        worker_env = comps[f"worker-{n}"].env
        folders.add(worker_env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"])
        assert worker_env["COVIDSYNC_CLUSTER_HOSTNAME"] == layout.worker_address(n)
        assert comps[f"worker-{n}-logs"].env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"] in folders
    assert len(folders) == 2, "each worker has a task log folder of its own"


def test_assignment_rules():
    assert cluster.assignment("build_health_status", "build_status", False) == {
        "queue": "long",
        "pool": cluster.POOL_LONG,
        "priority_weight": cluster.LONG_PRIORITY,
    }
    assert cluster.assignment("publish_shared_datasets", "publish", False)["queue"] == "long"
    assert cluster.assignment("ingest_facility_files", "process_group", True) == {
        "queue": "default",
        "pool": cluster.POOL_WAREHOUSE,
    }
    assert cluster.assignment("ingest_checkins", "register_files", False) == {}
    assert cluster.assignment("refresh_marts", "refresh", True) == {}


def test_warehouse_pool_is_sized_from_max_connections(shared):
    # (100 - 3 superuser-reserved - 20 kept for the apps and BI) // 2 connections per task
    assert cluster.warehouse_pool_slots(100, 3, shared) == 38
    assert cluster.warehouse_pool_slots(500, 3, shared) == 238
    assert cluster.warehouse_pool_slots(10, 3, shared) == 1


@pytest.mark.integration
def test_pools_read_the_warehouse(pg_admin_url, shared):
    import psycopg2

    conn = psycopg2.connect(pg_admin_url)
    with conn.cursor() as cur:
        cur.execute(
            "select current_setting('max_connections')::int, current_setting('superuser_reserved_connections')::int"
        )
        max_connections, reserved = cur.fetchone()
    conn.close()
    pools = cluster.pools(pg_admin_url, shared)
    assert pools[cluster.POOL_WAREHOUSE]["slots"] == cluster.warehouse_pool_slots(
        max_connections, reserved, shared
    )
    assert pools[cluster.POOL_LONG]["slots"] == int(shared["COVIDSYNC_POOL_LONG_SLOTS"])


_PARSE = """
import json, os
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
assert not bag.import_errors, bag.import_errors
print(json.dumps({f"{d}.{t.task_id}": [t.queue, t.pool] for d, dag in bag.dags.items() for t in dag.tasks}))
"""


@pytest.mark.parametrize("executor", ["CeleryExecutor", "LocalExecutor"])
def test_the_cluster_policy_assigns_queues_and_pools_on_celery_only(tmp_path, executor):
    """The policy is an `airflow.policy` entry point of the installed package: no DAG file names a pool."""
    env = {
        "PATH": str(Path(sys.executable).parent),
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__EXECUTOR": executor,
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
        "AIRFLOW__CELERY__BROKER_URL": "redis://127.0.0.1:1/0",
        "COVIDSYNC_HOME": str(ROOT),
    }
    proc = subprocess.run(
        [sys.executable, "-c", _PARSE], env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    tasks = json.loads(proc.stdout.strip().splitlines()[-1])
    on_celery = executor == "CeleryExecutor"
    assert tasks["build_health_status.build_status"] == (
        ["long", cluster.POOL_LONG] if on_celery else ["default", "default_pool"]
    )
    assert tasks["publish_shared_datasets.publish"][0] == ("long" if on_celery else "default")
    assert tasks["ingest_facility_files.process_group"][1] == (
        cluster.POOL_WAREHOUSE if on_celery else "default_pool"
    )
    assert tasks["ingest_facility_files.register_files"] == ["default", "default_pool"]
    for dag_file in (ROOT / "dags").glob("*.py"):
        text = dag_file.read_text()
        assert "pool=" not in text and "queue=" not in text, f"{dag_file.name} assigns a pool or queue itself"
