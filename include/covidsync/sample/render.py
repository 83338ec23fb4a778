"""Writing rows in every form the contract accepts (§2): CSV in four encodings and two separators, XLSX with
Excel date cells and numbers that lost their leading zero, JSON arrays and JSON lines; header variants.

Rows are written as they come (streaming); the only buffer is a few thousand CSV lines. XLSX files are made by
openpyxl in write-only mode and then re-packed with fixed zip entry dates and document times, so the same
arguments give the same bytes.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import random
import re
import shutil
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

from covidsync.sample import knowledge as K

VACCINATION_COLUMNS = (
    "record_id",
    "full_name",
    "date_of_birth",
    "gender",
    "citizen_id",
    "phone",
    "health_insurance_no",
    "province_code",
    "district_code",
    "commune_code",
    "address",
    "vaccine",
    "lot_number",
    "dose_number",
    "vaccinated_on",
    "facility_code",
)
TEST_COLUMNS = (
    "record_id",
    "sample_id",
    "full_name",
    "date_of_birth",
    "gender",
    "citizen_id",
    "phone",
    "province_code",
    "district_code",
    "commune_code",
    "test_type",
    "pooled",
    "sampled_at",
    "result",
    "ct_value",
    "resulted_at",
)
CHECKIN_COLUMNS = (
    "checkin_id",
    "venue_code",
    "scanned_at",
    "direction",
    "mode",
    "qr_payload",
    "citizen_id",
    "phone",
)
VENUE_COLUMNS = (
    "venue_code",
    "name",
    "province_code",
    "district_code",
    "commune_code",
    "address",
    "venue_type",
)
FACILITY_COLUMNS = (
    "facility_code",
    "name",
    "facility_type",
    "province_code",
    "district_code",
    "commune_code",
)
COLUMNS = {
    "vaccinations": VACCINATION_COLUMNS,
    "test_results": TEST_COLUMNS,
    "checkins": CHECKIN_COLUMNS,
    "venues": VENUE_COLUMNS,
    "registry": FACILITY_COLUMNS,
}
OPTIONAL = {
    "vaccinations": ("record_id", "phone", "health_insurance_no", "address", "facility_code"),
    "test_results": ("record_id", "phone", "pooled", "ct_value"),
    "checkins": ("direction", "mode"),
    "venues": ("address",),
    "registry": (),
}

VIETNAMESE_HEADERS = {
    "record_id": "Mã bản ghi",
    "full_name": "Họ và tên",
    "date_of_birth": "Ngày sinh",
    "gender": "Giới tính",
    "citizen_id": "Số CCCD/CMND",
    "phone": "Số điện thoại",
    "health_insurance_no": "Số thẻ BHYT",
    "province_code": "Mã tỉnh",
    "district_code": "Mã huyện",
    "commune_code": "Mã xã",
    "address": "Địa chỉ",
    "vaccine": "Tên vắc xin",
    "lot_number": "Số lô",
    "dose_number": "Mũi số",
    "vaccinated_on": "Ngày tiêm",
    "facility_code": "Mã cơ sở",
    "sample_id": "Mã mẫu",
    "test_type": "Loại xét nghiệm",
    "pooled": "Mẫu gộp",
    "sampled_at": "Thời gian lấy mẫu",
    "result": "Kết quả",
    "ct_value": "Giá trị CT",
    "resulted_at": "Thời gian trả kết quả",
}
DATE_COLUMNS = ("date_of_birth", "vaccinated_on")
DATETIME_COLUMNS = ("sampled_at", "resulted_at", "scanned_at")
ID_COLUMNS = ("citizen_id", "phone", "province_code", "district_code", "commune_code", "facility_code")


@dataclass(frozen=True)
class Raw:
    """A value written exactly as given (an injected defect or a deliberate odd spelling)."""

    text: str


@dataclass(frozen=True)
class BirthYear:
    """A date of birth known only by its year."""

    year: int


@dataclass
class Row:
    values: dict
    codes: list = field(default_factory=list)  # [(column, code)]
    protect: bool = False  # must stay clean (the earlier dose of a short interval)
    person_id: int | None = None


@dataclass(frozen=True)
class Style:
    fmt: str = "csv"  # csv | xlsx | json | jsonl
    encoding: str = "utf-8"  # utf-8 | utf-8-sig | cp1258 | utf-16 (CSV only)
    sep: str = ","
    headers: str = "vi"  # vi | en
    header_variant: str = "plain"  # plain | upper | ascii | spaces | title
    date_fmt: str = "dmy"  # dmy | d/m | iso | compact | excel
    dt_fmt: str = "dmy_hm"  # dmy_hm | dmy_hms | ymd_hms | iso_offset | iso_z | excel
    numeric_ids: bool = False  # XLSX: identifiers typed as numbers (leading zeros lost)
    nfd: bool = False  # text in decomposed form (macOS, some keyboards)
    omit: tuple[str, ...] = ()  # optional columns left out
    crlf: bool = True
    words: str = "vi"  # vi | en: gender, result, pooled, test type words
    phone_variants: bool = False  # +84 …, spaced, old 11-digit numbers
    padded: bool = False  # stray spaces around some values

    @property
    def ext(self) -> str:
        return self.fmt

    @property
    def encoding_label(self) -> str:
        if self.fmt == "xlsx":
            return "xlsx"
        if self.fmt in ("json", "jsonl"):
            return "utf-8"
        return self.encoding


# Presets for facility files; every accepted form appears among them.
FACILITY_STYLES: tuple[Style, ...] = (
    Style("csv", "utf-8", ",", "vi", "plain", "dmy", "dmy_hm"),
    Style("xlsx", "", ",", "vi", "plain", "excel", "excel", numeric_ids=True, omit=("record_id",)),
    Style(
        "csv",
        "cp1258",
        ";",
        "vi",
        "upper",
        "dmy",
        "dmy_hms",
        omit=("health_insurance_no",),
        phone_variants=True,
    ),
    Style("csv", "utf-8-sig", ",", "vi", "spaces", "d/m", "dmy_hm", padded=True, phone_variants=True),
    Style("json", "utf-8", ",", "en", "plain", "iso", "iso_offset", crlf=False, words="en"),
    Style("csv", "utf-16", ";", "vi", "ascii", "iso", "ymd_hms", omit=("address",)),
    Style("xlsx", "", ",", "en", "title", "dmy", "dmy_hm", words="en"),
    Style(
        "csv",
        "utf-8",
        ",",
        "vi",
        "plain",
        "compact",
        "iso_offset",
        nfd=True,
        crlf=False,
        omit=("record_id", "phone"),
    ),
    Style("jsonl", "utf-8", ",", "en", "upper", "dmy", "iso_z", crlf=False, words="en", phone_variants=True),
    Style("csv", "utf-8", ";", "en", "plain", "iso", "ymd_hms", crlf=False, words="en"),
)
CHECKIN_STYLES: tuple[Style, ...] = (
    Style("csv", "utf-8", ",", "en", "plain", "iso", "iso_offset", crlf=False),
    Style("csv", "utf-8", ",", "en", "plain", "iso", "dmy_hms", crlf=False),
    Style("jsonl", "utf-8", ",", "en", "plain", "iso", "iso_z", crlf=False),
    Style("csv", "utf-8-sig", ";", "en", "upper", "iso", "ymd_hms"),
)
VENUE_STYLE = Style("csv", "utf-8", ",", "en", "plain", "iso", "iso_offset", crlf=False)
VENUE_XLSX_STYLE = Style("xlsx", "", ",", "en", "plain", "iso", "iso_offset")
API_STYLE = Style("json", "utf-8", ",", "en", "plain", "iso", "iso_offset", words="en")


def header(column: str, style: Style) -> str:
    if style.headers == "vi" and column in VIETNAMESE_HEADERS:
        text = VIETNAMESE_HEADERS[column]
    else:
        text = column
    variant = style.header_variant
    if variant == "upper":
        return text.upper()
    if variant == "ascii":
        return K.strip_accents(text).lower() if style.headers == "vi" else text
    if variant == "spaces":
        return " " + text.replace(" ", "  ") + " " if " " in text else text + " "
    if variant == "title":
        return "_".join(w[:1].upper() + w[1:] for w in text.split("_"))
    return text


# --- values ------------------------------------------------------------------------------------------

_GENDER = {"vi": {"male": "Nam", "female": "Nữ"}, "en": {"male": "male", "female": "female"}}
_RESULT = {
    "vi": {"positive": "Dương tính", "negative": "Âm tính", "invalid": "Không xác định"},
    "en": {"positive": "positive", "negative": "negative", "invalid": "invalid"},
}
_POOLED = {"vi": {True: "Có", False: "Không"}, "en": {True: "yes", False: "no"}}
_TEST_TYPE = {
    "vi": {
        "RT-PCR": ("RT-PCR", "PCR", "Realtime RT-PCR"),
        "antigen": ("Test nhanh", "Test nhanh kháng nguyên", "antigen"),
    },
    "en": {"RT-PCR": ("RT-PCR",), "antigen": ("antigen",)},
}


def fmt_date(value: dt.date, how: str) -> str:
    if how == "d/m":
        return f"{value.day}/{value.month}/{value.year}"
    if how == "iso":
        return value.isoformat()
    if how == "compact":
        return f"{value.day:02d}{value.month:02d}{value.year}"
    return f"{value.day:02d}/{value.month:02d}/{value.year}"


def fmt_datetime(value: dt.datetime, how: str) -> str:
    if how == "iso_z":
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    local = value if value.tzinfo is K.VN else value.astimezone(K.VN)
    if how == "iso_offset":
        return local.strftime("%Y-%m-%dT%H:%M:%S+07:00")
    if how == "ymd_hms":
        return local.strftime("%Y-%m-%d %H:%M:%S")
    if how == "dmy_hms":
        return local.strftime("%d/%m/%Y %H:%M:%S")
    return local.strftime("%d/%m/%Y %H:%M")


def phone_text(phone: str, rng: random.Random, variants: bool) -> str:
    if not variants or phone.startswith("02"):
        return phone
    roll = rng.random()
    if roll < 0.15:
        return "+84" + phone[1:]
    if roll < 0.25:
        return f"{phone[:4]} {phone[4:7]} {phone[7:]}"
    if roll < 0.35 and phone[:3] in K.OLD_FORM:
        return K.OLD_FORM[phone[:3]] + phone[3:]
    if roll < 0.4:
        return f"+84 {phone[1:4]} {phone[4:7]} {phone[7:]}"
    return phone


_SPECIAL = frozenset({"gender", "result", "pooled", "test_type", "vaccine", "phone", "ct_value"})
_PADDED = frozenset({"full_name", "citizen_id", "address"})


class Renderer:
    """Turns canonical row values into the cells of one file's style."""

    def __init__(self, style: Style, rng: random.Random):
        self.style = style
        self.rng = rng
        self.words = style.words

    def text(self, column: str, value):
        """The value as text (CSV/JSON), or ``None`` for an empty cell."""
        if value is None:
            return None
        if value.__class__ is str and column not in _SPECIAL:  # the common case, kept fast
            if self.style.padded and column in _PADDED and self.rng.random() < 0.1:
                return f" {value} "
            return value
        s = self.style
        if isinstance(value, Raw):
            return value.text
        if isinstance(value, BirthYear):
            return str(value.year)
        if isinstance(value, dt.datetime):
            return fmt_datetime(value, "iso_offset" if s.dt_fmt == "excel" else s.dt_fmt)
        if isinstance(value, dt.date):
            return fmt_date(value, "dmy" if s.date_fmt == "excel" else s.date_fmt)
        if column == "gender":
            return _GENDER[self.words][value]
        if column == "result":
            return _RESULT[self.words][value]
        if column == "pooled":
            return _POOLED[self.words][value]
        if column == "test_type":
            return self.rng.choice(_TEST_TYPE[self.words][value])
        if column == "vaccine":
            spellings = K.VACCINES[value].spellings
            return spellings[0] if self.rng.random() < 0.6 else self.rng.choice(spellings)
        if column == "phone":
            return phone_text(value, self.rng, s.phone_variants)
        if column == "ct_value":
            return f"{value:.1f}"
        if isinstance(value, int):
            return str(value)
        return value

    def cell(self, column: str, value):
        """The value for an XLSX cell: Excel dates, numbers where the style types identifiers as numbers."""
        s = self.style
        if value is None:
            return None
        if isinstance(value, Raw):
            return value.text
        if isinstance(value, dt.datetime) and s.dt_fmt == "excel":
            return value.astimezone(K.VN).replace(tzinfo=None)
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime) and s.date_fmt == "excel":
            return value
        if column in ("dose_number",) and isinstance(value, int):
            return value
        if column == "ct_value" and isinstance(value, float):
            return value
        if s.numeric_ids and column in ID_COLUMNS and isinstance(value, str) and value.isdigit():
            if column == "citizen_id":
                if len(value) == 12 and value[0] == "0" and value[1] != "0":
                    return int(value)  # 11 digits left: repaired by the reader
                if len(value) == 9 and value[0] != "0":
                    return int(value)
                return value
            if column == "phone":
                return int(value) if (len(value) == 10 and value[0] == "0") else value
            return int(value)
        return self.text(column, value)


