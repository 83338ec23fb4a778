"""A small, independent reader of the landing zone that applies the contract (facility-files.md §1, §2, §6).

It uses only :mod:`covidsync.domain` for the rules (never the generator's code) and computes, for every file,
its file code and status, and for every row its codes. The sample-data tests compare its output with the
generator's ground truth (``truth/manifest.csv``, ``truth/files.csv``, ``truth/api_manifest.csv``).

Contract decisions the checker and the generator share (documented in docs/sample-data.md):

* one problem line per (row, code), on the first column at fault in the contract's column order;
* ``duplicate_in_file`` keys on ``record_id`` when the file has that column, else on person + dose (or
  sample); rows with an empty key part are not compared; the line's column is the key's first column;
* ``future_date``: a date is in the future when it is after the local day of delivery; a date-time when it
  is after the delivery time (the file's mtime); a check-in more than a day after it is ``time_out_of_window``
  too (issue 17);
* ``short_dose_interval`` compares a dose with the same person's (same ID) previous dose number, as reported
  by any error-free row of a loaded file or of the API data.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from covidsync.domain import admin, cccd, dates, phone, qr, text, vaccines

VN = dates.VN_TZ
CAMPAIGN_START = dt.date(2021, 3, 8)
WARNINGS = {"invalid_phone", "legacy_cmnd", "short_dose_interval", "name_without_diacritics"}
ACCEPTED = {".csv", ".xlsx", ".json", ".jsonl"}

VI = {
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
COLUMNS = {
    "vaccinations": [
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
    ],
    "test_results": [
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
    ],
    "checkins": [
        "checkin_id",
        "venue_code",
        "scanned_at",
        "direction",
        "mode",
        "qr_payload",
        "citizen_id",
        "phone",
    ],
    "venues": [
        "venue_code",
        "name",
        "province_code",
        "district_code",
        "commune_code",
        "address",
        "venue_type",
    ],
}
PERSON_REQUIRED = [
    "full_name",
    "date_of_birth",
    "gender",
    "citizen_id",
    "province_code",
    "district_code",
    "commune_code",
]
REQUIRED = {
    "vaccinations": PERSON_REQUIRED + ["vaccine", "lot_number", "dose_number", "vaccinated_on"],
    "test_results": ["sample_id"] + PERSON_REQUIRED + ["test_type", "sampled_at", "result", "resulted_at"],
    "checkins": ["checkin_id", "venue_code", "scanned_at"],
    "venues": ["venue_code"],
}
TEST_TYPES = {"rt-pcr": "RT-PCR", "pcr": "RT-PCR", "realtime rt-pcr": "RT-PCR", "antigen": "antigen"}
TEST_TYPES |= {"test nhanh": "antigen", "test nhanh khang nguyen": "antigen"}
RESULTS = {"duong tinh": "positive", "am tinh": "negative", "khong xac dinh": "invalid"}
RESULTS |= {"positive": "positive", "negative": "negative", "invalid": "invalid"}


def header_key(name: str) -> str:
    return text.name_key(str(name)).replace(" ", "")


HEADER_MAP = {}
for _dataset, _cols in COLUMNS.items():
    for _col in _cols:
        HEADER_MAP[header_key(_col)] = _col
        if _col in VI:
            HEADER_MAP[header_key(VI[_col])] = _col


class FileProblem(Exception):
    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


@dataclass
class FileResult:
    file: str
    facility: str
    dataset: str
    file_code: str = ""
    status: str = "loaded"
    rows: list = field(default_factory=list)  # [(row_number, {column: value})]
    problems: list = field(default_factory=list)  # [(row_number, column, code)]
    delivered_at: dt.datetime | None = None


# --- reading ---------------------------------------------------------------------------------------------


def decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise FileProblem("undecodable_file") from None
    for encoding in ("utf-8", "cp1258"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise FileProblem("undecodable_file")


def read_table(path: Path, xlsx_limit: int) -> tuple[list[str], list[list]]:
    """(headers, rows of values) of one file; raises FileProblem for file-level codes."""
    ext = path.suffix.lower()
    data = path.read_bytes()
    if not data:
        raise FileProblem("empty_file")
    if ext == ".csv":
        content = decode(data)
        first = content.split("\n", 1)[0]
        sep = ";" if first.count(";") > first.count(",") else ","
        table = list(csv.reader(io.StringIO(content, newline=""), delimiter=sep))
        table = [r for r in table if any(c.strip() for c in r)]
        if not table:
            raise FileProblem("empty_file")
        return table[0], table[1:]
    if ext == ".xlsx":
        with zipfile.ZipFile(path) as z:
            if sum(i.file_size for i in z.infolist()) > xlsx_limit:
                raise FileProblem("file_too_large")
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True, data_only=True)
        table = [list(r) for r in wb.worksheets[0].iter_rows(values_only=True)]
        wb.close()
        table = [r for r in table if any(c is not None and str(c).strip() for c in r)]
        if not table:
            raise FileProblem("empty_file")
        return [str(h) for h in table[0]], table[1:]
    content = decode(data)
    objects = (
        json.loads(content)
        if ext == ".json"
        else [json.loads(line) for line in content.splitlines() if line.strip()]
    )
    headers: list[str] = []
    for obj in objects:
        for key in obj:
            if key not in headers:
                headers.append(key)
    return headers, [[obj.get(h) for h in headers] for obj in objects]


def normalise_value(value):
    if isinstance(value, str):
        return text.nfc(value)
    return value


def empty(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


# --- checking rows -----------------------------------------------------------------------------------------


@dataclass
class Context:
    facilities: set
    venues: set = field(default_factory=set)
    doses: dict = field(default_factory=dict)  # (citizen_id, dose_number) → (date, product)


def as_int(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    s = str(value).strip()
    if s.isdigit():
        return int(s)
    return None


def as_float(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value).strip().replace(",", "."))
    except ValueError:
        return None


def admin_problem(p, d, c) -> str | None:
    if admin.check_admin(p, d, c):
        return None
    pc = admin.pad_code(p, 2)
    if pc not in cccd.PROVINCES:
        return "province_code"
    dc = admin.pad_code(d, 3)
    if pc == admin.HOA_BINH and dc not in admin.districts():
        return "district_code"
    return "commune_code"


def check_person(v: dict, codes: list, delivered_local_day: dt.date) -> tuple:
    """Shared person columns; returns (date of birth or None, repaired citizen_id or None)."""
    dob = None
    name = v.get("full_name")
    if empty(name):
        codes.append(("full_name", "missing_required"))
    elif text.name_without_diacritics(name):
        codes.append(("full_name", "name_without_diacritics"))
    raw_dob = v.get("date_of_birth")
    if empty(raw_dob):
        codes.append(("date_of_birth", "missing_required"))
    else:
        try:
            dob, _year_only = dates.parse_birth_date(raw_dob)
        except ValueError:
            codes.append(("date_of_birth", "invalid_date"))
    gender = v.get("gender")
    if empty(gender):
        codes.append(("gender", "missing_required"))
        gender = None
    cid = v.get("citizen_id")
    repaired = None
    if empty(cid):
        codes.append(("citizen_id", "missing_required"))
    else:
        repaired = cccd.repair_citizen_id(cid)
        for code in cccd.check_citizen_id(repaired, birth_year=dob.year if dob else None, gender=gender):
            codes.append(("citizen_id", code))
    ph = v.get("phone")
    if not empty(ph) and phone.normalize_phone(ph) is None:
        codes.append(("phone", "invalid_phone"))
    missing_admin = False
    for col in ("province_code", "district_code", "commune_code"):
        if empty(v.get(col)):
            codes.append((col, "missing_required"))
            missing_admin = True
    if not missing_admin:
        bad = admin_problem(v["province_code"], v["district_code"], v["commune_code"])
        if bad:
            codes.append((bad, "invalid_admin_code"))
    return dob, repaired


def check_vaccination(v: dict, folder: str, delivered: dt.datetime, codes: list) -> tuple:
    day = delivered.astimezone(VN).date()
    dob, cid = check_person(v, codes, day)
    product = None
    if empty(v.get("vaccine")):
        codes.append(("vaccine", "missing_required"))
    else:
        product = vaccines.canonical_vaccine(v["vaccine"])
        if product is None:
            codes.append(("vaccine", "unknown_vaccine"))
    if empty(v.get("lot_number")):
        codes.append(("lot_number", "missing_required"))
    dose = None
    if empty(v.get("dose_number")):
        codes.append(("dose_number", "missing_required"))
    else:
        dose = as_int(v["dose_number"])
        if dose is None or not 1 <= dose <= 4:
            codes.append(("dose_number", "invalid_dose_number"))
            dose = None
    on = None
    if empty(v.get("vaccinated_on")):
        codes.append(("vaccinated_on", "missing_required"))
    else:
        try:
            on = dates.parse_date(v["vaccinated_on"])
        except ValueError:
            codes.append(("vaccinated_on", "invalid_date"))
        if on is not None:
            if on > day:
                codes.append(("vaccinated_on", "future_date"))
            if on < CAMPAIGN_START:
                codes.append(("vaccinated_on", "before_campaign"))
            if dob is not None and on < dob:
                codes.append(("vaccinated_on", "event_before_birth"))
    fc = v.get("facility_code")
    if not empty(fc) and admin.pad_code(fc, 5) != folder:
        codes.append(("facility_code", "facility_mismatch"))
    return cid, dose, on, product


def check_test(v: dict, delivered: dt.datetime, codes: list) -> tuple:
    dob, cid = check_person(v, codes, delivered.astimezone(VN).date())
    if empty(v.get("sample_id")):
        codes.append(("sample_id", "missing_required"))
    kind = None
    if empty(v.get("test_type")):
        codes.append(("test_type", "missing_required"))
    else:
        kind = TEST_TYPES.get(text.name_key(v["test_type"]))
        if kind is None:
            codes.append(("test_type", "invalid_test_type"))
    sampled = None
    for col in ("sampled_at", "resulted_at"):
        if empty(v.get(col)):
            codes.append((col, "missing_required"))
            continue
        try:
            when = dates.parse_datetime(v[col])
        except ValueError:
            codes.append((col, "invalid_date"))
            continue
        if when > delivered:
            codes.append((col, "future_date"))
        if col == "sampled_at":
            sampled = when
            if dob is not None and when.astimezone(VN).date() < dob:
                codes.append((col, "event_before_birth"))
        elif sampled is not None and when < sampled:
            codes.append((col, "result_before_sample"))
    if empty(v.get("result")):
        codes.append(("result", "missing_required"))
    elif RESULTS.get(text.name_key(v["result"])) is None:
        codes.append(("result", "invalid_result"))
    ct = v.get("ct_value")
    if not empty(ct):
        number = as_float(ct)
        if number is None or not 0 <= number <= 45 or kind == "antigen":
            codes.append(("ct_value", "invalid_ct_value"))
    return cid, v.get("sample_id")


def check_checkin(v: dict, delivered: dt.datetime, ctx: Context, codes: list) -> None:
    if empty(v.get("checkin_id")):
        codes.append(("checkin_id", "missing_required"))
    if empty(v.get("venue_code")):
        codes.append(("venue_code", "missing_required"))
    elif str(v["venue_code"]).strip() not in ctx.venues:
        codes.append(("venue_code", "unknown_venue"))
    if empty(v.get("scanned_at")):
        codes.append(("scanned_at", "missing_required"))
    else:
        try:
            scanned = dates.parse_datetime(v["scanned_at"])
            if scanned > delivered:
                codes.append(("scanned_at", "future_date"))
            # issue 17: the time window, from PC-Covid's launch to a day after delivery (the defaults)
            launch = dt.datetime(2021, 9, 1, tzinfo=dt.timezone(dt.timedelta(hours=7)))
            if scanned < launch or scanned > delivered + dt.timedelta(days=1):
                codes.append(("scanned_at", "time_out_of_window"))
        except ValueError:
            codes.append(("scanned_at", "invalid_date"))
    usable = False
    if not empty(v.get("qr_payload")):
        try:
            info = qr.parse_qr(v["qr_payload"])
            usable = bool(info.citizen_id or info.cmnd or info.qid or info.phone)
        except qr.QrError:
            codes.append(("qr_payload", "invalid_qr_payload"))
    if not empty(v.get("citizen_id")):
        found = cccd.check_citizen_id(cccd.repair_citizen_id(v["citizen_id"]))
        codes.extend(("citizen_id", c) for c in found)
        usable |= not any(c not in WARNINGS for c in found)
    if not empty(v.get("phone")):
        if phone.normalize_phone(v["phone"]) is None:
            codes.append(("phone", "invalid_phone"))
        else:
            usable = True
    if not usable:
        codes.append(("", "missing_person_key"))


# --- the landing zone ----------------------------------------------------------------------------------------


def order_codes(dataset: str, codes: list) -> list:
    """One line per code, on its first column in contract order."""
    order = {c: i for i, c in enumerate(COLUMNS[dataset])}
    best: dict[str, str] = {}
    for column, code in codes:
        if code not in best or order.get(column, -1) < order.get(best[code], -1):
            best[code] = column
    return sorted(((col, code) for code, col in best.items()), key=lambda t: (order.get(t[0], -1), t[1]))


def check_landing(landing: Path, api_dir: Path | None = None, xlsx_limit: int = 50 * 1024 * 1024) -> dict:
    """File results (by path relative to landing) and the API problems: {"files": {...}, "api": set()}."""
    with open(landing / "registry" / "facilities.csv", encoding="utf-8-sig", newline="") as fh:
        facilities = {admin.pad_code(r["facility_code"], 5) for r in csv.DictReader(fh)}
    ctx = Context(facilities)
    entries = []
    for path in landing.rglob("*"):
        if (
            path.is_file()
            and path.parent.parent.name != "registry"
            and path.relative_to(landing).parts[0] != "registry"
        ):
            entries.append((os.stat(path).st_mtime, path.relative_to(landing).as_posix(), path))
    entries.sort()
    results: dict[str, FileResult] = {}
    seen_hashes: set[str] = set()
    vaccination_rows = []  # (file result, row_number, values, cid, dose, on, product, codes)
    for mtime, rel, path in entries:
        parts = rel.split("/")
        facility, dataset, name = parts[0], parts[1], parts[-1]
        delivered = dt.datetime.fromtimestamp(mtime, tz=VN)
        result = FileResult(rel, facility, dataset, delivered_at=delivered)
        results[rel] = result
        if name.startswith(".") or name.endswith((".part", ".tmp")):
            result.status = "ignored"
            continue
        try:
            if facility != "pccovid" and facility not in facilities:
                raise FileProblem("unknown_facility")
            if path.suffix.lower() not in ACCEPTED:
                raise FileProblem("unsupported_format")
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest in seen_hashes:
                result.file_code, result.status = "duplicate_file", "duplicate"
                continue
            seen_hashes.add(digest)
            headers, table = read_table(path, xlsx_limit)
            mapping = {i: HEADER_MAP.get(header_key(h)) for i, h in enumerate(headers)}
            present = {c for c in mapping.values() if c}
            if any(c not in present for c in REQUIRED[dataset]):
                raise FileProblem("missing_columns")
            if not table:
                raise FileProblem("empty_file")
        except FileProblem as problem:
            result.file_code, result.status = problem.code, "rejected"
            continue
        keys = set()
        key_column = "record_id" if "record_id" in present else None
        error_rows = 0
        for number, raw in enumerate(table, 1):
            v = {mapping[i]: normalise_value(x) for i, x in enumerate(raw) if i < len(mapping) and mapping[i]}
            codes: list = []
            key = None
            if dataset == "vaccinations":
                cid, dose, on, product = check_vaccination(v, facility, delivered, codes)
                key = (v.get("record_id"),) if key_column else (cid, dose)
                vaccination_rows.append((result, number, cid, dose, on, product, codes))
            elif dataset == "test_results":
                cid, sample = check_test(v, delivered, codes)
                key = (v.get("record_id"),) if key_column else (cid, sample)
            elif dataset == "checkins":
                check_checkin(v, delivered, ctx, codes)
                key = (v.get("checkin_id"),)
            elif dataset == "venues":
                if empty(v.get("venue_code")):
                    codes.append(("venue_code", "missing_required"))
            if key is not None and all(not empty(k) for k in key):
                key = tuple(str(k).strip() for k in key)
                if key in keys:
                    codes.append(
                        (
                            key_column or ("checkin_id" if dataset == "checkins" else "citizen_id"),
                            "duplicate_in_file",
                        )
                    )
                keys.add(key)
            result.rows.append((number, v, codes))
            error_rows += any(code not in WARNINGS for _c, code in codes)
        if error_rows / len(table) > 0.2:
            result.file_code, result.status = "batch_rejected", "rejected"
        elif error_rows:
            result.status = "loaded_with_errors"
        if dataset == "venues" and result.status != "rejected":
            ctx.venues |= {
                str(v["venue_code"]).strip() for _n, v, c in result.rows if not empty(v.get("venue_code"))
            }
    # dose history: every error-free vaccination row of a loaded file, and the API's
    api_problems = set()
    api_rows = []
    if api_dir is not None and api_dir.exists():
        for path in sorted(api_dir.glob("*/*.jsonl")):
            facility, dataset = path.parent.name, path.stem
            for line in path.read_text("utf-8").splitlines():
                item = {k: normalise_value(x) for k, x in json.loads(line).items()}
                codes: list = []
                far_future = dt.datetime(2100, 1, 1, tzinfo=VN)
                if dataset == "vaccinations":
                    cid, dose, on, product = check_vaccination(item, facility, far_future, codes)
                    api_rows.append((facility, item["record_id"], cid, dose, on, product, codes))
                    if not any(c not in WARNINGS for _col, c in codes) and cid and dose and on and product:
                        ctx.doses.setdefault((cid, dose), (on, product))
                else:
                    check_test(item, far_future, codes)
                    for column, code in order_codes(dataset, codes):
                        api_problems.add((facility, dataset, item["record_id"], column, code))
    for result, _n, cid, dose, on, product, codes in vaccination_rows:
        if result.status in ("loaded", "loaded_with_errors") and not any(
            c not in WARNINGS for _col, c in codes
        ):
            if cid and dose and on and product:
                prev = ctx.doses.get((cid, dose))
                if prev is None or on < prev[0]:
                    ctx.doses[(cid, dose)] = (on, product)

    def short(cid, dose, on) -> bool:
        if not (cid and dose and on and dose > 1):
            return False
        prev = ctx.doses.get((cid, dose - 1))
        if prev is None:
            return False
        minimum = vaccines.min_interval_days(prev[1], dose)
        return minimum is not None and (on - prev[0]).days < minimum

    for _result, _n, cid, dose, on, _product, codes in vaccination_rows:
        if short(cid, dose, on):
            codes.append(("vaccinated_on", "short_dose_interval"))
    for facility, record_id, cid, dose, on, _product, codes in api_rows:
        if short(cid, dose, on):
            codes.append(("vaccinated_on", "short_dose_interval"))
        for column, code in order_codes("vaccinations", codes):
            api_problems.add((facility, "vaccinations", record_id, column, code))
    for result in results.values():
        for number, _v, codes in result.rows:
            for column, code in order_codes(result.dataset, codes):
                result.problems.append((number, column, code))
    return {"files": results, "api": api_problems}


def problems_as_manifest(results: dict) -> set:
    out = set()
    for rel, result in results.items():
        for number, column, code in result.problems:
            out.add((rel, number, column, code, "warning" if code in WARNINGS else "error"))
    return out
