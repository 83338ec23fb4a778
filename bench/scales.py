"""The sizes measured at each scale: at least three per group, to show how cost grows.

* ``smoke``: tiny files, the whole harness end to end in well under a minute (the test in tests/ runs it);
* ``province``: Hòa Bình, 850k people: a busy day's vaccinations up to one file of every person, a day's
  tests, 200k check-ins a day;
* ``memory``: the ingest memory check, 500k → 5M vaccination rows in one file (flat: 5M within 1.2× of 500k),
  on register + parse_stage (``--groups vaccinations`` with ``--sizes`` runs every step instead);
* ``national-day``: 1.5M vaccinations, 500k tests, 20M check-ins (in pieces of 2M rows, one file each,
  loaded one after another into the same database; each piece is generated with its own seed); the status
  build up to 1M persons, tracing a day of up to 5M check-ins, a release of up to 1M persons.

Facility files are one file per size (their generated record keys restart at 1 in every file, so pieces
would replace each other's records): a 1.5M-row file is the hard case for memory; the per-file fixed cost
that thousands of small facility files pay is read off the smallest sizes.

The status, tracing and publish groups read no file: their prepare stage writes generated rows straight into
the database (``covidsync.status.synthetic``, ``bench/coredata.py``, ``tests/publish_seed.py``), and a
size is persons (status, publish) or check-ins (tracing).
The ``test_results`` group (the same steps on a test-results file) is in no scale yet: the generator's
``--only test_results`` writes no row and never returns; run it with ``--groups test_results`` once it does.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    group: str
    sizes: tuple[int, ...]
    piece_rows: int | None = None  # load a size as files of at most this many rows (None: one file)


SCALES: dict[str, tuple[Plan, ...]] = {
    "smoke": (
        Plan("vaccinations", (1_000, 2_000, 4_000)),
        Plan("checkins", (2_000, 4_000, 8_000)),
        Plan("declarations", (2_000, 4_000, 8_000)),  # issue 24
        Plan("status", (1_000, 2_000, 4_000)),
        Plan("tracing", (2_000, 4_000, 8_000)),
        Plan("publish", (1_000, 2_000, 4_000)),
    ),
    "province": (
        Plan("vaccinations", (50_000, 200_000, 850_000)),
        Plan("checkins", (50_000, 100_000, 200_000)),
        Plan("declarations", (20_000, 50_000, 100_000)),  # issue 24: a province's day of arrivals and more
        Plan("status", (100_000, 300_000, 850_000)),
        Plan("tracing", (50_000, 100_000, 200_000)),
        Plan("publish", (100_000, 300_000, 850_000)),
    ),
    # the rows stay in PostgreSQL after parse_stage: the later steps' peaks are the process baseline at
    # every size (see the province runs), so the 5M check measures the steps that hold rows in Python
    "memory": (Plan("vaccinations_memory", (500_000, 1_000_000, 5_000_000)),),
    "national-day": (
        Plan("vaccinations", (150_000, 500_000, 1_500_000)),
        Plan("checkins", (2_000_000, 5_000_000, 20_000_000), piece_rows=2_000_000),
        # issue 24: a national day of 2M declarations, in pieces of 500k (the 500k checkpoint scans are check-ins)
        Plan("declarations", (500_000, 1_000_000, 2_000_000), piece_rows=500_000),
        # the generated population lives in Python (covidsync.status.synthetic): 1M persons is the size the
        # target names; 3M and 10M would not fit the time of one run here (about 2.5k persons/s built)
        Plan("status", (250_000, 500_000, 1_000_000)),
        # written set-based into core (bench/coredata.py): one day in one go, no pieces
        Plan("tracing", (1_000_000, 2_000_000, 5_000_000)),
        Plan("publish", (250_000, 500_000, 1_000_000)),
    ),
}