# --- writers -----------------------------------------------------------------------------------------


def _encode(text: str, style: Style) -> bytes:
    if style.nfd:
        text = unicodedata.normalize("NFD", text)
    if style.encoding == "cp1258":
        return K.to_cp1258(text)
    if style.encoding == "utf-16":
        return text.encode("utf-16-le")
    return text.encode("utf-8")


def _bom(style: Style) -> bytes:
    if style.encoding == "utf-8-sig":
        return b"\xef\xbb\xbf"
    if style.encoding == "utf-16":
        return b"\xff\xfe"
    return b""


def write_rows(
    path: str,
    style: Style,
    columns: tuple[str, ...],
    rows: Iterable[Row],
    rng: random.Random,
    when: dt.datetime | None = None,
) -> Iterator[Row]:
    """Write ``rows`` to ``path`` in ``style``; yields each row once it is written.

    ``when`` (the delivery time) is stamped into XLSX files as their document and zip entry times.
    """
    renderer = Renderer(style, rng)
    if style.fmt == "csv":
        yield from _write_csv(path, style, columns, rows, renderer)
    elif style.fmt in ("json", "jsonl"):
        yield from _write_json(path, style, columns, rows, renderer)
    elif style.fmt == "xlsx":
        yield from _write_xlsx(
            path, style, columns, rows, renderer, when or dt.datetime(2021, 11, 1, tzinfo=K.VN)
        )
    else:  # pragma: no cover
        raise ValueError(style.fmt)


