"""The batch gate: Great Expectations validates a file's per-batch profile, never its rows.

The SQL that runs the row rules also computes a small profile of the batch (counts, shares, the value counts
of the canonical columns of the rows that would load, and the facility's recent history). This module turns
the profile into a few rows of a pandas DataFrame and validates it with the dataset's committed suite
(``great_expectations/gx/expectations/<dataset>_batch.json``). Reading every staged row with GX would cost
more than the load itself; the profile costs nothing extra and holds no personal data, so its results can be
stored (``ops.validation_result``) and published (Data Docs).

Severity is the expectation's own ``severity`` field (GX 1.x): a failed ``critical`` expectation holds the
file (``batch_rejected``); a failed ``warning`` is recorded and never holds it. See docs/great-expectations.md.

The batch handed to GX (one DataFrame, column ``part`` tells the rows apart):

- ``metrics``: ``rows_total``, ``rows_rejected``, ``rejected_share``, ``duplicate_keys``, ``null_keys``;
- ``value``: one row per (canonical column, value) of ``value_counts``: the value in the column of its name
  (as text: ``"2"`` for dose 2, ``"true"`` for pooled), ``value_count`` beside it;
- ``history``: ``history_days``, ``rows_total_vs_history`` and ``positivity_vs_history`` (null when the
  check does not apply: under :data:`HISTORY_MIN_DAYS` days of history, or positivity unknown).

Column expectations skip nulls, so each expectation sees only the rows of its part. Bounds that depend on
the profile are suite parameters (``$PARAMETER``): ``max_rejected_share``, ``rows_total_min``/``_max``,
``positivity_min``/``_max``; :func:`history_bounds` computes the last four.

``great_expectations`` is imported inside functions only: it takes seconds to import, and DAG files import
this module.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from covidsync import settings

__all__ = [
    "CANONICAL_COLUMNS",
    "SUITE_DATASETS",
    "HISTORY_FALLBACK_SHARE",
    "HISTORY_MIN_DAYS",
    "HISTORY_STDS",
    "GateResult",
    "build_data_docs",
    "ensure_project",
    "gx_context",
    "history_bounds",
    "profile_frame",
    "project_dir",
    "run_gate",
    "store_result",
    "suite_name",
]

log = logging.getLogger(__name__)

SUITE_DATASETS = (
    "vaccinations",
    "test_results",
    "checkins",
    "venues",
    "app_users",
    "population",
    "declarations",
)
# The canonical columns whose values the gate checks, per dataset (the keys of ``value_counts``).
CANONICAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "vaccinations": ("vaccine_code", "dose_number", "gender"),
    "test_results": ("test_type", "result", "pooled", "gender"),
    "checkins": ("direction", "mode", "person_kind"),
    "venues": (),
    "app_users": (),  # adoption.md (issue 20)
    "population": (),
    "declarations": ("kind", "app", "person_kind"),  # issue 24
}
METRICS = ("rows_total", "rows_rejected", "rejected_share", "duplicate_keys", "null_keys")

# History checks (warnings): mean ± HISTORY_STDS std, or ± HISTORY_FALLBACK_SHARE of the mean when the std
# is 0 or unknown; not applied with fewer than HISTORY_MIN_DAYS days of history.
HISTORY_MIN_DAYS = 7
HISTORY_STDS = 3.0
HISTORY_FALLBACK_SHARE = 0.5

DATASOURCE = "covidsync_gate"
ASSET = "profile"
BATCH_DEFINITION = "whole_profile"
DOCS_SITE = "local_site"
# The columns of the profile frame that the history checks read (null when the check is skipped).
HISTORY_COLUMNS = {"rows_total_vs_history": "rows_total", "positivity_vs_history": "positivity"}
# GX result keys that could point at rows; never copied into our results.
_ROW_KEYS = frozenset(
    {
        "partial_unexpected_index_list",
        "unexpected_index_list",
        "unexpected_index_query",
        "unexpected_rows",
        "unexpected_list",
        "partial_unexpected_list",
        "partial_unexpected_counts",
        "unexpected_index_column_names",
    }
)


@dataclass
class GateResult:
    success: bool  # False when any critical expectation failed
    failed: list[str] = field(default_factory=list)  # failed critical expectations, human-readable
    warnings: list[str] = field(default_factory=list)  # failed warning-level expectations, human-readable
    evaluated: int = 0  # number of expectations evaluated
    results: dict = field(default_factory=dict)  # JSON-serialisable summary, no rows
    docs_key: Any = None  # where GX stored the result (docs built or stored), for a group's Data Docs


def project_dir() -> Path:
    """The GX project folder (holds ``gx/``): ``COVIDSYNC_GX_DIR``, else ``<home>/great_expectations``."""
    value = os.environ.get("COVIDSYNC_GX_DIR")
    return Path(value).expanduser().resolve() if value else settings.home() / "great_expectations"


def suite_name(dataset: str) -> str:
    """The suite (and validation definition, and checkpoint) of a dataset: ``<dataset>_batch``."""
    if dataset not in SUITE_DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}: expected one of {', '.join(SUITE_DATASETS)}")
    return f"{dataset}_batch"


def docs_index(root: Path | None = None) -> Path:
    return (root or project_dir()) / "gx" / "uncommitted" / "data_docs" / DOCS_SITE / "index.html"


# --- the profile as a GX batch ---------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    """A finite number, else None (None, NaN, text)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _as_text(value: Any) -> str | None:
    """A canonical value as text, the same whether the profile came from Python or from jsonb keys."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def history_bounds(mean: Any, std: Any, days: Any) -> tuple[float, float] | None:
    """The accepted range of a value given its history, or None when the history cannot judge it.

    mean ± :data:`HISTORY_STDS` std; ± :data:`HISTORY_FALLBACK_SHARE` of the mean when the std is 0 or
    unknown; None with fewer than :data:`HISTORY_MIN_DAYS` days or no mean. The lower bound is clipped at 0.
    """
    mean, std, days = _number(mean), _number(std), _number(days)
    if mean is None or days is None or days < HISTORY_MIN_DAYS:
        return None
    band = HISTORY_STDS * std if std is not None and std > 0 else HISTORY_FALLBACK_SHARE * abs(mean)
    return max(mean - band, 0.0), mean + band


def _checked_profile(profile: dict) -> dict:
    """Fail loudly on a malformed profile: a missing metric would otherwise pass its expectation vacuously."""
    dataset = profile.get("dataset")
    suite_name(dataset)
    missing = [key for key in (*METRICS, "max_rejected_share") if _number(profile.get(key)) is None]
    if missing:
        raise ValueError(f"batch profile lacks numeric {', '.join(missing)}")
    value_counts = profile.get("value_counts") or {}
    if not isinstance(value_counts, dict) or not all(isinstance(c, dict) for c in value_counts.values()):
        raise ValueError("batch profile: value_counts must be a mapping of column -> {value: count}")
    unknown = sorted(set(value_counts) - set(CANONICAL_COLUMNS[dataset]))
    if unknown:
        raise ValueError(
            f"batch profile: value_counts has columns the {dataset} suite does not check: {unknown}"
        )
    return profile


def _history_checks(profile: dict) -> dict[str, dict]:
    """Per history column: the observed value and its bounds, or the reason the check is skipped."""
    history = profile.get("history") or {}
    days = _number(history.get("days")) or 0
    checks = {}
    subjects = {"rows_total_vs_history": (profile.get("rows_total"), "rows_mean", "rows_std")}
    if profile["dataset"] == "test_results":
        subjects["positivity_vs_history"] = (history.get("positivity"), "positivity_mean", "positivity_std")
    for column, (observed, mean_key, std_key) in subjects.items():
        check: dict[str, Any] = {
            "observed": _number(observed),
            "days": int(days),
            "mean": _number(history.get(mean_key)),
            "std": _number(history.get(std_key)),
        }
        bounds = history_bounds(check["mean"], check["std"], days)
        if days < HISTORY_MIN_DAYS:
            check["skipped"] = f"{int(days)} day(s) of history, fewer than {HISTORY_MIN_DAYS}"
        elif check["observed"] is None or bounds is None:
            check["skipped"] = f"{HISTORY_COLUMNS[column]} or its history unknown"
        else:
            check["min"], check["max"] = bounds
        checks[column] = check
    return checks


def profile_frame(profile: dict):
    """The profile as the DataFrame GX validates (see the module docstring), and its suite parameters."""
    rows, columns, parameters = profile_rows(profile)
    return typed_frame(profile["dataset"], rows, columns), parameters


def profile_rows(profile: dict) -> tuple[list[dict], list[str], dict]:
    """:func:`profile_frame` before the DataFrame: its rows (dicts), its columns in order, and its suite
    parameters. A group's gate stacks many files' rows into one frame (:func:`typed_frame`) and reads each
    file's own values from its rows (:func:`frame_columns`), without a DataFrame a file (issue 16)."""
    profile = _checked_profile(profile)
    dataset = profile["dataset"]
    metrics: dict[str, Any] = {"part": "metrics"}
    metrics.update({key: _number(profile[key]) for key in METRICS})
    rows: list[dict[str, Any]] = [metrics]
    for column in CANONICAL_COLUMNS[dataset]:
        for value, count in (profile.get("value_counts") or {}).get(column, {}).items():
            text = _as_text(value)
            if text is not None:  # a missing value is the row rules' business (missing_required)
                rows.append({"part": "value", column: text, "value_count": _number(count)})
    checks = _history_checks(profile)
    history_row: dict[str, Any] = {"part": "history", "history_days": checks["rows_total_vs_history"]["days"]}
    parameters: dict[str, Any] = {"max_rejected_share": _number(profile["max_rejected_share"])}
    for column, check in checks.items():
        prefix = HISTORY_COLUMNS[column]
        skipped = "skipped" in check
        history_row[column] = None if skipped else check["observed"]
        # A skipped check still needs a bound (GX refuses min and max both None); its column is null.
        parameters[f"{prefix}_min"] = 0.0 if skipped else check["min"]
        parameters[f"{prefix}_max"] = None if skipped else check["max"]
    rows.append(history_row)
    columns = [
        "part",
        *METRICS,
        *CANONICAL_COLUMNS[dataset],
        "value_count",
        "history_days",
        *(c for c in HISTORY_COLUMNS if c in checks),
    ]
    return rows, columns, parameters


