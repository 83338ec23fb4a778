"""Statement times of a release with and without the Sổ SKĐT view (issue 20), on one database.

    .venv/bin/python bench/publish_sskdt_statements.py --persons 100000

Creates a database on the server at ``--admin-url`` (default: the tests' server), migrates it, seeds N persons
with ``seed`` of ``tests/publish_seed.py`` (``records=True``: the lot numbers and tests behind the Sổ SKĐT
columns), publishes once (warm), then times each statement of a release that the third view changes, best of
two, rolled back: computing every person's row (``sql/publish/release_candidate.sql``, a first release's work)
with and without the Sổ SKĐT columns, the release's hashes with and without the Sổ SKĐT view hash, each view's
fingerprint (the agreement check) and the person-by-person agreement join over three and over two views.
Prints seconds per statement; drops the database.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid

import psycopg2
import publish_seed
from sqlalchemy.engine import make_url

from covidsync import db, settings
from covidsync.publish import release


def _admin(url: str, statement: str) -> None:
    conn = psycopg2.connect(url)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(statement)
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument(
        "--admin-url",
        default=os.environ.get(
            "COVIDSYNC_TEST_WAREHOUSE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()
    name = f"covidsync_bench_sskdt_{uuid.uuid4().hex[:8]}"
    _admin(args.admin_url, f'create database "{name}"')
    url = make_url(args.admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        db.upgrade(url, settings.sql_dir() / "migrations")
        conn = psycopg2.connect(url)
        publish_seed.seed(conn, args.persons, records=True)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("vacuum (analyze)")
        conn.autocommit = False
        release.publish_release(conn)
        cur = conn.cursor()

        def timed(label: str, statement: str, params=None) -> None:
            best = float("inf")
            for _ in range(2):
                started = time.perf_counter()
                cur.execute(statement, params)
                best = min(best, time.perf_counter() - started)
                conn.rollback()
            print(f"{label:<40} {best:8.3f} s", flush=True)

        cur.execute("select max(as_of) from derived.health_status")
        as_of = cur.fetchone()[0]
        conn.rollback()
        for with_sskdt in (True, False):
            timed(
                f"candidate rows with_sskdt={with_sskdt}",
                "create temporary table publish_scope as select person_id from derived.health_status;"
                "create temporary table publish_candidate as " + release.sql("release_candidate"),
                {"rule_set": "hb-2021-11", "as_of": as_of, "with_sskdt": with_sskdt},
            )
        for apps in (("pccovid", "vneid", "sskdt"), ("pccovid", "vneid")):
            timed(
                f"hashes, {len(apps)} views",
                release.sql("release_hashes"),
                {"release_id": 1, "with_sskdt": "sskdt" in apps},
            )
        for app in ("pccovid", "vneid", "sskdt"):
            timed(f"{app} fingerprint (agreement)", release.fingerprint_sql(app))
        timed("agreement join, three views", release.agreement_sql(("pccovid", "vneid", "sskdt")))
        timed("agreement join, two views", release.agreement_sql(("pccovid", "vneid")))
        conn.close()
    finally:
        _admin(args.admin_url, f'drop database if exists "{name}" with (force)')


if __name__ == "__main__":
    main()
