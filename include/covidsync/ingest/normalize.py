"""Turn parsed rows into staging rows: the one step per row that needs Python.

Each raw value (canonical column -> NFC text, from :mod:`covidsync.ingest.parse`) is read into its typed
form with the shared domain rules (day-first dates and Excel serials, CCCD and leading-zero repair,
the 2018 phone prefixes, vaccine spellings, Vietnamese and English words for tests and results). A value
that cannot be read becomes ``NULL`` beside the raw text, and the row rules in SQL
(``sql/ingest/*_row_problem.sql``) decide the contract codes as sets: "present in raw but null when
typed" is how a rule tells an unreadable value from a missing one. Nothing here decides a code.

Rows are written to staging with ``COPY`` in chunks, so memory stays flat whatever the file size.
"""

from __future__ import annotations

import csv
import functools
import io
import json
from collections.abc import Callable, Iterable, Iterator

from covidsync.domain import admin, dates, phone, text, vaccines
from covidsync.domain.cccd import repair_citizen_id

CHUNK_ROWS = 20_000

TEST_TYPES = {
    "rt-pcr": "RT-PCR",
    "rtpcr": "RT-PCR",
    "pcr": "RT-PCR",
    "realtime rt-pcr": "RT-PCR",
    "real-time rt-pcr": "RT-PCR",
    "antigen": "antigen",
    "test nhanh": "antigen",
    "test nhanh khang nguyen": "antigen",
    "khang nguyen": "antigen",
    "rapid antigen": "antigen",
}
RESULTS = {
    "duong tinh": "positive",
    "am tinh": "negative",
    "khong xac dinh": "invalid",
    "positive": "positive",
    "negative": "negative",
    "invalid": "invalid",
}
YES_NO = {
    "co": True,
    "yes": True,
    "true": True,
    "1": True,
    "khong": False,
    "no": False,
    "false": False,
    "0": False,
}

# Venue types (adoption.md §1): the contract's eight, from their English and Vietnamese words (keys as
# covidsync.domain.text.name_key gives them: no accents, lower case). A word not here is read as "other".
VENUE_TYPES = {
    **dict.fromkeys(
        (
            "agency",
            "government agency",
            "state agency",
            "co quan",
            "co quan nha nuoc",
            "co quan hanh chinh",
            "co quan dang",
            "doan the",
            "to chuc doan the",
            "ubnd",
            "uy ban nhan dan",
        ),
        "agency",
    ),
    **dict.fromkeys(
        (
            "business",
            "company",
            "office",
            "shop",
            "store",
            "restaurant",
            "cafe",
            "bank",
            "factory",
            "doanh nghiep",
            "cong ty",
            "van phong",
            "co so kinh doanh",
            "cua hang",
            "nha hang",
            "quan ca phe",
            "ngan hang",
            "nha may",
        ),
        "business",
    ),
    **dict.fromkeys(("school", "truong", "truong hoc", "co so giao duc"), "school"),
    **dict.fromkeys(
        ("market", "supermarket", "cho", "sieu thi", "trung tam thuong mai", "shopping centre", "mall"),
        "market",
    ),
    **dict.fromkeys(
        (
            "health_facility",
            "health facility",
            "hospital",
            "clinic",
            "pharmacy",
            "co so y te",
            "benh vien",
            "tram y te",
            "phong kham",
            "nha thuoc",
        ),
        "health_facility",
    ),
    **dict.fromkeys(
        (
            "transport",
            "bus_station",
            "bus station",
            "train station",
            "giao thong",
            "van tai",
            "phuong tien van tai",
            "phuong tien giao thong",
            "ben xe",
            "nha ga",
            "ga tau",
        ),
        "transport",
    ),
    **dict.fromkeys(
        (
            "checkpoint",
            "quarantine checkpoint",
            "chot",
            "chot kiem dich",
            "chot kiem soat",
            "chot kiem soat dich",
            "chot kiem soat dich benh",
        ),
        "checkpoint",
    ),
    **dict.fromkeys(("other", "khac"), "other"),
}

_INT32 = 2**31 - 1
# Codes, dates and vaccine names repeat across the rows of a file (151 communes, a few hundred days), so
# their readers are memoised: pure functions of the text, bounded caches (memory stays flat).
_memo = functools.lru_cache(maxsize=1 << 15)


def as_int(value: str | None) -> int | None:
    """Whole numbers only ("2", "2.0" from a spreadsheet); anything else is unreadable."""
    if value is None:
        return None
    s = value.strip()
    if s.endswith(".0"):
        s = s[:-2]
    if s.isascii() and s.lstrip("-").isdigit():
        number = int(s)
        return number if abs(number) <= _INT32 else None
    return None


def as_float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip().replace(",", "."))
    except ValueError:
        return None
    return number if number == number and abs(number) < 1e9 else None  # no NaN or absurd values


@_memo
def _digits(value: str | None, length: int) -> str | None:
    """An administrative or facility code, left-padded to its length; None unless that many digits."""
    if value is None:
        return None
    padded = admin.pad_code(value, length)
    return padded if len(padded) == length and padded.isascii() and padded.isdigit() else None