def _numeric_columns(columns: list[str]) -> tuple[str, ...]:
    return tuple(
        c for c in columns if c in METRICS or c in HISTORY_COLUMNS or c in ("value_count", "history_days")
    )


def typed_frame(dataset: str, rows: list[dict], columns: list[str]):
    """The DataFrame of profile rows (one file's, or a group's stacked): the counts and values as float64,
    the canonical columns as objects."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=columns)
    for column in _numeric_columns(columns):
        frame[column] = frame[column].astype("float64")
    for column in CANONICAL_COLUMNS[dataset]:
        frame[column] = frame[column].astype("object")
    return frame


def frame_columns(rows: list[dict], columns: list[str]) -> dict[str, list]:
    """Each column of :func:`typed_frame` of ``rows`` as a list, without the frame: numbers as floats, a
    missing cell as None (the frame's NaN)."""
    numeric = set(_numeric_columns(columns))
    out: dict[str, list] = {}
    for column in columns:
        values = [row.get(column) for row in rows]
        if column in numeric:
            values = [None if v is None else float(v) for v in values]
        out[column] = values
    return out


# --- the GX project ----------------------------------------------------------------------------------------


@dataclass
class _Project:
    root: Path
    context: Any
    batch_definition: Any
    suites: dict[str, Any]  # suite name -> ExpectationSuite
    checkpoints: dict[str, Any] = field(default_factory=dict)  # loaded on first use (docs only)


_LOCK = threading.RLock()
_PROJECTS: dict[Path, _Project] = {}


def _quiet() -> None:
    for name in ("great_expectations", "great_expectations.core", "great_expectations.data_context"):
        logging.getLogger(name).setLevel(logging.WARNING)


_TEMPLATE_CODE: dict[str, bytes] = {}
# the Jinja environment of each kind of Data Docs view and configuration, shared by every page of the process
_VIEW_ENVS: dict[tuple, object] = {}


def _share_template_code(root: Path) -> None:
    """Data Docs' Jinja templates compiled once, not once a page (issue 16, e10-direct).

    Every page GX renders makes a new :class:`great_expectations.render.view.view.DefaultJinjaView`, and
    with it a new Jinja ``Environment`` whose template cache starts empty: each file's Data Docs update
    parsed and compiled its ~56 templates again, about 80 % of the rendering's time. A bytecode cache shared
    by those environments (Jinja's own mechanism, keyed by template name and checked against the source and
    the Python version) keeps the compiled code, in memory and in ``gx/uncommitted/jinja_bytecode`` (so
    that each task's process, a fresh one, finds it compiled: written by a rename, safe for parallel
    workers); the environments, their filters and the pages are as before."""
    from great_expectations.render.view.view import DefaultJinjaView
    from jinja2 import FileSystemBytecodeCache

    if getattr(DefaultJinjaView, "_covidsync_shared_code", False):
        return
    folder = root / "gx" / "uncommitted" / "jinja_bytecode"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return  # a read-only project: compiled per page, as before

    class _Shared(FileSystemBytecodeCache):
        def load_bytecode(self, bucket):
            code = _TEMPLATE_CODE.get(bucket.key)
            if code is not None:
                bucket.bytecode_from_string(code)
                return
            super().load_bytecode(bucket)
            if bucket.code is not None:
                _TEMPLATE_CODE[bucket.key] = bucket.bytecode_to_string()

        def dump_bytecode(self, bucket):
            _TEMPLATE_CODE[bucket.key] = bucket.bytecode_to_string()
            try:
                super().dump_bytecode(bucket)
            except OSError:
                pass  # kept in memory only

    cache = _Shared(str(folder))
    original = DefaultJinjaView.__init__

    def init(self, custom_styles_directory=None, custom_views_directory=None):
        # One environment, with its cache of loaded templates, for every page of the same kind of view and
        # the same configuration (issue 16, e28-docs): a new one a page loaded its ~56 templates again from
        # the bytecode, 6-8 ms a file. What the environment holds is fixed by the key: its loader's search
        # path (GX's two package folders plus these two directories) and its filters, methods of the view
        # bound to the first instance; they read only the class (subclasses override some) and nothing the
        # instance keeps, so any instance of the same key renders the same bytes with them.
        key = (type(self), custom_styles_directory, custom_views_directory)
        env = _VIEW_ENVS.get(key)
        if env is not None:
            self.custom_styles_directory = custom_styles_directory
            self.custom_views_directory = custom_views_directory
            self.env = env
            return
        original(self, custom_styles_directory, custom_views_directory)
        self.env.bytecode_cache = cache
        # the templates are a package's files, not edited while a process runs: no stat of each one every
        # time a page asks for it (44,000 stat calls for 400 pages, an eighth of their rendering; issue 16)
        self.env.auto_reload = False
        _VIEW_ENVS.setdefault(key, self.env)

    DefaultJinjaView.__init__ = init
    DefaultJinjaView._covidsync_original_init = original
    DefaultJinjaView._covidsync_shared_code = True


def _context(root: Path):
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    _share_template_code(root)

    if not (root / "gx" / "great_expectations.yml").is_file():
        raise FileNotFoundError(f"no GX project at {root} (expected gx/great_expectations.yml)")
    _quiet()
    context = gx.get_context(mode="file", project_root_dir=str(root))
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # in memory: nothing is written
    return context


def _batch_definition(context, *, write: bool):
    """The whole-dataframe batch definition of the gate's pandas data source (created when ``write``)."""
    try:
        return context.data_sources.get(DATASOURCE).get_asset(ASSET).get_batch_definition(BATCH_DEFINITION)
    except LookupError:  # GX raises KeyError/LookupError for a missing data source, asset or definition
        if not write:
            raise
    source = context.data_sources.add_or_update_pandas(name=DATASOURCE)
    if ASSET in {a.name for a in source.assets}:
        asset = source.get_asset(ASSET)
    else:
        asset = source.add_dataframe_asset(name=ASSET)
    if BATCH_DEFINITION in {b.name for b in asset.batch_definitions}:
        return asset.get_batch_definition(BATCH_DEFINITION)
    return asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION)


