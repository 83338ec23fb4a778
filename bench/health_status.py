"""Benchmark of build_health_status: full build, incremental build (one more day), tracing alone.

    .venv/bin/python bench/health_status.py --persons 20000 --days 4 --checkins-per-day 40000

Creates a scratch database on the test server (COVIDSYNC_TEST_WAREHOUSE_URL, else 127.0.0.1:5432),
loads generated core data (covidsync.status.synthetic), and times the library functions a benchmark is
meant to call: covidsync.status.build.full_build, incremental_build and trace. Prints JSON; drops the
database afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import psycopg2

from covidsync import db
from covidsync.status import build
from covidsync.status.synthetic import Synthetic


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--persons", type=int, default=20000)
    parser.add_argument("--days", type=int, default=4)
    parser.add_argument("--checkins-per-day", type=int, default=40000)
    parser.add_argument("--venues", type=int, default=400)
    args = parser.parse_args()
    admin = os.environ.get("COVIDSYNC_TEST_WAREHOUSE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"covidsync_bench_status_{os.getpid()}"
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    conn.cursor().execute(db.create_database_sql(name))
    url = admin.rsplit("/", 1)[0] + "/" + name
    out: dict = {"args": vars(args)}
    try:
        db.upgrade(url)
        data = Synthetic(
            seed=1,
            persons=args.persons,
            days=args.days,
            venues=args.venues,
            checkins_per_day=args.checkins_per_day,
        )
        work = psycopg2.connect(url)
        data.setup(work)
        t = time.perf_counter()
        for day in data.dates[:-1]:
            data.load_day(work, day)
        out["load_s"] = round(time.perf_counter() - t, 2)
        with work.cursor() as cur:
            cur.execute("analyze")
            for table in ("core.vaccination", "core.test_result", "core.checkin", "core.checkin_person"):
                cur.execute(f"select count(*) from {table}")
                out[table] = cur.fetchone()[0]
        work.commit()
        for label, fn, day in (
            ("full_build", build.full_build, data.dates[-2]),
            ("full_build_again", build.full_build, data.dates[-2]),
        ):
            t = time.perf_counter()
            result = fn(url, day)
            out[label] = {"seconds": round(time.perf_counter() - t, 2)} | result.as_dict()
        data.load_day(work, data.dates[-1])
        t = time.perf_counter()
        result = build.incremental_build(url, data.dates[-1])
        out["incremental_build_next_day"] = {"seconds": round(time.perf_counter() - t, 2)} | result.as_dict()
        t = time.perf_counter()
        result = build.incremental_build(url, data.dates[-1])
        out["incremental_build_nothing_new"] = {
            "seconds": round(time.perf_counter() - t, 2)
        } | result.as_dict()
        t = time.perf_counter()
        candidates = build.trace(url, data.dates[-1])
        out["trace"] = {"seconds": round(time.perf_counter() - t, 2), "candidates": candidates}
        work.close()
    finally:
        conn.cursor().execute(f'drop database if exists "{name}" with (force)')
        conn.close()
    print(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
