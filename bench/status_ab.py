"""A/B of two checkouts of covidsync on one database: status builds, alternately (ABBA...).

    python bench/status_ab.py URL DAY ROUNDS BEFORE_DIR AFTER_DIR [TEMPLATE]

URL: a warehouse with core data (e.g. a status-group database kept by ``python -m bench ... --keep``);
DAY: the local day of the build (as_of = DAY 24:00 +07:00); each checkout's ``include/`` and ``sql/`` are
used (``git archive <commit> | tar -x -C BEFORE_DIR`` makes one). Each build runs in its own process, so
the two codes see the same machine state, turn about. Without TEMPLATE: full rebuilds of URL's database.
With TEMPLATE (the name of a database on the same server holding a built warehouse and the next day's data,
at the newer schema): before each build URL's database is made again as a copy of TEMPLATE, and the build
is an incremental one as of DAY, so that both codes start from the same state (issue 19). Prints seconds,
rounds, active F0s, candidate rows, touched persons.
"""

from __future__ import annotations

import os
import subprocess
import sys

SNIPPET = (
    "import sys, time, datetime as dt; from covidsync.status import build; t = time.perf_counter();"
    " f = build.full_build if sys.argv[3] == 'full' else build.incremental_build;"
    " r = f(sys.argv[1], dt.date.fromisoformat(sys.argv[2]));"
    " print(round(time.perf_counter() - t, 2), r.rounds, r.f0_active, r.candidates, r.touched, r.mode)"
)


def _copy(url: str, template: str) -> None:
    import psycopg2

    admin, name = url.rsplit("/", 1)
    conn = psycopg2.connect(admin + "/postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')
            cur.execute(f'create database "{name}" template "{template}"')
    finally:
        conn.close()


def main() -> None:
    url, day, rounds, before, after = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
    template = sys.argv[6] if len(sys.argv) > 6 else None
    code = {"before": before, "after": after}
    for i in range(rounds):
        for label in ("before", "after") if i % 2 == 0 else ("after", "before"):
            if template:
                _copy(url, template)
            env = dict(
                os.environ, COVIDSYNC_HOME=code[label], PYTHONPATH=os.path.join(code[label], "include")
            )
            done = subprocess.run(
                [sys.executable, "-c", SNIPPET, url, day, "incremental" if template else "full"],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            print(label, done.stdout.strip() or done.stderr[-500:], flush=True)


if __name__ == "__main__":
    main()
