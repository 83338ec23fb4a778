"""A national-day piece through the Celery cluster, with one worker and with two, in the same run (issue 21).

    .venv/bin/python -m bench.cluster [--facilities 40] [--persons 20000] [--checkins 120000]
                                      [--checkin-files 12] [--workers 1,2] [--concurrency 2]

The piece: one generated day (``covidsync generate --clean``) of ``--facilities`` facilities, each sending
its vaccination and test-result file (a real day brings one file per facility and dataset: about 13k
vaccination sites nationally), and the day's PC-Covid check-ins cut into ``--checkin-files`` exports (a real
day brings them hour by hour from each province). For each worker count the cluster is started afresh
(``covidsync.cluster``, what ``make cluster`` runs) on a new warehouse database and a new metadata
database on the warehouse's server, with ``--concurrency`` task slots per worker, and the scheduler runs
``ingest_facility_files`` and then ``ingest_checkins`` for the day. Reported: each run's wall time (the
API's start and end of the DAG run), the speed-up of N workers over one, tasks per worker, and where the
time went while it ran: CPU busy (whole machine, sampled each second), warehouse backends active and those
waiting on a lock. JSON under ``bench/results/cluster-<time>.json``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from covidsync import cluster, db, settings, warehouse

DAY = "2021-11-20"
LOGICAL_DATE = f"{DAY}T00:00:00+07:00"
DAGS = ("ingest_facility_files", "ingest_checkins")


def _with_database(url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _fresh_database(admin_url: str, name: str) -> str:
    db.execute_autocommit(admin_url, f'drop database if exists "{name}" with (force)')
    db.execute_autocommit(admin_url, db.create_database_sql(name))
    return _with_database(admin_url, name)


def generate(out: Path, args) -> dict:
    """The day's files; the check-in export cut into ``checkin_files`` parts of whole rows."""
    if (out / "landing").exists():
        shutil.rmtree(out)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "covidsync",
            "generate",
            "--seed",
            "21",
            "--persons",
            str(args.persons),
            "--days",
            "1",
            "--start",
            DAY,
            "--facilities",
            str(args.facilities),
            "--checkins-per-day",
            str(args.checkins),
            "--clean",
            "--bomb-mb",
            "1",
            "--quiet",
            "--out",
            str(out),
        ],
        check=True,
    )
    folder = out / "landing" / "pccovid" / "checkins"
    (source,) = list(folder.glob("checkins_*.csv"))
    with source.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)
    stat = source.stat()
    source.unlink()
    per = -(-len(rows) // args.checkin_files)
    for part in range(args.checkin_files):
        path = folder / f"checkins_{DAY}_part{part + 1:02d}.csv"
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(rows[part * per : (part + 1) * per])
        os.utime(path, (stat.st_atime, stat.st_mtime))
    files = {
        ds: len([p for p in (out / "landing").rglob(f"*/{ds}/*") if p.is_file()])
        for ds in ("vaccinations", "test_results", "checkins", "venues")
    }
    return {"files": files, "checkin_rows": len(rows)}


class Sampler:
    """Once a second: the machine's CPU busy share, the warehouse's active backends and lock waits."""

    def __init__(self, url: str):
        self.url, self.samples, self._stop = url, [], threading.Event()

    def __enter__(self):
        import psutil

        psutil.cpu_percent()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self):
        import psutil

        conn = db.connect(self.url)
        conn.autocommit = True
        with conn.cursor() as cur:
            while not self._stop.wait(1.0):
                cur.execute(
                    "select count(*) filter (where state = 'active'),"
                    " count(*) filter (where wait_event_type = 'Lock')"
                    " from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()"
                )
                active, locked = cur.fetchone()
                self.samples.append((psutil.cpu_percent(), active, locked, os.getloadavg()[0]))
        conn.close()

    def __exit__(self, *exc):
        self._stop.set()
        self.thread.join()

    def summary(self) -> dict:
        n = max(1, len(self.samples))
        return {
            "cpu_busy_pct": round(sum(s[0] for s in self.samples) / n, 1),
            "warehouse_active_backends": round(sum(s[1] for s in self.samples) / n, 2),
            "warehouse_lock_waits": round(sum(s[2] for s in self.samples) / n, 2),
            "load_average": round(sum(s[3] for s in self.samples) / n, 1),
        }


def _seconds(run: dict) -> float:
    start = dt.datetime.fromisoformat(run["start_date"].replace("Z", "+00:00"))
    end = dt.datetime.fromisoformat(run["end_date"].replace("Z", "+00:00"))
    return (end - start).total_seconds()


