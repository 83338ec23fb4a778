"""Configuration, read from the environment at call time (never at import time).

Every setting is a ``COVIDSYNC_*`` environment variable; Airflow connections supply the secrets
(the warehouse is the connection ``covidsync_warehouse``). Defaults are project-local paths under
``COVIDSYNC_HOME`` (the current directory when unset), so nothing here names a machine path.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

WAREHOUSE_CONN_ID = "covidsync_warehouse"
LOCAL_TZ = "Asia/Ho_Chi_Minh"


def _path(var: str, default: Callable[[], Path]) -> Path:
    """``var``'s path, else ``default()``: the default is computed only when the variable is unset (it
    resolved the checkout's path, a dozen ``lstat`` calls, on every call: a small file's steps ask for their
    folders a few dozen times)."""
    value = os.environ.get(var)
    if not value:
        return default()
    expanded = os.path.expanduser(value)
    # each value resolved once a process (and working directory, for a relative one): ``resolve`` is an
    # ``lstat`` a component, and a small file's steps ask for the same folders about ten times (issue 16)
    key = (expanded, None if os.path.isabs(expanded) else os.getcwd())
    found = _RESOLVED.get(key)
    if found is None:
        found = _RESOLVED[key] = Path(expanded).resolve()
    return found


_RESOLVED: dict[tuple[str, str | None], Path] = {}


def _checkout() -> Path:
    """The checkout this package was installed from (an editable install), else the working directory."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "sql").is_dir() and (root / "dags").is_dir() else Path.cwd().resolve()


def home() -> Path:
    """The project directory: holds dags/, sql/, great_expectations/ and the local state."""
    return _path("COVIDSYNC_HOME", _checkout)


def state_dir() -> Path:
    """Git-ignored local state: the embedded warehouse's data directory and its log."""
    return _path("COVIDSYNC_STATE_DIR", lambda: home() / ".covidsync")


def data_dir() -> Path:
    return _path("COVIDSYNC_DATA_DIR", lambda: home() / "data")


def landing_dir() -> Path:
    return _path("COVIDSYNC_LANDING_DIR", lambda: data_dir() / "landing")


def outbox_dir() -> Path:
    return _path("COVIDSYNC_OUTBOX_DIR", lambda: data_dir() / "outbox")


def archive_dir() -> Path:
    return _path("COVIDSYNC_ARCHIVE_DIR", lambda: data_dir() / "archive")


def rejected_dir() -> Path:
    return _path("COVIDSYNC_REJECTED_DIR", lambda: data_dir() / "rejected")


def airflow_home() -> Path:
    return _path("AIRFLOW_HOME", lambda: home() / ".airflow")


def sql_dir() -> Path:
    """The SQL shipped with the project (migrations and transforms)."""
    return _path("COVIDSYNC_SQL_DIR", lambda: home() / "sql")


def embedded_port() -> int:
    """TCP port of the embedded PostgreSQL on 127.0.0.1 (chosen not to collide with 5432)."""
    return int(os.environ.get("COVIDSYNC_EMBEDDED_PG_PORT", "54329"))


def report_dir() -> Path:
    """Where the daily HTML report is written (``daily-YYYY-MM-DD.html`` and ``latest.html``)."""
    return _path("COVIDSYNC_REPORT_DIR", lambda: data_dir() / "reports")


def reporting_cutoff() -> str:
    """The local time (``HH:MM``) by which a facility's daily report counts as on time (default 20:00)."""
    import re

    value = os.environ.get("COVIDSYNC_REPORTING_CUTOFF", "20:00").strip()
    m = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", value)
    if not m:
        raise ValueError(f"COVIDSYNC_REPORTING_CUTOFF must be a local time HH:MM (24 h), not {value!r}")
    return f"{int(m[1]):02d}:{m[2]}"


def alert_webhook() -> str | None:
    """URL that alerts are POSTed to as JSON (``COVIDSYNC_ALERT_WEBHOOK``); unset: alerts stay in ops.alert."""
    return os.environ.get("COVIDSYNC_ALERT_WEBHOOK") or None


def alert_email() -> list[str]:
    """Addresses that alerts are e-mailed to (``COVIDSYNC_ALERT_EMAIL``, comma-separated)."""
    return [a.strip() for a in os.environ.get("COVIDSYNC_ALERT_EMAIL", "").split(",") if a.strip()]


def smtp_host() -> str | None:
    """The SMTP server (``host[:port]``) alert e-mails go through (``COVIDSYNC_SMTP_HOST``)."""
    return os.environ.get("COVIDSYNC_SMTP_HOST") or None


def rule_set() -> str:
    """The rule set whose statuses are published (contract: a rule set is a named configuration)."""
    return os.environ.get("COVIDSYNC_RULE_SET", "hb-2021-11")


def memory_size(var: str, default: str) -> str:
    """A PostgreSQL memory setting (``work_mem``, ``maintenance_work_mem``) from the environment variable ``var``:
    a whole number of kB, MB or GB such as ``default``; anything else is refused (it goes into ``set_config``)."""
    value = os.environ.get(var, default).strip()
    if not value.replace("kB", "").replace("MB", "").replace("GB", "").isdigit():
        raise ValueError(f"{var}: {value!r} is not a size such as {default}")
    return value


def release_retention() -> int:
    """How many published releases keep their rows and deltas (apps within that many sync incrementally)."""
    value = int(os.environ.get("COVIDSYNC_RELEASE_RETENTION", "7"))
    if value < 2:
        raise ValueError(
            "COVIDSYNC_RELEASE_RETENTION must be at least 2 (the current release and one before)"
        )
    return value


def publish_min_kept_share() -> float:
    """The share of the previous release's persons a new release must keep to become current."""
    return float(os.environ.get("COVIDSYNC_PUBLISH_MIN_KEPT_SHARE", "0.99"))


def publish_max_status_change() -> float:
    """The largest share of persons whose card colour or F0 flag may change without a recorded override."""
    return float(os.environ.get("COVIDSYNC_PUBLISH_MAX_STATUS_CHANGE", "0.2"))


def sync_max_lag_minutes() -> float:
    """How long an app may stay behind the current release before reconciliation raises an alert."""
    return float(os.environ.get("COVIDSYNC_SYNC_MAX_LAG_MINUTES", "60"))


def silent_venue_days() -> int:
    """Days in a row without a scan after which a venue that must scan daily is listed as silent (adoption.md)."""
    value = int(os.environ.get("COVIDSYNC_SILENT_VENUE_DAYS", "3"))
    if value < 1:
        raise ValueError("COVIDSYNC_SILENT_VENUE_DAYS must be at least 1")
    return value


def min_venue_compliance() -> float:
    """The share of a district's venues scanning on a day under which an alert is raised (adoption.md)."""
    value = float(os.environ.get("COVIDSYNC_MIN_VENUE_COMPLIANCE", "0.6"))
    if not 0 <= value <= 1:
        raise ValueError("COVIDSYNC_MIN_VENUE_COMPLIANCE must be a share between 0 and 1, e.g. 0.6")
    return value
