"""Airflow cluster policy (entry point ``airflow.policy``): queues, pools and priorities on the Celery cluster.

Registered in pyproject.toml, so every Airflow process of an environment where covidsync is installed (the
``.venv`` of ``make cluster``, the compose image) applies it when it parses the DAGs; the DAG files carry no
queue or pool of their own. The rules are :func:`covidsync.cluster.assignment`. They apply only when the
executor is the CeleryExecutor: ``airflow dags test`` (``covidsync run``, ``make demo``) and ``make airflow``
keep Airflow's defaults and need no pools.
"""

from __future__ import annotations

from airflow.policies import hookimpl


def _celery() -> bool:
    from airflow.configuration import conf

    return "CeleryExecutor" in conf.get("core", "executor", fallback="")


@hookimpl
def task_policy(task) -> None:
    if not _celery():
        return
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    from covidsync.cluster import assignment

    dag_id = task.dag.dag_id if task.dag else getattr(task, "dag_id", "")
    for attribute, value in assignment(dag_id, task.task_id, isinstance(task, MappedOperator)).items():
        setattr(task, attribute, value)
