"""Benchmark of a release: publish N synthetic persons, publish again unchanged, then with 5 % changed.

    .venv/bin/python -m bench.publish_release --persons 850000 [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]

Creates a scratch database on the server of ``--admin-url`` (default: ``COVIDSYNC_TEST_WAREHOUSE_URL``, else
127.0.0.1:5432), migrates it, seeds ``derived`` with ``seed`` of ``tests/publish_seed.py``, times
:func:`covidsync.publish.release.publish_release` (the function the benchmark measures) and drops the
database. Prints one JSON line of figures.
"""

from __future__ import annotations

import argparse
import json
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
    figures: dict = {"persons": args.persons}
    with scratch.migrated_database(args.admin_url, "covidsync_bench_publish") as url:
        conn = psycopg2.connect(url)
        started = time.perf_counter()
        figures["published_persons"] = publish_seed.seed(conn, args.persons)
        figures["seed_s"] = round(time.perf_counter() - started, 2)
        release.publish_release(
            conn, rule_set="hb-2021-11"
        )  # warm-up of GX is part of the first: time it too
        for label, change in (
            ("first_release_s", None),
            ("unchanged_s", None),
            ("five_percent_changed_s", 20),
        ):
            if label == "first_release_s":
                publish_seed.reset_releases(conn)  # start again, GX now loaded
            if change:
                publish_seed.flip_cards(conn, every=change, offset=1)
            started = time.perf_counter()
            result = release.publish_release(conn, rule_set="hb-2021-11")
            figures[label] = round(time.perf_counter() - started, 2)
            figures[label.replace("_s", "_status")] = result["status"]
        conn.close()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
