"""Statement times of a release with and without the Sổ SKĐT view (issue 20), on one database.

    .venv/bin/python -m bench.publish_sskdt_statements --persons 100000

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
import time

import psycopg2
import publish_seed

from bench import scratch
from covidsync.publish import release


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--persons", type=int, default=100_000)
    scratch.add_admin_url(parser)
    args = parser.parse_args()
    with scratch.migrated_database(args.admin_url, "covidsync_bench_sskdt") as url:
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
                {"rule_set": "hb-2021-11", "as_of": as_of, "with_sskdt": with_sskdt, "with_base": False},
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


if __name__ == "__main__":
    main()
