"""Benchmarks of covidsync's real code paths against raw COPY and the naive pandas path (``make bench``).

Run from the project root: ``python -m bench --scale smoke|province|memory|national-day``. Each stage runs
in its own process (forked from a warm "zygote" that has already imported what a task process imports), so
its wall time and peak memory (max RSS, read with ``os.wait4``) are its own. The baselines run in the same
invocation on the same files, and every target is a ratio against them: absolute figures on a shared
2-core machine are noisy, ratios much less so. Results: a table on the terminal and JSON under
``bench/results/``. See ``docs/performance.md``.

* :mod:`bench.stages` — the stage functions and the registration points for stages built later;
* :mod:`bench.scales` — the sizes of each scale;
* :mod:`bench.data` — contract-valid input files, generated once and cached;
* :mod:`bench.zygote` — the process that forks one child per measured step;
* :mod:`bench.runner` — the plan, the databases, the table, the JSON, the targets.

Not a test package: pytest's ``testpaths`` is ``tests/`` (one smoke test there runs this end to end).
"""

import sys
from pathlib import Path

# Synthetic data the test suite and the benches share lives with the tests (``tests/publish_seed.py``), not in
# the runtime package: the benches import it from there.
TESTS_DIR = Path(__file__).resolve().parents[1] / "tests"
if str(TESTS_DIR) not in sys.path:
    sys.path.append(str(TESTS_DIR))
