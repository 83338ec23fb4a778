"""Input files: contract-valid CSVs of N rows from the project's generator, written once and cached.

``covidsync generate --only <dataset> --rows N`` (:func:`covidsync.sample.generator.generate_only`) streams
the file to disk (flat memory, about 30k rows/s here) with the default 3 % of rows carrying one contract
defect each, so the row rules, quarantine and reports do real work. In a facility file each row is a
distinct synthetic person, delivered by facility 17001 with the facility registry beside it; a check-in
file of N scans comes from a population of N/2 persons (:func:`checkin_persons`) with its venues.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
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


def checkin_persons(rows: int) -> int:
    """The population behind a check-in file of ``rows`` scans: one person for every two scans (Hòa Bình:
    about 200k scans a day by 180k PC-Covid users, most of whom scan once or twice). With the generator's
    default of 1,000 persons every payload repeated hundreds of times in a file, and the per-payload cache
    and the once-per-person pseudonym made the ingest look cheaper than a real day's file."""
    return max(1000, rows // 2)


def ensure(cache: Path, dataset: str, rows: int, seed: int = 1) -> Input:
    """The cached input of ``rows`` rows of ``dataset`` (generated first if missing)."""
    from covidsync.sample.generator import Options, generate_only

    if dataset == "declarations":  # issue 24: bench/declarations.py writes its own input
        from bench.declarations import ensure_input

        return ensure_input(cache, rows, seed)
    persons = checkin_persons(rows) if dataset == "checkins" else Options.persons
    suffix = f"-persons{persons}-ids{seed}" if dataset == "checkins" else ""  # ids: the seed is in them
    folder = cache / f"{dataset}-{rows}-seed{seed}{suffix}"
    done = folder / "done"
    took = None
    if not done.exists() or not done.read_text(encoding="utf-8").strip().isdigit():
        shutil.rmtree(folder, ignore_errors=True)
        start = time.perf_counter()
        summary = generate_only(
            Options(
                out=folder,
                seed=seed,
                only=dataset,
                rows=rows,
                persons=persons,
                format="csv",
                start=dt.date(2021, 11, 1),
            )
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


# Above this many rows a vaccinations file is built by repeating a generated one (the generator writes
# about 30k rows/s, a few thousand on a busy machine: 5M rows would take it half an hour).
GENERATED_MAX_ROWS = 1_000_000
TEMPLATE_ROWS = 200_000


def ensure_large(cache: Path, dataset: str, rows: int, seed: int = 1) -> Input:
    """``rows`` rows of vaccinations: a generated file of :data:`TEMPLATE_ROWS` rows, repeated with each
    copy's record_id and CCCD made unique (record number + k × template rows; the CCCD's province digits
    set from the copy number, its serial kept), streamed to disk. Each copy keeps the template's defects
    (a few shift code: a CCCD whose province was the defect becomes valid)."""
    if dataset != "vaccinations":
        raise ValueError("only vaccinations files are built by repetition")
    from covidsync.sample import knowledge as K

    folder = cache / f"{dataset}-{rows}-seed{seed}"
    done = folder / "done"
    if done.exists() and done.read_text(encoding="utf-8").strip().isdigit():
        return ensure(cache, dataset, rows, seed)
    template = ensure(cache, dataset, TEMPLATE_ROWS, seed)
    shutil.rmtree(folder, ignore_errors=True)
    start = time.perf_counter()
    target = folder / "landing" / template.relative
    target.parent.mkdir(parents=True)
    shutil.copy2(template.registry, _mkdir(folder / "landing" / "registry") / "facilities.csv")
    provinces = [p for p in K.PROVINCE_CODES if p != "17"]
    written = 0
    with target.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        copy = 0
        while written < rows:
            with template.path.open(encoding="utf-8", newline="") as fh:
                reader = csv.reader(fh)
                header = next(reader)
                if copy == 0:
                    writer.writerow(header)
                for record in reader:
                    if written >= rows:
                        break
                    if copy:
                        record = _renumber(record, copy, provinces)
                    writer.writerow(record)
                    written += 1
            copy += 1
    os.utime(target, (template.path.stat().st_atime, template.path.stat().st_mtime))  # same delivery
    took = time.perf_counter() - start
    done.write_text(f"{written}\n", encoding="utf-8")
    return Input(target, folder / "landing" / "registry" / "facilities.csv", template.relative, written, took)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _renumber(record: list[str], copy: int, provinces: list[str]) -> list[str]:
    record = list(record)
    rid = record[0]
    head, _, number = rid.rpartition("-")
    if number.isdigit():
        record[0] = f"{head}-{int(number) + copy * TEMPLATE_ROWS:09d}"
    cccd = record[4]
    if len(cccd) == 12 and cccd.isdigit():
        record[4] = f"0{provinces[copy % len(provinces)]}{cccd[3:]}"
    return record


def land(inp: Input, landing: Path) -> Path:
    """Put the input (and its registry) in a landing zone as a sender would: a hard link keeps the mtime
    (the time of delivery) and costs nothing; the pipeline moves it to the archive, the cache keeps it."""
    target = landing / inp.relative
    pairs = [(inp.registry, landing / "registry" / "facilities.csv"), (inp.path, target)]
    if "checkins" in Path(inp.relative).parts:  # check-ins need their venues, which come first
        venues = inp.path.parents[1] / "venues"
        pairs += [(v, landing / "pccovid" / "venues" / v.name) for v in sorted(venues.glob("*.csv"))]
    for src, dest in pairs:
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            dest.hardlink_to(src)
        except OSError:
            shutil.copy2(src, dest)
    return target
