"""Issue 17, items 5 and 6: formula-like and mis-decoded text (covidsync.textsafe), and every CSV written
for people neutralising formula-like cells."""

from __future__ import annotations

import csv
import io
import unicodedata

import pytest

from covidsync import textsafe
from covidsync.ingest.sender_report import FileResult, write_reports

GOOD = [
    "Nguyễn Văn Đức",
    "Trần Thị Hòa",
    "ĐẶNG THỊ HỒNG NHUNG",
    "Âu Dương Ánh",
    "Ông Ích Khiêm",
    "Ưng Hoàng Phúc",
    "Số 12 – đường Cù Chính Lan, phường Đồng Tiến",
    "Xóm Mít (cạnh chợ) — 3/4 km",
    "Nguyen Van An",
]


@pytest.mark.parametrize("text", GOOD)
def test_correct_vietnamese_text_is_neither_formula_nor_mojibake(text):
    assert not textsafe.is_formula(text) and not textsafe.has_mojibake(text)


@pytest.mark.parametrize("text", GOOD[:7])
@pytest.mark.parametrize("codec", ["cp1258", "cp1252"])
def test_utf8_read_as_windows_codepages_is_mojibake(text, codec):
    garbled = unicodedata.normalize("NFC", text.encode("utf-8").decode(codec, errors="replace"))
    assert textsafe.has_mojibake(garbled), garbled


@pytest.mark.parametrize(
    "text", ['=HYPERLINK("http://x")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]
)
def test_formula_starts(text):
    assert textsafe.is_formula(text)
    assert textsafe.neutralise(text) == "'" + text


@pytest.mark.parametrize("value", ["-3", "+84", "-1.5", 7, -7, None, "", "An", "a=b"])
def test_plain_values_and_signed_numbers_are_left_alone(value):
    assert textsafe.neutralise(value) == value


def test_the_writer_neutralises_every_cell():
    out = io.StringIO()
    writer = textsafe.writer(out, lineterminator="\n")
    writer.writerow(["=1+2", 3, "@x"])
    writer.writerows([["-", "ok"]])
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [["'=1+2", "3", "'@x"], ["'-", "ok"]]


def test_errors_csv_neutralises_formula_cells(tmp_path):
    result = FileResult(file="f.csv", sha256="0" * 64, dataset="venues", status="loaded_with_errors")
    problem = (1, '=HYPERLINK("http://x")', "invalid_text", "error", "+vi", "@en")
    _, errors = write_reports(tmp_path, result, [problem])
    lines = list(csv.reader(errors.open(encoding="utf-8")))
    assert lines[1] == ["1", '\'=HYPERLINK("http://x")', "invalid_text", "error", "'+vi", "'@en"]


def test_the_python_and_sql_patterns_are_the_same_strings():
    params = textsafe.rule_params()
    assert params == {
        "formula_pattern": textsafe.FORMULA_PATTERN,
        "mojibake_pattern": textsafe.MOJIBAKE_PATTERN,
    }


def test_district_lists_neutralise_venue_names(tmp_path):
    from covidsync.marts import adoption

    row = ["V1", "market", '=HYPERLINK("http://x")', "-", *[""] * (len(adoption.SILENT_COLUMNS) - 4)]
    path = tmp_path / "silent.csv"
    adoption._write_csv(path, [tuple(row)])
    lines = list(csv.reader(path.open(encoding="utf-8")))
    assert lines[1][2:4] == ['\'=HYPERLINK("http://x")', "'-"]
