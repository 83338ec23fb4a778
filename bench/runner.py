"""``python -m bench``: run a scale's plan, print the table, write the JSON, check the targets.

For each group of the scale (bench/scales.py) and each size: a fresh database (a copy of a migrated
template on the warehouse's server), the input file landed in a fresh data area, then every step of the
group in its own child process (bench/zygote.py), then the baselines on the same file. Ratios are computed
per size from the same invocation. The databases and the data areas are dropped at the end (``--keep``
keeps them); generated inputs are cached under ``<data dir>/bench/inputs`` for the next run.

Exit status: 0 when every stage ran (a missed target is reported, not an error), 1 when a stage failed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import data, scales
from bench.stages import GROUPS, STAGES, Group, targets

PROJECT = Path(__file__).resolve().parents[1]
RESULTS = PROJECT / "bench" / "results"
FACILITY_DATASETS = ("vaccinations", "test_results")


class BenchError(RuntimeError):
    pass


class Interrupted(Exception):
    """Ctrl-C (or SIGTERM) during a size: carries the records of the steps that finished."""

    def __init__(self, records: list[dict]):
        super().__init__("interrupted")
        self.records = records


# -- the machine ------------------------------------------------------------------------------------------
def machine(server_url: str) -> dict:
    from covidsync import db

    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                info["memory_gb"] = round(int(line.split()[1]) / 2**20, 1)
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    conn = db.connect(server_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select current_setting('server_version'), current_setting('shared_buffers'),"
                " current_setting('max_wal_size'), current_setting('checkpoint_timeout')"
            )
            # max_wal_size: at PostgreSQL's 1 GB a bulk load meets an on-demand checkpoint every few seconds,
            # which moves a step's time from run to run (docs/deployment.md, "The warehouse server's settings")
            info["postgresql"], info["shared_buffers"], info["max_wal_size"], info["checkpoint_timeout"] = (
                cur.fetchone()
            )
    finally:
        conn.close()
    try:
        info["commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        info["commit"] = None
    return info


# -- databases ---------------------------------------------------------------------------------------------
def _with_database(url: str, database: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=database).render_as_string(hide_password=False)


def _admin(url: str, statement: str) -> None:
    from covidsync import db

    conn = db.connect(url, application_name="bench")
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


class Databases:
    """A migrated template and one copy per measured size, all named ``covidsync_bench_<pid>_*``."""

    def __init__(self, server_url: str, keep: bool):
        self.server_url = server_url
        self.keep = keep
        self.prefix = f"covidsync_bench_{os.getpid()}"
        self.created: list[str] = []
        self.counter = 0

    def template(self) -> None:
        from covidsync import db

        name = f"{self.prefix}_template"
        _admin(self.server_url, f'drop database if exists "{name}"')
        _admin(self.server_url, db.create_database_sql(name))  # as the warehouse's (covidsync.db)
        self.created.append(name)
        url = self.template_url = _with_database(self.server_url, name)
        db.upgrade(url, PROJECT / "sql" / "migrations")
        conn = db.connect(url)
        with conn, conn.cursor() as cur:
            cur.execute("create schema bench_copy; create schema bench_naive")
        conn.close()

    def fresh(self) -> tuple[str, str]:
        self.counter += 1
        name = f"{self.prefix}_{self.counter}"
        _admin(self.server_url, f'create database "{name}" template "{self.prefix}_template"')
        self.created.append(name)
        return name, _with_database(self.server_url, name)

    def drop(self, name: str) -> None:
        if not self.keep:
            _admin(self.server_url, f'drop database if exists "{name}" with (force)')

    def drop_all(self) -> None:
        for name in reversed(self.created):
            self.drop(name)


# -- the zygote ------------------------------------------------------------------------------------------
class Zygote:
    def __init__(self, env: dict[str, str], results: Path):
        self.results = results
        self.count = 0
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.zygote"],
            cwd=PROJECT,
            env={**os.environ, **env},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        hello = self._read()
        self.baseline_rss_mb = hello["baseline_rss_mb"]

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise BenchError(f"the measuring process stopped (exit {self.proc.wait()}); see stderr above")
        return json.loads(line)

    def run(self, stage: str, params: dict) -> dict:
        self.count += 1
        result_path = self.results / f"{self.count:04d}-{stage}.json"
        request = {"stage": stage, "params": params, "result": str(result_path)}
        self.proc.stdin.write(json.dumps(request, default=str) + "\n")
        self.proc.stdin.flush()
        usage = self._read()
        if not result_path.exists():
            raise BenchError(f"stage {stage} died (exit {usage['exit_code']}) before writing its result")
        result = json.loads(result_path.read_text(encoding="utf-8"))
        if not result.get("ok"):
            sys.stderr.write(result.get("traceback", ""))
            raise BenchError(f"stage {stage} failed: {result.get('error')}")
        return {**result, **usage}

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.terminate()  # a step still running: the zygote stops it and exits
                self.proc.wait(timeout=30)


def memory_selfcheck(zygote: Zygote, url: str, probe_mb: int = 256) -> dict:
    """Prove the measurement on this machine: a child holding ``probe_mb`` MiB peaks that much higher than
    an idle one, and the next idle child peaks at the baseline again (peaks are per step)."""
    params = {"db_url": url, "path": "", "dataset": "", "rows": 0}
    idle = zygote.run("memory_probe", {**params, "mb": 0})["max_rss_mb"]
    held = zygote.run("memory_probe", {**params, "mb": probe_mb})["max_rss_mb"]
    after = zygote.run("memory_probe", {**params, "mb": 0})["max_rss_mb"]
    return {
        "probe_mb": probe_mb,
        "idle_peak_mb": round(idle, 1),
        "probe_peak_mb": round(held, 1),
        "measured_growth_mb": round(held - idle, 1),
        "next_idle_peak_mb": round(after, 1),
    }


# -- one group at one size -------------------------------------------------------------------------------
def _record(group: str, size: int, step: str, kind: str, results: list[dict]) -> dict:
    """One table row from the results of one step over the pieces of a size (times add up, peaks max)."""
    seconds = sum(r["seconds"] for r in results)
    rows = sum(r["rows"] for r in results)
    title = STAGES[step].title if step in STAGES else step
    details = [r.get("detail", {}) for r in results]
    return {
        "group": group,
        "size": size,
        "step": step,
        "title": title,
        "kind": kind,
        "rows": rows,
        "seconds": round(seconds, 4),
        "rows_per_s": round(rows / seconds) if seconds > 0 else None,
        "peak_rss_mb": round(max(r["max_rss_mb"] for r in results), 1),
        "start_rss_mb": round(max(r["start_rss_mb"] for r in results), 1),
        "cpu_s": round(sum(r["user_s"] + r["system_s"] for r in results), 3),
        "pieces": len(results),
        "detail": details[0] if len(details) == 1 else details,
    }


def _pieces(size: int, piece_rows: int | None) -> list[int]:
    if not piece_rows or size <= piece_rows:
        return [size]
    full, rest = divmod(size, piece_rows)
    return [piece_rows] * full + ([rest] if rest else [])


def run_size(
    g: Group, size: int, plan: scales.Plan, *, dbs: Databases, zygote: Zygote, work: Path, cache: Path, args
) -> tuple[list[dict], list[str]]:
    from covidsync import db
    from covidsync.ingest import landing

    name, url = dbs.fresh()
    area = work / name
    env = {"COVIDSYNC_WAREHOUSE_URL": url, "COVIDSYNC_DATA_DIR": str(area)}
    per_step: dict[str, list[dict]] = {}
    notes: list[str] = []
    interrupted = False
    try:
        for index, piece in enumerate(_pieces(size, plan.piece_rows)):
            if g.data is None:  # the group's prepare stage writes its own input into the database
                inp = data.Input(Path(), Path(), "", piece, None)
                landed, dataset = "", g.name
            else:
                if g.data == "vaccinations" and piece > data.GENERATED_MAX_ROWS:
                    inp = data.ensure_large(cache, g.data, piece, seed=args.seed + index)
                else:
                    inp = data.ensure(cache, g.data, piece, seed=args.seed + index)
                if inp.generated_s is not None:
                    print(f"    generated {piece:,} {g.data} rows in {inp.generated_s:.1f} s", flush=True)
                landed, dataset = str(data.land(inp, area / "landing")), g.data
                conn = db.connect(url)
                try:
                    with conn:
                        landing.load_registry(conn, area / "landing")
                finally:
                    conn.close()
            state: dict[str, Any] = {"seed": args.seed + index}
            if args.status_history_days is not None:
                state["history_days"] = args.status_history_days
            steps = ([g.prepare] if g.prepare else []) + list(g.steps)
            for step in steps:
                params = {"db_url": url, "env": env, "path": landed, "dataset": dataset, "rows": inp.rows}
                result = zygote.run(step, {**params, "state": state})
                state.update(result.get("state", {}))
                per_step.setdefault(step, []).append(result)
            for baseline in g.baselines:
                if baseline == "naive" and piece > args.naive_max_rows:
                    note = f"naive path skipped above {args.naive_max_rows:,} rows (--naive-max-rows)"
                    if note not in notes:
                        notes.append(note)
                    continue
                params = {
                    "db_url": url,
                    "env": env,
                    "path": str(inp.path) if g.data else "",
                    "dataset": dataset,
                    "rows": inp.rows,
                    "state": state,  # a group without an input file names the file to COPY (copy_path)
                }
                per_step.setdefault(baseline, []).append(zygote.run(baseline, params))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        dbs.drop(name)
        if not args.keep:
            shutil.rmtree(area, ignore_errors=True)
    records = []
    for step, results in per_step.items():
        if step in g.baselines:
            kind = "baseline"
        elif step == g.prepare:
            kind = "prepare"
        else:
            kind = "step"
        if len(results) == len(_pieces(size, plan.piece_rows)) or kind != "baseline":
            records.append(_record(g.name, size, step, kind, results))
    copy = next((r for r in records if r["kind"] == "baseline" and r["step"] == "copy"), None)
    for r in records:  # each other baseline against COPY of the file too (the floors, the naive path)
        if (
            r["kind"] == "baseline"
            and r["step"] != "copy"
            and copy
            and copy["rows_per_s"]
            and r["rows_per_s"]
        ):
            r["vs_copy"] = round(r["rows_per_s"] / copy["rows_per_s"], 3)
    headline = [r for r in records if r["step"] in g.headline]
    if interrupted or len(headline) < len(g.headline):
        raise Interrupted(records)
    seconds = sum(r["seconds"] for r in headline)
    file_rows = max(r["rows"] for r in headline)
    total = {
        "group": g.name,
        "size": size,
        "step": "total",
        "title": f"= {g.title.split(' (')[0]}: {' + '.join(g.headline)}",
        "kind": "total",
        "rows": file_rows,
        "seconds": round(seconds, 4),
        "rows_per_s": round(file_rows / seconds) if seconds > 0 else None,
        "peak_rss_mb": max(r["peak_rss_mb"] for r in headline),
        "start_rss_mb": max(r["start_rss_mb"] for r in headline),
        "cpu_s": round(sum(r["cpu_s"] for r in headline), 3),
        "pieces": len(_pieces(size, plan.piece_rows)),
    }
    for r in records:
        if r["kind"] == "baseline" and r["rows_per_s"] and total["rows_per_s"]:
            total[f"vs_{r['step']}"] = round(total["rows_per_s"] / r["rows_per_s"], 3)
        if r["kind"] == "baseline" and r["step"] == "copy" and r["seconds"] > 0:
            # the time against COPY's time (tracing, publish: the baseline COPYs the same rows)
            total["time_x_copy"] = round(seconds / r["seconds"], 3)
    return [*records, total], notes


# -- targets ----------------------------------------------------------------------------------------------
def check_targets(records: list[dict]) -> list[dict]:
    out = []
    totals: dict[str, dict[int, dict]] = {}
    steps: dict[str, dict[int, dict[str, dict]]] = {}
    for r in records:
        if r["kind"] == "total":
            totals.setdefault(r["group"], {})[r["size"]] = r
        elif r["kind"] == "step":
            steps.setdefault(r["group"], {}).setdefault(r["size"], {})[r["step"]] = r
    for t in targets():
        by_size = totals.get(t.group, {})
        if t.metric in ("peak_mb", "flatness"):  # a full run of the group, else its memory check
            by_size = {**totals.get(f"{t.group}_memory", {}), **by_size}
        value, at, note = None, None, ""
        if t.metric == "step_ratio":  # seconds of one step over another's, same group and size
            num, den = t.steps
            ratios = {
                size: round(here[num]["seconds"] / here[den]["seconds"], 3)
                for size, here in sorted(steps.get(t.group, {}).items())
                if num in here and den in here and here[den]["seconds"] > 0
            }
            if ratios:
                at = max(ratios)
                value = ratios[at]
                here = steps[t.group][at]
                note = (
                    f"{num} {here[num]['seconds']:.2f} s / {den} {here[den]['seconds']:.2f} s; per size: "
                    + ", ".join(f"{s:,}: {v}" for s, v in ratios.items())
                )
        elif t.metric in ("vs_copy", "vs_naive", "time_x_copy", "vs_copy_core_indexed"):
            sizes = [s for s, r in sorted(by_size.items()) if t.metric in r]
            if sizes:
                at = sizes[-1]
                value = by_size[at][t.metric]
                note = "at the largest size measured with both; per size: " + ", ".join(
                    f"{s:,}: {by_size[s][t.metric]}" for s in sizes
                )
        elif t.metric == "peak_mb":
            big = [s for s in by_size if s >= 5_000_000]
            if big:
                at = max(big)
                value = by_size[at]["peak_rss_mb"]
            elif by_size:
                note = f"not at this scale (largest size {max(by_size):,}: {by_size[max(by_size)]['peak_rss_mb']} MB)"
        elif t.metric == "flatness":
            if 500_000 in by_size and 5_000_000 in by_size:
                at = 5_000_000
                value = round(by_size[5_000_000]["peak_rss_mb"] / by_size[500_000]["peak_rss_mb"], 3)
            elif len(by_size) >= 2:
                lo, hi = min(by_size), max(by_size)
                ratio = by_size[hi]["peak_rss_mb"] / by_size[lo]["peak_rss_mb"]
                note = f"not at this scale ({hi:,} vs {lo:,} rows: {ratio:.3f})"
        met = None
        if value is not None:
            met = value >= t.bound if t.op == ">=" else value <= t.bound
        out.append(
            {
                "group": t.group,
                "target": t.text,
                "metric": t.metric,
                "bound": f"{t.op} {t.bound}",
                "value": value,
                "at_rows": at,
                "met": met,
                "note": note,
            }
        )
    return out


# -- output -----------------------------------------------------------------------------------------------
def _fmt(value, spec: str = ",") -> str:
    return "" if value is None else format(value, spec)


def print_table(records: list[dict], report: dict) -> None:
    m = report["machine"]
    print(
        f"\nmachine: {m['cores']} cores, {m.get('memory_gb')} GB, {m.get('cpu', '?')}; PostgreSQL "
        f"{m['postgresql']}; load at start {m['load_average_at_start']}; baseline RSS of every child "
        f"(imports) {report['baseline_rss_mb']:.0f} MB"
    )
    header = (
        f"  {'rows':>11}  {'step':<58} {'seconds':>9} {'rows/s':>10} {'peak MB':>8} {'xCOPY':>6} {'xnaive':>7}"
        f" {'t/COPY':>7}"
    )
    group = None
    for r in records:
        if r["group"] != group:
            group = r["group"]
            print(f"\n{group}: {GROUPS[group].title}")
            print(header)
        elif r["kind"] == "step" and r["step"] == GROUPS[group].steps[0]:
            print()
        title = r["title"] if r["kind"] != "step" else f"  {r['title']}"
        print(
            f"  {r['rows']:>11,}  {title[:58]:<58} {r['seconds']:>9.3f} {_fmt(r['rows_per_s']):>10} "
            f"{r['peak_rss_mb']:>8.0f} {_fmt(r.get('vs_copy'), '.3f'):>6} {_fmt(r.get('vs_naive'), '.2f'):>7}"
            f" {_fmt(r.get('time_x_copy'), '.2f'):>7}"
        )
    if report["skipped"]:
        print()
        for s in report["skipped"]:
            print(f"skipped {s['group']}: {s['reason']}")
    for n in report["notes"]:
        print(f"note: {n}")
    check = report.get("memory_selfcheck")
    if check:
        print(
            f"memory self-check: holding {check['probe_mb']} MiB raised a child's peak by "
            f"{check['measured_growth_mb']:.0f} MiB; the next child peaked at {check['next_idle_peak_mb']:.0f} MiB "
            f"(idle {check['idle_peak_mb']:.0f})"
        )
    print("\ntargets (ratios from this run):")
    for t in report["targets"]:
        verdict = {True: "MET", False: "MISSED", None: "not measured"}[t["met"]]
        value = "" if t["value"] is None else f"{t['value']} (at {t['at_rows']:,} rows) "
        print(f"  [{verdict:^12}] {t['target']}: {value}{t['note']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(scales.SCALES), default="smoke")
    parser.add_argument("--groups", help="comma-separated groups to run (default: all of the scale)")
    parser.add_argument("--sizes", help="comma-separated row counts replacing the scale's sizes")
    parser.add_argument(
        "--server-url",
        help="a PostgreSQL URL whose user may create databases "
        "(default: COVIDSYNC_WAREHOUSE_URL, else the embedded warehouse)",
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS, help="folder for the JSON (default bench/results)"
    )
    parser.add_argument("--data-dir", type=Path, help="where inputs are cached (default <data dir>/bench)")
    parser.add_argument(
        "--naive-max-rows",
        type=int,
        default=1_000_000,
        help="run the naive pandas path up to this many rows (it holds the file in memory)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--status-history-days",
        type=int,
        default=None,
        help="status group: days of data loaded before the full build (default 7); one more day follows",
    )
    parser.add_argument("--keep", action="store_true", help="keep the databases and data areas")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` stops it as Ctrl-C does: partial JSON
    plans = scales.SCALES[args.scale]
    if args.groups:
        wanted = args.groups.split(",")
        unknown = [g for g in wanted if g not in GROUPS]
        if unknown:
            parser.error(f"unknown groups: {', '.join(unknown)}")
        plans = tuple(p for p in plans if p.group in wanted) + tuple(
            scales.Plan(g, ()) for g in wanted if g not in {p.group for p in plans}
        )
    if args.sizes:
        sizes = tuple(int(s.replace("_", "")) for s in args.sizes.split(","))
        plans = tuple(scales.Plan(p.group, sizes, p.piece_rows) for p in plans)
    if any(not p.sizes for p in plans):
        parser.error("a group outside the scale's plan needs --sizes")

    from covidsync import settings, warehouse
    from covidsync.ingest.batch_gate import project_dir

    server_url = args.server_url or warehouse.resolve_url(start=False)
    cache_root = args.data_dir or settings.data_dir() / "bench"
    cache = cache_root / "inputs"
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=cache_root))
    started = dt.datetime.now(dt.UTC)
    wall = time.perf_counter()
    report: dict[str, Any] = {
        "scale": args.scale,
        "started_at": started.isoformat(timespec="seconds"),
        "command": "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(server_url),
        "method": (
            "each step in its own process forked from a warm process holding what a task imports; wall "
            "time of the step's call; peak_rss_mb = ru_maxrss of that process (os.wait4), including the "
            "imports (baseline_rss_mb); PostgreSQL's own memory is not included; ratios = headline rows/s "
            "over the baseline's rows/s on the same file in the same run"
        ),
        "skipped": [],
        "notes": [],
    }
    report["database_prefix"] = f"covidsync_bench_{os.getpid()}"

    gx_copy = work / "great_expectations"
    shutil.copytree(project_dir(), gx_copy, ignore=shutil.ignore_patterns("uncommitted"))
    dbs = Databases(server_url, args.keep)
    records: list[dict] = []
    code = 0
    zygote = None
    try:
        dbs.template()
        zygote = Zygote({"COVIDSYNC_GX_DIR": str(gx_copy)}, work)
        report["baseline_rss_mb"] = round(zygote.baseline_rss_mb, 1)
        report["memory_selfcheck"] = memory_selfcheck(zygote, dbs.template_url)
        for plan in plans:
            g = GROUPS[plan.group]
            needed = [s for s in (g.prepare, *g.steps, *g.baselines) if s]
            pending = sorted({STAGES[s].pending for s in needed if STAGES[s].pending})
            if pending:
                report["skipped"].append({"group": g.name, "reason": "; ".join(pending)})
                print(f"skipping {g.name}: {'; '.join(pending)}", flush=True)
                continue
            for size in plan.sizes:
                print(f"{g.name}: {size:,} rows ...", flush=True)
                rows, notes = run_size(
                    g, size, plan, dbs=dbs, zygote=zygote, work=work, cache=cache, args=args
                )
                records.extend(rows)
                report["notes"].extend(n for n in notes if n not in report["notes"])
                total = rows[-1]
                print(f"    {total['rows_per_s']:,} rows/s, peak {total['peak_rss_mb']:.0f} MB", flush=True)
    except Interrupted as exc:
        records.extend(exc.records)
        report["interrupted"] = "stopped before the end: the records hold the steps that finished"
        print("interrupted: writing what was measured", file=sys.stderr)
        code = 130
    except KeyboardInterrupt:
        report["interrupted"] = "stopped before the end: the records hold the steps that finished"
        code = 130
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        report["error"] = str(exc)
        code = 1
    finally:
        if zygote is not None:
            zygote.close()
        dbs.drop_all()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    report["wall_s"] = round(time.perf_counter() - wall, 1)
    report["results"] = records
    report["targets"] = check_targets(records)
    report.setdefault("baseline_rss_mb", 0.0)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{args.scale}-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    if records:
        print_table(records, report)
    print(f"\nresults: {path} ({report['wall_s']} s)")
    return code
