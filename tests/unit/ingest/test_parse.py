"""Reading landing files as rows with canonical columns (contract §1, §2, §3–§5 columns, §6 file codes).

Committed messy fixtures live in ``tests/fixtures/files/`` (see its README); everything else is built in
``tmp_path`` at test time (the zip bomb and the large files are never committed).
"""

from __future__ import annotations

import codecs
import datetime as dt
import io
import json
import pickle
import random
import time
import tracemalloc
import unicodedata
import zipfile
from pathlib import Path

import openpyxl
import pytest

from covidsync.ingest import parse
from covidsync.ingest.parse import (
    DATASET_COLUMNS,
    FileRejected,
    RowStream,
    header_key,
    match_header,
    open_rows,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "files"

VACCINATION_HEADER = (
    "Họ và tên,Ngày sinh,Giới tính,Số CCCD/CMND,Số điện thoại,Mã tỉnh,Mã huyện,Mã xã,"
    "Tên vắc xin,Số lô,Mũi số,Ngày tiêm"
)
VACCINATION_ROW = (
    "Nguyễn Thị Hòa,05/03/1990,Nữ,017190001234,0912345678,17,148,04789,AstraZeneca,NJ0342,1,15/07/2021"
)
TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}


def windows_1258(text: str) -> bytes:
    """Encode like Windows: base letters (â ê ô ơ ư ă đ) precomposed, tone marks as combining characters."""
    out = []
    for char in unicodedata.normalize("NFC", text):
        parts = unicodedata.normalize("NFD", char)
        base = unicodedata.normalize("NFC", "".join(c for c in parts if c not in TONES))
        out.append(base + "".join(c for c in parts if c in TONES))
    return "".join(out).encode("cp1258")


def write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8", newline="")
    else:
        path.write_bytes(data)
    return path


def rows(path: Path, dataset: str = "vaccinations", **kwargs) -> list[tuple[int, dict[str, str]]]:
    return list(open_rows(path, dataset, **kwargs))


def rejected(path: Path, dataset: str = "vaccinations", **kwargs) -> FileRejected:
    with pytest.raises(FileRejected) as info:
        open_rows(path, dataset, **kwargs)
    return info.value


def assert_nfc(values: dict[str, str]) -> None:
    for value in values.values():
        assert unicodedata.is_normalized("NFC", value), value
        assert value == value.strip()


# ---------------------------------------------------------------------------------------------------------
# Header matching and the dataset columns


@pytest.mark.parametrize(
    "text",
    ["Số CCCD/CMND", "so cccd cmnd", "SỐ CCCD / CMND", unicodedata.normalize("NFD", "  Số  CCCD/cmnd ")],
)
def test_header_key_folds_case_accents_spaces_and_punctuation(text):
    assert header_key(text) == "socccdcmnd"


def test_header_key_english_and_d_letter():
    assert header_key("citizen_id") == header_key("Citizen ID") == "citizenid"
    assert header_key("SĐT") == "sdt"


@pytest.mark.parametrize(
    ("dataset", "header", "column"),
    [
        ("vaccinations", "Mã bản ghi", "record_id"),
        ("vaccinations", "Họ và tên", "full_name"),
        ("vaccinations", "Họ tên", "full_name"),
        ("vaccinations", "Full name", "full_name"),
        ("vaccinations", "Name", "full_name"),
        ("vaccinations", "NGÀY SINH", "date_of_birth"),
        ("vaccinations", "Ngày sinh (dd/mm/yyyy)", "date_of_birth"),
        ("vaccinations", "DOB", "date_of_birth"),
        ("vaccinations", "Date of birth", "date_of_birth"),
        ("vaccinations", "Giới tính", "gender"),
        ("vaccinations", "Sex", "gender"),
        ("vaccinations", "Gender", "gender"),
        ("vaccinations", "Số CCCD/CMND", "citizen_id"),
        ("vaccinations", "CCCD", "citizen_id"),
        ("vaccinations", "CMND/CCCD", "citizen_id"),
        ("vaccinations", "Số CMND", "citizen_id"),
        ("vaccinations", "ID number", "citizen_id"),
        ("vaccinations", "Citizen ID", "citizen_id"),
        ("vaccinations", "Số điện thoại", "phone"),
        ("vaccinations", "SĐT", "phone"),
        ("vaccinations", "Điện thoại", "phone"),
        ("vaccinations", "Phone number", "phone"),
        ("vaccinations", "Số thẻ BHYT", "health_insurance_no"),
        ("vaccinations", "Mã tỉnh", "province_code"),
        ("vaccinations", "Province code", "province_code"),
        ("vaccinations", "Mã huyện", "district_code"),
        ("vaccinations", "Mã xã", "commune_code"),
        ("vaccinations", "Địa chỉ", "address"),
        ("vaccinations", "Tên vắc xin", "vaccine"),
        ("vaccinations", "Vaccine", "vaccine"),
        ("vaccinations", "Vắc-xin", "vaccine"),
        ("vaccinations", "Loại vắc xin", "vaccine"),
        ("vaccinations", "Số lô", "lot_number"),
        ("vaccinations", "Lô vắc xin", "lot_number"),
        ("vaccinations", "Mũi số", "dose_number"),
        ("vaccinations", "Mũi tiêm", "dose_number"),
        ("vaccinations", "Mũi", "dose_number"),
        ("vaccinations", "Dose", "dose_number"),
        ("vaccinations", "Dose number", "dose_number"),
        ("vaccinations", "Ngày tiêm", "vaccinated_on"),
        ("vaccinations", "Ngày tiêm chủng", "vaccinated_on"),
        ("vaccinations", "Vaccination date", "vaccinated_on"),
        ("vaccinations", "Mã cơ sở", "facility_code"),
        ("test_results", "Mã mẫu", "sample_id"),
        ("test_results", "Sample ID", "sample_id"),
        ("test_results", "Loại xét nghiệm", "test_type"),
        ("test_results", "Test type", "test_type"),
        ("test_results", "Mẫu gộp", "pooled"),
        ("test_results", "Pooled", "pooled"),
        ("test_results", "Thời gian lấy mẫu", "sampled_at"),
        ("test_results", "Sampled at", "sampled_at"),
        ("test_results", "Kết quả", "result"),
        ("test_results", "Result", "result"),
        ("test_results", "Giá trị CT", "ct_value"),
        ("test_results", "CT value", "ct_value"),
        ("test_results", "Thời gian trả kết quả", "resulted_at"),
        ("test_results", "Resulted at", "resulted_at"),
        ("checkins", "checkin_id", "checkin_id"),
        ("checkins", "Mã địa điểm", "venue_code"),
        ("checkins", "qr_payload", "qr_payload"),
        ("venues", "venue_type", "venue_type"),
        ("venues", "Tên địa điểm", "name"),
    ],
)
def test_match_header(dataset, header, column):
    assert match_header(dataset, header) == column
    assert match_header(dataset, unicodedata.normalize("NFD", f"  {header.upper()}  ")) == column


