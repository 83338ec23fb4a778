"""What the sender gets back (contract §7): ``<name>.result.json`` and ``<name>.errors.csv`` in the outbox.

Reports go to ``<outbox>/<facility_code>/`` (``<outbox>/pccovid/`` for PC-Covid files); a later file
with the same name replaces the report of the earlier one (the report says which bytes it is about:
``sha256``). Identity values in ``errors.csv`` are masked by the caller before they get here; this
module writes atomically (a temporary name, then a rename) so a sender never reads half a report.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

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


def write_reports(
    outbox_folder: Path, result: FileResult, problems: Iterable[tuple] = ()
) -> tuple[Path, Path]:
    """Write both reports; ``problems`` are rows of ``ERRORS_COLUMNS`` (already masked)."""
    result_path = outbox_folder / f"{result.file}.result.json"
    errors_path = outbox_folder / f"{result.file}.errors.csv"

    def write_errors(fh) -> None:
        writer = csv.writer(fh)
        writer.writerow(ERRORS_COLUMNS)
        writer.writerows(problems)

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
