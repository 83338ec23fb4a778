"""Input files: contract-valid CSVs of N rows from the project's generator, written once and cached.

``covidsync generate --only <dataset> --rows N`` (:func:`covidsync.sample.generator.generate_only`) streams
the file to disk (flat memory, about 30k rows/s here) with the default 3 % of rows carrying one contract
defect each, so the row rules, quarantine and reports do real work. Each row is a distinct synthetic
person; the file is delivered by facility 17001, with the facility registry beside it.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Input:
    path: Path  # the data file
    registry: Path  # registry/facilities.csv that goes with it
    relative: str  # where it goes under landing/ (e.g. 17001/vaccinations/bench.csv)
    rows: int  # data rows in the file (a few more than asked: the defects repeat some rows)
    generated_s: float | None  # None when it came from the cache


def ensure(cache: Path, dataset: str, rows: int, seed: int = 1) -> Input:
    """The cached input of ``rows`` rows of ``dataset`` (generated first if missing)."""
    from covidsync.sample.generator import Options, generate_only

    folder = cache / f"{dataset}-{rows}-seed{seed}"
    done = folder / "done"
    took = None
    if not done.exists() or not done.read_text(encoding="utf-8").strip().isdigit():
        shutil.rmtree(folder, ignore_errors=True)
        start = time.perf_counter()
        summary = generate_only(
            Options(out=folder, seed=seed, only=dataset, rows=rows, format="csv", start=dt.date(2021, 11, 1))
        )
        took = time.perf_counter() - start
        # data rows actually written: the defects include repeated rows (duplicate_in_file)
        done.write_text(f"{sum(f['rows'] for f in summary['files'] if f['dataset'] == dataset)}\n", "utf-8")
    landing = folder / "landing"
    registry = landing / "registry" / "facilities.csv"
    files = [p for p in landing.rglob("*.csv") if p != registry and "registry" not in p.parts]
    if dataset == "checkins":
        files = [p for p in files if "checkins" in p.parts]
    if len(files) != 1:
        raise RuntimeError(f"expected one {dataset} file under {landing}, found {len(files)}")
    written = int(done.read_text(encoding="utf-8"))
    return Input(files[0], registry, files[0].relative_to(landing).as_posix(), written, took)


def land(inp: Input, landing: Path) -> Path:
    """Put the input (and its registry) in a landing zone as a sender would: a hard link keeps the mtime
    (the time of delivery) and costs nothing; the pipeline moves it to the archive, the cache keeps it."""
    target = landing / inp.relative
    for src, dest in ((inp.registry, landing / "registry" / "facilities.csv"), (inp.path, target)):
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            dest.hardlink_to(src)
        except OSError:
            shutil.copy2(src, dest)
    return target