def test_match_header_unknown():
    assert match_header("vaccinations", "Ghi chú") is None
    assert match_header("vaccinations", "sample_id") is None  # a test-results column


def test_datasets_columns_follow_the_contract():
    def names(dataset, required=None):
        return [c.name for c in DATASET_COLUMNS[dataset] if required is None or c.required == required]

    assert names("vaccinations") == [
        "record_id", "full_name", "date_of_birth", "gender", "citizen_id", "phone", "health_insurance_no",
        "province_code", "district_code", "commune_code", "address", "vaccine", "lot_number", "dose_number",
        "vaccinated_on", "facility_code",
    ]  # fmt: skip
    assert set(names("vaccinations", False)) == {
        "record_id", "phone", "health_insurance_no", "address", "facility_code"
    }  # fmt: skip
    assert set(names("test_results", False)) == {"record_id", "phone", "pooled", "ct_value", "facility_code"}
    assert "sample_id" in names("test_results", True) and "resulted_at" in names("test_results", True)
    assert names("checkins") == [
        "checkin_id", "venue_code", "scanned_at", "direction", "mode", "qr_payload", "citizen_id", "phone"
    ]  # fmt: skip
    assert names("checkins", True) == ["checkin_id", "venue_code", "scanned_at"]
    assert names("venues", True) == ["venue_code"]
    assert names("venues") == [
        "venue_code", "name", "province_code", "district_code", "commune_code", "address", "venue_type"
    ]  # fmt: skip
    for columns in DATASET_COLUMNS.values():
        keys = [(header_key(h), c.name) for c in columns for h in c.headers]
        assert len({k for k, _ in keys}) == len(set(keys))  # no spelling names two columns
        for column in columns:
            assert column.headers[0] == column.name


# ---------------------------------------------------------------------------------------------------------
# CSV: encodings, separators, quoting


def test_utf8_and_windows_1258_fixtures_read_the_same():
    utf8 = open_rows(FIXTURES / "vaccinations_utf8.csv", "vaccinations")
    cp = open_rows(FIXTURES / "vaccinations_cp1258.csv", "vaccinations")
    assert (utf8.encoding, utf8.delimiter) == ("utf-8", ",")
    assert (cp.encoding, cp.delimiter) == ("cp1258", ";")
    # the cp1258 fixture really is decomposed the Windows way
    raw = (FIXTURES / "vaccinations_cp1258.csv").read_bytes().decode("cp1258")
    assert not unicodedata.is_normalized("NFC", raw)
    assert utf8.columns == cp.columns
    assert utf8.unknown_headers == cp.unknown_headers == ("Ghi chú",)
    got_utf8, got_cp = list(utf8), list(cp)
    assert got_utf8 == got_cp
    assert [n for n, _ in got_cp] == [1, 3, 4]  # the blank row 2 is skipped but counted
    first = got_cp[0][1]
    assert first["full_name"] == "Nguyễn Thị Hòa"
    assert first["address"] == "Tổ 5; phường Phương Lâm"  # quoted separator
    assert got_cp[1][1]["address"] == "Xóm Mường, xã Dân Chủ\nHòa Bình"  # quoted newline
    assert "phone" not in got_cp[1][1]  # empty cell absent
    assert got_cp[2][1]["full_name"] == "Quách Thuỷ Tiên"
    for _, values in got_cp:
        assert_nfc(values)


def test_utf16_fixture_with_english_headers():
    stream = open_rows(FIXTURES / "test_results_utf16.csv", "test_results")
    assert (stream.format, stream.encoding, stream.delimiter) == ("csv", "utf-16", ",")
    assert stream.unknown_headers == ()
    got = list(stream)
    assert [n for n, _ in got] == [1, 2]
    assert got[0][1]["result"] == "Âm tính"
    assert got[0][1]["sampled_at"] == "10/09/2021 08:30"
    assert got[1][1]["full_name"] == "Lò Thị Mai"
    assert "ct_value" not in got[0][1] and "pooled" not in got[1][1]