def ensure_project(root: Path | None = None) -> None:
    """Create or update (``add_or_update``, idempotent) everything the suites need in the GX project:

    the pandas data source with its whole-dataframe batch definition, and per suite a validation definition
    and a checkpoint that updates Data Docs. The suites themselves are committed JSON, reviewed as code;
    this never writes them. Run once after changing the project layout; :func:`run_gate` calls it only when
    something is missing (so normal validations write nothing to the project).
    """
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction
    from great_expectations.data_context.types.base import ProgressBarsConfig

    root = root or project_dir()
    context = _context(root)
    context.config.analytics_enabled = False
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.variables.save()
    batch_definition = _batch_definition(context, write=True)
    for dataset in SUITE_DATASETS:
        name = suite_name(dataset)
        suite = context.suites.get(name)
        definition = context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=name, data=batch_definition, suite=suite)
        )
        context.checkpoints.add_or_update(
            gx.Checkpoint(
                name=name,
                validation_definitions=[definition],
                actions=[UpdateDataDocsAction(name="update_data_docs", site_names=[DOCS_SITE])],
                result_format={"result_format": "BASIC"},
            )
        )
    with _LOCK:
        _PROJECTS.pop(root, None)


def _project(root: Path | None = None) -> _Project:
    """The cached project of this process (one per project folder): context, batch definition, suites."""
    root = root or project_dir()
    with _LOCK:
        project = _PROJECTS.get(root)
        if project is None:
            context = _context(root)
            try:
                batch_definition = _batch_definition(context, write=False)
            except LookupError:
                log.warning("GX project at %s incomplete: creating its data source and checkpoints", root)
                ensure_project(root)
                context = _context(root)
                batch_definition = _batch_definition(context, write=False)
            suites = {suite_name(d): _suite(context, suite_name(d)) for d in SUITE_DATASETS}
            project = _PROJECTS[root] = _Project(root, context, batch_definition, suites)
        return project


