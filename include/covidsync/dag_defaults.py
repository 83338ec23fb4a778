"""Defaults every covidsync DAG shares (imported by the thin files in dags/; cheap to import), and the one
task several DAGs share: :func:`watcher`.

Retries default to 2 with exponential back-off from 2 minutes; ``COVIDSYNC_TASK_RETRIES`` changes the
count (``covidsync run`` sets it to 0 so that a one-off run reports a failure at once).
"""

from __future__ import annotations

import datetime as dt
import os

DEFAULT_ARGS = {
    "owner": "covidsync-data-team",
    "retries": int(os.environ.get("COVIDSYNC_TASK_RETRIES", "2")),
    "retry_delay": dt.timedelta(seconds=int(os.environ.get("COVIDSYNC_TASK_RETRY_DELAY", "120"))),
    "retry_exponential_backoff": True,
    "execution_timeout": dt.timedelta(hours=2),
}


def watcher():
    """The run's ``watcher`` task: fails the run when any task of it failed (a ``summarise`` task that runs
    regardless would otherwise hide the failure). Call inside a DAG and set every task upstream of it."""
    from airflow.sdk import task

    @task(task_id="watcher", trigger_rule="one_failed", retries=0)
    def watcher_task() -> None:
        """Fails the run when any task failed (summarise runs regardless and would otherwise hide it)."""
        raise RuntimeError("a task of this run failed: see its log")

    return watcher_task()


def mapped_label(label: str) -> None:
    """Name the running mapped task instance in the UI (its ``map_index_template`` is ``{{ label }}``)."""
    from airflow.sdk import get_current_context

    get_current_context()["label"] = label  # type: ignore[typeddict-unknown-key]