def test_utf8_bom(tmp_path):
    path = write(tmp_path, "v.csv", codecs.BOM_UTF8 + f"{VACCINATION_HEADER}\n{VACCINATION_ROW}\n".encode())
    stream = open_rows(path, "vaccinations")
    assert stream.encoding == "utf-8-sig"
    assert stream.columns[0] == "full_name"  # the BOM did not stick to the first header
    assert list(stream)[0][1]["full_name"] == "Nguyễn Thị Hòa"


def test_utf16_big_endian_bom(tmp_path):
    path = write(tmp_path, "v.csv", f"{VACCINATION_HEADER}\r\n{VACCINATION_ROW}\r\n".encode("utf-16-be"))
    path.write_bytes(b"\xfe\xff" + path.read_bytes())
    stream = open_rows(path, "vaccinations")
    assert stream.encoding == "utf-16"
    assert list(stream)[0][1]["citizen_id"] == "017190001234"


def test_semicolon_separated_with_nfd_odd_headers(tmp_path):
    header = unicodedata.normalize("NFD", VACCINATION_HEADER.upper().replace(",", " ;  ").replace("/", " / "))
    path = write(tmp_path, "v.csv", f"{header}\n{VACCINATION_ROW.replace(',', ';')}\n")
    stream = open_rows(path, "vaccinations")
    assert stream.delimiter == ";"
    assert stream.unknown_headers == ()
    assert list(stream)[0][1]["vaccine"] == "AstraZeneca"


def test_delimiter_counts_outside_quotes_and_tie_goes_to_comma(tmp_path):
    header = '"Ghi chú; a; b; c",' + VACCINATION_HEADER
    path = write(tmp_path, "v.csv", f"{header}\n,{VACCINATION_ROW}\n")
    assert open_rows(path, "vaccinations").delimiter == ","
    tie = write(tmp_path, "t.csv", "venue_code,name;type\nV1,Chợ;x\n")
    stream = open_rows(tie, "venues")
    assert stream.delimiter == ","
    assert list(stream) == [(1, {"venue_code": "V1"})]


def test_excel_sep_line_is_honoured(tmp_path):
    path = write(
        tmp_path,
        "v.csv",
        f"sep=;\n{VACCINATION_HEADER.replace(',', ';')}\n{VACCINATION_ROW.replace(',', ';')}\n",
    )
    stream = open_rows(path, "vaccinations")
    assert stream.delimiter == ";" and stream.unknown_headers == ()
    [(number, values)] = list(stream)
    assert number == 1 and values["full_name"] == "Nguyễn Thị Hòa"


def test_empty_and_whitespace_cells_are_absent_values_trimmed(tmp_path):
    row = "  Nguyễn Thị Hòa  ,05/03/1990,Nữ,017190001234,   ,17,148,04789,AstraZeneca,,1,15/07/2021"
    path = write(tmp_path, "v.csv", f"{VACCINATION_HEADER}\n{row}\n")
    [(number, values)] = rows(path)
    assert number == 1
    assert values["full_name"] == "Nguyễn Thị Hòa"
    assert "phone" not in values and "lot_number" not in values
    assert "" not in values.values()


def test_row_numbering_with_blank_rows_and_header_lower_down(tmp_path):
    blank = "," * 11
    text = f"\n{blank}\n{VACCINATION_HEADER}\n{VACCINATION_ROW}\n\n{blank}\n{VACCINATION_ROW}\n  \n"
    path = write(tmp_path, "v.csv", text)
    assert [n for n, _ in rows(path)] == [1, 4]


def test_short_rows_and_rows_with_only_unknown_cells(tmp_path):
    text = f"{VACCINATION_HEADER},Ghi chú\nAn\n,,,,,,,,,,,,chỉ ghi chú\n"
    got = rows(write(tmp_path, "v.csv", text))
    assert got == [(1, {"full_name": "An"}), (2, {})]


def test_bad_byte_near_the_end_of_a_large_file_is_seen(tmp_path):
    lines = [VACCINATION_ROW.replace("Nguyễn Thị Hòa", f"Nguoi {i}") for i in range(10_000)]
    body = "\n".join(lines).replace("Nữ", "Nu").encode("ascii")
    header = VACCINATION_HEADER.encode("utf-8")
    assert len(body) > 3 * parse._CHUNK
    tail = windows_1258("\nLò Văn Hoà,1985,Nam,017085004321,,17,148,04792,Vero Cell,B2,2,2021-08-01\n")
    # the header is UTF-8 Vietnamese: cp1258 decodes it as mojibake, so use an ASCII-safe English header
    english = b"full_name,date_of_birth,gender,citizen_id,phone,province_code,district_code,commune_code,"
    english += b"vaccine,lot_number,dose_number,vaccinated_on"
    path = write(tmp_path, "v.csv", english + b"\n" + body + tail)
    stream = open_rows(path, "vaccinations")
    assert stream.encoding == "cp1258"
    last = list(stream)[-1]
    assert last[0] == 10_001 and last[1]["full_name"] == "Lò Văn Hoà"
    assert_nfc(last[1])
    # the same with a UTF-8 BOM: the BOM promised UTF-8, so no fallback
    bom = write(tmp_path, "bom.csv", codecs.BOM_UTF8 + header + b"\n" + body + tail)
    assert rejected(bom).code == "undecodable_file"
    # binary debris at the end: not text at all
    garbage = write(tmp_path, "g.csv", english + b"\n" + body + b"\n\x00\x01\x02\xff\xfe")
    error = rejected(garbage)
    assert error.code == "undecodable_file"
    assert "offset" in error.detail