def gx_context():
    """The cached GX file context of the project (for operators' scripts: editing suites, building docs)."""
    return _project().context


def _suite(context, name: str):
    from great_expectations.exceptions import DataContextError

    try:
        return context.suites.get(name)
    except DataContextError as exc:
        raise FileNotFoundError(
            f"suite {name} missing from {context.root_directory}/expectations: suites are committed code"
        ) from exc


def _checkpoint(project: _Project, name: str):
    """The suite's checkpoint (validation + UpdateDataDocsAction), loaded on first use."""
    from great_expectations.exceptions import DataContextError

    checkpoint = project.checkpoints.get(name)
    if checkpoint is None:
        try:
            checkpoint = project.context.checkpoints.get(name)
        except DataContextError:
            log.warning("GX project at %s lacks checkpoint %s: creating it", project.root, name)
            ensure_project(project.root)
            checkpoint = project.context.checkpoints.get(name)
        project.checkpoints[name] = checkpoint
    return checkpoint


# --- the gate ------------------------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if value is None:
        return "none"
    number = _number(value)
    if number is None:
        return str(value)
    if number.is_integer():
        return str(int(number))
    return f"{number:.2f}" if round(number, 2) == number else f"{number:.4g}"


def _jsonable(value: Any) -> Any:
    """Plain JSON types (numpy scalars unwrapped, NaN as null)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _whole(value: Any) -> Any:
    """Counts back to integers (the frame holds them as float64 beside nulls)."""
    value = _jsonable(value)
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _observed(frame, column: str | None) -> Any:
    """What the expectation saw: the column's value on its row, or {value: count} for a canonical column."""
    if column is None or column not in frame.columns:
        return None
    rows = frame[frame[column].notna()]
    if "value_count" in frame.columns and (rows["part"] == "value").any():
        return {str(v): _whole(c) for v, c in zip(rows[column], rows["value_count"], strict=True)}
    values = [_whole(v) for v in rows[column]]
    return values[0] if len(values) == 1 else (values or None)