def one_pass(workers: int, sample: Path, admin_url: str, work: Path, args) -> dict:
    tag = f"{workers}w"
    warehouse_url = _fresh_database(admin_url, f"covidsync_bench_cluster_{tag}")
    db.upgrade(warehouse_url)
    meta_url = _fresh_database(admin_url, f"covidsync_bench_airflow_{tag}")
    data = work / tag / "data"
    if data.exists():
        shutil.rmtree(data)
    shutil.copytree(sample / "landing", data / "landing")
    os.environ.update(
        {
            "COVIDSYNC_WAREHOUSE_URL": warehouse_url,
            "COVIDSYNC_AIRFLOW_DB_URL": meta_url,
            "COVIDSYNC_DATA_DIR": str(data),
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(args.concurrency),
        }
    )
    layout = cluster.Layout.default()
    layout.home = work / tag / "airflow"
    if layout.home.exists():
        shutil.rmtree(layout.home)
    layout.workers = workers
    began = time.monotonic()
    cluster.start(layout, quiet=True)
    result: dict = {"workers": workers, "slots": workers * args.concurrency}
    result["start_s"] = round(time.monotonic() - began, 1)
    try:
        api = cluster.Api(layout)
        deadline = time.monotonic() + 300
        while not set(DAGS) <= {
            d["dag_id"] for d in api._call("GET", "/dags", params={"limit": 100})["dags"]
        }:
            if time.monotonic() > deadline:
                raise SystemExit("the DAGs were not registered within 300 s")
            time.sleep(2)
        for dag_id in DAGS:
            with Sampler(warehouse_url) as sampler:
                run_id = api.trigger(dag_id, LOGICAL_DATE, run_id=f"bench_{tag}_{dag_id}")
                state = api.wait_run(dag_id, run_id, timeout=3600, poll=2)
            run = api._call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
            tis = api.task_instances(dag_id, run_id)
            per_worker: dict[str, int] = {}
            task_seconds = 0.0
            for ti in tis:
                if ti.get("hostname"):
                    per_worker[ti["hostname"]] = per_worker.get(ti["hostname"], 0) + 1
                task_seconds += ti.get("duration") or 0
            result[dag_id] = {
                "state": state,
                "seconds": round(_seconds(run), 1),
                "tasks": len(tis),
                "task_seconds": round(task_seconds, 1),
                "tasks_per_worker": per_worker,
                **sampler.summary(),
            }
            print(f"  {tag} {dag_id}: {result[dag_id]}", flush=True)
        conn = db.connect(warehouse_url)
        with conn.cursor() as cur:
            cur.execute(
                "select (select count(*) from core.vaccination), (select count(*) from core.test_result),"
                " (select count(*) from core.checkin)"
            )
            result["rows"] = dict(
                zip(("vaccinations", "test_results", "checkins"), cur.fetchone(), strict=True)
            )
        conn.close()
    finally:
        cluster.stop(layout, quiet=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__.split("\n")[0])
    parser.add_argument("--facilities", type=int, default=40)
    parser.add_argument("--persons", type=int, default=20000)
    parser.add_argument("--checkins", type=int, default=120000)
    parser.add_argument("--checkin-files", type=int, default=12)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--concurrency", type=int, default=2, help="task slots per worker")
    args = parser.parse_args(argv)
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that each pass's `finally` stops its cluster

    url = warehouse.resolve_url(start=True)
    from sqlalchemy.engine import make_url

    admin_url = make_url(url).set(database="postgres").render_as_string(hide_password=False)
    work = settings.state_dir() / "bench-cluster"
    sample = work / "sample"
    made = generate(sample, args)
    print(f"piece: {made}", flush=True)
    passes = [one_pass(int(w), sample, admin_url, work, args) for w in args.workers.split(",")]
    base = passes[0]
    for p in passes:
        for dag_id in DAGS:
            p[dag_id]["speed_up"] = round(base[dag_id]["seconds"] / p[dag_id]["seconds"], 2)
    report = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "args": vars(args),
        "piece": made,
        "passes": passes,
        "cpus": os.cpu_count(),
    }
    out = Path(__file__).resolve().parent / "results" / f"cluster-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=2))
    print(
        "\n| workers | slots | DAG | s | speed-up | tasks per worker | CPU busy % | active backends | lock waits |"
    )
    print("|---:|---:|---|---:|---:|---|---:|---:|---:|")
    for p in passes:
        for dag_id in DAGS:
            r = p[dag_id]
            print(
                f"| {p['workers']} | {p['slots']} | {dag_id} | {r['seconds']} | {r['speed_up']} |"
                f" {r['tasks_per_worker']} | {r['cpu_busy_pct']} | {r['warehouse_active_backends']} |"
                f" {r['warehouse_lock_waits']} |"
            )
    print(f"\nwritten: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
