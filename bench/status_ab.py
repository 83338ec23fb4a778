"""A/B of two checkouts of covidsync on one database: full status rebuilds, alternately (ABBA...).

    python bench/status_ab.py URL DAY ROUNDS BEFORE_DIR AFTER_DIR

URL: a warehouse with core data (e.g. a status-group database kept by ``python -m bench ... --keep``);
DAY: the local day of the build (as_of = DAY 24:00 +07:00); each checkout's ``include/`` and ``sql/`` are
used (``git archive <commit> | tar -x -C BEFORE_DIR`` makes one). Each build runs in its own process, so
the two codes see the same machine state, turn about. Prints seconds, rounds, active F0s, candidate rows.
"""

from __future__ import annotations

import os
import subprocess
import sys

SNIPPET = (
    "import sys, time, datetime as dt; from covidsync.status import build; t = time.perf_counter();"
    " r = build.full_build(sys.argv[1], dt.date.fromisoformat(sys.argv[2]));"
    " print(round(time.perf_counter() - t, 2), r.rounds, r.f0_active, r.candidates)"
)


def main() -> None:
    url, day, rounds, before, after = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
    code = {"before": before, "after": after}
    for i in range(rounds):
        for label in ("before", "after") if i % 2 == 0 else ("after", "before"):
            env = dict(
                os.environ, COVIDSYNC_HOME=code[label], PYTHONPATH=os.path.join(code[label], "include")
            )
            done = subprocess.run(
                [sys.executable, "-c", SNIPPET, url, day],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            print(label, done.stdout.strip() or done.stderr[-500:], flush=True)


if __name__ == "__main__":
    main()