def _message(entry: dict, profile: dict, checks: dict) -> str:
    """A failed expectation, for a person: "rejected_share 0.31 > 0.20 (310 of 1000 rows rejected)"."""
    kind, column, kwargs, observed = entry["type"], entry["column"], entry["kwargs"], entry["observed"]
    if kind == "expect_column_values_to_be_in_set" and isinstance(observed, dict):
        allowed = {str(v) for v in kwargs.get("value_set", [])}
        bad = {v: c for v, c in observed.items() if v not in allowed}
        listed = ", ".join(f"{v!r} ({_fmt(c)} rows)" for v, c in sorted(bad.items()))
        return f"{column}: value(s) outside the allowed set: {listed}"
    if kind == "expect_column_values_to_be_between" and column in checks:
        check = checks[column]
        return (
            f"{HISTORY_COLUMNS[column]} {_fmt(check['observed'])} outside {_fmt(check['min'])}–"
            f"{_fmt(check['max'])} (history: {check['days']} days, mean {_fmt(check['mean'])}, "
            f"std {_fmt(check['std'])})"
        )
    if kind == "expect_column_values_to_be_between" and _number(observed) is not None:
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        if high is not None and observed > high:
            text = f"{column} {_fmt(observed)} > {_fmt(high)}"
        elif low is not None and observed < low:
            text = f"{column} {_fmt(observed)} < {_fmt(low)}"
        else:
            text = f"{column} {_fmt(observed)} outside {_fmt(low)}–{_fmt(high)}"
        if column == "rejected_share":
            text += f" ({_fmt(profile['rows_rejected'])} of {_fmt(profile['rows_total'])} rows rejected)"
        return text
    return f"{kind} on {column or 'the batch'} failed (observed {json.dumps(observed, default=str)})"


