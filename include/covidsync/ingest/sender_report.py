"""What the sender gets back (contract §7): ``<name>.result.json`` and ``<name>.errors.csv`` in the outbox.

Reports go to ``<outbox>/<facility_code>/`` (``<outbox>/pccovid/`` for PC-Covid files); a later file
with the same name replaces the report of the earlier one (the report says which bytes it is about:
``sha256``). Identity values in ``errors.csv`` are masked by the caller before they get here; this
module writes atomically (a temporary name, then a rename) so a sender never reads half a report.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from covidsync import textsafe

ERRORS_COLUMNS = ("row_number", "column", "code", "severity", "message_vi", "message_en")
STATUSES = ("loaded", "loaded_with_errors", "rejected", "duplicate")


@dataclass
class FileResult:
    file: str
    sha256: str
    dataset: str | None
    status: str
    rows_total: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    rows_with_warnings: int = 0
    file_errors: list[str] = field(default_factory=list)
    processed_at: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        if not self.processed_at:
            self.processed_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        write(fh)
    os.replace(tmp, path)


# A held file (the batch gate's ``batch_rejected``): nothing of it loads, so no line of its errors.csv may say
# a row "was loaded". Its result.json keeps the contract's status ``rejected`` with ``batch_rejected`` among
# ``file_errors``; every text says "held" (the word operators, the CLI and the docs use).
_LOADED_VI = "dòng vẫn được nhận."
_LOADED_EN = "the row was loaded."
_HELD_VI = "dòng này không có lỗi nhưng chưa được nạp vì cả tệp bị giữ lại (batch_rejected)."
_HELD_EN = "the row itself is fine, but it was not loaded because the whole file was held (batch_rejected)."


class CsvLines(str):
    """errors.csv lines already rendered as :func:`covidsync.textsafe.csv_text` renders a frame of
    ``ERRORS_COLUMNS``, a held file's with its held wording (:func:`_frame_as_held`) already applied: a
    group's files' lines rendered together (:class:`covidsync.ingest.engine._GroupProblems`), written as
    they are."""


def is_held(result: FileResult) -> bool:
    return result.status == "rejected" and "batch_rejected" in result.file_errors


def _as_held(row: tuple) -> tuple:
    number, column, code, severity, message_vi, message_en = row
    return (
        number,
        column,
        code,
        severity,
        str(message_vi).replace(_LOADED_VI, _HELD_VI),
        str(message_en).replace(_LOADED_EN, _HELD_EN),
    )


def _frame_as_held(frame, where=None):
    """:func:`_as_held` of every line of a frame of ``ERRORS_COLUMNS`` (``where``: of the lines where this polars
    expression holds only, e.g. a group's held files' lines)."""
    import polars as pl

    held = [
        pl.col("message_vi").cast(pl.String).str.replace_all(_LOADED_VI, _HELD_VI, literal=True),
        pl.col("message_en").cast(pl.String).str.replace_all(_LOADED_EN, _HELD_EN, literal=True),
    ]
    if where is not None:
        held = [
            pl.when(where).then(e).otherwise(pl.col(name))
            for e, name in zip(held, ("message_vi", "message_en"), strict=True)
        ]
    return frame.with_columns(held)


def write_reports(
    outbox_folder: Path, result: FileResult, problems: Iterable[tuple] = ()
) -> tuple[Path, Path]:
    """Write both reports; ``problems`` are rows of ``ERRORS_COLUMNS`` (already masked), each a tuple (or list)
    or many at once as a polars frame of those columns (:func:`covidsync.ingest.engine.problem_lines`: written
    by column expressions, :func:`covidsync.textsafe.csv_text`), or as :class:`CsvLines` already rendered. For
    a held file, the warning lines say the row was not loaded (the whole file was held), not that it was."""
    result_path = outbox_folder / f"{result.file}.result.json"
    errors_path = outbox_folder / f"{result.file}.errors.csv"
    held = is_held(result)

    def write_errors(fh) -> None:
        writer = textsafe.writer(fh)  # cells that start like a formula neutralised (issue 17)
        writer.writerow(ERRORS_COLUMNS)
        for item in problems:
            if isinstance(item, CsvLines):
                fh.write(item)
            elif isinstance(item, tuple | list):
                writer.writerow(_as_held(tuple(item)) if held else item)
            else:
                fh.write(textsafe.csv_text(_frame_as_held(item) if held else item))

    _atomic_write(errors_path, write_errors)
    _atomic_write(result_path, lambda fh: json.dump(asdict(result), fh, ensure_ascii=False, indent=2))
    return result_path, errors_path


def file_problem_rows(codes: Iterable[str]) -> list[tuple]:
    """errors.csv lines for file-level codes (no row, no column)."""
    from covidsync.domain.codes import FILE_CODES

    rows = []
    for code in codes:
        info = FILE_CODES[code]
        rows.append(("", "", code, info.severity, info.message_vi, info.message_en))
    return rows
