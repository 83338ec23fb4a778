"""Lay out a landing zone of realistic Hòa Bình data, API data for the simulator, and the ground truth.

``generate(Options(...))`` writes, under ``out``:

* ``landing/`` exactly as contract §1: the facility registry, per-facility ``vaccinations/`` and
  ``test_results/`` files (an initial history file, then one file a day), PC-Covid venues and check-ins, plus
  the files that must be rejected or ignored;
* ``api/<facility_code>/<dataset>.jsonl``: the records of the facilities that serve an API (§8);
* ``truth/``: ``population.csv``, ``doses.csv``, ``manifest.csv`` (every expected row problem),
  ``files.csv`` (every landing file with its expected status), ``api_manifest.csv`` and ``summary.json``.

Same options → same bytes in every file. See ``docs/sample-data.md``.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import random
import shutil
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from covidsync.sample import knowledge as K
from covidsync.sample import render as R
from covidsync.sample.defects import WARNINGS, FileContext, Injector
from covidsync.sample.events import (
    Identities,
    Venue,
    iter_checkins,
    iter_test_rows,
    local,
    make_venues,
    test_weights,
    vaccination_row,
    venue_row,
)
from covidsync.sample.population import Dose, Facility, Person, make_facilities, make_population, vaccinate

VERSION = 1
MANIFEST_COLUMNS = ("file", "row_number", "column", "code", "severity")
FILES_COLUMNS = (
    "file",
    "facility_code",
    "dataset",
    "format",
    "encoding",
    "rows",
    "delivered_at",
    "expected_file_code",
    "expected_status",
    "uncompressed_bytes",
)
HISTORY_TEST_DAYS = 5


@dataclass
class Options:
    out: Path
    seed: int = 1
    persons: int = 1000
    days: int = 3
    start: dt.date = dt.date(2021, 11, 1)
    defect_rate: float = 0.03
    clean: bool = False
    checkins_per_day: int | None = None  # default: 2 × persons
    facilities: int = 12
    venues: int | None = None  # default: persons / 15, at least 20
    bomb_mb: int = 600  # uncompressed MiB of the XLSX "zip bomb": over the pipeline's 512 MiB default cap
    only: str | None = None  # checkins | vaccinations | test_results: one big file (benchmarks)
    rows: int = 100_000  # rows of that file
    format: str = "csv"  # its format
    # PC-Covid adoption feeds (landing/pccovid/app_users/, landing/registry/population.csv) and truth/adoption.json
    # (covidsync.sample.adoption); off until the ingest engine reads the two feeds
    adoption: bool = False
    # arrivals into the province (issue 24, covidsync.sample.arrivals): checkpoints and their scans, declarations,
    # the travellers' doses and tests, risk-level files and the measures matrix, truth/arrivals*.csv; off by
    # default so the samples (and the engine fixtures recorded on them) of earlier issues keep their bytes
    arrivals: bool = False

    @property
    def rate(self) -> float:
        return 0.0 if self.clean else self.defect_rate


@dataclass
class FileRecord:
    file: str
    facility_code: str
    dataset: str
    format: str
    encoding: str
    rows: int
    delivered_at: dt.datetime
    expected_file_code: str = ""
    expected_status: str = "loaded"
    uncompressed_bytes: int | str = ""


@dataclass
class Run:
    """State of one generation run."""

    opts: Options
    landing: Path
    truth: Path
    manifest: csv.writer
    files: list[FileRecord] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)

    def rel(self, path: Path) -> str:
        return path.relative_to(self.landing).as_posix()


def _iso(value: dt.datetime) -> str:
    return value.astimezone(K.VN).isoformat()


def _set_mtime(path: Path, when: dt.datetime) -> None:
    stamp = when.timestamp()
    os.utime(path, (stamp, stamp))


def _rng(opts: Options, label: str) -> random.Random:
    return random.Random(f"{opts.seed}:{label}")


def _delivery(rng: random.Random, day: dt.date) -> dt.datetime:
    """When a facility sends the day's file: mostly 16:00–20:00 local, some late in the evening."""
    if rng.random() < 0.85:
        return local(day, 16) + dt.timedelta(seconds=rng.randrange(4 * 3600))
    return local(day, 20) + dt.timedelta(seconds=rng.randrange(int(3.5 * 3600)))


# --- writing one data file -----------------------------------------------------------------------------


