"""What is measured: the stages (real covidsync code paths), the baselines, and the groups that tie them.

A **stage** is one function ``fn(ctx) -> dict`` registered with :func:`stage`. The runner calls it in a
child process of :mod:`bench.zygote`, with a database connection already open (``ctx.conn``), and times
the call: everything inside counts. It returns ``{"rows": n}`` (rows handled; default: the input's rows),
optionally ``"state"`` (small values handed to the next steps, e.g. the file id) and ``"detail"`` (counts
shown in the JSON). No rows or personal data in either.

A **group** (:class:`Group`) is one kind of input and the steps that take it from file to its tables, in
order, on one fresh database per size, followed by the baselines on the same file. Its *headline* is the
sum of the steps it names; ratios are headline rows/s over each baseline's rows/s (and, for the COPY
baseline, headline seconds over COPY's seconds: ``time_x_copy``).

A group may read no input file (``data=None``: status, tracing, publish): its ``prepare`` stage (run in a
child too, not timed into the headline) writes generated rows into the database, a size is then persons or
check-ins, and a step exports the rows it handled as CSV (``state["copy_path"]``) for the COPY baseline, so
that COPY loads the same rows. A stage registered with ``pending=`` (a later issue's) is skipped with the
message given, with its group.
"""

from __future__ import annotations

import csv
import json
import os
import resource
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Ctx:
    """What a stage sees: its parameters (input file, dataset, rows, state of earlier steps) and a connection."""

    params: dict[str, Any]
    conn: Any

    @property
    def path(self) -> Path:
        return Path(self.params["path"])

    @property
    def dataset(self) -> str:
        return self.params["dataset"]

    @property
    def rows(self) -> int:
        return int(self.params["rows"])

    @property
    def state(self) -> dict[str, Any]:
        return self.params.setdefault("state", {})


@dataclass(frozen=True)
class Stage:
    name: str
    title: str
    fn: Callable[[Ctx], dict]
    pending: str | None = None  # not built yet: why it is skipped (the message printed)


@dataclass(frozen=True)
class Group:
    name: str
    title: str
    data: str | None  # the input: a dataset bench.data writes (vaccinations, test_results, checkins), or
    # None: the prepare stage writes generated rows into the database itself
    steps: tuple[str, ...]  # in order, each in its own child process, on one fresh database per size
    headline: tuple[str, ...]  # the steps whose summed time gives the group's rows/s
    baselines: tuple[str, ...] = ("copy", "copy_unlogged", "naive")
    prepare: str | None = None  # an untimed stage run before the steps (loads what they read)


STAGES: dict[str, Stage] = {}
GROUPS: dict[str, Group] = {}


def stage(name: str, title: str, *, pending: str | None = None):
    def register(fn: Callable[[Ctx], dict]) -> Callable[[Ctx], dict]:
        STAGES[name] = Stage(name, title, fn, pending)
        return fn

    return register


def group(g: Group) -> Group:
    GROUPS[g.name] = g
    return g