def _summarise(suite_result, frame, profile: dict, checks: dict, observed=None) -> GateResult:
    """``observed``: what each expectation saw, by column (default :func:`_observed` of ``frame``; a group's
    gate passes its own, read once from the file's rows, :mod:`covidsync.ingest.group_gate`)."""
    observed = observed or (lambda column: _observed(frame, column))
    failed: list[str] = []
    warnings: list[str] = []
    entries = []
    for item in suite_result.results:
        config = item.expectation_config
        kwargs = {k: _jsonable(v) for k, v in config.kwargs.items() if k not in ("batch_id",)}
        column = kwargs.pop("column", None)
        severity = getattr(config.severity, "value", config.severity) or "critical"
        entry: dict[str, Any] = {
            "type": config.type,
            "column": column,
            "kwargs": kwargs,
            "severity": str(severity),
            "success": bool(item.success),
            "observed": observed(column),
        }
        if column in checks and "skipped" in checks[column]:
            entry["skipped"] = checks[column]["skipped"]
        if item.exception_info and item.exception_info.get("raised_exception"):
            entry["error"] = str(item.exception_info.get("exception_message"))
        if not item.success:
            entry["message"] = _message(entry, profile, checks)
            (warnings if severity in ("warning", "info") else failed).append(entry["message"])
        entries.append(entry)
    success = not failed
    results = {
        "suite": suite_result.suite_name,
        "dataset": profile["dataset"],
        "file_id": _jsonable(profile.get("file_id")),
        "facility_code": profile.get("facility_code"),
        "success": success,
        "failed": failed,
        "warnings": warnings,
        "evaluated": len(entries),
        "expectations": entries,
        "gx_version": suite_result.meta.get("great_expectations_version"),
    }
    results = json.loads(json.dumps(_jsonable(results), default=str))
    return GateResult(success, failed, warnings, len(entries), results)


def run_gate(profile: dict, *, build_docs: bool = False, store: bool = False) -> GateResult:
    """Validate a batch profile with its dataset's suite; ``success`` is False when a critical expectation fails.

    Nothing is written to the GX project unless ``build_docs``: then the dataset's checkpoint runs with its
    own run id (so concurrent workers never write the same result file), stores the result under
    ``gx/uncommitted/validations/`` and updates the Data Docs site. ``store`` stores the result the same
    way without touching the site: a group of files then updates it once (:func:`build_group_docs` with
    the results' ``docs_key``).
    """
    frame, parameters = profile_frame(profile)
    checks = _history_checks(profile)
    name = suite_name(profile["dataset"])
    project = _project()
    docs_key = None
    if build_docs or store:
        from great_expectations.core.run_identifier import RunIdentifier

        from covidsync import gx_docs

        # the page is named after the dataset, the sender and the file, with the data asset said
        run_name, asset = gx_docs.page_names(profile)
        run_id = RunIdentifier(run_name=run_name, run_time=datetime.now(UTC))
        checkpoint = _checkpoint(project, name)
        # the checkpoint's validation alone (its UpdateDataDocsAction rendered the page with 'Data asset:
        # None', then gx_docs.publish_page rendered it again with the asset named: two renderings a file);
        # the result stored once with its data asset named
        (definition,) = checkpoint.validation_definitions
        suite_result = definition.run(
            checkpoint_id=checkpoint.id,
            batch_parameters={"dataframe": frame},
            expectation_parameters=parameters,
            result_format=checkpoint.result_format,
            run_id=run_id,
        )
        docs_key = checkpoint._build_result_key(
            validation_definition=definition, run_id=run_id, batch_identifier=suite_result.batch_id
        )
        spec = suite_result.meta.get("batch_spec")
        suite_result.meta["batch_spec"] = {
            **(spec if isinstance(spec, dict) else {}),
            "data_asset_name": asset,
        }
        project.context.validation_results_store.set(docs_key, suite_result)
        if (
            build_docs
        ):  # what the checkpoint's action builds (the result's page, its suite's, the index), once
            from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

            project.context.build_data_docs(
                site_names=[DOCS_SITE], resource_identifiers=[docs_key, ExpectationSuiteIdentifier(name=name)]
            )
            site = gx_docs.site_dir(project.context, DOCS_SITE)
            gx_docs.make_offline(site, list((site / "validations").rglob(f"{run_name}/*/*.html")))
    else:
        batch = project.batch_definition.get_batch(batch_parameters={"dataframe": frame})
        suite_result = batch.validate(
            project.suites[name],
            result_format={"result_format": "BASIC"},
            expectation_parameters=parameters,
        )
    result = _summarise(suite_result, frame, profile, checks)
    result.docs_key = docs_key
    return result