def write_data_file(
    run: Run,
    path: Path,
    style: R.Style,
    dataset: str,
    rows: Iterable[R.Row],
    delivered_at: dt.datetime,
    facility_code: str,
    injector: Injector | None,
    ctx: FileContext | None = None,
    columns: tuple[str, ...] | None = None,
    record: bool = True,
    force: float | None = None,
    limit: int | None = None,
) -> FileRecord | None:
    """Write one landing file: inject defects, render, record every row's codes in the manifest."""
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return None  # nothing to send: a facility sends no file on a day without records
    rows = _chain(([first], rows))
    path.parent.mkdir(parents=True, exist_ok=True)
    all_columns = R.COLUMNS[dataset]
    columns = columns or tuple(c for c in all_columns if c not in style.omit)
    ctx = ctx or FileContext(dataset, columns, facility_code, delivered_at)
    stream: Iterable[R.Row] = rows
    if injector is not None and injector.rate > 0:
        if force is not None:
            stream = injector.run(rows, ctx, error_share=force, force=True)
        else:
            stream = injector.run(rows, ctx)
    if limit is not None:
        stream = _limit(stream, limit)
    rel = run.rel(path)
    count = 0
    error_rows = 0
    lines = []
    rng = _rng(run.opts, "render:" + rel)
    for row in R.write_rows(str(path), style, columns, stream, rng, delivered_at):
        count += 1
        if not row.codes:
            continue
        seen = set()
        is_error = False
        for column, code in row.codes:
            if column and column not in columns:
                continue  # the column is not in this file (e.g. a landline phone in a file without phones)
            if code in seen:
                continue
            seen.add(code)
            severity = "warning" if code in WARNINGS else "error"
            is_error |= severity == "error"
            if record:
                lines.append((rel, count, column, code, severity))
        error_rows += is_error
        if record and len(lines) > 5000:
            run.manifest.writerows(lines)
            lines.clear()
    if record:
        run.manifest.writerows(lines)
    _set_mtime(path, delivered_at)
    status = "loaded"
    file_code = ""
    if count and error_rows / count > 0.2:
        status, file_code = "rejected", "batch_rejected"
    elif error_rows:
        status = "loaded_with_errors"
    rec = FileRecord(
        rel, facility_code, dataset, style.fmt, style.encoding_label, count, delivered_at, file_code, status
    )
    run.files.append(rec)
    run.rows[dataset] = run.rows.get(dataset, 0) + count
    return rec


# --- the full landing zone ------------------------------------------------------------------------------


def _file_name(
    dataset: str, facility: Facility, day: dt.date | None, style: R.Style, rng: random.Random
) -> str:
    ext = style.fmt.upper() if rng.random() < 0.1 else style.fmt
    if dataset == "vaccinations":
        stem = rng.choice(("tiem_chung_{f}_{d:%Y-%m-%d}", "TiemChung_{d:%d%m%Y}", "DS_tiem_{f}_{d:%Y%m%d}"))
        if day is None:
            return f"lich_su_tiem_chung_{facility.code}.{ext}"
    else:
        stem = rng.choice(("ket_qua_xn_{f}_{d:%Y-%m-%d}", "KetQuaXN_{d:%d%m%Y}", "xet_nghiem_{f}_{d:%Y%m%d}"))
        if day is None:
            return f"ket_qua_xn_truoc_{facility.code}.{ext}"
    return stem.format(f=facility.code, d=day) + "." + ext