def test_binary_garbage_is_undecodable(tmp_path):
    data = random.Random(7).randbytes(20_000)
    assert rejected(write(tmp_path, "g.csv", data)).code == "undecodable_file"
    assert rejected(write(tmp_path, "n.csv", b"full_name,x\nAn\x00,1\n")).code == "undecodable_file"


def test_csv_that_is_a_zip_is_unsupported(tmp_path):
    path = tmp_path / "v.csv"
    path.write_bytes((FIXTURES / "vaccinations_excel.xlsx").read_bytes())
    assert rejected(path).code == "unsupported_format"


def test_unclosed_quote_running_past_the_field_limit(tmp_path):
    text = f'{VACCINATION_HEADER}\n"An{"x" * 200_000}\n{VACCINATION_ROW}\n'
    with pytest.raises(FileRejected) as info:
        list(open_rows(write(tmp_path, "v.csv", text), "vaccinations"))
    assert info.value.code == "unsupported_format"
    assert "xxx" not in info.value.detail


# ---------------------------------------------------------------------------------------------------------
# File-level codes shared by the formats


@pytest.mark.parametrize("name", ["a.TXT", "b.pdf", "c.xls", "noext", "d.csv.gz"])
def test_unsupported_extensions(tmp_path, name):
    error = rejected(write(tmp_path, name, f"{VACCINATION_HEADER}\n{VACCINATION_ROW}\n"))
    assert error.code == "unsupported_format"


def test_uppercase_extensions_accepted(tmp_path):
    assert rows(write(tmp_path, "V.CSV", f"{VACCINATION_HEADER}\n{VACCINATION_ROW}\n"))[0][0] == 1
    upper = tmp_path / "V.XLSX"
    upper.write_bytes((FIXTURES / "vaccinations_excel.xlsx").read_bytes())
    assert open_rows(upper, "vaccinations").format == "xlsx"


@pytest.mark.parametrize("name", ["e.csv", "e.xlsx", "e.json", "e.jsonl"])
def test_zero_bytes_is_empty(tmp_path, name):
    assert rejected(write(tmp_path, name, b"")).code == "empty_file"


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("h.csv", f"{VACCINATION_HEADER}\n"),
        ("h2.csv", f"{VACCINATION_HEADER}\r\n,,,,\r\n\r\n"),
        ("blank.csv", "\n  \n\r\n"),
        ("bom.csv", "\ufeff"),
        ("e.json", "[]"),
        ("e2.json", " [ \n ] \n"),
        ("e3.json", '[{}, {"full_name": null, "phone": ""}]'),
        ("blank.json", "  \n"),
        ("e.jsonl", "\n\n  \n"),
        ("e2.jsonl", "{}\n{}\n"),
    ],
)
def test_no_data_rows_is_empty(tmp_path, name, data):
    assert rejected(write(tmp_path, name, data)).code == "empty_file"


def test_missing_required_column_is_named(tmp_path):
    header = VACCINATION_HEADER.replace("Số CCCD/CMND,", "").replace(",Ngày tiêm", "")
    error = rejected(write(tmp_path, "v.csv", f"{header}\nAn\n"))
    assert error.code == "missing_columns"
    assert "citizen_id" in error.detail and "vaccinated_on" in error.detail
    assert "full_name" not in error.detail


def test_missing_columns_detail_never_quotes_the_file(tmp_path):
    # no header row: the first row is personal data, it must not reach the operator's message
    path = write(tmp_path, "v.csv", f"{VACCINATION_ROW}\n{VACCINATION_ROW}\n")
    error = rejected(path)
    assert error.code == "missing_columns"
    for secret in ("Nguyễn", "017190001234", "0912345678"):
        assert secret not in error.detail


def test_a_column_given_twice_is_ambiguous(tmp_path):
    path = write(tmp_path, "v.csv", f"{VACCINATION_HEADER},CCCD\n{VACCINATION_ROW},017190001234\n")
    error = rejected(path)
    assert error.code == "missing_columns"
    assert "citizen_id" in error.detail and "twice" in error.detail
    assert "4" in error.detail and "13" in error.detail


def test_unknown_headers_reported_and_their_values_dropped(tmp_path):
    path = write(tmp_path, "v.csv", f"Ghi chú,{VACCINATION_HEADER},Extra\nx,{VACCINATION_ROW},y\n")
    stream = open_rows(path, "vaccinations")
    assert stream.unknown_headers == ("Ghi chú", "Extra")
    assert stream.columns[0] == "full_name"
    [(_, values)] = list(stream)
    assert "x" not in values.values() and "y" not in values.values()


def test_file_rejected_pickles_and_prints():
    error = pickle.loads(pickle.dumps(FileRejected("empty_file", "no rows")))
    assert (error.code, error.detail, str(error)) == ("empty_file", "no rows", "empty_file: no rows")


def test_deeply_nested_json_is_unsupported(tmp_path):
    deep = '{"venue_code": "V1", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    assert rejected(write(tmp_path, "v.json", f"[{deep}]"), "venues").code == "unsupported_format"
    assert rejected(write(tmp_path, "v.jsonl", deep + "\n"), "venues").code == "unsupported_format"


def test_unknown_dataset_is_a_programming_error(tmp_path):
    with pytest.raises(ValueError):
        open_rows(write(tmp_path, "v.csv", "a\n1\n"), "vaccines")