class _Identifiers(list):
    """Resource identifiers for ``build_data_docs`` whose ``in`` is a set lookup: GX's section builder asks
    ``key in resource_identifiers`` for every result its store holds, and a list compares each by
    ``to_tuple()`` (two tuples built a comparison): a group of 200 keys against a national day's thousands
    of stored results was hundreds of thousands of comparisons a group, growing with the site."""

    def __init__(self, keys: list):
        super().__init__(keys)
        self._tuples = {(type(key), key.to_tuple()) for key in keys}

    def __contains__(self, key) -> bool:
        return (type(key), key.to_tuple()) in self._tuples


def _site_builder():
    context = _project().context
    return context._init_site_builder_for_data_docs_site_creation(
        site_name=DOCS_SITE, site_config=context.variables.data_docs_sites[DOCS_SITE]
    )


def _key_pages(site: Path, key) -> list[Path]:
    """The page of a stored result's key, under its suite's folder (not rglob over the whole site per key:
    that grew with every page the site holds, a group's 200 keys walking a national day's thousands of run
    folders each)."""
    folder = site.joinpath("validations", *key.expectation_suite_identifier.to_tuple())
    return list(folder.glob(f"{key.run_id.run_name}/*/*.html"))


def render_pages(keys: list, results: dict) -> set[tuple]:
    """The Data Docs pages of those ``keys`` whose result is in ``results`` (``key.to_tuple()`` -> the suite
    result stored under that key), rendered from the results in memory and made offline; returns the keys'
    tuples rendered. What GX's own build does with each result it reads back from the store (marshmallow:
    a tenth of a group's update): its renderer and view, the page written into the site. The result's meta
    (run id, batch spec) is shown as the store holds it, JSON (the page's run time to the second, as GX's
    build of the stored result shows it). A page that fails to render is logged and left out, as GX's build
    does. :func:`covidsync.ingest.engine.process_group` calls it on a thread while its merge waits for
    PostgreSQL, then :func:`build_group_docs` for the rest."""
    from great_expectations.data_context.types.resource_identifiers import SiteSectionIdentifier
    from great_expectations.util import convert_to_json_serializable

    from covidsync import gx_docs

    done: set[tuple] = set()
    if not results:
        return done
    pages = _site_builder().site_section_builders["validations"]
    site = docs_index().parent
    renderer = pages.renderer_class
    if getattr(renderer, "_data_context", None) is not None:  # the suites' meta read once a group
        renderer._data_context = _SuitesOnce(renderer._data_context)
    backend = pages.target_store.store_backends[type(keys[0])] if keys else None
    for key in keys:
        result = results.get(key.to_tuple())
        if result is None:
            continue
        try:
            shown = copy.copy(result)
            shown.meta = convert_to_json_serializable(result.meta)
            html = pages.view_class.render(
                renderer.render(shown),
                data_context_id=pages.data_context_id,
                show_how_to_buttons=pages.show_how_to_buttons,
            )
            # made offline before it is written (issue 18): the page written once, where the store puts it
            page = Path(backend.full_base_directory, backend._convert_key_to_filepath(key.to_tuple()))
            pages.target_store.set(
                SiteSectionIdentifier(site_section_name=pages.name, resource_identifier=key),
                gx_docs.offline_text(html, page, site),
            )
        except Exception:  # noqa: BLE001 (as GX's build: the page is left out, the others rendered)
            log.exception("the Data Docs page of %s could not be rendered", key.to_tuple())
            continue
        done.add(key.to_tuple())
    return done


class _SuitesOnce:
    """A data context for GX's validation page renderer (:func:`render_pages`) whose ``suites.get`` reads each
    suite once: the renderer reads its result's suite from disk for every page (to show the suite's meta
    notes), the same suite for every file of a group. Anything else is the context's own."""

    def __init__(self, context):
        self._context = context
        self._suites: dict = {}
        self.suites = self

    def get(self, name: str):
        suite = self._suites.get(name)
        if suite is None:
            suite = self._suites[name] = self._context.suites.get(name)
        return suite

    def __getattr__(self, name: str):
        return getattr(self._context, name)


