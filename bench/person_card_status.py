"""What the cards (``derived.person_card``, migration 0032) add to the status build: its card step timed inside
a full build, an incremental build after one generated day, and one with nothing new.

    .venv/bin/python -m bench.person_card_status --persons 20000 --days 3

Creates a scratch database on the server of ``--admin-url``, loads the generated sample
(:class:`covidsync.status.synthetic.Synthetic`) for all days but the last, builds fully, loads the last day and
builds incrementally, then builds again with nothing new. Prints one JSON document: each build's seconds, the
card step's seconds and the persons whose cards it computed, and the step's share of the build.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import psycopg2

from bench import scratch
from covidsync.status import build, cards
from covidsync.status.synthetic import Synthetic


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--persons", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=3)
    scratch.add_admin_url(parser)
    args = parser.parse_args()
    step: dict = {}

    def timed_cards(cur, params, full):
        started = time.perf_counter()
        step["cards"] = cards.build_cards(cur, params, full)
        step["cards_s"] = round(time.perf_counter() - started, 3)

    build.EXTRA_STEPS[build.EXTRA_STEPS.index(cards.build_cards)] = timed_cards
    figures: dict = {"persons": args.persons, "days": args.days, "load_at_start": os.getloadavg()}
    data = Synthetic(
        seed=19, persons=args.persons, days=args.days, venues=25, checkins_per_day=args.persons // 4
    )
    with scratch.migrated_database(args.admin_url, "covidsync_bench_cards") as url:
        conn = psycopg2.connect(url)
        data.setup(conn)
        for day in data.dates[:-1]:
            data.load_day(conn, day)
        runs = [
            ("full", data.dates[-2], True),
            ("day", data.dates[-1], False),
            ("nothing_new", data.dates[-1], False),
        ]
        for name, day, full in runs:
            if name == "day":
                data.load_day(conn, day)
            step.clear()
            started = time.perf_counter()
            result = build.build(conn, build.as_of_for(day), full=full)
            seconds = round(time.perf_counter() - started, 3)
            figures[name] = {
                "build_s": seconds,
                "touched": result.touched,
                **step,
                "cards_share": round(step["cards_s"] / seconds, 3),
            }
        conn.close()
    figures["load_at_end"] = os.getloadavg()
    print(json.dumps(figures, indent=1, default=str))


if __name__ == "__main__":
    main()
