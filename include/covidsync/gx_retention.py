"""Retention of the Great Expectations site: validation results and their Data Docs pages older than
``COVIDSYNC_GX_RETENTION_DAYS`` (default 30, as the check-ins' retention; 0 keeps everything) are removed.

Every gated file stores one GX validation result (``gx/uncommitted/validations/<suite>/<run name>/<run
time>/<batch>.json``) and renders one page (the same path under ``data_docs/local_site/validations/``, as
``.html``). Nothing removed here is the record of a gate: each file's outcome, failed expectations and
warnings stay in ``ops.validation_result`` and in the facility's ``result.json``; the pages are for reading
a recent run. Without retention a national day's thousands of files add thousands of results to the site,
and every full rebuild of its index reads all of them.

A run's age is its run time (the folder GX names ``YYYYMMDDTHHMMSS.ffffffZ``, UTC, when the file was
gated). :func:`prune` takes the day it runs for, so a rerun of that day removes nothing more.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import shutil
from pathlib import Path

from covidsync.errors import CovidsyncError

log = logging.getLogger(__name__)

#: the folder name GX gives a run time (``RunIdentifier.to_tuple``)
RUN_TIME = re.compile(r"^(\d{8}T\d{6})\.\d{6}Z$")


def retention_days() -> int:
    """``COVIDSYNC_GX_RETENTION_DAYS`` (default 30): days of validation results and pages kept; 0 keeps all."""
    raw = os.environ.get("COVIDSYNC_GX_RETENTION_DAYS", "30")
    try:
        days = int(raw)
    except ValueError:
        days = -1
    if days < 0:
        raise CovidsyncError(
            f"COVIDSYNC_GX_RETENTION_DAYS must be a whole number of days (0 keeps everything), not {raw!r}"
        )
    return days


def _run_time(folder: Path) -> dt.datetime | None:
    match = RUN_TIME.match(folder.name)
    if match is None:
        return None
    return dt.datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=dt.UTC)


def _remove_empty_parents(folder: Path, top: Path) -> None:
    """``folder``'s parents up to (not including) ``top``, each removed while it is empty."""
    for parent in folder.parents:
        if parent == top or top not in parent.parents:
            return
        try:
            parent.rmdir()
        except OSError:  # not empty (or already gone): the folders above it are not empty either
            return


def old_runs(root: Path, cutoff: dt.datetime) -> list[Path]:
    """The run-time folders under the results store of the GX project ``root`` older than ``cutoff``,
    relative to the store (the same relative path holds the run's pages in the site)."""
    store = root / "gx" / "uncommitted" / "validations"
    if not store.is_dir():
        return []
    found = []
    for folder in store.glob("*/*/*"):  # <suite>/<run name>/<run time>
        when = _run_time(folder)
        if folder.is_dir() and when is not None and when < cutoff:
            found.append(folder.relative_to(store))
    return sorted(found)


def prune(day: dt.date, *, days: int | None = None) -> dict:
    """Remove the validation results, and their pages, of runs before ``day - days`` (00:00 UTC) from the
    project (``COVIDSYNC_GX_DIR``); rebuild the site's index when anything went. Returns {"cutoff",
    "runs_removed", "pages_removed"}."""
    from covidsync.ingest import batch_gate

    days = retention_days() if days is None else days
    if days == 0:
        return {"cutoff": None, "runs_removed": 0, "pages_removed": 0}
    root = batch_gate.project_dir()
    cutoff = dt.datetime.combine(day - dt.timedelta(days=days), dt.time(), tzinfo=dt.UTC)
    uncommitted = root / "gx" / "uncommitted"
    store = uncommitted / "validations"
    site = uncommitted / "data_docs" / batch_gate.DOCS_SITE / "validations"
    runs = old_runs(root, cutoff)
    pages = 0
    for run in runs:
        for top in (store, site):
            folder = top / run
            if not folder.exists():
                continue
            if top is site:
                pages += sum(1 for _ in folder.rglob("*.html"))
            shutil.rmtree(folder)
            _remove_empty_parents(folder, top)
    if runs and batch_gate.docs_index(root).exists():
        batch_gate.build_data_docs(validation_pages=False)
    log.info("GX retention: %d run(s) before %s removed (%d page(s))", len(runs), cutoff.date(), pages)
    return {"cutoff": cutoff.date().isoformat(), "runs_removed": len(runs), "pages_removed": pages}
