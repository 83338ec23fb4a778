"""The publish gate: Great Expectations (GX Core 1.x, called directly) over a release's profile.

The profile is a few numbers about the candidate release against the previous published one, and the column
names of the views; never rows, never personal data. The suite is committed JSON,
``great_expectations/gx/expectations/publish_release.json``; it runs on the same pandas data source and
whole-dataframe batch definition as the file gate (:mod:`covidsync.ingest.batch_gate`). Every expectation is
critical: any failure holds the release.

The frame (column ``part`` tells rows apart): one ``metrics`` row (``row_count``, ``previous_kept_share``,
``status_changed_share``) and one ``column`` row per column of each consumer's view (``pccovid_column``,
``vneid_column``, ``sskdt_column``). Suite parameters: ``min_kept_share``, ``max_status_changed_share`` (1 with an override).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUITE = "publish_release"
_LOCK = threading.RLock()
_CACHE: dict[Path, tuple[Any, Any, Any]] = {}


@dataclass
class PublishGateResult:
    success: bool
    failed: list[str] = field(default_factory=list)
    results: dict = field(default_factory=dict)  # JSON-serialisable, no rows


def _project():
    from covidsync.ingest import batch_gate

    root = batch_gate.project_dir()
    with _LOCK:
        cached = _CACHE.get(root)
        if cached is None:
            context = batch_gate._context(root)
            try:
                batch_definition = batch_gate._batch_definition(context, write=False)
            except LookupError:
                batch_gate.ensure_project(root)
                context = batch_gate._context(root)
                batch_definition = batch_gate._batch_definition(context, write=False)
            suite = batch_gate._suite(context, SUITE)
            cached = _CACHE[root] = (context, batch_definition, suite)
        return cached


def profile_frame(profile: dict):
    import pandas as pd

    rows: list[dict[str, Any]] = [
        {
            "part": "metrics",
            "row_count": float(profile["row_count"]),
            "previous_kept_share": float(profile["previous_kept_share"]),
            "status_changed_share": float(profile["status_changed_share"]),
        }
    ]
    from covidsync.publish import CONSUMERS

    for app in CONSUMERS:
        rows += [{"part": "column", f"{app}_column": c} for c in profile[f"{app}_columns"]]
    columns = ["part", "row_count", "previous_kept_share", "status_changed_share"]
    frame = pd.DataFrame(rows, columns=[*columns, *(f"{app}_column" for app in CONSUMERS)])
    for column in columns[1:]:
        frame[column] = frame[column].astype("float64")
    return frame


def run(profile: dict, *, min_kept_share: float, max_status_changed_share: float) -> PublishGateResult:
    """Validate a release profile with the ``publish_release`` suite."""
    from covidsync.ingest.batch_gate import _jsonable

    context, batch_definition, suite = _project()
    frame = profile_frame(profile)
    parameters = {"min_kept_share": min_kept_share, "max_status_changed_share": max_status_changed_share}
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    outcome = batch.validate(
        suite, result_format={"result_format": "BASIC"}, expectation_parameters=parameters
    )
    failed: list[str] = []
    entries = []
    for item in outcome.results:
        config = item.expectation_config
        kwargs = {k: _jsonable(v) for k, v in config.kwargs.items() if k != "batch_id"}
        column = kwargs.pop("column", None)
        observed = _jsonable((item.result or {}).get("observed_value"))
        entry = {"type": config.type, "column": column, "success": bool(item.success), "observed": observed}
        if not item.success:
            if column and column.endswith("_column") and f"{column.split('_')[0]}_columns" in profile:
                expected = set(kwargs.get("value_set") or [])
                seen = set(profile[f"{column.split('_')[0]}_columns"])
                entry["message"] = (
                    f"{column.split('_')[0]} view columns differ from the contract: "
                    f"extra {sorted(seen - expected)}, missing {sorted(expected - seen)}"
                )
            elif column == "status_changed_share":
                entry["message"] = (
                    f"mass change: {profile['status_changed']} persons ({profile['status_changed_share']:.1%}) "
                    f"changed card colour or F0, over the limit {max_status_changed_share:.1%}; "
                    "record an override to publish it (covidsync publish override)"
                )
            elif column == "previous_kept_share":
                entry["message"] = (
                    f"incomplete: {profile['rows_removed']} persons of the previous release are missing "
                    f"(kept {profile['previous_kept_share']:.1%}, at least {min_kept_share:.1%} required)"
                )
            else:
                entry["message"] = (
                    f"{column}: {config.type} failed (observed {json.dumps(observed, default=str)})"
                )
            failed.append(entry["message"])
        entries.append(entry)
    results = {
        "suite": SUITE,
        "success": not failed,
        "failed": failed,
        "evaluated": len(entries),
        "parameters": parameters,
        "expectations": entries,
    }
    return PublishGateResult(not failed, failed, json.loads(json.dumps(_jsonable(results), default=str)))
