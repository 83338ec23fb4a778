"""The arrivals registries (contract arrivals.md §1.3–§1.4, issue 24): risk levels and the arrival-measures
matrix, versioned, each file validated whole.

* ``<landing>/registry/risk_levels/*.csv``: one row per area and period (``area_code`` a 2-digit province,
  3-digit district or 5-digit commune code of the national 2021 list, ``level`` 1–4, ``effective_from``,
  ``effective_to`` inclusive or empty = until replaced, ``source``). Files are cumulative: each loaded file is
  a version in ``ops.registry_version`` and its rows go to ``ref.risk_level``; for a day and an area the
  latest version covering it wins (``ref.place_risk_level``).
* ``<landing>/registry/arrival_measures.csv``: the whole matrix (``effective_from``, ``origin_level``,
  ``category``, ``measure``, ``days``, ``test_days``); the latest loaded version is in force. Migration 0025
  ships the contract's default as version 1.

A file is read like a facility file (encodings, separators, Vietnamese or English headers, leading zeros of
codes repaired), typed in columns, loaded into a temporary table and checked there as sets
(``sql/ingest/risk_level_row_problem.sql``, ``arrival_measure_row_problem.sql``). Any error row rejects the
whole file (``registry_rejected``): nothing of it is kept and the previous versions stay in force. The sender
gets ``<outbox>/registry/<name>.result.json`` and ``<name>.errors.csv`` either way. The same bytes are read
once (``ops.registry_version`` keeps their SHA-256), so the task that loads them is cheap when nothing changed.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from covidsync import settings
from covidsync.errors import CovidsyncError
from covidsync.ingest.spec import Column, col

log = logging.getLogger(__name__)

RISK_LEVELS_DIR = Path("registry") / "risk_levels"
MEASURES_FILE = Path("registry") / "arrival_measures.csv"
OUTBOX = "registry"
_LOCK = 0x72656769  # "regi": one registry loader at a time

RISK_LEVEL_COLUMNS: tuple[Column, ...] = (
    col("area_code", True, "Mã địa bàn", "Mã khu vực", "Mã đơn vị hành chính", "Area code", "Area"),
    col("level", True, "Cấp độ", "Cấp độ dịch", "Cấp độ nguy cơ", "Level", "Risk level"),
    col("effective_from", True, "Từ ngày", "Hiệu lực từ", "Áp dụng từ", "Effective from", "From"),
    col("effective_to", False, "Đến ngày", "Hiệu lực đến", "Áp dụng đến", "Effective to", "To"),
    col("source", False, "Nguồn", "Văn bản", "Căn cứ", "Source", "Document"),
)
MEASURE_COLUMNS: tuple[Column, ...] = (
    col("effective_from", True, "Từ ngày", "Hiệu lực từ", "Áp dụng từ", "Effective from", "From"),
    col("origin_level", True, "Cấp độ nơi đi", "Cấp độ", "Origin level", "Level"),
    col("category", True, "Nhóm đối tượng", "Đối tượng", "Nhóm", "Category"),
    col("measure", True, "Biện pháp", "Biện pháp áp dụng", "Measure"),
    col("days", True, "Số ngày", "Thời gian (ngày)", "Days"),
    col("test_days", False, "Ngày xét nghiệm", "Các ngày xét nghiệm", "Test days"),
)
READERS = {"risk_levels": RISK_LEVEL_COLUMNS, "arrival_measures": MEASURE_COLUMNS}


class RegistryConfigError(CovidsyncError):
    pass


def unknown_origin_level() -> int:
    """``COVIDSYNC_UNKNOWN_ORIGIN_LEVEL`` (default 2): the level of an origin that cannot be placed."""
    value = os.environ.get("COVIDSYNC_UNKNOWN_ORIGIN_LEVEL", "").strip() or "2"
    if value not in ("1", "2", "3", "4"):
        raise RegistryConfigError(
            f"COVIDSYNC_UNKNOWN_ORIGIN_LEVEL is a risk level 1 to 4, not {value!r}; fix the setting and rerun"
        )
    return int(value)


@dataclass
class Outcome:
    registry: str
    relative_path: str
    status: str  # loaded | rejected | unchanged
    version_id: int | None = None
    rows_total: int = 0
    rows_rejected: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _register_readers() -> None:
    """The contract reader knows the two registries' columns (the engine's datasets are the spec modules)."""
    from covidsync.ingest import parse

    if all(name in parse.DATASET_COLUMNS for name in READERS):
        return
    for name, columns in READERS.items():
        parse.DATASET_COLUMNS.setdefault(name, columns)
    parse._LOOKUP.update(parse._build_lookup())  # the header lookup of the datasets just added


def registry_files(landing: Path | None = None) -> list[tuple[str, Path]]:
    """The registry files present, in the order they are read: risk-level files by (modification time,
    name), then the measures matrix."""
    from covidsync.ingest.landing import is_incomplete

    landing = landing or settings.landing_dir()
    folder = landing / RISK_LEVELS_DIR
    found: list[tuple[str, Path]] = []
    if folder.is_dir():
        files = [
            p
            for p in folder.iterdir()
            if p.is_file() and not p.name.startswith(".") and not is_incomplete(p.name)
        ]
        files.sort(key=lambda p: (p.stat().st_mtime, p.name))
        found.extend(("risk_levels", p) for p in files)
    measures = landing / MEASURES_FILE
    if measures.is_file():
        found.append(("arrival_measures", measures))
    return found


def load_registries(conn, landing: Path | None = None) -> list[dict]:
    """Read every new registry file (risk levels, then measures); return one outcome per file."""
    landing = landing or settings.landing_dir()
    outcomes = [
        load_file(conn, registry, path, path.relative_to(landing).as_posix())
        for registry, path in registry_files(landing)
    ]
    changed = [o for o in outcomes if o.status != "unchanged"]
    if changed:
        log.info(
            "arrivals registries: %s",
            ", ".join(f"{o.relative_path} {o.status} ({o.rows_total} rows)" for o in changed),
        )
    return [o.as_dict() for o in outcomes]


def load_file(conn, registry: str, path: Path, relative_path: str) -> Outcome:
    """Validate one registry file whole and load it as a new version, or reject it whole; report either way."""
    from covidsync.ingest.landing import sha256_file

    sha = sha256_file(path)
    with conn, conn.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(%s)", (_LOCK,))
        # tiny statements whose estimated cost passes the JIT thresholds (the national list is 11k areas):
        # compiling took 3 s of a 2-row file
        cur.execute("set local jit = off")
        cur.execute(
            "select version_id, status from ops.registry_version where registry = %s and sha256 = %s",
            (registry, sha),
        )
        seen = cur.fetchone()
        if seen is not None:
            return Outcome(registry, relative_path, "unchanged", seen[0])
        outcome, problems, file_codes = _validate_and_load(cur, registry, path, relative_path, sha)
    _report(path.name, sha, registry, outcome, problems, file_codes)
    return outcome


def _read_frame(registry: str, path: Path):
    """The file's rows as one text frame (registry files are small: hundreds of rows)."""
    import polars as pl

    from covidsync.ingest import columnar
    from covidsync.ingest.parse import open_rows

    _register_readers()
    stream = open_rows(path, registry)
    names = [c.name for c in READERS[registry]]
    frames = list(columnar.batches(stream, names))
    if not frames:
        return pl.DataFrame(schema={"row_number": pl.Int64, **{n: pl.String for n in names}})
    return pl.concat(frames)


