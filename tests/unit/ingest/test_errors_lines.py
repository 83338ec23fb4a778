"""errors.csv by column expressions (issue 24, e30-decl): :func:`covidsync.ingest.engine.problem_frame` gives
each line :func:`_problem_line` (below, the former one-line-at-a-time code) gives (the value masked where its column is identity,
the code's messages), and :func:`covidsync.textsafe.csv_text` writes the bytes ``textsafe.writer`` writes
(cells neutralised, csv's quoting, CRLF); a report written from frames is the report written from tuples, held
or not."""

from __future__ import annotations

import io
import random

import polars as pl

from covidsync import textsafe
from covidsync.ingest import engine
from covidsync.ingest.datasets import spec
from covidsync.ingest.sender_report import FileResult, write_reports


def _problem_line(spec, row_number, column, code, severity, value) -> tuple:
    """One errors.csv line of a row problem, one at a time (the engine's code before problem_frame): the value
    masked where its column is identity, appended to the code's messages."""
    from covidsync.domain.codes import ROW_CODES
    from covidsync.domain.text import mask

    info = ROW_CODES[code]
    shown = mask(value) if column in spec.identity_columns else value
    suffix_vi = f" (giá trị: {shown})" if shown else ""
    suffix_en = f" (value: {shown})" if shown else ""
    return (row_number, column, code, severity, info.message_vi + suffix_vi, info.message_en + suffix_en)


# cells that a spreadsheet or csv's quoting treats apart: formulas, signed numbers, separators, quotes, line ends
AWKWARD = [
    None, "", "a", "abcd", "abcde", "=HYPERLINK(1)", "+84912", "-3", "-3.5", "+1,5", "-x", "@a", "\tx", "\rx",
    "a,b", 'say "hi"', "two\nlines", "cr\rlf", "Nguyễn Văn Ấn", "'quoted", " lead", "trail ", "0912345678",
    "001090123456", "=", "-", "1,2,3", '"', "\r\n",
]  # fmt: skip


def _writer_text(rows) -> str:
    out = io.StringIO()
    textsafe.writer(out).writerows(rows)
    return out.getvalue()


def test_csv_text_writes_what_the_writer_writes():
    rnd = random.Random(24)
    alphabet = list(",\"'\r\n\t=+-@0123456789. ;aễ") + ["\u2028", "\x0b", "\x85"]
    rows = [(n, a, b) for n, (a, b) in enumerate((x, y) for x in AWKWARD for y in AWKWARD)]
    for _ in range(5000):
        cells = [
            None if rnd.random() < 0.1 else "".join(rnd.choices(alphabet, k=rnd.randint(0, 6))) for _c in "ab"
        ]
        rows.append((rnd.randint(-9, 10**6), *cells))
    frame = pl.DataFrame(rows, schema={"n": pl.Int64, "a": pl.String, "b": pl.String}, orient="row")
    assert textsafe.csv_text(frame) == _writer_text(rows)
    assert textsafe.csv_text(frame.head(0)) == ""


def test_problem_frame_gives_each_line_as_problem_line():
    declarations = spec("declarations")
    columns = [
        "citizen_id",
        "phone",
        "qr_payload",
        "full_name",
        "kind",
        "origin_province_code",
        "travel_date",
    ]
    codes = ["invalid_citizen_id", "invalid_phone", "invalid_declaration_kind", "duplicate_in_file"]
    rows = [
        (n, column, code, "error" if n % 2 else "warning", value)
        for n, (column, code, value) in enumerate(
            (column, code, value) for column in columns for code in codes for value in AWKWARD
        )
    ]
    assert declarations.identity_columns & set(columns) and set(columns) - declarations.identity_columns
    expected = [_problem_line(declarations, *row) for row in rows]
    assert engine.problem_frame(declarations, rows).rows() == expected
    with_files = [(7, *row) for row in rows]
    assert engine.problem_frame(declarations, with_files, file_id=True).rows() == expected


def test_a_report_from_frames_is_the_report_from_tuples(tmp_path):
    declarations = spec("declarations")
    rows = [(n, "citizen_id", "invalid_citizen_id", "warning", v) for n, v in enumerate(AWKWARD)]
    file_lines = [("", "", "missing_columns", "error", "thiếu, cột", "missing, column")]
    for status, codes in (("loaded_with_errors", []), ("rejected", ["batch_rejected"])):
        result = FileResult(
            file="f.csv", sha256="0" * 64, dataset="declarations", status=status, file_errors=codes
        )
        lines = [_problem_line(declarations, *row) for row in rows]
        _, by_tuples = write_reports(tmp_path / "tuples", result, [*file_lines, *lines])
        frame = engine.problem_frame(declarations, rows)
        _, by_frames = write_reports(
            tmp_path / "frames", result, [*file_lines, frame.head(10), frame.slice(10)]
        )
        assert by_frames.read_bytes() == by_tuples.read_bytes()
