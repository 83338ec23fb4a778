"""The readers of core.vaccination / core.test_result on a warehouse that has been running, before and after an
index change (issue 16, the destination): every plan they run, with its time and buffers.

    .venv/bin/python -m bench.destination_readers prepare NAME --persons 300000 [--days 8]
    .venv/bin/python -m bench.destination_readers run BEFORE AFTER --rounds 2 --out /tmp/readers

``prepare``: a database NAME on the admin server, migrated to this checkout's head, with
``covidsync.status.synthetic`` core data for all days but the last, a full status build as of the day before
the last, then the last day loaded (not built): the state an incremental build meets. Make the AFTER template
as a copy of it (``create database AFTER template NAME``) and ``covidsync db upgrade`` it.

``run``: turn about (ABBA...), a working copy of each template, and in it, each in its own process with
auto_explain (ANALYZE, BUFFERS, nested statements) sending every plan to the client: the incremental build as
of the last day, tracing, the marts, a release, and the ingest's readers (a resent file's delete, the
reference check of a file's delete, the short-interval rule's earlier doses, the test-result profile's
history) in transactions rolled back. Writes each run's plans to OUT/<label>-<round>.txt and prints the
seconds of each part; ``summary`` sums, per label, the time of the plans that read the two tables.

    .venv/bin/python -m bench.destination_readers lookups BEFORE,AFTER --build --before-target 0028 --copies 5

``lookups``: the quicker check quoted in docs/performance.md. ``--build`` makes BEFORE (migrated up to
``--before-target``) holding a bench file's core rows (``--core-csv``) ``--copies`` times under other files,
CCCDs, phones and load times, and AFTER as its copy migrated to the head; then each reader's statement
(``_LOOKUPS``) with ``EXPLAIN (ANALYZE, BUFFERS)`` on each, in turn, round after round, rolled back.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import psycopg2

_PGOPTIONS = (
    "-c session_preload_libraries=auto_explain -c auto_explain.log_min_duration=0"
    " -c auto_explain.log_analyze=on -c auto_explain.log_buffers=on -c auto_explain.log_timing=on"
    " -c auto_explain.log_nested_statements=on -c auto_explain.log_level=notice"
)

# the ingest's own readers, on the warehouse's latest vaccination and test-result files (rolled back)
_INGEST_READERS = (
    # a resent file: its earlier rows taken back (sql/ingest/*_merge.sql, first statement)
    "delete from core.vaccination where source_file_id = (select max(source_file_id) from core.vaccination)",
    "delete from core.test_result where source_file_id = (select max(source_file_id) from core.test_result)",
    # a new file: nothing to take back
    "delete from core.vaccination where source_file_id = (select max(file_id) + 1 from ops.landing_file)",
    # the short-interval rule's earlier doses of one file's persons (sql/ingest/vaccination_short_interval.sql)
    "select count(*) from core.vaccination as v where v.source_file_id <> 1 and v.citizen_id in"
    " (select citizen_id from core.vaccination order by vaccination_id desc limit 20000)",
    # the test-result profile's 28 days of a facility (sql/ingest/test_result_profile.sql)
    "select f.file_id, (select count(*) from core.test_result as t where t.source_file_id = f.file_id)"
    " from ops.landing_file as f where f.dataset = 'test_results'",
    # the changed records of an incremental build (covidsync.status.build._CHANGED_RECORDS)
    "select count(*) from core.vaccination where loaded_at >= (select max(loaded_at) from core.vaccination)",
    "select count(*) from core.test_result where loaded_at >= (select max(loaded_at) from core.test_result)",
    # a facility removed from the registry (core.keep_referenced reads core.*.facility_code)
    "delete from ops.facility where facility_code = (select min(facility_code) from ops.facility)",
)

_CHILD = """
import sys, time, datetime as dt, json, psycopg2, psycopg2.extensions
out = open(sys.argv[3], "a")
class Notices(list):
    def append(self, item):
        out.write(item)
_connect = psycopg2.connect
def connect(*a, **k):
    conn = _connect(*a, **k)
    conn.notices = Notices()
    return conn