def _typed(registry: str, frame):
    import polars as pl

    from covidsync.ingest import columnar

    if registry == "risk_levels":
        code = pl.col("area_code")
        # a code whose leading zero a spreadsheet dropped: 1 digit is a province, 4 a commune (contract §2)
        repaired = (
            pl.when(code.str.contains(r"^[0-9]$"))
            .then(pl.lit("0") + code)
            .when(code.str.contains(r"^[0-9]{4}$"))
            .then(pl.lit("0") + code)
            .otherwise(code)
        )
        frame = frame.with_columns(area_code=repaired)
        return frame.select(
            "row_number",
            "area_code",
            pl.col("level").alias("level_text"),
            pl.col("effective_from").alias("effective_from_text"),
            columnar.read_date(frame["effective_from"]).alias("effective_from"),
            pl.col("effective_to").alias("effective_to_text"),
            columnar.read_date(frame["effective_to"]).alias("effective_to"),
            "source",
        )
    return frame.select(
        "row_number",
        pl.col("effective_from").alias("effective_from_text"),
        columnar.read_date(frame["effective_from"]).alias("effective_from"),
        pl.col("origin_level").alias("origin_level_text"),
        pl.col("category").str.to_lowercase().alias("category"),
        pl.col("measure").str.to_lowercase().alias("measure"),
        pl.col("days").alias("days_text"),
        pl.col("test_days").alias("test_days_text"),
    )


_TEMP = {
    "risk_levels": """
        create temporary table registry_row (
            row_number integer primary key, area_code text, level_text text, effective_from_text text,
            effective_from date, effective_to_text text, effective_to date, source text
        ) on commit drop
    """,
    "arrival_measures": """
        create temporary table registry_row (
            row_number integer primary key, effective_from_text text, effective_from date,
            origin_level_text text, category text, measure text, days_text text, test_days_text text
        ) on commit drop
    """,
}
_SQL = {
    "risk_levels": ("risk_level_row_problem", "risk_level_load"),
    "arrival_measures": ("arrival_measure_row_problem", "arrival_measure_load"),
}