def generate(opts: Options) -> dict:
    """Generate the whole data set described in the module docstring; returns the summary."""
    if opts.only:
        return generate_only(opts)
    out = Path(opts.out)
    landing, truth, api_dir = out / "landing", out / "truth", out / "api"
    _prepare(landing, truth, api_dir)
    end = opts.start + dt.timedelta(days=opts.days - 1)
    people = make_population(opts.seed, opts.persons, opts.start)
    facilities = make_facilities(opts.seed, opts.facilities)
    vaccinate(opts.seed, people, facilities, end)
    _assign_record_ids(people, facilities)
    by_id = {p.person_id: p for p in people}
    babies = [p for p in people if p.dob >= dt.date(2021, 3, 10) and p.cccd]
    _districts, communes = K.admin_units()

    manifest_file = open(truth / "manifest.csv", "w", encoding="utf-8", newline="")  # noqa: SIM115
    manifest = csv.writer(manifest_file, lineterminator="\n")
    manifest.writerow(MANIFEST_COLUMNS)
    run = Run(opts, landing, truth, manifest)
    injectors = {
        ds: Injector(ds, _rng(opts, "defects:" + ds), opts.rate, babies, communes)
        for ds in ("vaccinations", "test_results", "checkins")
    }
    try:
        _write_registry(run, facilities)
        venues = make_venues(opts.seed, opts.venues or max(20, opts.persons // 15), opts.days)
        _write_venues(run, venues)
        file_facilities = [f for f in facilities if not f.api]
        ascii_facility = next(
            (f.code for f in reversed(file_facilities) if f.facility_type == "commune_health_station"), None
        )
        plan = test_weights(facilities)
        _write_facility_files(
            run, people, by_id, file_facilities, facilities, plan, injectors, ascii_facility
        )
        _write_checkins(run, people, venues, injectors["checkins"])
        if not opts.clean:
            _write_extras(run, people, facilities, plan, injectors)
        api_summary = _write_api(run, api_dir, people, by_id, facilities, plan, babies, communes)
    finally:
        manifest_file.close()
    _write_truth(run, people, facilities)
    adoption_summary = None
    if opts.adoption:
        from covidsync.sample.adoption import AdoptionSample

        sample = AdoptionSample(seed=opts.seed, start=opts.start, days=max(opts.days, 8))
        adoption_summary = sample.write(landing, truth)
    arrivals_summary = None
    if opts.arrivals:
        from covidsync.sample.arrivals import ArrivalsSample

        sender = next(f.code for f in facilities if not f.api)
        arrivals_sample = ArrivalsSample(
            seed=opts.seed,
            start=opts.start,
            days=opts.days,
            facility_code=sender,
            travellers=max(24, opts.persons // 25),
            clean=opts.clean,
        )
        arrivals_summary = arrivals_sample.write(landing, truth)
    summary = {
        "generator_version": VERSION,
        "options": {
            k: (str(v) if isinstance(v, dt.date) else v) for k, v in asdict(opts).items() if k != "out"
        },
        "persons": len(people),
        "facilities": len(facilities),
        "api_facilities": [f.code for f in facilities if f.api],
        "venues": len(venues),
        "rows": dict(sorted(run.rows.items())),
        "files": _count(r.expected_status for r in run.files),
        "file_codes": _count(r.expected_file_code for r in run.files if r.expected_file_code),
        "row_codes": _manifest_counts(truth / "manifest.csv"),
        "injected": {ds: dict(sorted(inj.counts.items())) for ds, inj in injectors.items()},
        "uncovered_codes": {
            ds: inj.uncovered for ds, inj in injectors.items() if inj.rate > 0 and inj.uncovered
        },
        "api": api_summary,
        **({"adoption": adoption_summary} if adoption_summary else {}),
        **({"arrivals": arrivals_summary} if arrivals_summary else {}),
    }
    (truth / "summary.json").write_text(
        json.dumps(summary, ensure_ascii=False, indent=2, sort_keys=True) + "\n", "utf-8"
    )
    return summary


def _prepare(landing: Path, *replaced: Path) -> None:
    """truth/ and api/ are replaced; landing/ is only added to (a sender's area is never wiped)."""
    for area in replaced:
        if area.exists():
            shutil.rmtree(area)
        area.mkdir(parents=True)
    landing.mkdir(parents=True, exist_ok=True)


def _count(values: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return dict(sorted(counts.items()))


def _manifest_counts(path: Path) -> dict[str, int]:
    with open(path, encoding="utf-8", newline="") as fh:
        return _count(row["code"] for row in csv.DictReader(fh))


def _assign_record_ids(people: list[Person], facilities: list[Facility]) -> None:
    doses: dict[str, list[Dose]] = {}
    for person in people:
        for dose in person.doses:
            doses.setdefault(dose.facility_code, []).append(dose)
    for code, items in doses.items():
        items.sort(key=lambda d: (d.on, d.person_id, d.dose_number))
        for seq, dose in enumerate(items, 1):
            dose.record_id = f"TC{code}-{seq:06d}"


def _write_registry(run: Run, facilities: list[Facility]) -> None:
    path = run.landing / "registry" / "facilities.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(R.FACILITY_COLUMNS)
        for f in facilities:
            writer.writerow(
                (f.code, f.name, f.facility_type, f.province_code, f.district_code, f.commune_code)
            )
    when = local(run.opts.start - dt.timedelta(days=1), 7)
    _set_mtime(path, when)
    run.files.append(FileRecord(run.rel(path), "registry", "registry", "csv", "utf-8", len(facilities), when))


def _write_venues(run: Run, venues: list[Venue]) -> None:
    opts = run.opts
    for day_index in range(opts.days):
        todays = [v for v in venues if v.day == day_index]
        if not todays:
            continue
        day = opts.start + dt.timedelta(days=day_index)
        style = R.VENUE_STYLE if day_index == 0 else R.VENUE_XLSX_STYLE
        path = run.landing / "pccovid" / "venues" / f"dia_diem_{day:%Y-%m-%d}.{style.fmt}"
        when = local(day, 0, 5)
        write_data_file(run, path, style, "venues", (venue_row(v) for v in todays), when, "pccovid", None)


def _style_for(facility_index: int, dataset: str, day_index: int) -> R.Style:
    styles = R.FACILITY_STYLES
    offset = 0 if dataset == "vaccinations" else 5
    # A facility keeps its usual form most days; the rotation makes every form appear in small runs too.
    return styles[(facility_index * 3 + offset + day_index) % len(styles)]


def _other_codes(facilities: list[Facility], code: str) -> tuple[str, ...]:
    return tuple(f.code for f in facilities if f.code != code)


def _write_facility_files(
    run: Run,
    people: list[Person],
    by_id: dict[int, Person],
    file_facilities: list[Facility],
    all_facilities: list[Facility],
    plan,
    injectors: dict[str, Injector],
    ascii_facility: str | None,
) -> None:
    opts = run.opts
    doses_by_facility: dict[str, list[Dose]] = {}
    for person in people:
        for dose in person.doses:
            doses_by_facility.setdefault(dose.facility_code, []).append(dose)
    for items in doses_by_facility.values():
        items.sort(key=lambda d: (d.on, d.record_id))
    total_weight = sum(plan.weights)
    weight_of = {f.code: w for f, w in zip(plan.facilities, plan.weights, strict=True)}
    for index, facility in enumerate(file_facilities):
        rng = _rng(opts, f"files:{facility.code}")
        ascii_share = 0.3 if facility.code == ascii_facility else 0.0
        skipped = {i for i in range(opts.days - 1) if rng.random() < 0.08}
        for dataset in facility.datasets:
            injector = injectors[dataset]
            # history: everything before the window, sent once on the first morning
            history_style = _style_for(index, dataset, opts.days)
            first_morning = local(opts.start, 8) + dt.timedelta(seconds=rng.randrange(3 * 3600))
            name = _file_name(dataset, facility, None, history_style, rng)
            path = run.landing / facility.code / dataset / name
            if dataset == "vaccinations":
                doses = [d for d in doses_by_facility.get(facility.code, ()) if d.on < opts.start]
                rows = _dose_rows(doses, by_id, rng, ascii_share)
            else:
                count = _test_count(
                    rng, opts.persons, plan.daily_share, weight_of[facility.code], total_weight
                )
                rows = _history_tests(rng, people, facility, opts.start, count, ascii_share)
            ctx = FileContext(
                dataset,
                _columns(dataset, history_style),
                facility.code,
                first_morning,
                _other_codes(all_facilities, facility.code),
            )
            write_data_file(
                run, path, history_style, dataset, rows, first_morning, facility.code, injector, ctx
            )
            pending_days: list[dt.date] = []
            for day_index in range(opts.days):
                day = opts.start + dt.timedelta(days=day_index)
                pending_days.append(day)
                if day_index in skipped:
                    continue  # the facility sends nothing today; tomorrow's file carries both days
                style = _style_for(index, dataset, day_index)
                delivered = _delivery(rng, day)
                path = run.landing / facility.code / dataset / _file_name(dataset, facility, day, style, rng)
                if dataset == "vaccinations":
                    doses = [d for d in doses_by_facility.get(facility.code, ()) if d.on in pending_days]
                    rows = _dose_rows(doses, by_id, rng, ascii_share)
                else:
                    rows = _chain(
                        iter_test_rows(
                            rng,
                            people,
                            facility,
                            d,
                            _test_count(
                                rng, opts.persons, plan.daily_share, weight_of[facility.code], total_weight
                            ),
                            f"XN{facility.code}",
                            ascii_share,
                        )
                        for d in list(pending_days)
                    )
                ctx = FileContext(
                    dataset,
                    _columns(dataset, style),
                    facility.code,
                    delivered,
                    _other_codes(all_facilities, facility.code),
                )
                write_data_file(run, path, style, dataset, rows, delivered, facility.code, injector, ctx)
                pending_days = []


def _chain(iterables: Iterable[Iterable[R.Row]]) -> Iterator[R.Row]:
    for it in iterables:
        yield from it


def _columns(dataset: str, style: R.Style) -> tuple[str, ...]:
    return tuple(c for c in R.COLUMNS[dataset] if c not in style.omit)


def _test_count(rng: random.Random, persons: int, share: float, weight: float, total: float) -> int:
    mean = persons * share * weight / total
    return max(1, round(mean * rng.uniform(0.6, 1.4)))


def _dose_rows(
    doses: list[Dose], by_id: dict[int, Person], rng: random.Random, ascii_share: float
) -> Iterator[R.Row]:
    for dose in doses:
        yield vaccination_row(by_id[dose.person_id], dose, ascii_share > 0 and rng.random() < ascii_share)


def _history_tests(rng, people, facility, start, count, ascii_share) -> Iterator[R.Row]:
    for back in range(HISTORY_TEST_DAYS, 0, -1):
        day = start - dt.timedelta(days=back)
        yield from iter_test_rows(rng, people, facility, day, count, f"XN{facility.code}", ascii_share)


def _write_checkins(run: Run, people: list[Person], venues: list[Venue], injector: Injector) -> None:
    opts = run.opts
    per_day = opts.checkins_per_day if opts.checkins_per_day is not None else 2 * opts.persons
    users = [p for p in people if p.app_user and p.qid]
    walkers = [p for p in people if p.age_on(opts.start) >= 6]
    identities = Identities(people)
    for day_index in range(opts.days):
        day = opts.start + dt.timedelta(days=day_index)
        rng = _rng(opts, f"checkins:{day}")
        style = R.CHECKIN_STYLES[day_index % len(R.CHECKIN_STYLES)]
        delivered = local(day + dt.timedelta(days=1), 0, 30) + dt.timedelta(seconds=rng.randrange(3600))
        registered = [v for v in venues if v.day <= day_index]
        path = run.landing / "pccovid" / "checkins" / f"checkins_{day:%Y-%m-%d}.{style.fmt}"
        rows = iter_checkins(rng, day, per_day, registered, users, walkers, identities)
        ctx = FileContext("checkins", R.CHECKIN_COLUMNS, "pccovid", delivered)
        write_data_file(run, path, style, "checkins", rows, delivered, "pccovid", injector, ctx)


# --- files that must be rejected or ignored ---------------------------------------------------------------


def _write_extras(run: Run, people, facilities, plan, injectors) -> None:
    opts = run.opts
    file_facilities = [f for f in facilities if not f.api]
    vacc_facilities = [f for f in file_facilities if "vaccinations" in f.datasets]
    test_facilities = [f for f in file_facilities if "test_results" in f.datasets]
    day = opts.start
    fac_a, fac_b = vacc_facilities[0], vacc_facilities[min(1, len(vacc_facilities) - 1)]
    lab = test_facilities[-1]

    def extra(
        path: Path,
        data: bytes,
        when: dt.datetime,
        code: str,
        facility: str,
        dataset: str,
        fmt: str,
        enc: str,
        rows=0,
        status="rejected",
        uncompressed="",
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        _set_mtime(path, when)
        run.files.append(
            FileRecord(run.rel(path), facility, dataset, fmt, enc, rows, when, code, status, uncompressed)
        )

    sample_rows = list(iter_test_rows(_rng(opts, "extras:rows"), people, lab, day, 12, f"XN{lab.code}"))
    plain = R.Style("csv", "utf-8", ",", "vi", "plain", "dmy", "dmy_hm", crlf=False)

    def csv_bytes(columns, rows, style=plain) -> bytes:
        tmp = run.truth / ".extra.tmp"
        for _ in R.write_rows(str(tmp), style, columns, rows, _rng(opts, "extras:render")):
            pass
        data = tmp.read_bytes()
        tmp.unlink()
        return data

    # unsupported_format: a PDF report and a text note
    extra(
        run.landing / fac_a.code / "vaccinations" / f"bao_cao_tiem_chung_{day:%d%m%Y}.pdf",
        b"%PDF-1.4\n% sample report\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n",
        local(day, 17, 5),
        "unsupported_format",
        fac_a.code,
        "vaccinations",
        "pdf",
        "",
    )
    extra(
        run.landing / lab.code / "test_results" / f"ghi_chu_{day:%Y-%m-%d}.txt",
        "Kết quả xét nghiệm ngày hôm nay: 12 mẫu âm tính.\n".encode(),
        local(day, 17, 10),
        "unsupported_format",
        lab.code,
        "test_results",
        "txt",
        "utf-8",
    )
    # undecodable_file: bytes that are valid in none of UTF-8, Windows-1258, UTF-16 (no BOM, odd length)
    good = csv_bytes(R.TEST_COLUMNS, sample_rows[:3])
    bad = good.replace(b"\xc3", b"\x81\xc3\x28", 3)[:-2] + b"\x9d\x8d\n"
    if len(bad) % 2 == 0:
        bad += b"\n"
    extra(
        run.landing / lab.code / "test_results" / f"ket_qua_loi_ma_{day:%Y%m%d}.csv",
        bad,
        local(day, 15, 0),
        "undecodable_file",
        lab.code,
        "test_results",
        "csv",
        "unknown",
        3,
    )
    # empty_file: zero bytes, and a header without rows
    extra(
        run.landing / fac_b.code / "vaccinations" / f"tiem_chung_{day:%Y%m%d}_trong.csv",
        b"",
        local(day, 16, 1),
        "empty_file",
        fac_b.code,
        "vaccinations",
        "csv",
        "",
    )
    extra(
        run.landing / lab.code / "test_results" / f"ket_qua_{day:%Y%m%d}_chi_tieu_de.csv",
        csv_bytes(R.TEST_COLUMNS, []),
        local(day, 16, 2),
        "empty_file",
        lab.code,
        "test_results",
        "csv",
        "utf-8",
    )
    # missing_columns: a vaccination list without the vaccine and lot columns
    vacc_sample = [r for r in (_some_vaccination_rows(people, fac_a, 5))]
    cols = tuple(c for c in R.VACCINATION_COLUMNS if c not in ("vaccine", "lot_number"))
    extra(
        run.landing / fac_a.code / "vaccinations" / f"tiem_chung_thieu_cot_{day:%Y%m%d}.csv",
        csv_bytes(cols, vacc_sample),
        local(day, 15, 30),
        "missing_columns",
        fac_a.code,
        "vaccinations",
        "csv",
        "utf-8",
        len(vacc_sample),
    )
    # file_too_large: a small XLSX whose sheet expands past any sane limit
    bomb = run.landing / fac_b.code / "vaccinations" / f"tong_hop_{day:%Y%m%d}.xlsx"
    rows, size = write_xlsx_bomb(bomb, opts.bomb_mb * 1024 * 1024, local(day, 14, 0))
    _set_mtime(bomb, local(day, 14, 0))
    run.files.append(
        FileRecord(
            run.rel(bomb),
            fac_b.code,
            "vaccinations",
            "xlsx",
            "xlsx",
            rows,
            local(day, 14, 0),
            "file_too_large",
            "rejected",
            size,
        )
    )
    # unknown_facility: a well-formed file in a folder that is not registered
    extra(
        run.landing / "17999" / "vaccinations" / f"tiem_chung_17999_{day:%Y-%m-%d}.csv",
        csv_bytes(R.VACCINATION_COLUMNS, vacc_sample),
        local(day, 18, 0),
        "unknown_facility",
        "17999",
        "vaccinations",
        "csv",
        "utf-8",
        len(vacc_sample),
    )
    # duplicate_file: an already loaded file sent again under another name, a day later
    originals = [
        r
        for r in run.files
        if r.dataset == "vaccinations"
        and r.expected_status in ("loaded", "loaded_with_errors")
        and r.rows > 0
        and r.facility_code != "registry"
    ]
    if originals:
        original = originals[len(originals) // 2]
        src = run.landing / original.file
        stem, ext = os.path.splitext(src.name)
        when = original.delivered_at + dt.timedelta(days=1, hours=1)
        extra(
            src.with_name(f"{stem}_gui_lai{ext}"),
            src.read_bytes(),
            when,
            "duplicate_file",
            original.facility_code,
            original.dataset,
            original.format,
            original.encoding,
            original.rows,
            "duplicate",
        )
        # files never to read: a partial upload, a temporary file, an office lock file
        data = src.read_bytes()
        extra(
            src.with_name(src.name + ".part"),
            data[: len(data) // 2],
            when,
            "",
            original.facility_code,
            original.dataset,
            original.format,
            original.encoding,
            0,
            "ignored",
        )
        extra(
            src.with_name(f"{stem}.tmp"),
            data,
            when,
            "",
            original.facility_code,
            original.dataset,
            "tmp",
            original.encoding,
            0,
            "ignored",
        )
        extra(
            src.with_name(f".~lock.{src.name}#"),
            b"Nguyen Van Thu,DESKTOP-HB01,17/11/2021 16:02\n",
            when,
            "",
            original.facility_code,
            original.dataset,
            "lock",
            "",
            0,
            "ignored",
        )
    # batch_rejected: a test-results file with far more than 20 % bad rows, sent before the corrected file
    batch_rows = iter_test_rows(
        _rng(opts, "extras:batch"), people, lab, day, 30, f"XN{lab.code}B", deadline=local(day, 14)
    )
    path = run.landing / lab.code / "test_results" / f"ket_qua_xn_{day:%Y%m%d}_nhap.csv"
    ctx = FileContext(
        "test_results", R.TEST_COLUMNS, lab.code, local(day, 14, 30), _other_codes(facilities, lab.code)
    )
    rec = write_data_file(
        run,
        path,
        plain,
        "test_results",
        batch_rows,
        local(day, 14, 30),
        lab.code,
        injectors["test_results"],
        ctx,
        force=0.5,
    )
    assert rec.expected_file_code == "batch_rejected", "the batch file must trip the gate"


def _some_vaccination_rows(people: list[Person], facility: Facility, n: int) -> list[R.Row]:
    rows = []
    for person in people:
        for dose in person.doses:
            rows.append(vaccination_row(person, dose))
            if len(rows) >= n:
                return rows
    return rows


def write_xlsx_bomb(path: Path, target_bytes: int, when: dt.datetime) -> tuple[int, int]:
    """An XLSX whose sheet XML expands to at least ``target_bytes`` (a few hundred KB on disk).

    Returns (data rows, uncompressed size of the sheet).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".bomb-template.xlsx")
    header_row = [R.VIETNAMESE_HEADERS[c] for c in R.VACCINATION_COLUMNS]
    one = [
        "TC17002-000001",
        "Bùi Văn Hùng",
        "12/05/1980",
        "Nam",
        "017080123456",
        "0912345678",
        "",
        "17",
        "148",
        "04789",
        "Tổ 1, Phường Thái Bình",
        "AstraZeneca",
        "ABV1234",
        "1",
        "02/11/2021",
        "",
    ]
    for _ in R.write_rows(
        str(tmp),
        R.Style("xlsx", "", ",", "vi"),
        R.VACCINATION_COLUMNS,
        [R.Row({c: R.Raw(v) for c, v in zip(R.VACCINATION_COLUMNS, one, strict=True)})],
        random.Random(0),
        when,
    ):
        pass

    def cell(value: str) -> str:
        value = value.replace("&", "&amp;").replace("<", "&lt;")
        return f'<c t="inlineStr"><is><t>{value}</t></is></c>'

    counts = {"rows": 0, "bytes": 0}

    def sheet(target) -> None:
        # Rows without "r" references are valid SpreadsheetML and identical, so they compress ~1000:1.
        head = (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        )
        data = (head + "<row>" + "".join(cell(h) for h in header_row) + "</row>").encode()
        target.write(data)
        written = len(data)
        row = ("<row>" + "".join(cell(v) for v in one) + "</row>").encode()
        chunk = row * 1000
        n = 0
        while written < target_bytes:
            target.write(chunk)
            written += len(chunk)
            n += 1000
        tail = b"</sheetData></worksheet>"
        target.write(tail)
        counts["rows"] = n
        counts["bytes"] = written + len(tail)

    try:
        with zipfile.ZipFile(tmp) as z:
            sheet_name = next(n for n in z.namelist() if n.startswith("xl/worksheets/sheet"))
        R.repack_xlsx(str(tmp), str(path), when, {sheet_name: sheet})
    finally:
        tmp.unlink()
    return counts["rows"], counts["bytes"]


# --- API data ---------------------------------------------------------------------------------------------


def _write_api(run: Run, api_dir: Path, people, by_id, facilities, plan, babies, communes) -> dict:
    opts = run.opts
    api_facilities = [f for f in facilities if f.api]
    path_manifest = run.truth / "api_manifest.csv"
    summary = {}
    total_weight = sum(plan.weights)
    weight_of = {f.code: w for f, w in zip(plan.facilities, plan.weights, strict=True)}
    renderer_rng = _rng(opts, "api:render")
    with open(path_manifest, "w", encoding="utf-8", newline="") as fh:
        manifest = csv.writer(fh, lineterminator="\n")
        manifest.writerow(("facility_code", "dataset", "record_id", "column", "code", "severity"))
        for facility in api_facilities:
            rng = _rng(opts, f"api:{facility.code}")
            for dataset in facility.datasets:
                injector = Injector(
                    dataset, _rng(opts, f"api-defects:{facility.code}:{dataset}"), opts.rate, babies, communes
                )
                columns = R.COLUMNS[dataset]
                items: list[tuple[dt.datetime, str, dict]] = []
                if dataset == "vaccinations":
                    doses = sorted(
                        (d for p in people for d in p.doses if d.facility_code == facility.code),
                        key=lambda d: (d.on, d.record_id),
                    )
                    rows = _dose_rows(doses, by_id, rng, 0.0)
                else:
                    rows = _chain(
                        iter_test_rows(
                            rng,
                            people,
                            facility,
                            opts.start + dt.timedelta(days=i),
                            _test_count(
                                rng, opts.persons, plan.daily_share, weight_of[facility.code], total_weight
                            ),
                            f"L{facility.code}",
                        )
                        for i in range(-HISTORY_TEST_DAYS, opts.days)
                    )
                ctx = FileContext(
                    dataset,
                    columns,
                    facility.code,
                    local(opts.start + dt.timedelta(days=opts.days), 0),
                    _other_codes(facilities, facility.code),
                    allow_future=False,
                    allow_duplicates=False,
                )
                renderer = R.Renderer(R.API_STYLE, renderer_rng)
                history_stamp = local(opts.start - dt.timedelta(days=1), 22)
                for row in injector.run(rows, ctx):
                    v = row.values
                    if dataset == "vaccinations":
                        on = v["vaccinated_on"] if isinstance(v["vaccinated_on"], dt.date) else opts.start
                        if on < opts.start:
                            updated = history_stamp  # one bulk import: many records share updated_at
                        else:
                            updated = local(on, 17) + dt.timedelta(minutes=rng.randrange(0, 240, 5))
                    else:
                        base = (
                            v["resulted_at"]
                            if isinstance(v["resulted_at"], dt.datetime)
                            else local(opts.start, 12)
                        )
                        updated = base + dt.timedelta(minutes=rng.randrange(5, 90, 5))
                    item = {}
                    for column in columns:
                        value = v.get(column)
                        if column == "dose_number" and isinstance(value, int):
                            item[column] = value
                        elif column == "ct_value" and isinstance(value, float):
                            item[column] = value
                        else:
                            item[column] = renderer.text(column, value)
                    item["updated_at"] = updated.isoformat()
                    items.append((updated, item["record_id"], item))
                    for column, code in row.codes:
                        manifest.writerow(
                            (
                                facility.code,
                                dataset,
                                item["record_id"],
                                column,
                                code,
                                "warning" if code in WARNINGS else "error",
                            )
                        )
                items.sort(key=lambda t: (t[0], t[1]))
                target = api_dir / facility.code / f"{dataset}.jsonl"
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "w", encoding="utf-8", newline="\n") as out:
                    for _u, _r, item in items:
                        out.write(json.dumps(item, ensure_ascii=False) + "\n")
                summary[f"{facility.code}/{dataset}"] = len(items)
    return summary


# --- ground truth -----------------------------------------------------------------------------------------


def _write_truth(run: Run, people: list[Person], facilities: list[Facility]) -> None:
    truth = run.truth
    with open(truth / "population.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(
            (
                "person_id",
                "full_name",
                "gender",
                "date_of_birth",
                "dob_year_only",
                "cccd",
                "cmnd",
                "phone",
                "phone_owner",
                "health_insurance_no",
                "province_code",
                "district_code",
                "commune_code",
                "address",
                "birth_province_code",
                "household_id",
                "app_user",
                "qid",
                "cccd_issued_on",
                "cmnd_in_card_qr",
                "doses",
            )
        )
        for p in people:
            writer.writerow(
                (
                    p.person_id,
                    p.full_name,
                    p.gender,
                    p.dob.isoformat(),
                    int(p.dob_year_only),
                    p.cccd or "",
                    p.cmnd or "",
                    p.phone or "",
                    p.phone_owner,
                    p.bhyt or "",
                    p.province_code,
                    p.district_code,
                    p.commune_code,
                    p.address,
                    p.birth_province,
                    p.household_id,
                    int(p.app_user),
                    p.qid or "",
                    p.cccd_issued.isoformat() if p.cccd_issued else "",
                    int(p.cmnd_in_card_qr),
                    len(p.doses),
                )
            )
    with open(truth / "doses.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(
            (
                "person_id",
                "dose_number",
                "vaccine_code",
                "vaccine",
                "vaccinated_on",
                "facility_code",
                "record_id",
                "id_kind",
                "short_interval",
            )
        )
        for p in people:
            for d in p.doses:
                writer.writerow(
                    (
                        p.person_id,
                        d.dose_number,
                        d.product,
                        K.VACCINES[d.product].name,
                        d.on.isoformat(),
                        d.facility_code,
                        d.record_id,
                        d.id_kind,
                        int(d.short),
                    )
                )
    with open(truth / "files.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(FILES_COLUMNS)
        for r in sorted(run.files, key=lambda r: (r.delivered_at, r.file)):
            writer.writerow(
                (
                    r.file,
                    r.facility_code,
                    r.dataset,
                    r.format,
                    r.encoding,
                    r.rows,
                    _iso(r.delivered_at),
                    r.expected_file_code,
                    r.expected_status,
                    r.uncompressed_bytes,
                )
            )


# --- one big file (benchmarks) ------------------------------------------------------------------------------


def generate_only(opts: Options) -> dict:
    """One big file of ``opts.only`` with ``opts.rows`` rows (plus what it needs: registry or venues)."""
    out = Path(opts.out)
    landing, truth = out / "landing", out / "truth"
    _prepare(landing, truth)
    manifest_file = open(truth / "manifest.csv", "w", encoding="utf-8", newline="")  # noqa: SIM115
    manifest = csv.writer(manifest_file, lineterminator="\n")
    manifest.writerow(MANIFEST_COLUMNS)
    run = Run(opts, landing, truth, manifest)
    people = make_population(opts.seed, opts.persons, opts.start)
    facilities = make_facilities(opts.seed, opts.facilities)
    babies = [p for p in people if p.dob >= dt.date(2021, 3, 10) and p.cccd]
    _districts, communes = K.admin_units()
    injector = Injector(opts.only, _rng(opts, "defects:" + opts.only), opts.rate, babies, communes)
    base_style = {
        "csv": R.Style(crlf=False),
        "jsonl": R.Style("jsonl", words="en", headers="en"),
        "json": R.Style("json", words="en", headers="en"),
        "xlsx": R.Style("xlsx", "", date_fmt="excel", dt_fmt="excel"),
    }[opts.format]
    delivered = local(opts.start + dt.timedelta(days=1), 1)
    try:
        _write_registry(run, facilities)
        if opts.only == "checkins":
            venues = make_venues(opts.seed, opts.venues or max(20, opts.persons // 15), 1)
            _write_venues(run, venues)
            users = [p for p in people if p.app_user and p.qid]
            walkers = [p for p in people if p.age_on(opts.start) >= 6]
            # the seed is in the ids: files of one day made with other seeds (the pieces of a national
            # day) are other scans, not the same scans sent again (kept once per day by the merge)
            rows = iter_checkins(
                _rng(opts, "bench"),
                opts.start,
                opts.rows,
                venues,
                users,
                walkers,
                Identities(people),
                id_prefix=f"PC{opts.start:%Y%m%d}S{opts.seed}-",
            )
            style = (
                R.Style(opts.format, headers="en", dt_fmt="iso_offset", crlf=False)
                if opts.format != "xlsx"
                else base_style
            )
            path = landing / "pccovid" / "checkins" / f"checkins_bench.{opts.format}"
            ctx = FileContext("checkins", R.CHECKIN_COLUMNS, "pccovid", delivered)
            write_data_file(
                run, path, style, "checkins", rows, delivered, "pccovid", injector, ctx, limit=opts.rows
            )
        else:
            facility = facilities[0]
            path = landing / facility.code / opts.only / f"bench.{opts.format}"
            rows = _bench_rows(opts, people, facility)
            ctx = FileContext(
                opts.only,
                R.COLUMNS[opts.only],
                facility.code,
                delivered,
                _other_codes(facilities, facility.code),
            )
            write_data_file(run, path, base_style, opts.only, rows, delivered, facility.code, injector, ctx)
    finally:
        manifest_file.close()
    with open(truth / "files.csv", "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(FILES_COLUMNS)
        for r in run.files:
            writer.writerow(
                (
                    r.file,
                    r.facility_code,
                    r.dataset,
                    r.format,
                    r.encoding,
                    r.rows,
                    _iso(r.delivered_at),
                    r.expected_file_code,
                    r.expected_status,
                    r.uncompressed_bytes,
                )
            )
    summary = {
        "generator_version": VERSION,
        "only": opts.only,
        "rows": run.rows,
        "files": [asdict(r) | {"delivered_at": _iso(r.delivered_at)} for r in run.files],
    }
    (truth / "summary.json").write_text(
        json.dumps(summary, ensure_ascii=False, indent=2, sort_keys=True, default=str) + "\n", "utf-8"
    )
    return summary


def _limit(rows: Iterable[R.Row], n: int) -> Iterator[R.Row]:
    for i, row in enumerate(rows):
        if i >= n:
            return
        yield row


def _bench_cccd(i: int, gender: str, year: int) -> str:
    """Unique by construction (no set of issued numbers: memory stays flat): row i → province i // 10⁶."""
    province = K.PROVINCE_CODES[(i // 1_000_000) % len(K.PROVINCE_CODES)]
    digit = 2 * ((year - 1900) // 100) + (gender == "female")
    return f"0{province}{digit}{year % 100:02d}{i % 1_000_000:06d}"


def _bench_rows(opts: Options, people: list[Person], facility: Facility) -> Iterator[R.Row]:
    """Vaccination or test rows for a benchmark: each row a distinct synthetic person (no natural duplicates)."""
    from covidsync.sample.population import make_name

    rng = _rng(opts, "bench")
    districts, communes = K.admin_units()
    commune_codes = sorted(communes)
    day = opts.start
    for i in range(opts.rows):
        gender = "male" if rng.random() < 0.5 else "female"
        dob = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(365 * 63))
        commune = commune_codes[rng.randrange(len(commune_codes))]
        person = Person(
            person_id=i,
            full_name=make_name(rng, gender),
            gender=gender,
            dob=dob,
            dob_year_only=False,
            cccd=_bench_cccd(i, gender, dob.year),
            cmnd=None,
            phone=rng.choice(K.MOBILE_PREFIXES) + f"{rng.randrange(10**7):07d}",
            phone_owner=i,
            bhyt=None,
            district_code=communes[commune][0],
            commune_code=commune,
            address=f"Xóm {i % 20}, {communes[commune][1]}",
            birth_province="17",
            household_id=i,
            app_user=False,
            qid=None,
            cccd_issued=None,
            cmnd_in_card_qr=False,
        )
        if opts.only == "vaccinations":
            product = rng.choice((K.AZ, K.VERO, K.PFIZER, K.MODERNA))
            dose = Dose(
                i,
                1,
                product,
                day - dt.timedelta(days=rng.randrange(200)),
                facility.code,
                f"B{rng.randrange(10**6)}",
                "cccd",
                record_id=f"TC{facility.code}-{i + 1:09d}",
            )
            yield vaccination_row(person, dose)
        else:
            for row in iter_test_rows(rng, [person], facility, day, 1, f"XN{facility.code}-{i}"):
                row.values["pooled"] = False
                yield row
                break