def _write_csv(path, style, columns, rows, renderer) -> Iterator[Row]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=style.sep, lineterminator="\r\n" if style.crlf else "\n")
    writer.writerow([header(c, style) for c in columns])
    with open(path, "wb") as out:
        out.write(_bom(style))
        pending = 0
        for row in rows:
            values = row.values
            writer.writerow(["" if (v := renderer.text(c, values.get(c))) is None else v for c in columns])
            pending += 1
            if pending >= 2000:
                out.write(_encode(buffer.getvalue(), style))
                buffer.seek(0)
                buffer.truncate()
                pending = 0
            yield row
        out.write(_encode(buffer.getvalue(), style))


def _write_json(path, style, columns, rows, renderer) -> Iterator[Row]:
    names = [header(c, style) for c in columns]
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        first = True
        if style.fmt == "json":
            out.write("[")
        for row in rows:
            obj = {}
            for name, column in zip(names, columns, strict=True):
                value = row.values.get(column)
                if isinstance(value, int) and not isinstance(value, bool) and column == "dose_number":
                    obj[name] = value
                elif isinstance(value, float) and column == "ct_value":
                    obj[name] = value
                else:
                    obj[name] = renderer.text(column, value)
            line = json.dumps(obj, ensure_ascii=False)
            if style.nfd:
                line = unicodedata.normalize("NFD", line)
            if style.fmt == "json":
                out.write(("\n" if first else ",\n") + line)
            else:
                out.write(line + "\n")
            first = False
            yield row
        if style.fmt == "json":
            out.write("\n]\n")


