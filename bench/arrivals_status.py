"""Benchmark of the arrivals step of build_health_status (issue 24): a full arrivals build, then an
incremental one after 1% more declarations, then a full one again (which must give the same rows), then the
commune work lists rebuilt from them (DAG publish_commune_worklists).

    .venv/bin/python bench/arrivals_status.py --arrivals 20000

Creates a scratch database on the test server (COVIDSYNC_TEST_WAREHOUSE_URL, else 127.0.0.1:5432), loads
generated checkpoint scans and declarations straight into core with SQL (people unknown to identity
resolution: the step's own cost, without the status build's), times
:func:`covidsync.status.arrivals.build_arrivals` in its own transaction, prints JSON, drops the database.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time

import psycopg2

from covidsync import communes, db
from covidsync.status import arrivals, build, rules

_LOAD = """
insert into ops.landing_file (sha256, relative_path, original_name, size_bytes, received_at, status)
values (repeat('b', 64), 'bench/arrivals.csv', 'arrivals.csv', 1, now(), 'merged');
insert into core.venue (venue_code, name, province_code, district_code, commune_code, venue_type, source_file_id,
    source_row)
select 'CP' || c.n, 'Chốt ' || c.n, '17', cm.district_code, cm.commune_code, 'checkpoint', 1, c.n
from generate_series(1, 10) as c (n)
join lateral (select commune_code, district_code from core.commune order by commune_code offset c.n * 7 limit 1)
    as cm on true;
select core.ensure_checkin_partition(date '2021-11-01' + d) from generate_series(0, 20) as d;
create temp table person_gen as
select i, encode(sha256(convert_to('bench' || i || %(salt)s, 'UTF8')), 'hex') as key,
    date '2021-11-01' + (i %% 20) as day, i %% 100 as bucket
from generate_series(1, %(n)s) as i;
insert into core.checkin (checkin_id, local_day, venue_code, scanned_at, person_kind, person_key, source_file_id,
    source_row)
select 'b' || i || %(salt)s, day, 'CP' || (1 + i %% 10),
    (day + time '08:00' + make_interval(mins => i %% 600)) at time zone 'Asia/Ho_Chi_Minh',
    'cccd', key, 1, i
from person_gen where bucket < 85;
insert into core.declaration (app, declaration_id, kind, submitted_at, person_kind, person_key,
    origin_province_code, origin_known, destination_commune_code, destination_in_province, travel_date,
    symptoms_reported, source_file_id, source_row)
select 'pccovid', 'd' || i || %(salt)s, 'movement', (day - 1 + time '20:00') at time zone 'Asia/Ho_Chi_Minh',
    'cccd', key, lpad(((i %% 62) + 1)::text, 2, '0'), true,
    (select commune_code from core.commune order by commune_code offset i %% 150 limit 1), true,
    day - (i %% 2), false, 1, i
from person_gen where bucket >= 15;
drop table person_gen;
"""


def _step(url: str, as_of, full: bool) -> tuple[float, dict]:
    conn = psycopg2.connect(url)
    try:
        params = rules.get().sql_params() | {"as_of": as_of}
        started = time.perf_counter()
        with conn, conn.cursor() as cur:
            cur.execute("set local jit = off")  # as the status build does
            cur.execute("create temp table touched (person_id bigint primary key) on commit drop")
            result = arrivals.build_arrivals(cur, params, full)
        return time.perf_counter() - started, result.as_dict()
    finally:
        conn.close()


def _snapshot(url: str) -> list:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select md5(string_agg(t::text, '|' order by t.arrival_key)) from derived.arrival as t"
                " union all select md5(string_agg(f::text, '|' order by f.arrival_key, f.test_day))"
                " from derived.arrival_followup as f"
            )
            return [r[0] for r in cur.fetchall()]
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--arrivals", type=int, default=20000)
    args = parser.parse_args()
    admin = os.environ.get("COVIDSYNC_TEST_WAREHOUSE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"covidsync_bench_arrivals_{os.getpid()}"
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    conn.cursor().execute(db.create_database_sql(name))
    url = admin.rsplit("/", 1)[0] + "/" + name
    out: dict = {"args": vars(args), "load": os.getloadavg()}
    try:
        db.upgrade(url)
        load = psycopg2.connect(url)
        with load, load.cursor() as cur:
            cur.execute(_LOAD, {"n": args.arrivals, "salt": ""})
            cur.execute("analyze")
        as_of = build.as_of_for(dt.date(2021, 11, 20))
        out["full_s"], out["full"] = _step(url, as_of, True)
        with load, load.cursor() as cur:  # 1% more people: declarations and scans
            cur.execute(_LOAD.split(";\n", 3)[3], {"n": args.arrivals // 100, "salt": "x"})
        out["incremental_s"], out["incremental"] = _step(url, as_of, False)
        incremental = _snapshot(url)
        out["full_again_s"], out["full_again"] = _step(url, as_of, True)
        out["incremental_equals_full"] = incremental == _snapshot(url)
        started = time.perf_counter()
        out["worklist_rows"] = communes.refresh_worklists(load)
        out["worklist_refresh_s"] = time.perf_counter() - started
        load.close()
    finally:
        conn.cursor().execute(f'drop database if exists "{name}" with (force)')
        conn.close()
    print(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