def _validate_and_load(cur, registry: str, path: Path, relative_path: str, sha: str):
    from covidsync.ingest import columnar
    from covidsync.ingest.engine import sql_text
    from covidsync.ingest.parse import FileRejected

    try:
        frame = _typed(registry, _read_frame(registry, path))
    except FileRejected as exc:
        codes = [exc.code, "registry_rejected"]
        version = _version(cur, registry, relative_path, sha, "rejected", 0, 0, codes, exc.detail)
        return Outcome(registry, relative_path, "rejected", version), [], codes
    rules, load = _SQL[registry]
    cur.execute(_TEMP[registry])
    columnar.copy_frame(cur, "registry_row", frame)
    cur.execute(
        "create temporary table registry_problem (row_number integer, column_name text, code text) on commit drop"
    )
    cur.execute(sql_text(rules))
    problems = _problem_rows(cur, registry)
    rejected = len({p[0] for p in problems if p[0] != ""})
    if not frame.height:
        codes = ["empty_file", "registry_rejected"]
        version = _version(cur, registry, relative_path, sha, "rejected", 0, 0, codes, "no data rows")
        return Outcome(registry, relative_path, "rejected", version), [], codes
    if problems:
        codes = ["registry_rejected"]
        version = _version(
            cur, registry, relative_path, sha, "rejected", frame.height, rejected, codes, "rows with errors"
        )
        return Outcome(registry, relative_path, "rejected", version, frame.height, rejected), problems, codes
    version = _version(cur, registry, relative_path, sha, "loaded", frame.height, 0, [], None)
    cur.execute(sql_text(load), {"version_id": version})
    return Outcome(registry, relative_path, "loaded", version, frame.height), [], []


def _problem_rows(cur, registry: str) -> list[tuple]:
    """errors.csv lines of the file's problems (registry values are not personal: shown as sent)."""
    from covidsync.domain.codes import ROW_CODES

    value = (
        "case p.column_name when 'area_code' then r.area_code when 'level' then r.level_text "
        "when 'effective_from' then r.effective_from_text when 'effective_to' then r.effective_to_text end"
        if registry == "risk_levels"
        else "case p.column_name when 'effective_from' then r.effective_from_text "
        "when 'origin_level' then r.origin_level_text when 'category' then r.category "
        "when 'measure' then r.measure when 'days' then r.days_text when 'test_days' then r.test_days_text end"
    )
    cur.execute(
        f"select p.row_number, p.column_name, p.code, {value} from registry_problem p "  # noqa: S608 (constant)
        "left join registry_row r on r.row_number = p.row_number "
        "order by p.row_number nulls first, p.column_name, p.code"
    )
    lines = []
    for number, column, code, shown in cur.fetchall():
        info = ROW_CODES[code]
        suffix_vi = f" (giá trị: {shown})" if shown else ""
        suffix_en = f" (value: {shown})" if shown else ""
        lines.append(
            (
                "" if number is None else number,
                column or "",
                code,
                info.severity,
                info.message_vi + suffix_vi,
                info.message_en + suffix_en,
            )
        )
    return lines


def _version(cur, registry, relative_path, sha, status, total, rejected, codes, note) -> int:
    cur.execute(
        """
        insert into ops.registry_version
            (registry, relative_path, sha256, status, rows_total, rows_rejected, file_codes, note)
        values (%s, %s, %s, %s, %s, %s, %s, %s)
        returning version_id
        """,
        (registry, relative_path, sha, status, total, rejected, codes, note),
    )
    return cur.fetchone()[0]


def _report(name: str, sha: str, registry: str, outcome: Outcome, problems: list, file_codes: list) -> None:
    from covidsync.ingest.sender_report import FileResult, file_problem_rows, write_reports

    result = FileResult(
        file=name,
        sha256=sha,
        dataset=registry,
        status="loaded" if outcome.status == "loaded" else "rejected",
        rows_total=outcome.rows_total,
        rows_loaded=outcome.rows_total if outcome.status == "loaded" else 0,
        rows_rejected=outcome.rows_rejected,
        file_errors=list(file_codes),
    )
    write_reports(settings.outbox_dir() / OUTBOX, result, [*file_problem_rows(file_codes), *problems])


def level_on(conn, province: str | None, district: str | None, commune: str | None, day: dt.date) -> dict:
    """The level of a place on a day (contract §1.3), as ``ref.place_risk_level`` answers it."""
    with conn.cursor() as cur:
        cur.execute(
            "select level, area_code, version_id, origin_known from ref.place_risk_level(%s, %s, %s, %s, %s)",
            (province, district, commune, day, unknown_origin_level()),
        )
        level, area, version, known = cur.fetchone()
    return {"level": level, "area_code": area, "version_id": version, "origin_known": known}
