"""The check-in COPY reader (PostgreSQL reads the CSV, Python only once per distinct value) stages exactly
what the Python reader stages, and hands the files it cannot read exactly to the Python reader."""

from __future__ import annotations

import codecs
import csv
import unicodedata
from pathlib import Path

import psycopg2
import pytest

from covidsync.ingest import checkins, parse
from covidsync.sample.generator import Options, generate_only

HEADER = ["checkin_id", "venue_code", "scanned_at", "direction", "mode", "qr_payload", "citizen_id", "phone"]
CARD = "017190001234|123456789|Bùi Văn Nam|05031990|Nam|Xóm Mít, Hòa Bình|15072021"
CARD_NFD = unicodedata.normalize("NFD", "017185004321||Nguyễn Thị Hòa|01021985|Nữ|Phương Lâm|01032021")
PERSONAL = "017090001111|BUI XUAN QUAN|1990-06-23|0|183471582224943384|<1<HS4010120878821<0398474790"
MASKED = "******907442|HOANG THI KIM HOA|2003-**-**|0|339395218978978988|<2<<0945376247"
PERSONAL_CMND = "012345678|LE VAN BA|1970-01-02|1|555000111222333444|<1<<"
WRONG_FIELDS = "017190001234|Bùi Văn Nam|05031990|Nam|Xóm Mít|15072021"
ROWS = [
    ["C01", "V001", "2021-11-02T08:00:00+07:00", "in", "operator_scan", CARD, "", ""],
    ["C02", "V001", "2021-11-02T17:30:00Z", "in", "operator_scan", CARD_NFD, "", ""],
    ["C03", "V002", "02/11/2021 09:15", "out", "self_scan", PERSONAL, "", ""],
    ["C04", "V002", "2021-11-02 10:00", "", "self_scan", MASKED, "", "0945376247"],
    ["C05", "V002", "2021-11-02T10:05:00+07:00", "in", "self_scan", MASKED, "017203009999", ""],
    ["C06", "V001", "2021-11-02T11:00:00+07:00", "vào", "self", PERSONAL_CMND, "", ""],
    ["C07", "V001", "2021-11-02T11:30:00+07:00", "in", "operator_scan", "", "", "01695678945"],
    ["C08", "V001", "2021-11-02T12:00:00+07:00", "in", "operator_scan", "", "123456780", ""],
    ["C09", "V001", "2021-11-02T12:30:00+07:00", "in", "operator_scan", WRONG_FIELDS, "", "0912345678"],
    ["C10", "V999", "2021-11-02T13:00:00+07:00", "in", "operator_scan", CARD, "", ""],
    ["C11", "V001", "2021-11-02T13:30:00+07:00", "in", "operator_scan", "", "", "02183855555"],
    # padded cells, a repaired citizen_id (spaces, 11 digits lost a zero), +84 phone, an unreadable time
    [
        "  C12 ",
        " V001",
        " 2021-11-02T14:00:00+07:00 ",
        " IN ",
        "Operator",
        "",
        " 17190001234 ",
        "+84 912 345 678",
    ],
    ["C13", "V001", "2021-11-02T24:00:00+07:00", "in", "", PERSONAL, "", ""],  # hour 24: Python reads it
    ["C18", "V001", "2021-11-02T23:59:60+07:00", "in", "", PERSONAL, "", ""],  # second 60: Python too
    ["C14", "V001", "not a time", "in", "", "", "abc", "12"],
    ["", "", "", "", "", "", "", ""],  # blank: skipped, its number kept by the others
    ["C15", "", "2021-11-02T25:00:00+07:00", "in", "", "   ", "", ""],
    ["C16", "V001", "2021-11-02T14:00:00+15:00", "in", "", "garbage", "", ""],
    ["C01", "V001", "1899-11-02T14:00:00+07:00", "in", "", MASKED, "", ""],  # repeated id, odd year
    ["C17", "V002", "2021-11-02T23:59:59-01:30", "out", "operator_scan", PERSONAL.lower(), "", ""],
]