def test_stream_iterates_again_and_closes(tmp_path):
    path = write(tmp_path, "v.csv", f"{VACCINATION_HEADER}\n{VACCINATION_ROW}\n{VACCINATION_ROW}\n")
    stream = open_rows(path, "vaccinations")
    assert isinstance(stream, RowStream)
    first = list(stream)
    assert list(stream) == first and len(first) == 2
    with open_rows(path, "vaccinations") as unused:
        assert unused.columns
    unused.close()


# ---------------------------------------------------------------------------------------------------------
# XLSX


def test_xlsx_fixture_vietnamese_headers_dates_and_lost_zeros():
    stream = open_rows(FIXTURES / "vaccinations_excel.xlsx", "vaccinations")
    assert (stream.format, stream.encoding, stream.delimiter) == ("xlsx", None, None)
    assert stream.unknown_headers == ("Cột thừa",)
    assert "facility_code" in stream.columns
    got = list(stream)
    assert [n for n, _ in got] == [1, 3, 4]  # blank sheet row skipped but counted
    first = got[0][1]
    assert first["date_of_birth"] == "1990-03-05"
    assert first["vaccinated_on"] == "2021-07-15"  # midnight: a date
    assert first["citizen_id"] == "17190001234"  # the normaliser repairs the zero, not the parser
    assert first["phone"] == "912345678" and first["commune_code"] == "4789"
    assert first["dose_number"] == "1" and first["facility_code"] == "17001"
    second = got[1][1]
    assert second["full_name"] == "Bùi Văn Đức"  # trimmed
    assert second["date_of_birth"] == "1985"
    assert second["citizen_id"] == "17085004321"  # 17085004321.0: no ".0"
    assert second["dose_number"] == "2"
    assert second["vaccinated_on"] == "2021-08-01T14:05:00"
    assert "phone" not in second
    assert got[2] == (4, {})  # only the unknown column has a value


def xlsx(path: Path, sheet_rows: list[list]) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in sheet_rows:
        sheet.append(row)
    workbook.save(path)
    return path


def test_xlsx_cell_types_and_header_lower_down(tmp_path):
    header = ["Mã mẫu", "Họ tên", "Ngày sinh", "Giới", "CCCD", "Mã tỉnh", "Mã huyện", "Mã xã",
              "Loại xét nghiệm", "Mẫu gộp", "Thời gian lấy mẫu", "Kết quả", "Giá trị CT",
              "Thời gian trả kết quả"]  # fmt: skip
    data = ["HB1", unicodedata.normalize("NFD", "Hà Thị Lan"), dt.datetime(1990, 1, 2), "Nữ", 17190001234, 17,
            148, 4789, "RT-PCR", False, dt.datetime(2021, 9, 1, 8, 30, 0, 600_000), "Dương tính", 25.5,
            dt.datetime(2021, 9, 1, 23, 59, 59)]  # fmt: skip
    path = xlsx(tmp_path / "t.xlsx", [[], [None, None], header, data, [], data])
    got = rows(path, "test_results")
    assert [n for n, _ in got] == [1, 3]
    values = got[0][1]
    assert values["full_name"] == "Hà Thị Lan"  # NFD cell → NFC
    assert values["date_of_birth"] == "1990-01-02"
    assert values["pooled"] == "false"
    assert values["sampled_at"] == "2021-09-01T08:30:01"  # rounded to the second
    assert values["ct_value"] == "25.5"
    assert values["resulted_at"] == "2021-09-01T23:59:59"


def test_xlsx_only_the_first_worksheet(tmp_path):
    workbook = openpyxl.Workbook()
    workbook.active.append(["venue_code", "name"])
    workbook.active.append(["V1", "Chợ"])
    other = workbook.create_sheet("second")
    other.append(["venue_code"])
    other.append(["V2"])
    workbook.save(tmp_path / "v.xlsx")
    assert rows(tmp_path / "v.xlsx", "venues") == [(1, {"venue_code": "V1", "name": "Chợ"})]


def test_xlsx_header_only_and_empty_sheet(tmp_path):
    assert rejected(xlsx(tmp_path / "h.xlsx", [VACCINATION_HEADER.split(",")])).code == "empty_file"
    assert rejected(xlsx(tmp_path / "e.xlsx", [])).code == "empty_file"