def _citizen_id(value: str | None) -> str | None:
    if value is None:
        return None
    repaired = repair_citizen_id(value)
    return repaired if repaired.isascii() and repaired.isdigit() else None


@_memo
def _date(value: str | None):
    if value is None:
        return None
    try:
        return dates.parse_date(value)
    except ValueError:
        return None


def _datetime(value: str | None):
    if value is None:
        return None
    try:
        return dates.parse_datetime(value)
    except ValueError:
        return None


@_memo
def _birth(value: str | None):
    if value is None:
        return None, None
    try:
        return dates.parse_birth_date(value)
    except ValueError:
        return None, None


@_memo
def _vaccine(value: str | None) -> str | None:
    return vaccines.canonical_vaccine(value)


def _word(table: dict[str, object], value: str | None):
    return None if value is None else table.get(text.name_key(value))


def _person(v: dict[str, str]) -> list:
    dob, year_only = _birth(v.get("date_of_birth"))
    return [
        v.get("full_name"),
        dob,
        year_only,
        text.normalize_gender(v.get("gender")),
        _citizen_id(v.get("citizen_id")),
        phone.normalize_phone(v.get("phone")),
    ]


def _admin(v: dict[str, str]) -> list:
    return [
        _digits(v.get("province_code"), 2),
        _digits(v.get("district_code"), 3),
        _digits(v.get("commune_code"), 5),
    ]


def vaccination_row(v: dict[str, str]) -> list:
    return [
        v.get("record_id"),
        *_person(v),
        v.get("health_insurance_no"),
        *_admin(v),
        v.get("address"),
        _vaccine(v.get("vaccine")),
        v.get("lot_number"),
        as_int(v.get("dose_number")),
        _date(v.get("vaccinated_on")),
        _digits(v.get("facility_code"), 5),
    ]


def test_result_row(v: dict[str, str]) -> list:
    ct = v.get("ct_value")
    return [
        v.get("record_id"),
        v.get("sample_id"),
        *_person(v),
        *_admin(v),
        _word(TEST_TYPES, v.get("test_type")),
        _word(YES_NO, v.get("pooled")),
        _datetime(v.get("sampled_at")),
        _word(RESULTS, v.get("result")),
        as_float(ct),
        _datetime(v.get("resulted_at")),
        _digits(v.get("facility_code"), 5),
    ]


PERSON_COLUMNS = ["full_name", "date_of_birth", "birth_year_only", "gender", "citizen_id", "phone"]
ADMIN_COLUMNS = ["province_code", "district_code", "commune_code"]
STAGING: dict[str, tuple[str, list[str], Callable[[dict], list]]] = {
    "vaccinations": (
        "staging.vaccination",
        [
            "record_id",
            *PERSON_COLUMNS,
            "health_insurance_no",
            *ADMIN_COLUMNS,
            "address",
            "vaccine_code",
            "lot_number",
            "dose_number",
            "vaccinated_on",
            "facility_code",
        ],
        vaccination_row,
    ),
    "test_results": (
        "staging.test_result",
        [
            "record_id",
            "sample_id",
            *PERSON_COLUMNS,
            *ADMIN_COLUMNS,
            "test_type",
            "pooled",
            "sampled_at",
            "result",
            "ct_value",
            "resulted_at",
            "facility_code",
        ],
        test_result_row,
    ),
}


def _cell(value) -> object:
    if value is None:
        return None
    if value is True:
        return "t"
    if value is False:
        return "f"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def staging_chunks(
    dataset: str, file_id: int, rows: Iterable[tuple[int, dict[str, str]]], chunk_rows: int = CHUNK_ROWS
) -> Iterator[tuple[str, int]]:
    """CSV text for ``COPY``, ``chunk_rows`` rows at a time, with the number of rows in each chunk."""
    _, _, convert = STAGING[dataset]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    count = 0
    for row_number, values in rows:
        typed = convert(values)
        writer.writerow(
            [file_id, row_number, json.dumps(values, ensure_ascii=False), *(_cell(x) for x in typed)]
        )
        count += 1
        if count == chunk_rows:
            yield buffer.getvalue(), count
            buffer.seek(0)
            buffer.truncate()
            count = 0
    if count:
        yield buffer.getvalue(), count


def copy_to_staging(conn, dataset: str, file_id: int, rows: Iterable[tuple[int, dict[str, str]]]) -> int:
    """Replace the file's staged rows with ``rows`` (in the caller's transaction); return the row count."""
    table, columns, _ = STAGING[dataset]
    column_list = ", ".join(["file_id", "row_number", "raw", *columns])
    total = 0
    with conn.cursor() as cur:
        cur.execute(f"delete from {table} where file_id = %s", (file_id,))  # noqa: S608 (table from STAGING)
        for chunk, count in staging_chunks(dataset, file_id, rows):
            cur.copy_expert(f"copy {table} ({column_list}) from stdin with (format csv)", io.StringIO(chunk))
            total += count
    return total