def write(path: Path, rows, *, header=HEADER, delimiter=",", encoding="utf-8", newline="\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding=encoding, newline="") as fh:
        out = csv.writer(fh, delimiter=delimiter, lineterminator=newline)
        out.writerow(header)
        out.writerows(rows)
    return path


def staged(conn, file_id: int):
    with conn.cursor() as cur:
        cur.execute(
            "select row_number, checkin_id, venue_code, scanned_at_text, scanned_at, direction_text, mode_text,"
            " qr_payload, qr_kind, citizen_id_text, citizen_id, phone_text, phone, person_kind, identifier"
            " from staging.checkin where file_id = %s order by row_number",
            (file_id,),
        )
        rows = cur.fetchall()
        cur.execute(
            "select distinct person_kind, identifier, source, citizen_id, cmnd, qid, phone, full_name,"
            " date_of_birth, birth_year, gender from staging.checkin_identity where file_id = %s order by 1, 2, 3, 8",
            (file_id,),
        )
        return rows, cur.fetchall()


def both_readers(conn, path: Path):
    """(COPY reader's staging, Python reader's staging); the COPY reader must have taken the file."""
    plan = parse.copy_plan(path, "checkins")
    assert plan is not None, "the COPY reader should take this file"
    with conn:
        assert checkins.stage_checkins_copy(conn, 1, path, plan) is not None
    with conn:
        checkins.stage_checkins(conn, 2, parse.open_rows(path, "checkins"))
    return staged(conn, 1), staged(conn, 2)


@pytest.fixture
def conn(warehouse_url):
    connection = psycopg2.connect(warehouse_url)
    yield connection
    connection.close()


def test_copy_reader_stages_what_the_python_reader_stages(conn, tmp_path):
    copy, python = both_readers(conn, write(tmp_path / "c.csv", ROWS))
    assert copy == python
    rows, identities = copy
    blank = 1 + ROWS.index([""] * 8)
    assert len(rows) == len(ROWS) - 1 and blank not in [r[0] for r in rows]  # the blank row
    assert rows[1][7] == unicodedata.normalize("NFC", CARD_NFD)  # NFC
    assert rows[11][1:3] == ("C12", "V001") and rows[11][10] == "017190001234"  # trimmed, repaired
    assert identities  # the payloads' facts are there


def test_a_time_in_the_exported_form_that_is_no_date_sends_the_times_to_python(conn, tmp_path):
    rows = [*ROWS, ["C19", "V001", "2021-02-30T14:00:00+07:00", "in", "", PERSONAL, "", ""]]
    copy, python = both_readers(conn, write(tmp_path / "c.csv", rows))
    assert copy == python
    assert copy[0][-1][3:5] == ("2021-02-30T14:00:00+07:00", None)  # unreadable: kept as sent


@pytest.mark.parametrize(
    "variant",
    [
        {"delimiter": ";"},
        {"newline": "\r\n"},
        {"encoding": "utf-8-sig"},
        {
            "header": [
                "Mã check-in",
                "Mã địa điểm",
                "Thời gian quét",
                "Chiều",
                "Cách quét",
                "Mã QR",
                "Số CCCD",
                "Số điện thoại",
            ]
        },
    ],
    ids=["semicolon", "crlf", "bom", "vietnamese-headers"],
)
def test_copy_reader_takes_the_usual_variants_of_a_csv(conn, tmp_path, variant):
    header = variant.pop("header", HEADER)
    if header is not HEADER and any(parse.match_header("checkins", h) is None for h in header):
        header = HEADER  # the aliases this contract knows are exercised by the parser's own tests
    copy, python = both_readers(conn, write(tmp_path / "c.csv", ROWS, header=header, **variant))
    assert copy == python


def test_copy_reader_with_unknown_and_missing_columns(conn, tmp_path):
    header = ["note", "checkin_id", "venue_code", "scanned_at", "qr_payload", ""]  # no direction/mode/ids
    rows = [["x", r[0], r[1], r[2], r[5], "y"] for r in ROWS]
    rows.append(["only a note", "", "", "", "", ""])  # not blank: staged with nothing known
    copy, python = both_readers(conn, write(tmp_path / "c.csv", rows, header=header))
    assert copy == python
    assert copy[0][-1][1:3] == (None, None)


def test_copy_reader_on_the_generated_sample_with_its_defects(conn, tmp_path):
    generate_only(Options(out=tmp_path / "gen", seed=3, only="checkins", rows=3000, format="csv"))
    (path,) = (tmp_path / "gen" / "landing" / "pccovid" / "checkins").glob("*.csv")
    copy, python = both_readers(conn, path)
    assert copy == python and len(copy[0]) >= 3000


@pytest.mark.parametrize(
    "content",
    [
        'checkin_id,venue_code,scanned_at,qr_payload\nC1,V001,2021-11-02T08:00:00+07:00,ab"cd\n',  # quote mid-cell
        "checkin_id,venue_code,scanned_at,qr_payload\nC1,V001,2021-11-02T08:00:00+07:00,x\n\nC2,V1,t,y\n",  # blank
        "checkin_id,venue_code,scanned_at,qr_payload\nC1,V001,2021-11-02T08:00:00+07:00\n",  # a cell short
        "checkin_id,venue_code,scanned_at,qr_payload\nC1,V001,2021-11-02T08:00:00+07:00,x,extra\n",  # one more
        "checkin_id,venue_code,scanned_at,qr_payload\nC1\u00a0,V001,2021-11-02T08:00:00+07:00,x\n",  # NBSP
        "checkin_id,venue_code,scanned_at,qr_payload\nC1,V001,2021-11-02T08:00:00+07:00,\u200bx\n",  # zero width
        'checkin_id,venue_code,scanned_at,qr_payload\nC1,V001,2021-11-02T08:00:00+07:00,"never closed\n',
        "checkin_id,venue_code,scanned_at,qr_payload\r\nC1,V001,2021-11-02T08:00:00+07:00,x\nC2,V1,t,y\r\n",
    ],
    ids=["mid-quote", "blank-line", "short-row", "long-row", "nbsp", "zero-width", "open-quote", "mixed-eol"],
)
def test_files_the_copy_reader_cannot_read_exactly_go_to_the_python_reader(conn, tmp_path, content):
    path = tmp_path / "c.csv"
    path.write_text(content, encoding="utf-8", newline="")
    plan = parse.copy_plan(path, "checkins")
    with conn:
        taken = checkins.stage_checkins_copy(conn, 1, path, plan) if plan is not None else None
    assert taken is None
    with conn.cursor() as cur:
        cur.execute("select count(*) from staging.checkin")
        assert cur.fetchone() == (0,)  # nothing half-staged


@pytest.mark.parametrize(
    ("content", "encoding"),
    [
        (
            "sep=;\ncheckin_id;venue_code;scanned_at;qr_payload\nC1;V001;2021-11-02T08:00:00+07:00;x\n",
            "utf-8",
        ),
        ("\ncheckin_id,venue_code,scanned_at,qr_payload\nC1,V001,2021-11-02T08:00:00+07:00,x\n", "utf-8"),
        (
            "checkin_id,venue_code,scanned_at,qr_payload\nC1,V001,2021-11-02T08:00:00+07:00,\u0111\u00ea\n",
            "cp1258",
        ),
        ("checkin_id,venue_code,scanned_at,qr_payload\nC1,V001,2021-11-02T08:00:00+07:00,x\n", "utf-16"),
    ],
    ids=["sep-line", "blank-first-line", "windows-1258", "utf-16"],
)
def test_files_not_planned_for_copy(tmp_path, content, encoding):
    path = tmp_path / "c.csv"
    path.write_bytes(content.encode(encoding))
    assert parse.copy_plan(path, "checkins") is None
    assert list(parse.open_rows(path, "checkins"))  # the Python reader reads them


def test_copy_plan_refuses_files_as_the_python_reader_does(tmp_path):
    for content, code in [
        (b"checkin_id,scanned_at\nC1,2021-11-02T08:00:00+07:00\n", "missing_columns"),
        (b"PK\x03\x04 not a csv", "unsupported_format"),
        (b"checkin_id,venue_code,scanned_at,qr_payload\nC1,V\xff\xfe\x00,x,y\n", "undecodable_file"),
    ]:
        path = tmp_path / "c.csv"
        path.write_bytes(content)
        with pytest.raises(parse.FileRejected) as copy_error:
            parse.copy_plan(path, "checkins")
        with pytest.raises(parse.FileRejected) as python_error:
            parse.open_rows(path, "checkins")
        assert copy_error.value.code == python_error.value.code == code
        assert str(copy_error.value) == str(python_error.value)


def test_a_header_only_file_is_empty_in_the_python_readers_words(conn, tmp_path):
    path = tmp_path / "c.csv"
    path.write_text(",".join(HEADER) + "\n", encoding="utf-8")
    plan = parse.copy_plan(path, "checkins")
    with conn:
        assert checkins.stage_checkins_copy(conn, 1, path, plan) is None
    with pytest.raises(parse.FileRejected) as error:
        parse.open_rows(path, "checkins")
    assert error.value.code == "empty_file"


def test_the_copy_stream_gives_nfc_whole_lines_and_drops_the_bom(tmp_path):
    path = tmp_path / "c.csv"
    line = unicodedata.normalize("NFD", "Hòa,Nguyễn\n")
    path.write_bytes(codecs.BOM_UTF8 + (line * 200_000).encode("utf-8"))
    stream = parse.CopyStream(path)
    try:
        out = b"".join(iter(lambda: stream.read(8192), b""))
    finally:
        stream.close()
    assert out == (unicodedata.normalize("NFC", line) * 200_000).encode("utf-8")


def test_the_stage_sql_trims_what_copy_trim_says(conn):
    with conn.cursor() as cur:
        cur.execute(r"select e' \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f'")
        assert cur.fetchone()[0] == parse.COPY_TRIM
    assert sorted(parse.COPY_TRIM) == [chr(c) for c in range(128) if chr(c).strip() == ""]
    text = (Path(__file__).parents[2] / "sql" / "ingest" / "checkin_copy_stage.sql").read_text(
        encoding="utf-8"
    )
    assert text.count(r"e' \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f'") == 4
