"""Defaults every covidsync DAG shares (imported by the thin files in dags/; cheap to import).

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