psycopg2.connect = connect
from covidsync import db
from covidsync.status import build
from covidsync.marts import refresh
from covidsync.publish import release
url, day, part = sys.argv[1], dt.date.fromisoformat(sys.argv[2]), sys.argv[4]
t = time.perf_counter()
out.write(f"\\n#### part {part}\\n")
if part == "incremental":
    r = build.incremental_build(url, day)
    extra = r.as_dict()
elif part == "trace":
    extra = {"candidates": build.trace(url, day)}
elif part == "marts":
    with db.session(url) as conn:
        extra = refresh.refresh(conn, day)
elif part == "publish":
    with db.session(url) as conn:
        extra = {k: v for k, v in release.publish_release(conn).items() if isinstance(v, (int, str))}
else:
    conn = db.connect(url)
    with conn.cursor() as cur:
        for i, statement in enumerate(json.loads(part)):
            out.write(f"\\n#### ingest reader {i}\\n")
            cur.execute(statement)
            conn.rollback()
    conn.close()
    extra = {}
print(json.dumps({"seconds": round(time.perf_counter() - t, 3)} | {"extra": str(extra)[:200]}))
"""

_PLAN = re.compile(r"duration: ([0-9.]+) ms\s+plan:\n(.*?)(?=\n(?:NOTICE|WARNING|####)|\Z)", re.S)
_READS = re.compile(r" on (vaccination|test_result)(?:_history)? ")


def _admin(url: str, *statements: str) -> None:
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        for s in statements:
            cur.execute(s)
    conn.close()


def _db_url(admin: str, name: str) -> str:
    return admin.rsplit("/", 1)[0] + "/" + name


def prepare(args) -> None:
    from covidsync import db
    from covidsync.status import build
    from covidsync.status.synthetic import Synthetic

    _admin(args.admin_url, db.create_database_sql(args.name))
    url = _db_url(args.admin_url, args.name)
    db.upgrade(url)
    data = Synthetic(
        seed=1,
        persons=args.persons,
        days=args.days,
        venues=min(9_999, max(25, args.persons // 100)),
        checkins_per_day=max(100, args.persons // 4),
    )
    conn = psycopg2.connect(url)
    data.setup(conn)
    t = time.perf_counter()
    for day in data.dates[:-1]:
        data.load_day(conn, day)
    conn.autocommit = True
    conn.cursor().execute("vacuum analyze")
    print("loaded", round(time.perf_counter() - t, 1), flush=True)
    t = time.perf_counter()
    build.full_build(url, data.dates[-2])
    print("full build", round(time.perf_counter() - t, 1), flush=True)
    conn.autocommit = False
    data.load_day(conn, data.dates[-1])
    conn.autocommit = True
    conn.cursor().execute("vacuum analyze")
    with conn.cursor() as cur:
        cur.execute("select count(*) from core.vaccination")
        v = cur.fetchone()[0]
        cur.execute("select count(*) from core.test_result")
        tr = cur.fetchone()[0]
    conn.close()
    print(json.dumps({"name": args.name, "day": str(data.dates[-1]), "vaccination": v, "test_result": tr}))


def run(args) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = f"{args.before}_work"
    url = _db_url(args.admin_url, work)
    parts = [json.dumps(_INGEST_READERS) if p == "ingest" else p for p in args.parts.split(",")]
    for r in range(args.rounds):
        for label, template in (
            (("before", args.before), ("after", args.after))
            if r % 2 == 0
            else (("after", args.after), ("before", args.before))
        ):
            _admin(
                args.admin_url,
                f'drop database if exists "{work}" with (force)',
                f'create database "{work}" template "{template}"',
            )
            plans = out / f"{label}-{r}.txt"
            plans.write_text("")
            for part in parts:
                env = dict(os.environ, PGOPTIONS=_PGOPTIONS)
                done = subprocess.run(
                    [sys.executable, "-c", _CHILD, url, args.day, str(plans), part],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                name = part if not part.startswith("[") else "ingest_readers"
                print(label, r, name, done.stdout.strip() or done.stderr[-800:], flush=True)
    _admin(args.admin_url, f'drop database if exists "{work}" with (force)')


# A warehouse of the bench's rows (``lookups``): the core rows of one bench file, COPIES times under other
# files, CCCDs and phones (the same shape, other persons), then each reader's statement on its own
_LOOKUPS = {
    "by_citizen_id (identity_obs, identity_scope: 2,000 CCCDs)": (
        "select count(*), sum(length(v.full_name)) from (select citizen_id from core.vaccination"
        " tablesample system (1) repeatable (1) limit 2000) as s inner join core.vaccination as v"
        " on s.citizen_id = v.citizen_id"
    ),
    "by_phone (identity_scope: 2,000 phones)": (
        "select count(*), sum(length(v.full_name)) from (select phone from core.vaccination"
        " tablesample system (1) repeatable (2) where phone is not null limit 2000) as s"
        " inner join core.vaccination as v on s.phone = v.phone"
    ),
    "checkin_known (a CCCD, loaded before)": (
        "select count(*) from (select citizen_id from core.vaccination tablesample system (1) repeatable (3)"
        " limit 2000) as s inner join core.vaccination as v on s.citizen_id = v.citizen_id"
        " and v.loaded_at < %(last)s"
    ),
    "loaded since (status build: the last file)": (
        "select count(*), sum(vaccination_id) from core.vaccination where loaded_at >= %(last)s"
    ),
    "loaded since (nothing new)": (
        "select count(*), sum(vaccination_id) from core.vaccination where loaded_at > %(last)s"
    ),
    "vaccinated_on, 3 days (touched_by_time)": (
        "select count(*) from core.vaccination where vaccinated_on between date '2021-09-01' and date '2021-09-03'"
    ),
    "a new file's take-back (merge, first statement)": (
        "delete from core.vaccination where source_file_id = %(new_file)s"
    ),
    "a resent file's take-back (195k rows)": (
        "delete from core.vaccination where source_file_id = %(first_file)s"
    ),
}


def lookups(args) -> None:
    """Build (``--build``) or use a warehouse per index set, then each statement alternately, rolled back."""
    from bench.stages import CORE_FACILITY_COLUMNS

    _, columns = CORE_FACILITY_COLUMNS["vaccinations"]
    names = args.databases.split(",")
    if args.build:
        from covidsync import db

        for name in names:
            _admin(
                args.admin_url, f'drop database if exists "{name}" with (force)', db.create_database_sql(name)
            )
        url = _db_url(args.admin_url, names[0])
        if args.before_target:  # the migrations up to it only
            import tempfile

            from covidsync import settings

            older = Path(tempfile.mkdtemp())
            for m in sorted((settings.sql_dir() / "migrations").glob("[0-9]*.sql")):
                if m.name[:4] <= args.before_target:
                    (older / m.name).symlink_to(m)
            db.upgrade(url, older)
        else:
            db.upgrade(url)
        conn = psycopg2.connect(url)
        with conn, conn.cursor() as cur:
            cur.execute("create temp table r (like core.vaccination including defaults including identity)")
            with open(args.core_csv, "rb") as fh:
                cur.copy_expert(f"copy r ({columns}) from stdin with (format csv)", fh)
            cur.execute(
                "insert into ops.facility (facility_code, name, facility_type, province_code, registry_sha256)"
                " select distinct facility_code, 'bench', 'hospital', '17', repeat('0', 64) from r"
            )
            cur.execute(
                "insert into core.vaccine_product (product_code, name, primary_doses, min_interval_days)"
                " select distinct vaccine_code, vaccine_code, 2, 21 from r on conflict do nothing"
            )
            for copy in range(args.copies):
                cur.execute(
                    "insert into ops.landing_file (sha256, relative_path, original_name, size_bytes, received_at,"
                    " status, dataset) values (encode(sha256(%s::bytea), 'hex'), %s, %s, 1, now(), 'merged',"
                    " 'vaccinations') returning file_id",
                    (f"copy{copy}", f"c{copy}", f"c{copy}"),
                )
                file_id = cur.fetchone()[0]
                cur.execute(
                    f"insert into core.vaccination ({columns}, loaded_at) select "
                    + columns.replace("record_key", "record_key || ':' || %(c)s")
                    .replace("citizen_id", "overlay(citizen_id placing %(c)s::text from 1 for 1)")
                    .replace("phone", "overlay(phone placing %(c)s::text from 3 for 1)")
                    .replace("source_file_id", "%(f)s::bigint")
                    + ", now() + %(c)s * interval '1 hour' from r order by source_row",
                    {"c": copy, "f": file_id},
                )
        conn.autocommit = True
        conn.cursor().execute("vacuum analyze")
        conn.close()
        _admin(
            args.admin_url,
            f'drop database if exists "{names[1]}"',
            f'create database "{names[1]}" template "{names[0]}"',
        )
        if args.before_target:
            db.upgrade(_db_url(args.admin_url, names[1]))
    for r in range(args.rounds):
        for name in names if r % 2 == 0 else list(reversed(names)):
            conn = psycopg2.connect(_db_url(args.admin_url, name))
            with conn.cursor() as cur:
                cur.execute("set jit = off")
                cur.execute(  # the parameters the readers are given (a watermark, a file id), found first
                    "select max(loaded_at) as last, (select max(file_id) + 1 from ops.landing_file) as new_file,"
                    " min(source_file_id) as first_file from core.vaccination"
                )
                params = dict(zip([d[0] for d in cur.description], cur.fetchone(), strict=True))
                for label, statement in _LOOKUPS.items():
                    cur.execute("explain (analyze, buffers, format json) " + statement, params)
                    plan = cur.fetchone()[0][0]
                    conn.rollback()
                    nodes = [plan["Plan"]]
                    kinds = []
                    while nodes:
                        n = nodes.pop()
                        nodes += n.get("Plans", [])
                        if n.get("Relation Name") == "vaccination" or n.get("Index Name"):
                            kinds.append(
                                f"{n['Node Type']}{' ' + n['Index Name'] if n.get('Index Name') else ''}"
                            )
                    top = plan["Plan"]
                    buffers = top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0)
                    print(
                        f"{r} {name:24s} {label:52s} {plan['Execution Time']:9.1f} ms {buffers:8d} buf"
                        f"  {'; '.join(sorted(set(kinds)))}",
                        flush=True,
                    )
            conn.close()


def summary(args) -> None:
    for path in sorted(Path(args.out).glob("*.txt")):
        text = path.read_text()
        total = 0.0
        count = 0
        for m in _PLAN.finditer(text):
            if _READS.search(m.group(2)):
                total += float(m.group(1))
                count += 1
        print(f"{path.name}: {count} plans read core.vaccination/test_result, {total / 1000:.2f} s in all")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--admin-url",
        default=os.environ.get(
            "COVIDSYNC_TEST_WAREHOUSE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("name")
    p.add_argument("--persons", type=int, default=300_000)
    p.add_argument("--days", type=int, default=8)
    p = sub.add_parser("run")
    p.add_argument("before")
    p.add_argument("after")
    p.add_argument("--day", required=True)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--out", default="/tmp/destination-readers")
    p.add_argument("--parts", default="incremental,trace,marts,publish,ingest")
    p = sub.add_parser("lookups")
    p.add_argument("databases", help="BEFORE,AFTER: two database names")
    p.add_argument("--build", action="store_true")
    p.add_argument("--core-csv", default="/tmp/e2-vacc-core.csv")
    p.add_argument("--copies", type=int, default=5)
    p.add_argument("--before-target", default="", help="migrate BEFORE to this version, AFTER to the head")
    p.add_argument("--rounds", type=int, default=2)
    p = sub.add_parser("summary")
    p.add_argument("--out", default="/tmp/destination-readers")
    args = parser.parse_args()
    {"prepare": prepare, "run": run, "lookups": lookups, "summary": summary}[args.command](args)


if __name__ == "__main__":
    _ = dt
    main()