def test_truncated_xlsx_is_undecodable(tmp_path):
    data = (FIXTURES / "vaccinations_excel.xlsx").read_bytes()
    path = write(tmp_path, "cut.xlsx", data[: len(data) // 2])
    error = rejected(path)
    assert error.code == "undecodable_file"


def test_corrupt_xlsx_member_is_undecodable_before_any_row(tmp_path):
    source = FIXTURES / "vaccinations_excel.xlsx"
    with zipfile.ZipFile(source) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data = bytearray(source.read_bytes())
    for i in range(start + 20, start + 60):  # garble the compressed sheet
        data[i] ^= 0x5A
    assert rejected(write(tmp_path, "bad.xlsx", bytes(data))).code == "undecodable_file"


def test_xlsx_that_is_not_a_zip_is_unsupported(tmp_path):
    error = rejected(write(tmp_path, "v.xlsx", f"{VACCINATION_HEADER}\n{VACCINATION_ROW}\n"))
    assert error.code == "unsupported_format"
    ole2 = write(tmp_path, "old.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    assert rejected(ole2).code == "unsupported_format"


@pytest.fixture(scope="module")
def zip_bomb(tmp_path_factory) -> Path:
    """A real workbook whose sheet XML expands to 300 MiB of one letter, compressed to well under 1 MB."""
    source = FIXTURES / "vaccinations_excel.xlsx"
    path = tmp_path_factory.mktemp("bomb") / "bomb.xlsx"
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bomb:
        for info in original.infolist():
            if info.filename != "xl/worksheets/sheet1.xml":
                bomb.writestr(info.filename, original.read(info))
                continue
            with bomb.open(info.filename, "w", force_zip64=True) as sheet:
                sheet.write(b'<worksheet><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>')
                chunk = b"A" * (1 << 20)
                for _ in range(300):
                    sheet.write(chunk)
                sheet.write(b"</t></is></c></row></sheetData></worksheet>")
    assert path.stat().st_size < 1_000_000
    return path


def test_xlsx_zip_bomb_is_refused_without_reading_it(zip_bomb, monkeypatch):
    def must_not_be_called(*args, **kwargs):
        raise AssertionError("openpyxl opened the zip bomb")

    monkeypatch.setattr(openpyxl, "load_workbook", must_not_be_called)
    monkeypatch.setattr(zipfile.ZipFile, "open", must_not_be_called)
    started = time.perf_counter()
    error = rejected(zip_bomb, max_expanded_bytes=100 * 1024 * 1024)
    assert time.perf_counter() - started < 0.5
    assert error.code == "file_too_large"
    assert str(100 * 1024 * 1024) in error.detail


def test_xlsx_expanded_limit_from_the_environment(zip_bomb, monkeypatch, tmp_path):
    monkeypatch.setenv("COVIDSYNC_MAX_XLSX_EXPANDED_BYTES", str(200 * 1024 * 1024))
    assert rejected(zip_bomb).code == "file_too_large"
    monkeypatch.setenv("COVIDSYNC_MAX_XLSX_EXPANDED_BYTES", "1000")
    assert rejected(FIXTURES / "vaccinations_excel.xlsx").code == "file_too_large"
    monkeypatch.delenv("COVIDSYNC_MAX_XLSX_EXPANDED_BYTES")
    assert parse._max_expanded_default() == 512 * 1024 * 1024
    assert rows(FIXTURES / "vaccinations_excel.xlsx", "vaccinations", max_expanded_bytes=10**6)


# ---------------------------------------------------------------------------------------------------------
# JSON and JSONL


def test_jsonl_fixture_line_numbers_and_values():
    stream = open_rows(FIXTURES / "checkins.jsonl", "checkins")
    assert (stream.format, stream.encoding, stream.delimiter) == ("jsonl", None, None)
    assert stream.unknown_headers == ("extra",)
    got = list(stream)
    assert [n for n, _ in got] == [1, 3, 4]  # line 2 is blank
    assert got[0][1]["qr_payload"].split("|")[1] == "Nguyễn Thị Hòa"
    assert got[1][1] == {
        "checkin_id": "C2", "venue_code": "V001", "scanned_at": "2021-10-01T08:05:00+07:00",
        "phone": "912345678",
    }  # fmt: skip


def test_json_fixture_keys_matched_like_headers():
    stream = open_rows(FIXTURES / "venues.json", "venues")
    assert stream.format == "json"
    assert stream.columns == (
        "venue_code", "name", "province_code", "district_code", "commune_code", "venue_type", "address"
    )  # fmt: skip
    got = list(stream)
    assert got[0][1]["province_code"] == "17"
    assert got[1] == (2, {"venue_code": "V002", "name": "Bến xe Hòa Bình", "address": "Phường Đồng Tiến"})


def test_large_multiline_json_array(tmp_path):
    records = [
        {"venue_code": f"V{i:05d}", "name": f"Điểm {i}", "venue_type": None, "lat": 20.8 + i / 1e5, "n": 7.0}
        for i in range(20_000)
    ]
    records[5000] = {}  # an empty object: skipped but counted
    records[12_345]["address"] = "Đường Cù Chính Lan " * 40_000  # one object larger than a read chunk
    path = tmp_path / "v.json"
    path.write_text(json.dumps(records, ensure_ascii=False, indent=4), encoding="utf-8")
    assert path.stat().st_size > 5 * parse._CHUNK
    got = list(open_rows(path, "venues"))
    assert len(got) == 19_999
    assert got[0] == (1, {"venue_code": "V00000", "name": "Điểm 0"})
    numbers = [n for n, _ in got]
    assert numbers[:3] == [1, 2, 3] and 5001 not in numbers and numbers[-1] == 20_000
    by_number = dict(got)
    assert by_number[12_346]["address"].startswith("Đường Cù Chính Lan Đường")
    assert by_number[20_000] == {"venue_code": "V19999", "name": "Điểm 19999"}


def test_json_value_conversion(tmp_path):
    obj = {
        "checkin_id": 12.0,
        "venue_code": 7,
        "scanned_at": unicodedata.normalize("NFD", " 01/10/2021 09:00 "),
        "direction": None,
        "mode": "",
        "qr_payload": {"raw": "Hòa", "n": [1, 2]},
        "citizen_id": [],
        "phone": 0.5,
        "ok": True,
    }
    path = write(tmp_path, "c.json", json.dumps([obj], ensure_ascii=False))
    assert rows(path, "checkins") == [
        (1, {"checkin_id": "12", "venue_code": "7", "scanned_at": "01/10/2021 09:00",
             "qr_payload": '{"raw":"Hòa","n":[1,2]}', "phone": "0.5"})
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ('{"venue_code": "V1"}', "unsupported_format"),  # top level is an object
        ('"V1"', "unsupported_format"),
        ('[{"venue_code": "V1"}, 3]', "unsupported_format"),  # an element is not an object
        ('[{"venue_code": "V1"}, null]', "unsupported_format"),
        ('[{"venue_code": "V1"}', "unsupported_format"),  # truncated
        ('[{"venue_code": "V1"', "unsupported_format"),
        ('[{"venue_code": "V1"}] x', "unsupported_format"),  # trailing text
        ('[{"venue_code": "V1"} {"venue_code": "V2"}]', "unsupported_format"),  # missing comma
        ('[{"venue_code": V1}]', "unsupported_format"),  # syntax
        ('[{"name": "Chợ"}]', "missing_columns"),
    ],
)
def test_json_shape_errors(tmp_path, data, code):
    assert rejected(write(tmp_path, "v.json", data), "venues").code == code


def test_json_error_at_the_end_of_a_large_file_is_found_before_any_row(tmp_path):
    body = ",\n".join(json.dumps({"venue_code": f"V{i}", "name": "Chợ Phương Lâm"}) for i in range(30_000))
    path = write(tmp_path, "v.json", "[" + body + ',\n{"venue_code": "V-last", "name": }]')
    assert path.stat().st_size > 3 * parse._CHUNK
    assert rejected(path, "venues").code == "unsupported_format"
    latin = write(tmp_path, "l.json", ("[" + body).encode() + b',\n{"venue_code": "H\xf2a"}]')
    assert rejected(latin, "venues").code == "undecodable_file"


def test_json_two_keys_for_one_column_in_one_object(tmp_path):
    data = '[{"venue_code": "V1", "Mã địa điểm": "V1"}]'
    error = rejected(write(tmp_path, "v.json", data), "venues")
    assert error.code == "missing_columns" and "venue_code" in error.detail
    # different objects may spell a key differently
    ok = write(tmp_path, "ok.json", '[{"venue_code": "V1"}, {"Mã địa điểm": "V2"}]')
    assert rows(ok, "venues") == [(1, {"venue_code": "V1"}), (2, {"venue_code": "V2"})]


@pytest.mark.parametrize("line", ["[1, 2]", '"V1"', '{"venue_code": ', "null"])
def test_jsonl_line_that_is_not_an_object(tmp_path, line):
    path = write(tmp_path, "v.jsonl", '{"venue_code": "V1"}\n' + line + "\n")
    assert rejected(path, "venues").code == "unsupported_format"


def test_jsonl_with_bom_and_crlf(tmp_path):
    path = write(tmp_path, "v.jsonl", '\ufeff{"venue_code": "V1"}\r\n\r\n{"venue_code": "V2"}')
    assert rows(path, "venues") == [(1, {"venue_code": "V1"}), (3, {"venue_code": "V2"})]


# ---------------------------------------------------------------------------------------------------------
# Streaming: memory stays flat


def big_csv(path: Path, count: int) -> Path:
    row = (
        "Nguyễn Thị Hòa {i},05/03/1990,Nữ,0171900{i:05d},0912345678,17,148,04789,"
        "AstraZeneca,NJ0342,1,15/07/2021\n"
    )
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(VACCINATION_HEADER + "\n")
        buffer = io.StringIO()
        for i in range(count):
            buffer.write(row.format(i=i % 100_000))
            if i % 10_000 == 9_999:
                handle.write(buffer.getvalue())
                buffer = io.StringIO()
        handle.write(buffer.getvalue())
    return path


def test_memory_stays_flat_for_a_200k_row_csv(tmp_path):
    path = big_csv(tmp_path / "big.csv", 200_000)
    assert path.stat().st_size > 20_000_000
    tracemalloc.start()
    try:
        count = 0
        last = None
        for number, values in open_rows(path, "vaccinations"):
            count += 1
            last = (number, values)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 200_000 and last[0] == 200_000
    assert peak < 4 * 1024 * 1024, f"peak traced memory {peak} bytes"


# -- issue 17, item 5: decoding is all or nothing ------------------------------------------------------------
ENGLISH_HEADER = (
    "full_name,date_of_birth,gender,citizen_id,phone,province_code,district_code,commune_code,"
    "vaccine,lot_number,dose_number,vaccinated_on"
)


def test_a_utf8_file_with_one_stray_byte_is_undecodable_not_windows_1258(tmp_path):
    # English headers, Vietnamese names in UTF-8, one stray byte: it decodes as Windows-1258, as mojibake
    body = "\n".join(
        f"{name},1990,Nam,0170900{i:05d},,17,148,04789,Vero Cell,B1,1,2021-10-01"
        for i, name in enumerate(["Nguyễn Văn An", "Trần Thị Hòa", "Phạm Văn Hùng"])
    )
    data = (ENGLISH_HEADER + "\n" + body + "\n").encode("utf-8")
    stray = data.replace(b"Nam,0170900", b"Nam\xff,0170900", 1)
    error = rejected(write(tmp_path, "v.csv", stray))
    assert error.code == "undecodable_file"
    assert "UTF-8" in error.detail and "Windows-1258" in error.detail
    assert "Nguy" not in error.detail, "no content quoted"
    # the very same file without the stray byte is read as UTF-8
    assert [v["full_name"] for _, v in rows(write(tmp_path, "ok.csv", data))][0] == "Nguyễn Văn An"


def test_mojibake_straddling_the_strict_pass_chunks_is_seen(tmp_path):
    pad = "x" * (parse._CHUNK - len(ENGLISH_HEADER) - 2)
    text = ENGLISH_HEADER + "\n" + pad + "ệ,1990,Nam,017090000001,,17,148,04789,Vero Cell,B1,1,2021-10-01\n"
    data = text.encode("utf-8")
    at = data.index("ệ".encode())
    assert at < parse._CHUNK < at + 3, "the UTF-8 bytes of ệ cross the first chunk's end"
    error = rejected(write(tmp_path, "v.csv", data + b"\xff\n"))
    assert error.code == "undecodable_file"


def test_a_true_windows_1258_file_with_english_headers_still_reads(tmp_path):
    body = windows_1258("Lò Văn Hoà,1985,Nam,017085004321,,17,148,04792,Vero Cell,B2,2,2021-08-01\n")
    stream = open_rows(write(tmp_path, "v.csv", ENGLISH_HEADER.encode() + b"\n" + body), "vaccinations")
    assert stream.encoding == "cp1258"
    assert [v["full_name"] for _, v in stream] == ["Lò Văn Hoà"]


# -- issue 17, item 7: XLSX shared strings held compactly, spilled past a budget ---------------------------
def _with_shared_strings(path: Path) -> Path:
    """openpyxl writes inline strings; Excel writes a shared-strings table: move every inline string of the
    first sheet into one (rich text runs kept), as Excel would have written the workbook."""
    import re

    with zipfile.ZipFile(path) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    table: list[str] = []

    def shared(match: re.Match) -> str:
        table.append(match.group(3))
        return f'<c {match.group(1)}t="s"{match.group(2)}><v>{len(table) - 1}</v></c>'

    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    parts["xl/worksheets/sheet1.xml"] = re.sub(
        r'<c ([^>]*)t="inlineStr"([^>]*)><is>(.*?)</is></c>', shared, sheet
    ).encode()
    ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    parts["xl/sharedStrings.xml"] = (
        f'<sst xmlns="{ns}" count="{len(table)}">' + "".join(f"<si>{t}</si>" for t in table) + "</sst>"
    ).encode()
    kind = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
        b"</Types>", f'<Override PartName="/xl/sharedStrings.xml" ContentType="{kind}" /></Types>'.encode()
    )
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"
    parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
        b"</Relationships>",
        f'<Relationship Id="rIdSst" Type="{rel}" Target="sharedStrings.xml" /></Relationships>'.encode(),
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in parts.items():
            target.writestr(name, data)
    return path


def _unique_strings_workbook(path: Path, rows: int) -> Path:
    workbook = openpyxl.Workbook()  # not write_only: that one writes inline strings, no shared table
    sheet = workbook.active
    sheet.append(VACCINATION_HEADER.split(","))
    for n in range(rows):  # every text unique, as ids, names and phones are in a real file
        sheet.append(
            [
                f"Nguyễn Thị Hòa {n:06d}",
                dt.date(1990, 3, 5),
                "Nữ",
                f"0171900{n:05d}",
                f"09{n:08d}",
                "17",
                "148",
                "04789",
                "AstraZeneca",
                f"NJ{n:06d}",
                1,
                dt.date(2021, 7, 15),
            ]
        )
    workbook.save(path)
    return _with_shared_strings(path)


def test_xlsx_shared_strings_spilled_read_the_same(tmp_path, monkeypatch):
    path = _unique_strings_workbook(tmp_path / "v.xlsx", 800)  # 3,200 unique strings
    monkeypatch.setenv("COVIDSYNC_XLSX_STRINGS_MEMORY", str(64 * 1024 * 1024))
    in_memory = rows(path)
    monkeypatch.setenv("COVIDSYNC_XLSX_STRINGS_MEMORY", "4096")
    workbook, strings = parse._load_workbook(path)
    try:
        assert strings._file is not None and len(strings._memory) == 0, "past the budget: in a temporary file"
        assert len(strings) == 800 * 9 + 12, "the header's 12 texts and 9 a row"
    finally:
        workbook.close()
        strings.close()
    spilled = rows(path)
    assert spilled == in_memory and len(spilled) == 800
    assert (
        spilled[0][1]["full_name"] == "Nguyễn Thị Hòa 000000"
        and spilled[0][1]["citizen_id"] == "017190000000"
    )
    assert spilled[-1][0] == 800 and spilled[-1][1]["vaccinated_on"] == "2021-07-15"


def test_xlsx_rich_text_and_escapes_in_shared_strings_read_as_openpyxl_reads_them(tmp_path):
    from openpyxl.cell.rich_text import CellRichText, TextBlock
    from openpyxl.cell.text import InlineFont

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(VACCINATION_HEADER.split(","))
    row = VACCINATION_ROW.split(",")
    row[0] = CellRichText("Nguyễn ", TextBlock(InlineFont(b=True), "Thị Hòa"))
    row[9] = "NJ_x005F_0342"
    sheet.append(row)
    path = tmp_path / "rich.xlsx"
    workbook.save(path)
    _with_shared_strings(path)
    old = openpyxl.load_workbook(path, read_only=True, data_only=True)  # the reader before issue 17
    lot = list(old.worksheets[0].iter_rows(values_only=True))[1][9]
    old.close()
    got = rows(path)
    assert got[0][1]["full_name"] == "Nguyễn Thị Hòa" and got[0][1]["lot_number"] == lot
    strings = parse._SharedStrings(budget=0)
    for text in ("a", "", "Đức", "x" * 10):
        strings._append(text)
    assert [strings[i] for i in range(4)] == ["a", "", "Đức", "x" * 10] and strings[-1] == "x" * 10
    with pytest.raises(IndexError):
        strings[4]
    strings.close()
