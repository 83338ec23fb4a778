"""Many small facility files through Airflow's scheduler, and the same files through the library path (issue 16).

    .venv/bin/python -m bench.dag_small_files [--files 200] [--rows 500] [--group-files N] [--slots 4]
                                              [--input CSV] [--admin-url URL]

The files: the first ``--files`` × ``--rows`` rows of a generated vaccination file (bench.data, cached; or
``--input``), cut into files of ``--rows`` rows delivered by one facility, as ``bench.stages``'
``small_files`` group cuts them.

**The DAG run**: a real deployment on this machine (``covidsync.cluster``, what ``make cluster`` starts:
scheduler, DAG processor, triggerer, API server, one Celery worker with ``--slots`` task slots, Redis), on
a new metadata database and a new warehouse database on ``--admin-url``'s server, with the files in a
scratch landing zone and a copy of the GX project; every DAG but ``ingest_facility_files`` stays paused.
One run is triggered through the REST API. Reported: the wall time from the trigger to the run's success
(measured by this process), the run's own start and end, the task instances (the mapped
``process_group`` must be one per group, never one per file), and each task's duration, queued wait and
files from Airflow's metadata.

**The library path**: the same files, in the same grouping (``COVIDSYNC_INGEST_GROUP_FILES``), registered
and processed in this process (``landing.register``, ``engine.groups``, ``engine.process_group``) on a
fresh warehouse database, the imports done before the clock starts (as the bench's zygote does).

Both end with the same statuses and the same core rows (checked). JSON under
``bench/results/dag-small-files-<time>.json``. This is a bench, not a test: it takes minutes.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import shutil
import socket
import sys
import time
import uuid
from pathlib import Path

DAG_ID = "ingest_facility_files"
LOGICAL_DATE = "2021-11-20T00:00:00+07:00"
RESULTS = Path(__file__).resolve().parent / "results"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database(admin_url: str, name: str, *, drop: bool = False) -> str:
    import psycopg2
    from sqlalchemy.engine import make_url

    from covidsync import db

    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'drop database if exists "{name}" with (force)')
        if not drop:
            cur.execute(db.create_database_sql(name))
    conn.close()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def write_files(source: Path, registry: Path, landing: Path, files: int, rows: int) -> int:
    """``files`` CSVs of ``rows`` rows each (the first rows of ``source``) under ``landing``; rows written."""
    folder = landing / "17001" / "vaccinations"
    folder.mkdir(parents=True, exist_ok=True)
    (landing / "registry").mkdir(parents=True, exist_ok=True)
    shutil.copy2(registry, landing / "registry" / "facilities.csv")
    written = 0
    with source.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        for n in range(1, files + 1):
            part = folder / f"part-{n:05d}.csv"
            with part.open("w", encoding="utf-8", newline="") as out:
                writer = csv.writer(out)
                writer.writerow(header)
                for _, record in zip(range(rows), reader, strict=False):
                    writer.writerow(record)
                    written += 1
            stamp = 1_637_000_000 + n
            os.utime(part, (stamp, stamp))
    return written


def outcome(url: str) -> dict:
    from covidsync import db

    conn = db.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("select status, count(*) from ops.landing_file group by 1 order by 1")
            statuses = dict(cur.fetchall())
            cur.execute("select count(*) from core.vaccination")
            (core,) = cur.fetchone()
            cur.execute("select count(*) from ops.validation_result")
            (validations,) = cur.fetchone()
        conn.rollback()
    finally:
        conn.close()
    return {"statuses": statuses, "core_vaccination": core, "validation_results": validations}


def _iso(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def dag_run(landing: Path, admin_url: str, work: Path, args) -> dict:
    """Start the deployment, trigger one run, read its task instances, stop everything."""
    from covidsync import cluster, db

    tag = uuid.uuid4().hex[:8]
    warehouse_url = _database(admin_url, f"covidsync_bench_dagsmall_{tag}")
    meta_url = _database(admin_url, f"covidsync_bench_dagsmall_airflow_{tag}")
    db.upgrade(warehouse_url)
    data = work / "dag-data"
    shutil.copytree(landing, data / "landing")
    os.environ.update(
        {
            "COVIDSYNC_WAREHOUSE_URL": warehouse_url,
            "COVIDSYNC_AIRFLOW_DB_URL": meta_url,
            "COVIDSYNC_DATA_DIR": str(data),
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",  # only the measured DAG is unpaused
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(args.slots),
        }
    )
    layout = cluster.Layout.default()
    layout.home = work / "airflow"
    layout.workers = 1
    layout.concurrency = args.slots
    layout.api_port, layout.redis_port, layout.log_port = _free_port(), _free_port(), _free_port()
    result: dict = {"slots": args.slots}
    began = time.monotonic()
    try:
        cluster.start(layout, quiet=True)
        result["start_s"] = round(time.monotonic() - began, 1)
        api = cluster.Api(layout)
        deadline = time.monotonic() + 600
        while DAG_ID not in {d["dag_id"] for d in api._call("GET", "/dags", params={"limit": 100})["dags"]}:
            if time.monotonic() > deadline:
                raise SystemExit(f"{DAG_ID} was not parsed within 600 s")
            time.sleep(2)
        api.unpause(DAG_ID)
        load_before = os.getloadavg()[0]
        clock = time.monotonic()
        run_id = api.trigger(DAG_ID, LOGICAL_DATE, run_id=f"bench_small_{tag}")
        state = api.wait_run(DAG_ID, run_id, timeout=args.timeout, poll=1)
        result["wall_s"] = round(time.monotonic() - clock, 1)
        result["load_average"] = [round(load_before, 1), round(os.getloadavg()[0], 1)]
        run = api._call("GET", f"/dags/{DAG_ID}/dagRuns/{run_id}")
        result["state"] = state
        result["run_s"] = round((_iso(run["end_date"]) - _iso(run["start_date"])).total_seconds(), 1)
        tasks = []
        for ti in api.task_instances(DAG_ID, run_id):
            queued, start, end = (
                _iso(ti.get("queued_when")),
                _iso(ti.get("start_date")),
                _iso(ti.get("end_date")),
            )
            tasks.append(
                {
                    "task_id": ti["task_id"],
                    "map_index": ti.get("map_index", -1),
                    "label": ti.get("rendered_map_index"),
                    "state": ti["state"],
                    "duration_s": round(ti.get("duration") or 0.0, 2),
                    "queued_wait_s": round((start - queued).total_seconds(), 2) if queued and start else None,
                    "start_offset_s": round((start - _iso(run["start_date"])).total_seconds(), 1)
                    if start
                    else None,
                    "end": end.isoformat() if end else None,
                }
            )
        tasks.sort(key=lambda t: (t["start_offset_s"] or 0, t["task_id"], t["map_index"]))
        result["task_instances"] = tasks
        result["outcome"] = outcome(warehouse_url)
    finally:
        cluster.stop(layout, quiet=True)
        if not args.keep:
            _database(admin_url, meta_url.rsplit("/", 1)[1], drop=True)
            _database(admin_url, warehouse_url.rsplit("/", 1)[1], drop=True)
    return result


def library_run(landing: Path, admin_url: str, work: Path, args) -> dict:
    """The same files in the same groups through the library, in this process (imports done first)."""
    from bench.stages import preload
    from covidsync import db
    from covidsync.ingest import engine
    from covidsync.ingest import landing as landing_mod

    preload()
    tag = uuid.uuid4().hex[:8]
    url = _database(admin_url, f"covidsync_bench_libsmall_{tag}")
    data = work / "lib-data"
    shutil.copytree(landing, data / "landing")
    os.environ.update({"COVIDSYNC_WAREHOUSE_URL": url, "COVIDSYNC_DATA_DIR": str(data)})
    try:
        db.upgrade(url)
        conn = db.connect(url)
        try:
            load_before = os.getloadavg()[0]
            clock = time.monotonic()
            with conn:
                landing_mod.load_registry(conn, data / "landing")
            pending = landing_mod.register(conn, data / "landing").pending
            registered = time.monotonic() - clock
            groups = engine.groups(conn, pending)
            per_group = []
            for ids in groups:
                t = time.monotonic()
                engine.process_group(conn, ids)
                per_group.append(round(time.monotonic() - t, 2))
            wall = time.monotonic() - clock
        finally:
            conn.close()
        return {
            "wall_s": round(wall, 1),
            "register_s": round(registered, 2),
            "groups": len(groups),
            "group_s": per_group,
            "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)],
            "outcome": outcome(url),
        }
    finally:
        if not args.keep:
            _database(admin_url, url.rsplit("/", 1)[1], drop=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.dag_small_files", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--rows", type=int, default=500, help="rows per file")
    parser.add_argument(
        "--group-files",
        type=int,
        help="COVIDSYNC_INGEST_GROUP_FILES for both runs (default: the engine's, 200)",
    )
    parser.add_argument("--slots", type=int, default=4, help="task slots of the one worker")
    parser.add_argument("--input", type=Path, help="a vaccination CSV to cut (default: a generated one)")
    parser.add_argument(
        "--data-dir", type=Path, help="where generated inputs are cached (default <data dir>/bench)"
    )
    parser.add_argument(
        "--admin-url",
        default=os.environ.get(
            "COVIDSYNC_TEST_WAREHOUSE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="a server where the user may create databases",
    )
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--skip-library", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the databases and the scratch folder")
    args = parser.parse_args(argv)
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` stops the deployment

    from bench import data
    from covidsync import settings
    from covidsync.ingest.batch_gate import project_dir

    if args.group_files:
        os.environ["COVIDSYNC_INGEST_GROUP_FILES"] = str(args.group_files)
    cache_root = args.data_dir or settings.data_dir() / "bench"
    work = Path(cache_root) / f"dag-small-{time.strftime('%Y%m%d-%H%M%S')}"
    work.mkdir(parents=True)
    gx = work / "great_expectations"
    shutil.copytree(project_dir(), gx, ignore=shutil.ignore_patterns("uncommitted"))
    os.environ["COVIDSYNC_GX_DIR"] = str(gx)
    if args.input:
        source, registry = args.input, args.input.parents[2] / "registry" / "facilities.csv"
    else:
        inp = data.ensure(Path(cache_root) / "inputs", "vaccinations", args.files * args.rows)
        source, registry = inp.path, inp.registry
    landing = work / "files"
    rows = write_files(source, registry, landing, args.files, args.rows)
    report: dict = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": "python -m bench.dag_small_files " + " ".join(argv if argv is not None else sys.argv[1:]),
        "files": args.files,
        "rows": rows,
        "group_files": int(os.environ.get("COVIDSYNC_INGEST_GROUP_FILES", "200")),
        "cpus": os.cpu_count(),
    }
    try:
        report["dag"] = dag_run(landing, args.admin_url, work, args)
        if not args.skip_library:
            report["library"] = library_run(landing, args.admin_url, work, args)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"dag-small-files-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    summarise(report)
    print(f"\nwritten: {out}")
    return 0


def summarise(report: dict) -> None:
    d = report["dag"]
    tis = d["task_instances"]
    mapped = [t for t in tis if t["map_index"] is not None and t["map_index"] >= 0]
    print(
        f"\n{report['files']} files, {report['rows']:,} rows, groups of at most {report['group_files']} files"
    )
    print(
        f"DAG run ({d['slots']} slots): {d['state']}, trigger to success {d['wall_s']} s (run {d['run_s']} s),"
        f" {len(tis)} task instances of which {len(mapped)} mapped; load {d['load_average']}"
    )
    print("| task | map index | state | duration s | queued wait s | start offset s |")
    print("|---|---:|---|---:|---:|---:|")
    for t in tis:
        print(
            f"| {t['task_id']} | {t['map_index']} | {t['state']} | {t['duration_s']} | {t['queued_wait_s']} |"
            f" {t['start_offset_s']} |"
        )
    print(f"DAG outcome: {d['outcome']}")
    lib = report.get("library")
    if lib:
        print(
            f"library path: {lib['wall_s']} s (register {lib['register_s']} s, {lib['groups']} groups:"
            f" {lib['group_s']}); load {lib['load_average']}; outcome {lib['outcome']}"
        )
        print(f"DAG ÷ library: {d['wall_s'] / lib['wall_s']:.2f}")


if __name__ == "__main__":
    sys.exit(main())