def _write_xlsx(path, style, columns, rows, renderer, when) -> Iterator[Row]:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Sheet1")
    ws.append([header(c, style) for c in columns])
    for row in rows:
        cells = []
        for column in columns:
            value = renderer.cell(column, row.values.get(column))
            if isinstance(value, dt.datetime):
                cell = WriteOnlyCell(ws, value=value)
                cell.number_format = "DD/MM/YYYY HH:MM"
                cells.append(cell)
            elif isinstance(value, dt.date):
                cell = WriteOnlyCell(ws, value=value)
                cell.number_format = "DD/MM/YYYY"
                cells.append(cell)
            else:
                cells.append(value)
        ws.append(cells)
        yield row
    fd, tmp = tempfile.mkstemp(suffix=".xlsx", dir=os.path.dirname(path))
    os.close(fd)
    try:
        wb.save(tmp)
        repack_xlsx(tmp, path, when)
    finally:
        os.unlink(tmp)


_CORE_TIME_RE = re.compile(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)")


def repack_xlsx(src: str, dst: str, when: dt.datetime, replace_entries: dict | None = None) -> None:
    """Copy an XLSX with fixed zip entry dates and document times (deterministic bytes).

    ``replace_entries`` maps entry names to a callable writing the entry's content to a file object.
    """
    stamp = when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    local = when.astimezone(K.VN)
    date_time = (
        local.year,
        local.month,
        local.day,
        local.hour,
        local.minute,
        local.second - local.second % 2,
    )
    replace_entries = replace_entries or {}
    with (
        zipfile.ZipFile(src) as zin,
        zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zout,
    ):
        for info in zin.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=date_time)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            entry.create_system = 3
            if info.filename in replace_entries:
                with zout.open(entry, "w", force_zip64=True) as target:
                    replace_entries[info.filename](target)
                continue
            if info.filename == "docProps/core.xml":
                data = _CORE_TIME_RE.sub(lambda m: m.group(1) + stamp + m.group(3), zin.read(info.filename))
                zout.writestr(entry, data)
                continue
            with zin.open(info) as source, zout.open(entry, "w", force_zip64=True) as target:
                shutil.copyfileobj(source, target, 1 << 20)


def variant(style: Style, **changes) -> Style:
    return replace(style, **changes)
