"""A group's errors.csv lines rendered together (issue 16, e37-small): :class:`covidsync.ingest.engine._GroupProblems`
renders many files' row problems in one polars query a chunk; each file's errors.csv must be byte for byte the one
its rows alone give (:func:`covidsync.ingest.engine.problem_frame` and :func:`covidsync.textsafe.csv_text`, a held
file's lines worded held), whichever chunk its rows fall in, and a file whose reports failed must not leak its lines
into the next file's report."""

from __future__ import annotations

import datetime as dt

import pytest

from covidsync.ingest import engine
from covidsync.ingest.datasets import spec
from covidsync.ingest.sender_report import FileResult, write_reports

VALUES = [
    None, "", "a", "abcd", "=HYPERLINK(1)", "+84912", "-3", "@a", "\tx", "a,b", 'say "hi"', "two\nlines",
    "Nguyễn Văn Ấn", "001090123456", "0912345678", "\r\n",
]  # fmt: skip
COLUMNS = ["citizen_id", "full_name", "phone", "dose_number", "vaccinated_on"]
CODES = [("invalid_citizen_id", "error"), ("invalid_phone", "warning"), ("duplicate_in_file", "error")]


def _rows(file_id: int, n: int) -> list[tuple]:
    out = []
    for k in range(n):
        column = COLUMNS[(k + file_id) % len(COLUMNS)]
        code, severity = CODES[(k * 7 + file_id) % len(CODES)]
        out.append((file_id, k + 1, column, code, severity, VALUES[(k * 3 + file_id) % len(VALUES)]))
    return out


class _Cursor:
    def __init__(self, rows):
        self.rows, self.itersize = list(rows), None

    def execute(self, query, params):
        ids = params["ids"]
        self.rows.sort(key=lambda r: (ids.index(r[0]), r[1], r[2], r[3]))

    def fetchmany(self, size):
        out, self.rows = self.rows[:size], self.rows[size:]
        return out


class _Conn:
    def __init__(self, rows):
        self.rows = rows

    def cursor(self, name=None):
        return _Cursor(self.rows)


def _file(file_id: int, status: str) -> engine.FileRow:
    return engine.FileRow(
        file_id, f"17001/vaccinations/f{file_id}.csv", f"f{file_id}.csv", "17001", "vaccinations",
        dt.datetime(2021, 11, 20, tzinfo=dt.UTC), status, "0" * 64, None,
    )  # fmt: skip


def _result(f: engine.FileRow) -> FileResult:
    held = f.status == "held"
    return FileResult(
        file=f.original_name,
        sha256=f.sha256,
        dataset=f.dataset,
        status="rejected" if held else "loaded_with_errors",
        file_errors=["batch_rejected"] if held else [],
        processed_at="2021-11-20T00:00:00+00:00",
    )


@pytest.mark.parametrize("chunk", [3, 7, 50_000])
def test_each_file_gets_the_lines_its_rows_alone_give(tmp_path, monkeypatch, chunk):
    vaccinations = spec("vaccinations")
    sizes = {11: 9, 12: 0, 13: 17, 14: 1, 15: 12, 16: 5}  # file 12: no row problem
    statuses = {11: "merged", 12: "merged", 13: "held", 14: "merged", 15: "merged", 16: "held"}
    files = [_file(i, statuses[i]) for i in sizes]
    rows = [r for i, n in sizes.items() for r in _rows(i, n)]
    monkeypatch.setattr(engine, "PROBLEM_CHUNK_ROWS", chunk)
    problems = engine._GroupProblems(_Conn(rows), files, held=[13, 16])
    for f in files:
        if f.file_id == 14:  # its reports "failed": never asked for; the next file must not get its lines
            continue
        result = _result(f)
        _, together = write_reports(
            tmp_path / "together" / str(f.file_id), result, problems.rows(None, f, [])
        )
        own = [r[1:] for r in rows if r[0] == f.file_id]
        alone = [engine.problem_frame(vaccinations, own)] if own else []
        _, expected = write_reports(tmp_path / "alone" / str(f.file_id), result, alone)
        assert together.read_bytes() == expected.read_bytes(), f.file_id
    held_text = (tmp_path / "together" / "13" / "f13.csv.errors.csv").read_text(encoding="utf-8")
    assert "cả tệp bị giữ lại" in held_text or "whole file was held" in held_text


def test_group_lines_are_per_row():
    """The held wording is a file's own: the same rows give a held and a loaded file different lines."""
    vaccinations = spec("vaccinations")
    rows = [(21, *r[1:]) for r in _rows(1, 40)] + [(22, *r[1:]) for r in _rows(1, 40)]
    warning = [r for r in rows if r[4] == "warning"]
    assert warning
    lines = dict(engine._group_lines(vaccinations, rows, [22]))
    assert lines[21] != lines[22]
    plain = dict(engine._group_lines(vaccinations, rows, []))
    assert plain[21] == plain[22] == lines[21]