def build_group_docs(keys: list, results: dict | None = None, rendered: set[tuple] | None = None) -> Path:
    """One Data Docs update for a group of files: the pages of their stored validation results (``docs_key``
    of :func:`run_gate` with ``store``), the suites' pages and the index; returns index.html.

    ``results``: the pages of the results given are rendered from memory (:func:`render_pages`), unless
    ``rendered`` says they were already; the others are read from the GX store, as GX's own build does. The
    index is GX's, each stored result's link read once per process (:func:`covidsync.gx_docs.read_links_once`)."""
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    from covidsync import gx_docs

    if rendered is None:
        rendered = render_pages(keys, results or {})
    builder = _site_builder()
    sections = builder.site_section_builders
    stored = [key for key in keys if key.to_tuple() not in rendered]
    if stored:
        sections["validations"].build(resource_identifiers=_Identifiers(stored))
    suites = [ExpectationSuiteIdentifier(name=suite_name(dataset)) for dataset in SUITE_DATASETS]
    changed = _suites_changed(sections["expectations"], suites)
    if changed:  # (an empty list would build every suite's page: GX reads no identifiers as "all")
        sections["expectations"].build(resource_identifiers=_Identifiers([key for key, _ in changed]))
        _SUITE_PAGES.update(
            (page, stamp) for (_, (page, stamp)) in changed if stamp is not None and os.path.isfile(page)
        )
    builder.target_store.copy_static_assets()
    gx_docs.read_links_once(builder.site_index_builder).build()
    # the pages read from the store, the index and the suites' pages made offline (issue 18)
    site = docs_index().parent
    gx_docs.make_offline(site, [p for key in stored for p in _key_pages(site, key)])
    return docs_index()


# a suite's page in the site by its path -> the stored suite it was rendered from (its JSON), this process
_SUITE_PAGES: dict[str, str] = {}


def _suites_changed(section, suites: list) -> list[tuple]:
    """The suites whose page :func:`build_group_docs` renders: each suite's page was rendered again at every
    group's update, the same page from the same suite (a tenth of a group's Data Docs CPU once the index
    rows were cached). A page is rendered again when this process has not rendered it from the suite as
    stored now, or when it is no longer in the site. Returns (key, (page path, the suite's JSON))."""
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    backend = section.target_store.store_backends[ExpectationSuiteIdentifier]
    changed = []
    for key in suites:
        page = os.path.join(backend.full_base_directory, backend._convert_key_to_filepath(key.to_tuple()))
        try:
            stamp = json.dumps(section.source_store.get(key), sort_keys=True, default=str)
        except Exception:  # noqa: BLE001 (GX's build decides what to do with a suite it cannot read)
            stamp = None
        if stamp is None or _SUITE_PAGES.get(page) != stamp or not os.path.isfile(page):
            changed.append((key, (page, stamp)))
    return changed


def store_result(conn, file_id: int | None, suite: str, result: GateResult) -> int:
    """Insert the result into ``ops.validation_result``; the caller commits. Returns ``validation_id``.

    ``failed`` counts the failed critical expectations (so ``failed = 0`` exactly when ``success``); the
    warnings are in ``results``.
    """
    with conn.cursor() as cur:
        cur.execute(
            """
            insert into ops.validation_result (file_id, suite, success, evaluated, failed, results)
            values (%s, %s, %s, %s, %s, %s::jsonb)
            returning validation_id
            """,
            (
                file_id,
                suite,
                result.success,
                result.evaluated,
                len(result.failed),
                json.dumps(result.results),
            ),
        )
        return cur.fetchone()[0]


def build_data_docs(*, validation_pages: bool = True) -> Path:
    """Build the static Data Docs site (suites and stored validation results); returns its index.html.

    ``validation_pages=False`` renders the suites' pages and the index only: each file's checkpoint has
    already rendered its own validation page, and re-rendering every stored result at the end of each run
    grows with the results kept (what :func:`covidsync.tasks.summarise_ingest` needs is an index that lists
    the pages files processed in parallel wrote, each of which rewrote the index with what it saw)."""
    project = _project()
    if validation_pages:
        project.context.build_data_docs(site_names=[DOCS_SITE])
    else:
        from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

        suites = [ExpectationSuiteIdentifier(name=suite_name(dataset)) for dataset in SUITE_DATASETS]
        project.context.build_data_docs(site_names=[DOCS_SITE], resource_identifiers=suites)
    from covidsync import gx_docs

    gx_docs.make_offline(docs_index().parent, None if validation_pages else [])
    return docs_index()
