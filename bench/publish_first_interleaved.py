"""The third view's share of a first release, robust to a drifting load (issue 20): first releases of three views
and of two views alternated on one database.

    .venv/bin/python -m bench.publish_first_interleaved --persons 300000 --reps 4 [--admin-url ...]

Creates a scratch database, seeds ``--persons`` persons with the core records behind the Sổ SKĐT columns
(``tests/publish_seed.py``), runs the status build's card step (``cards_full_s``: the cards and the view lines'
hashes), then ``--reps`` times: the releases dropped, a first release of three views, the releases dropped, a
first release of PC-Covid and VNeID only (in the other order every second time). Prints one JSON document: each
release's seconds and steps (``release.STEP_SECONDS``), the medians, and ``share``: the three views' releases'
total time over the two views'. Drops the database.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import psycopg2
import publish_seed

from bench import scratch
from covidsync.publish import release, release_gate
from covidsync.status import cards

RULE_SET = "hb-2021-11"
TWO_VIEWS = ("pccovid", "vneid")


def _vacuum(conn, table: str = "") -> None:
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"vacuum (analyze) {table}")
    conn.autocommit = False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--reps", type=int, default=4)
    scratch.add_admin_url(parser)
    args = parser.parse_args()
    out: dict = {"persons": args.persons, "load_at_start": os.getloadavg(), "runs": []}
    with scratch.migrated_database(args.admin_url, "covidsync_bench_interleaved") as url:
        conn = psycopg2.connect(url)
        publish_seed.seed(conn, args.persons, rule_set=RULE_SET, records=True)
        with conn, conn.cursor() as cur:
            cur.execute(
                """
                insert into derived.build_state (rule_set, rule_set_version, as_of, mode, persons, touched)
                values (%s, 1, %s, 'full', %s, %s)
                """,
                (RULE_SET, publish_seed.DEFAULT_AS_OF, args.persons, args.persons),
            )
        _vacuum(conn)
        with conn, conn.cursor() as cur:
            cur.execute("select derived.status_as_of(%s)", (RULE_SET,))
            started = time.perf_counter()
            cards.build_cards(cur, {"as_of": cur.fetchone()[0], "rule_set": RULE_SET}, True)
            out["cards_full_s"] = round(time.perf_counter() - started, 2)
        _vacuum(conn)
        release_gate._project()  # GX loaded once, as a publish task does
        for rep in range(args.reps):
            for apps in (None, TWO_VIEWS) if rep % 2 == 0 else (TWO_VIEWS, None):
                publish_seed.reset_releases(conn)
                _vacuum(conn, "publish.release_version")
                started = time.perf_counter()
                result = release.publish_release(conn, rule_set=RULE_SET, apps=apps)
                out["runs"].append(
                    {
                        "views": 2 if apps else 3,
                        "status": result["status"],
                        "s": round(time.perf_counter() - started, 3),
                        "steps": dict(release.STEP_SECONDS),
                    }
                )
        conn.close()
    out["load_at_end"] = os.getloadavg()
    three = sorted(r["s"] for r in out["runs"] if r["views"] == 3)
    two = sorted(r["s"] for r in out["runs"] if r["views"] == 2)
    out["median_3v"], out["median_2v"] = three[len(three) // 2], two[len(two) // 2]
    out["share"] = round(sum(three) / sum(two), 3)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
