"""A held file's reports tell one story: nothing loaded, in result.json and on every line of errors.csv."""

from __future__ import annotations

import csv
import json

from covidsync.domain.codes import lookup
from covidsync.ingest.sender_report import FileResult, file_problem_rows, write_reports


def _warning(code: str, row: int) -> tuple:
    info = lookup(code)
    return (row, "phone", code, info.severity, info.message_vi, info.message_en)


def _written(tmp_path, status: str, file_errors: list[str]):
    result = FileResult(
        file="f.csv", sha256="a" * 64, dataset="vaccinations", status=status, rows_total=10,
        rows_loaded=0 if status == "rejected" else 9, rows_rejected=1, rows_with_warnings=2,
        file_errors=file_errors,
    )  # fmt: skip
    rows = [*file_problem_rows(file_errors), _warning("invalid_phone", 2), _warning("legacy_cmnd", 3)]
    result_path, errors_path = write_reports(tmp_path, result, rows)
    with errors_path.open(encoding="utf-8") as fh:
        return json.loads(result_path.read_text()), list(csv.DictReader(fh))


def test_a_held_file_never_says_a_row_was_loaded(tmp_path):
    report, lines = _written(tmp_path, "rejected", ["batch_rejected"])
    assert report["status"] == "rejected" and report["file_errors"] == [
        "batch_rejected"
    ]  # the contract's words
    assert lines[0]["code"] == "batch_rejected" and "held" in lines[0]["message_en"]
    warnings = [line for line in lines if line["severity"] == "warning"]
    assert len(warnings) == 2
    for line in warnings:
        assert "was loaded" not in line["message_en"] and "vẫn được nhận" not in line["message_vi"]
        assert "not loaded because the whole file was held" in line["message_en"]
        assert "cả tệp bị giữ lại" in line["message_vi"]


def test_a_loaded_file_still_says_its_warned_rows_loaded(tmp_path):
    _, lines = _written(tmp_path, "loaded_with_errors", [])
    assert all("the row was loaded" in line["message_en"] for line in lines)