def preload() -> None:
    """Import what a facility-file task process imports, and open the GX project once (in the zygote)."""
    import great_expectations  # noqa: F401
    import pandas  # noqa: F401
    import sqlalchemy  # noqa: F401

    # with the engine's columns (polars): imported, never used, before the fork (its thread pool starts on
    # first use, in the child). Without them every child compiled polars' modules again
    # (PYTHONDONTWRITEBYTECODE): 1.6 s of a 20k-row file's 5 s stage.
    from covidsync.ingest import (  # noqa: F401
        batch_gate,
        checkins,
        columnar,
        engine,
        landing,
        normalize,
        parse,
        pipeline,
        sender_report,
    )

    batch_gate._project()  # the cached context, batch definition and suites: every forked child reuses it
    from covidsync.publish import release_gate

    release_gate._project()  # the publish suite on the same context (a publish task loads it once too)


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def run_in_child(name: str, params: dict, result_path: str) -> int:
    """Run one stage (in a forked child), write its result JSON; return the exit code."""
    from covidsync import db

    for key, value in params.get("env", {}).items():
        os.environ[key] = value
    result: dict[str, Any] = {"stage": name, "start_rss_mb": _rss_mb()}
    code = 0
    conn = db.connect(params["db_url"], application_name=f"bench-{name}")
    try:
        ctx = Ctx(params, conn)
        start = time.perf_counter()
        out = STAGES[name].fn(ctx) or {}
        result["seconds"] = time.perf_counter() - start
        result.update(
            ok=True,
            rows=int(out.get("rows", ctx.rows)),
            state=out.get("state", {}),
            detail=out.get("detail", {}),
        )
    except Exception as exc:  # noqa: BLE001 (reported to the runner, which fails the run)
        result.update(ok=False, error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
        code = 1
    finally:
        conn.close()
    result["peak_rss_self_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(result_path).write_text(json.dumps(result, default=str), encoding="utf-8")
    return code


@stage("memory_probe", "self-check of the memory measurement: hold N MiB")
def memory_probe(ctx: Ctx) -> dict:
    """Allocate and touch ``params["mb"]`` MiB: the runner checks that the child's peak grows by that much,
    and that the next child starts from the baseline again (each peak is one step's, not cumulative)."""
    block = bytearray(int(ctx.params["mb"]) * 2**20)
    for offset in range(0, len(block), 4096):
        block[offset] = 1
    return {"rows": 0, "detail": {"held_mb": len(block) // 2**20}}


# ---------------------------------------------------------------------------------------------------------
# Facility files (vaccinations, test results): the steps of covidsync.ingest.pipeline.process_file, one by
# one, so each gets its own time and memory. Together they are exactly process_file on one new file.


def _file(ctx: Ctx):
    from covidsync.ingest import pipeline

    f = pipeline.load_file(ctx.conn, ctx.state["file_id"])
    ctx.conn.rollback()
    return f


@stage("register", "register (SHA-256, ops.landing_file)")
def register(ctx: Ctx) -> dict:
    from covidsync.ingest import landing

    pending = landing.register(ctx.conn).pending
    if len(pending) != 1:
        raise RuntimeError(f"expected one file registered, got {len(pending)}")
    return {"state": {"file_id": pending[0]}}


@stage("parse_stage", "read and stage (columnar typing in batches, COPY to staging)")
def parse_stage(ctx: Ctx) -> dict:
    from covidsync.ingest import pipeline

    rows, has_record_id = pipeline.stage(ctx.conn, _file(ctx))
    return {"rows": rows, "state": {"has_record_id": has_record_id}}


@stage("rules", "row rules (SQL sets to quarantine)")
def rules(ctx: Ctx) -> dict:
    from covidsync.ingest import pipeline

    counts = pipeline.apply_rules(ctx.conn, _file(ctx), ctx.state["has_record_id"])
    return {
        "rows": counts["rows_total"],
        "state": {"counts": counts},
        "detail": {k: counts[k] for k in ("rows_rejected", "rows_with_warnings", "hold")},
    }


@stage("gate", "GX gate (SQL profile, GX suite, Data Docs)")
def batch_gate(ctx: Ctx) -> dict:
    from covidsync.ingest import pipeline

    f = _file(ctx)
    result = pipeline.gate(ctx.conn, f, pipeline.profile(ctx.conn, f, ctx.state["counts"]))
    return {
        "state": {"gate_success": result.success, "gate_failed": result.failed},
        "detail": {"success": result.success, "evaluated": result.evaluated},
    }


@stage("merge", "merge (core, history; one transaction)")
def merge(ctx: Ctx) -> dict:
    from covidsync.ingest import pipeline

    f = _file(ctx)
    if ctx.state["counts"]["hold"] or not ctx.state["gate_success"]:
        pipeline.hold(ctx.conn, f, ctx.state["gate_failed"] or ["rejected share"])
        return {"rows": 0, "detail": {"held": True}}
    loaded = pipeline.merge(ctx.conn, f)
    return {"detail": {"rows_loaded": loaded}}


@stage(
    "direct", "read, rules, gate and merge in one transaction, rows straight into core (engine.ingest_direct)"
)
def direct(ctx: Ctx) -> dict:
    from covidsync.ingest import engine
    from covidsync.ingest.columnar import DIRECT_MAX_BYTES

    f = _file(ctx)
    if f.landing_path.stat().st_size > DIRECT_MAX_BYTES:
        # what process_file does with a file this large: the staging path (its memory stays flat)
        for step in (parse_stage, rules, batch_gate):
            ctx.state.update(step(ctx).get("state", {}))
        loaded = merge(ctx)["detail"].get("rows_loaded", 0)
        return {"detail": {"rows_loaded": loaded, "rows_direct": 0, "path": "staging (over the direct cap)"}}
    done = engine.ingest_direct(ctx.conn, f)
    if done is None or done["status"] != "merged":
        raise RuntimeError("the file did not take the direct path to merged")
    return {
        "detail": {
            "rows_loaded": done["rows_loaded"],
            "rows_direct": done["rows_direct"],
            **{f"{k}_s": v for k, v in done["timings"].items()},
        }
    }


@stage("report", "finish (result.json, errors.csv, archive)")
def finish(ctx: Ctx) -> dict:
    from covidsync.ingest import pipeline

    summary = pipeline.finish(ctx.conn, ctx.state["file_id"])
    return {"detail": {"status": summary["status"], "rows_loaded": summary["rows_loaded"]}}


FACILITY_STEPS = ("register", "parse_stage", "rules", "gate", "merge", "report", "core_export")
# the floors: the core rows the merge wrote, COPYed into a bare copy of the core table and into one as it stands
FACILITY_BASELINES = ("copy", "copy_unlogged", "naive", "copy_core", "copy_core_indexed")
FACILITY_HEADLINE = ("register", "parse_stage", "rules", "gate", "merge")  # file to merged core rows
# the path process_file takes (issue 16, e10-direct): one step from the file to merged core rows
FACILITY_DIRECT_STEPS = ("register", "direct", "report", "core_export")
FACILITY_DIRECT_HEADLINE = ("register", "direct")

group(
    Group(
        "vaccinations",
        "facility vaccination ingest (file to merged core rows)",
        "vaccinations",
        FACILITY_DIRECT_STEPS,
        FACILITY_DIRECT_HEADLINE,
        baselines=FACILITY_BASELINES,
    )
)
group(
    Group(
        "vaccinations_staged",
        "facility vaccination ingest (file to merged core rows, the staging path: COVIDSYNC_INGEST_DIRECT=0)",
        "vaccinations",
        FACILITY_STEPS,
        FACILITY_HEADLINE,
        baselines=FACILITY_BASELINES,
    )
)
group(
    Group(
        "vaccinations_memory",
        "vaccination ingest, the steps that hold rows in Python (memory check)",
        "vaccinations",
        ("register", "parse_stage"),
        ("register", "parse_stage"),
        baselines=("copy",),
    )
)
group(
    Group(
        "test_results",
        "facility test-result ingest (file to merged core rows)",
        "test_results",
        FACILITY_DIRECT_STEPS,
        FACILITY_DIRECT_HEADLINE,
        baselines=FACILITY_BASELINES,
    )
)
group(
    Group(
        "test_results_staged",
        "facility test-result ingest (file to merged core rows, the staging path: COVIDSYNC_INGEST_DIRECT=0)",
        "test_results",
        FACILITY_STEPS,
        FACILITY_HEADLINE,
        baselines=FACILITY_BASELINES,
    )
)


# ---------------------------------------------------------------------------------------------------------
# Many small files (issue 16): the same rows as the vaccinations group, split into files of
# COVIDSYNC_BENCH_SMALL_ROWS rows (default 500), registered and processed in groups through the engine's
# library path (engine.groups, engine.process_group), as the DAG's mapped tasks do one group each.


@stage("small_split", "split the file into small files (untimed)")
def small_split(ctx: Ctx) -> dict:
    per_file = int(os.environ.get("COVIDSYNC_BENCH_SMALL_ROWS", "500"))
    source = ctx.path
    folder = source.parent
    with source.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        files = 0
        rows: list[list[str]] = []

        def flush() -> None:
            nonlocal files, rows
            files += 1
            part = folder / f"part-{files:05d}.csv"
            with part.open("w", encoding="utf-8", newline="") as out:
                writer = csv.writer(out)
                writer.writerow(header)
                writer.writerows(rows)
            stamp = 1_637_000_000 + files
            os.utime(part, (stamp, stamp))
            rows = []

        for record in reader:
            rows.append(record)
            if len(rows) == per_file:
                flush()
        if rows:
            flush()
    source.unlink()
    return {"rows": 0, "detail": {"files": files, "rows_per_file": per_file}}


@stage("small_register", "register the small files (SHA-256, ops.landing_file)")
def small_register(ctx: Ctx) -> dict:
    from covidsync.ingest import landing

    pending = landing.register(ctx.conn).pending
    return {"state": {"file_ids": pending}, "detail": {"files": len(pending)}}


@stage("small_ingest", "small files in groups (engine.process_group per group)")
def small_ingest(ctx: Ctx) -> dict:
    from covidsync.ingest import engine

    groups = engine.groups(ctx.conn, ctx.state["file_ids"])
    statuses: dict[str, int] = {}
    loaded = 0
    for group_ids in groups:
        for summary in engine.process_group(ctx.conn, group_ids):
            statuses[summary["status"]] = statuses.get(summary["status"], 0) + 1
            loaded += summary.get("rows_loaded", 0)
    return {"detail": {"groups": len(groups), "by_status": statuses, "rows_loaded": loaded}}


group(
    Group(
        "small_files",
        "vaccinations as many small files, in groups (file to merged core rows)",
        "vaccinations",
        ("small_register", "small_ingest"),
        ("small_register", "small_ingest"),
        baselines=("copy",),
        prepare="small_split",
    )
)


# ---------------------------------------------------------------------------------------------------------
# Baselines, run on the same file in the same invocation.


def _header(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return next(csv.reader(fh))


def _copy(ctx: Ctx, unlogged: bool) -> dict:
    """``COPY`` of the CSV as it is into an all-text table without index: the floor no loader beats. A group
    without an input file names the CSV its steps exported (``copy_path``: the rows they handled)."""
    path = Path(ctx.state["copy_path"]) if ctx.state.get("copy_path") else ctx.path
    width = len(_header(path))
    table = f"bench_copy.{ctx.dataset}_{'unlogged' if unlogged else 'logged'}"
    columns = ", ".join(f"c{i} text" for i in range(width))
    create = f"create {'unlogged' if unlogged else ''} table {table} ({columns})"
    return _copy_into(ctx, table, create, path, "format csv, header true, encoding 'UTF8'")


def _copy_into(ctx: Ctx, table: str, create: str, path: Path, options: str, columns: str = "") -> dict:
    """A fresh ``table`` (``create``), then ``COPY`` of ``path`` into it: the timed part of a baseline."""
    with ctx.conn, ctx.conn.cursor() as cur:
        cur.execute(f"drop table if exists {table}")
        cur.execute(create)
        with path.open("rb") as fh:
            cur.copy_expert(f"copy {table} {columns} from stdin with ({options})", fh)
        rows = cur.rowcount
    return {"rows": rows}


@stage("copy", "baseline: COPY into an unindexed table")
def copy_logged(ctx: Ctx) -> dict:
    return _copy(ctx, unlogged=False)


@stage("copy_unlogged", "baseline: COPY into an unlogged unindexed table")
def copy_unlogged(ctx: Ctx) -> dict:
    return _copy(ctx, unlogged=True)


def naive_suite(gx, dataset: str, columns: list[str]):
    """A suite a user would write for the raw rows: required columns present, a few formats and sets."""
    from covidsync.ingest.parse import DATASET_COLUMNS

    E = gx.expectations
    expectations = [
        E.ExpectColumnValuesToNotBeNull(column=c.name)
        for c in DATASET_COLUMNS[dataset]
        if c.required and c.name in columns
    ]
    if "citizen_id" in columns:
        expectations.append(
            E.ExpectColumnValuesToMatchRegex(column="citizen_id", regex=r"^(\d{9}|\d{12})$", mostly=0.8)
        )
    if "gender" in columns:
        expectations.append(
            E.ExpectColumnValuesToBeInSet(
                column="gender", value_set=["Nam", "Nữ", "male", "female", "M", "F"]
            )
        )
    if "dose_number" in columns:
        expectations.append(
            E.ExpectColumnValuesToBeInSet(column="dose_number", value_set=["1", "2", "3", "4"])
        )
    if "record_id" in columns:
        expectations.append(E.ExpectColumnValuesToBeUnique(column="record_id", mostly=0.8))
    if "checkin_id" in columns:
        expectations.append(E.ExpectColumnValuesToBeUnique(column="checkin_id", mostly=0.8))
    if "lot_number" in columns:
        expectations.append(
            E.ExpectColumnValueLengthsToBeBetween(column="lot_number", min_value=1, max_value=30)
        )
    suite = gx.ExpectationSuite(name=f"naive_{dataset}")
    for expectation in expectations:
        suite.add_expectation(expectation)
    return suite


@stage("naive", "baseline: pandas.read_csv, GX on the DataFrame, to_sql")
def naive(ctx: Ctx) -> dict:
    """What a user would write first: the whole file in a DataFrame, GX over its rows, ``to_sql``."""
    import great_expectations as gx
    import pandas as pd
    import sqlalchemy
    from great_expectations.data_context.types.base import ProgressBarsConfig

    from covidsync.ingest.parse import match_header

    timings = {}
    start = time.perf_counter()
    frame = pd.read_csv(ctx.path, dtype=str, encoding="utf-8-sig")
    frame = frame.rename(columns=lambda h: match_header(ctx.dataset, h) or h)
    timings["read_csv_s"] = time.perf_counter() - start

    start = time.perf_counter()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch_definition = (
        context.data_sources.add_pandas("naive")
        .add_dataframe_asset(ctx.dataset)
        .add_batch_definition_whole_dataframe("whole")
    )
    suite = context.suites.add(naive_suite(gx, ctx.dataset, list(frame.columns)))
    result = batch_definition.get_batch(batch_parameters={"dataframe": frame}).validate(
        suite, result_format={"result_format": "BASIC"}
    )
    timings["gx_validate_s"] = time.perf_counter() - start

    start = time.perf_counter()
    engine = sqlalchemy.create_engine(
        ctx.params["db_url"].replace("postgresql://", "postgresql+psycopg2://", 1)
    )
    try:
        frame.to_sql(ctx.dataset, engine, schema="bench_naive", if_exists="replace", index=False)
    finally:
        engine.dispose()
    timings["to_sql_s"] = time.perf_counter() - start
    return {
        "rows": len(frame),
        "detail": {
            **{k: round(v, 3) for k, v in timings.items()},
            "expectations": len(suite.expectations),
            "gx_success": bool(result.success),
        },
    }


# ---------------------------------------------------------------------------------------------------------
# The later stages: check-in ingest, identity and status, tracing, publish. Each calls the library's own
# entry point on ctx.conn / ctx.state; their sizes are in bench/scales.py, their targets in targets() below.


@stage("checkin_register", "register, and load the venues the check-ins need")
def checkin_register(ctx: Ctx) -> dict:
    from covidsync.ingest import checkins, landing

    pending = checkins.pending_by_dataset(ctx.conn, landing.register(ctx.conn, scope=landing.PCCOVID).pending)
    if len(pending["checkins"]) != 1:
        raise RuntimeError(f"expected one check-in file registered, got {len(pending['checkins'])}")
    venues = [checkins.ingest_file(ctx.conn, file_id)["rows_loaded"] for file_id in pending["venues"]]
    return {"state": {"file_id": pending["checkins"][0]}, "detail": {"venues_loaded": sum(venues)}}


@stage("checkin_ingest", "check-in ingest (parse, stage, rules, gate, merge, report)")
def checkin_ingest(ctx: Ctx) -> dict:
    from covidsync.ingest import checkins

    summary = checkins.ingest_file(ctx.conn, ctx.state["file_id"])
    if summary["status"] not in ("loaded", "loaded_with_errors"):
        raise RuntimeError(f"the check-in file was {summary['status']}, not loaded")
    return {
        "rows": summary["rows_total"],
        "detail": {k: summary[k] for k in ("rows_loaded", "rows_rejected")},
    }


# The floor of any loader that leaves validated rows in core: the core rows the ingest wrote, exported as CSV
# (a step outside the headline), then COPYed as they are into a typed table without index, into a table with
# the core table's own columns, checks, indexes and statement-level reference checks (the destination as it
# stands, migration 0016), and for check-ins into a table whose indexes are built by sort after the COPY (a
# new day's partition as core.load_checkins builds it). No parsing, no rules, no gate: what is left is the
# cost of the table itself.
CORE_CHECKIN_COLUMNS = (
    "checkin_id, local_day, venue_code, scanned_at, direction, mode, person_kind, person_key, "
    "source_file_id, source_row"
)
CORE_FACILITY_COLUMNS = {
    "vaccinations": (
        "core.vaccination",
        "facility_code, record_key, record_id, full_name, date_of_birth, birth_year_only, gender, citizen_id, "
        "phone, health_insurance_no, province_code, district_code, commune_code, address, vaccine_code, "
        "lot_number, dose_number, vaccinated_on, warnings, source_file_id, source_row",
    ),
    "test_results": (
        "core.test_result",
        "facility_code, record_key, record_id, sample_id, full_name, date_of_birth, birth_year_only, gender, "
        "citizen_id, phone, province_code, district_code, commune_code, test_type, pooled, sampled_at, result, "
        "ct_value, resulted_at, warnings, source_file_id, source_row",
    ),
    "checkins": ("core.checkin", CORE_CHECKIN_COLUMNS),
}


def _core_export(ctx: Ctx) -> dict:
    table, columns = CORE_FACILITY_COLUMNS[ctx.dataset]
    path = _export_path(f"{ctx.dataset}_core")
    with ctx.conn.cursor() as cur, path.open("w", encoding="utf-8") as fh:
        cur.copy_expert(
            f"copy (select {columns} from {table} where source_file_id = "
            f"{int(ctx.state['file_id'])}) to stdout with (format csv)",
            fh,
        )
        rows = cur.rowcount
    ctx.conn.rollback()
    return {"rows": rows, "state": {"core_csv": str(path)}}


@stage("checkin_core_export", "its core rows exported as CSV (for the floors below)")
def checkin_core_export(ctx: Ctx) -> dict:
    return _core_export(ctx)


@stage("core_export", "its core rows exported as CSV (for the floors below)")
def core_export(ctx: Ctx) -> dict:
    return _core_export(ctx)


def _copy_core(ctx: Ctx, kind: str) -> dict:
    source, columns = CORE_FACILITY_COLUMNS[ctx.dataset]
    table = f"bench_copy.{source.split('.')[1]}_core_{kind}"
    like = "including defaults including identity" if kind in ("bare", "sorted") else "including all"
    create = f"create table {table} (like {source} {like})"
    if kind == "sorted":  # the checks, not the indexes: those are built by sort after the COPY
        create = f"create table {table} (like {source} including defaults including constraints)"
    path = Path(ctx.state["core_csv"])
    if kind != "indexed":
        return _copy_into(ctx, table, create, path, "format csv", columns=f"({columns})")
    with ctx.conn, ctx.conn.cursor() as cur:  # its triggers and foreign keys too (LIKE copies neither)
        cur.execute(
            "select pg_get_triggerdef(oid) from pg_trigger where tgrelid = %s::regclass and not tgisinternal",
            (source,),
        )
        triggers = [r[0].replace(f" ON {source} ", f" ON {table} ") for r in cur.fetchall()]
        cur.execute(
            "select pg_get_constraintdef(oid) from pg_constraint where conrelid = %s::regclass and contype = 'f'",
            (source,),
        )
        keys = [f"alter table {table} add {r[0]}" for r in cur.fetchall()]
    result = _copy_into(
        ctx, table, ";".join([create, *triggers, *keys]), path, "format csv", columns=f"({columns})"
    )
    return {**result, "detail": {"triggers": len(triggers), "foreign_keys": len(keys)}}


@stage("copy_core", "floor: its core rows COPYed into a typed table, no index")
def copy_core(ctx: Ctx) -> dict:
    return _copy_core(ctx, "bare")


@stage("copy_core_indexed", "floor: its core rows COPYed into the core table as it stands (indexes, checks)")
def copy_core_indexed(ctx: Ctx) -> dict:
    return _copy_core(ctx, "indexed")


@stage("copy_core_sorted", "floor: its core rows COPYed with checks, core.checkin's indexes built by sort")
def copy_core_sorted(ctx: Ctx) -> dict:
    result = _copy_core(ctx, "sorted")
    table = "bench_copy.checkin_core_sorted"
    with ctx.conn, ctx.conn.cursor() as cur:
        cur.execute(
            "select pg_get_indexdef(indexrelid) from pg_index where indrelid = 'core.checkin'::regclass"
        )
        for (definition,) in cur.fetchall():
            name = definition.split(" INDEX ", 1)[1].split(" ON ", 1)[0]
            cur.execute(
                definition.replace(f"INDEX {name} ON ONLY core.checkin", f"INDEX ON {table}").replace(
                    f"INDEX {name} ON core.checkin", f"INDEX ON {table}"
                )
            )
    return result


group(
    Group(
        "checkins",
        "PC-Covid check-in ingest (file to core)",
        "checkins",
        ("checkin_register", "checkin_ingest", "checkin_core_export"),
        ("checkin_register", "checkin_ingest"),
        baselines=("copy", "copy_unlogged", "naive", "copy_core", "copy_core_indexed", "copy_core_sorted"),
    )
)


# Identity and status build (covidsync.status.build): generated core data for ctx.rows persons, loaded as
# the ingest DAGs would leave it (covidsync.status.synthetic), then the library's own entry points.

# days of data loaded before the full build (the built day included) unless --status-history-days says
# otherwise; one more day follows for the incremental build. A week: the day measured is an ordinary day of a
# warehouse that has been running, not its third day, when most people scanning are scanned for the first time
STATUS_HISTORY_DAYS = 7


def _synthetic(ctx: Ctx):
    from covidsync.status.synthetic import Synthetic

    return Synthetic(
        seed=ctx.state.get("seed", 1),
        persons=ctx.rows,
        days=ctx.state.get("history_days", STATUS_HISTORY_DAYS) + 1,
        venues=min(9_999, max(25, ctx.rows // 100)),
        checkins_per_day=max(100, ctx.rows // 4),  # Hòa Bình: 200k check-ins a day for 850k people
    )


def _analyze(conn) -> None:
    conn.commit()
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("analyze")
    finally:
        conn.autocommit = False


@stage("status_prepare", "load core for the status build (untimed)")
def status_prepare(ctx: Ctx) -> dict:
    """The history days of generated core data (vaccination histories, tests, check-ins) for ctx.rows
    persons: all days but the last, which status_load_day loads."""
    data = _synthetic(ctx)
    data.setup(ctx.conn)
    counts: dict[str, int] = {}
    for day in data.dates[:-1]:
        for table, n in data.load_day(ctx.conn, day).items():
            counts[table] = counts.get(table, 0) + n
    _analyze(ctx.conn)
    return {
        "rows": ctx.rows,
        "state": {"built_day": str(data.dates[-2]), "next_day": str(data.dates[-1]), "files": data._file},
        "detail": counts,
    }


@stage("identity_full", "identity resolution alone, first run (status.identity.resolve)")
def identity_full(ctx: Ctx) -> dict:
    """Everyone resolved from nothing, committed: what the first build does before any status. The library
    has no identity-only build; this is the function the build calls, in its own transaction."""
    from covidsync.status import identity

    with ctx.conn, ctx.conn.cursor() as cur:
        cur.execute("create temp table touched (person_id bigint primary key) on commit drop")
        cur.execute("set local jit = off")  # as the build sets it
        result = identity.resolve(ctx.conn)
    return {
        "rows": result.persons,
        "detail": {"persons": result.persons, "open_reviews": result.open_reviews},
    }


@stage("status_full", "identity + status build, full rebuild (build.full_build)")
def status_full(ctx: Ctx) -> dict:
    import datetime as dt

    from covidsync.status import build

    result = build.full_build(ctx.params["db_url"], dt.date.fromisoformat(ctx.state["built_day"]))
    return {"rows": result.persons, "detail": _build_detail(result)}


@stage("status_load_day", "load one more day into core (input of the next step, not a build)")
def status_load_day(ctx: Ctx) -> dict:
    import datetime as dt

    data = _synthetic(ctx)
    data._file = ctx.state["files"]  # the files of days 1-2 exist: number this day's after them
    counts = data.load_day(ctx.conn, dt.date.fromisoformat(ctx.state["next_day"]))
    _analyze(ctx.conn)
    return {"rows": sum(counts.values()), "detail": counts}


@stage("status_incremental", "identity + status build, incremental after that day (build.incremental_build)")
def status_incremental(ctx: Ctx) -> dict:
    import datetime as dt

    from covidsync.status import build

    result = build.incremental_build(ctx.params["db_url"], dt.date.fromisoformat(ctx.state["next_day"]))
    if result.mode != "incremental":
        raise RuntimeError(f"expected an incremental build, got {result.mode}")
    return {"rows": result.persons, "detail": _build_detail(result)}


@stage(
    "status_nothing_new",
    "identity + status build again as of that day, nothing new (build.incremental_build)",
)
def status_nothing_new(ctx: Ctx) -> dict:
    import datetime as dt

    from covidsync.status import build

    result = build.incremental_build(ctx.params["db_url"], dt.date.fromisoformat(ctx.state["next_day"]))
    if result.mode != "incremental" or result.touched:
        raise RuntimeError(f"expected an incremental build touching nobody, got {result.as_dict()}")
    return {"rows": result.persons, "detail": _build_detail(result)}


def _build_detail(result) -> dict:
    return {
        k: getattr(result, k) for k in ("mode", "persons", "touched", "f0_active", "candidates", "rounds")
    }


group(
    Group(
        "status",
        "identity and status build (target: incremental <= 0.2 of full)",
        None,
        ("identity_full", "status_full", "status_load_day", "status_incremental", "status_nothing_new"),
        ("status_full",),
        baselines=(),
        prepare="status_prepare",
    )
)


# Tracing: one day of ctx.rows check-ins in core, 1,000 new F0s (bench.coredata), then build.trace: the
# contact-candidate SQL of the build for every F0 episode, rolled back. Baseline: COPY of those check-ins.


def _export_path(name: str) -> Path:
    folder = Path(os.environ["COVIDSYNC_DATA_DIR"]) / "bench-export"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.csv"


@stage("tracing_prepare", "one day of check-ins, 1,000 F0s, status built (untimed)")
def tracing_prepare(ctx: Ctx) -> dict:
    import datetime as dt

    from bench import coredata
    from covidsync.status import build

    persons = max(100, ctx.rows // 5)  # about five scans per person scanned that day
    counts = coredata.load_checkin_day(
        ctx.conn,
        ctx.rows,
        persons=persons,
        venues=max(20, ctx.rows // 75),  # about 75 scans per venue per day
        f0s=min(coredata.F0S, persons // 20),
        seed=ctx.state.get("seed", 1),
    )
    as_of_day = coredata.DAY + dt.timedelta(days=1)  # the F0s' tests are sampled the morning after
    built = build.full_build(ctx.params["db_url"], as_of_day)
    path = _export_path("checkins")
    exported = coredata.export_checkins(ctx.conn, path)
    if exported != counts["checkins"]:
        raise RuntimeError(f"exported {exported} check-ins, loaded {counts['checkins']}")
    return {
        "rows": counts["checkins"],
        "state": {"as_of_day": str(as_of_day), "copy_path": str(path), "checkins": counts["checkins"]},
        "detail": counts | {"f0_active": built.f0_active, "persons": built.persons},
    }


@stage("tracing", "tracing: F1 candidates of the F0s from the day's check-ins (build.trace)")
def tracing(ctx: Ctx) -> dict:
    import datetime as dt

    from covidsync.status import build

    candidates = build.trace(ctx.params["db_url"], dt.date.fromisoformat(ctx.state["as_of_day"]))
    return {"rows": ctx.state["checkins"], "detail": {"candidates": candidates}}


group(
    Group(
        "tracing",
        "tracing one day of check-ins (target: <= time of COPYing them)",
        None,
        ("tracing",),
        ("tracing",),
        baselines=("copy",),
        prepare="tracing_prepare",
    )
)


# Publish: a release of ctx.rows persons' statuses (tests/publish_seed.py, seed, writes them into derived,
# with the core records behind them: the lot number of every dose, and two tests for every fifth person; every
# tenth person has no CCCD and is not published), then publish.release.publish_release. Baseline: COPY of the
# release's rows (every column of publish.release_row: the release's snapshot), exported after the release.
#
# The cost of the third view (Sổ SKĐT, issue 20), same run: the first release and an ordinary day's release
# (5 % of persons change card colour) with the three views, then the same two releases again with PC-Covid and
# VNeID only (publish_release(apps=...): the Sổ SKĐT columns left empty, its hash and agreement not computed).

PUBLISH_RULE_SET = "hb-2021-11"
TWO_VIEWS = ("pccovid", "vneid")


@stage("publish_prepare", "seed derived with the persons' statuses and core records (untimed)")
def publish_prepare(ctx: Ctx) -> dict:
    import publish_seed

    published = publish_seed.seed(ctx.conn, ctx.rows, rule_set=PUBLISH_RULE_SET, records=True)
    # vacuum too: the first reader of freshly inserted rows pays for setting their hint bits, which would
    # charge the first release measured (with the three views) for what the seed left undone
    ctx.conn.commit()
    ctx.conn.autocommit = True
    try:
        with ctx.conn.cursor() as cur:
            cur.execute("vacuum (analyze)")
    finally:
        ctx.conn.autocommit = False
    return {"rows": ctx.rows, "detail": {"with_cccd": published}}


def _publish(ctx: Ctx, apps=None) -> dict:
    from covidsync.publish import release

    result = release.publish_release(ctx.conn, rule_set=PUBLISH_RULE_SET, apps=apps)
    if result["status"] != "current":
        raise RuntimeError(f"the release was {result['status']}: {result.get('failed') or result}")
    with ctx.conn.cursor() as cur:
        cur.execute("select row_count from publish.release where release_id = %s", (result["release_id"],))
        rows = cur.fetchone()[0]
        cur.execute(
            "select rows_changed from publish.release_meta where release_id = %s", (result["release_id"],)
        )
        changed = cur.fetchone()[0]
    ctx.conn.rollback()
    return {
        "rows": rows,
        "state": {"release_id": result["release_id"]},
        "detail": {"status": result["status"], "rows_changed": changed, "views": list(apps or ["all"])},
    }


def _flip(ctx: Ctx) -> dict:
    import publish_seed

    flipped = publish_seed.flip_cards(ctx.conn, every=20, offset=1, rule_set=PUBLISH_RULE_SET)
    _analyze(ctx.conn)
    return {"rows": flipped}


@stage("publish", "publish a release (build, delta, GX gate, switch): first release, three views")
def publish(ctx: Ctx) -> dict:
    return _publish(ctx)


@stage("publish_flip", "an ordinary day: 5 % of persons change card colour (not in the headline)")
def publish_flip(ctx: Ctx) -> dict:
    return _flip(ctx)


@stage("publish_day", "publish an ordinary day's release, three views (not in the headline)")
def publish_day(ctx: Ctx) -> dict:
    return _publish(ctx)


@stage("publish_reset", "drop the releases and undo the day's change (not in the headline)")
def publish_reset(ctx: Ctx) -> dict:
    import publish_seed

    publish_seed.reset_releases(ctx.conn)
    return _flip(ctx)  # flip_cards toggles: the statuses are those of the first release again


@stage("publish_2v", "publish the first release with PC-Covid and VNeID only (not in the headline)")
def publish_2v(ctx: Ctx) -> dict:
    return _publish(ctx, TWO_VIEWS)


@stage("publish_flip_again", "the same ordinary day again (not in the headline)")
def publish_flip_again(ctx: Ctx) -> dict:
    return _flip(ctx)


@stage(
    "publish_2v_day", "publish the ordinary day's release with PC-Covid and VNeID only (not in the headline)"
)
def publish_2v_day(ctx: Ctx) -> dict:
    return _publish(ctx, TWO_VIEWS)


@stage("publish_export", "export the release's rows for the COPY baseline (not in the headline)")
def publish_export(ctx: Ctx) -> dict:
    path = _export_path("release")
    with ctx.conn.cursor() as cur, path.open("w", encoding="utf-8", newline="") as fh:
        cur.copy_expert(
            f"copy (select * from publish.release_row where release_id = {int(ctx.state['release_id'])})"
            " to stdout with (format csv, header true)",
            fh,
        )
        rows = cur.rowcount
    ctx.conn.rollback()
    return {"rows": rows, "state": {"copy_path": str(path)}}


group(
    Group(
        "publish",
        "publish a release (target: <= 2x COPY of the same rows)",
        None,
        (
            "publish",
            "publish_export",
            "publish_flip",
            "publish_day",
            "publish_reset",
            "publish_2v",
            "publish_flip_again",
            "publish_2v_day",
        ),
        ("publish",),
        baselines=("copy",),
        prepare="publish_prepare",
    )
)


@dataclass
class Target:
    """A target as a ratio from one run: ``metric`` of ``group`` compared with ``bound``."""

    group: str  # the group measured; for the memory targets also "<group>_memory" (its Python steps)
    metric: str  # vs_copy | vs_naive | time_x_copy | step_ratio | peak_mb | flatness
    op: str  # ">=" or "<="
    bound: float
    text: str
    steps: tuple[str, ...] = ()  # step_ratio: seconds of steps[0] over seconds of steps[1], per size
    result: dict = field(default_factory=dict)


def targets() -> list[Target]:
    return [
        Target("vaccinations", "vs_copy", ">=", 0.25, "vaccination ingest rows/s >= 0.25 of raw COPY"),
        Target("vaccinations", "vs_naive", ">=", 8.0, "vaccination ingest rows/s >= 8x the naive path"),
        Target("vaccinations", "peak_mb", "<=", 500.0, "peak memory of ingest < 500 MB at >= 5M rows"),
        Target("vaccinations", "flatness", "<=", 1.2, "peak memory at 5M rows within 1.2x of 500k rows"),
        # issue 16's targets (the same for test results; the floor: COPY of the same final rows into the
        # destination table as it stands, step copy_core_indexed)
        *(
            t
            for g, name in (("vaccinations", "vaccination"), ("test_results", "test-result"))
            for t in (
                Target(g, "vs_copy", ">=", 0.12, f"{name} ingest rows/s >= 0.12 of raw COPY (issue 16)"),
                Target(g, "vs_naive", ">=", 3.0, f"{name} ingest rows/s >= 3x the naive path (issue 16)"),
                Target(
                    g,
                    "vs_copy_core_indexed",
                    ">=",
                    0.6,
                    f"{name} ingest rows/s >= 0.6 of the floor (COPY into the core table as it stands; issue 16)",
                ),
            )
        ),
        Target("checkins", "vs_copy", ">=", 0.33, "check-in ingest rows/s >= 0.33 of raw COPY"),
        Target("checkins", "vs_copy", ">=", 0.10, "check-in ingest rows/s >= 0.10 of raw COPY (issue 16)"),
        Target("checkins", "vs_naive", ">=", 2.0, "check-in ingest rows/s >= 2x the naive path (issue 16)"),
        Target(
            "checkins",
            "vs_copy_core_indexed",
            ">=",
            0.6,
            "check-in ingest rows/s >= 0.6 of the floor (COPY into core.checkin as it stands; issue 16)",
        ),
        Target("checkins", "vs_naive", ">=", 8.0, "check-in ingest rows/s >= 8x the naive path"),
        *_declaration_targets(),  # issue 24: bench/declarations.py
        Target(
            "status",
            "step_ratio",
            "<=",
            0.2,
            "incremental status build after one day <= 0.2 of a full rebuild (seconds)",
            steps=("status_incremental", "status_full"),
        ),
        Target(
            "status",
            "step_ratio",
            "<=",
            0.02,
            "incremental status build with nothing new <= 0.02 of a full rebuild (seconds)",
            steps=("status_nothing_new", "status_full"),
        ),
        Target("tracing", "time_x_copy", "<=", 1.0, "tracing a day's check-ins <= the time of COPYing them"),
        Target(
            "publish", "time_x_copy", "<=", 2.0, "publishing a release <= 2x the time of COPYing its rows"
        ),
        Target(
            "publish",
            "step_ratio",
            "<=",
            1.15,
            "first release with the Sổ SKĐT view <= 1.15x without it (seconds)",
            steps=("publish", "publish_2v"),
        ),
        Target(
            "publish",
            "step_ratio",
            "<=",
            1.15,
            "an ordinary day's release with the Sổ SKĐT view <= 1.15x without it (seconds)",
            steps=("publish_day", "publish_2v_day"),
        ),
    ]


def _declaration_targets() -> tuple[Target, ...]:
    from bench.declarations import TARGETS

    return TARGETS


# issue 24: the declarations group and its stages register themselves (bench/declarations.py)
from bench import declarations  # noqa: E402, F401
