"""The generator's own small domain knowledge (deliberately not imported from :mod:`covidsync.domain`).

The tests check generated data with :mod:`covidsync.domain`; keeping a separate copy of the few facts the
generator needs (province codes, vaccine schedules, phone prefixes, names) means a mistake in one is caught by
the other. Sources: ``/work/shared/domain/vietnam-covid-data.md`` (§2.2 provinces, §4 vaccines, §5.3 Hòa Bình,
§8.5 phones).
"""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

# 63 GSO province codes (2021); the CCCD prefix is "0" + code.
PROVINCE_CODES: tuple[str, ...] = (
    "01 02 04 06 08 10 11 12 14 15 17 19 20 22 24 25 26 27 30 31 33 34 35 36 37 38 40 42 44 45 46 48 49 51 "
    "52 54 56 58 60 62 64 66 67 68 70 72 74 75 77 79 80 82 83 84 86 87 89 91 92 93 94 95 96"
).split()
HOA_BINH = "17"
# Where people living in Hòa Bình were born, if not there (neighbours first).
OTHER_BIRTH_PROVINCES = ("01", "25", "14", "38", "26", "35", "37", "36", "34", "15", "79", "40", "31", "22")
# Three-digit prefixes that are no province (for ``unknown_province_in_id``).
NON_PROVINCE_PREFIXES = ("003", "005", "007", "009", "013", "016", "018", "021", "023", "028", "029", "032")

CAMPAIGN_START = dt.date(2021, 3, 8)
VN = dt.timezone(dt.timedelta(hours=7))

# --- names --------------------------------------------------------------------------------------------

# (family name, weight): Kinh and Mường names as met in Hòa Bình.
FAMILY_NAMES: tuple[tuple[str, int], ...] = (
    ("Nguyễn", 22),
    ("Bùi", 14),
    ("Đinh", 9),
    ("Trần", 6),
    ("Lê", 5),
    ("Phạm", 5),
    ("Hoàng", 4),
    ("Quách", 4),
    ("Xa", 3),
    ("Hà", 4),
    ("Đặng", 3),
    ("Vũ", 3),
    ("Đỗ", 2),
    ("Ngô", 1),
    ("Cao", 2),
    ("Bạch", 1),
    ("Lò", 1),
    ("Sa", 1),
    ("Hoàng", 1),
    ("Lương", 1),
    ("Trương", 1),
)
MIDDLE_MALE = ("Văn", "Văn", "Văn", "Đức", "Minh", "Quang", "Hữu", "Xuân", "Công", "Thanh", "Tiến", "Ngọc")
MIDDLE_FEMALE = ("Thị", "Thị", "Thị", "Thu", "Ngọc", "Thanh", "Hồng", "Kim", "Minh", "Phương", "Diệu")
GIVEN_MALE = (
    "Hùng Dũng Tuấn Nam Long Hải Sơn Thắng Cường Quân Đức Phong Trung Hiếu Khánh Mạnh Thành Tùng Bình An "
    "Quyết Tiến Toàn Chiến Lâm Huy Việt Hoàng Đạt Kiên Lực Thịnh Chung Tâm Vinh"
).split()
GIVEN_FEMALE = (
    "Lan Hương Hoa Mai Hà Linh Thảo Trang Hằng Ngọc Yến Nhung Loan Thủy Huyền Phương Dung Hạnh Nga Vân "
    "Liên Quyên Tuyết Duyên Thơm Hiền Nhàn Oanh Hòa Xuân Chinh Lụa Nụ Thắm Huệ"
).split()

# --- vaccines ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Vaccine:
    code: str  # EU DCC mp code, else ICD-11
    name: str  # canonical name
    spellings: tuple[str, ...]  # how facilities write it (canonical name first)
    available_from: dt.date  # in Hòa Bình (approximate)
    primary_doses: int
    interval: tuple[int, int]  # usual days between primary doses in the field
    min_interval: int  # the product's minimum (for primary doses)
    lot_prefix: str


BOOSTER_MIN_INTERVAL = 28

VACCINES: dict[str, Vaccine] = {
    v.code: v
    for v in (
        Vaccine(
            "EU/1/21/1529",
            "AstraZeneca",
            ("AstraZeneca", "AZ", "Astra Zeneca", "Vaxzevria", "ASTRAZENECA"),
            dt.date(2021, 3, 8),
            2,
            (42, 84),
            28,
            "ABV",
        ),
        Vaccine(
            "EU/1/20/1528",
            "Pfizer-BioNTech",
            ("Pfizer-BioNTech", "Pfizer", "Comirnaty", "PFIZER", "Pfizer BioNTech"),
            dt.date(2021, 8, 1),
            2,
            (21, 28),
            21,
            "FF",
        ),
        Vaccine(
            "EU/1/20/1507",
            "Moderna",
            ("Moderna", "Spikevax", "MODERNA"),
            dt.date(2021, 8, 10),
            2,
            (28, 35),
            28,
            "30",
        ),
        Vaccine(
            "Sputnik-V",
            "Sputnik V",
            ("Sputnik V", "Gam-COVID-Vac", "SPUTNIK V"),
            dt.date(2021, 9, 1),
            2,
            (21, 25),
            21,
            "I-",
        ),
        Vaccine(
            "BBIBP-CorV",
            "Vero Cell",
            ("Vero Cell", "Sinopharm", "Verocell", "VERO CELL", "BBIBP-CorV", "Vero cell"),
            dt.date(2021, 7, 1),
            2,
            (21, 35),
            21,
            "2021",
        ),
        Vaccine(
            "EU/1/20/1525",
            "Janssen",
            ("Janssen", "Johnson & Johnson"),
            dt.date(2021, 10, 1),
            1,
            (0, 0),
            0,
            "XD",
        ),
        Vaccine(
            "XM9FQ7", "Hayat-Vax", ("Hayat-Vax", "Hayat Vax"), dt.date(2021, 10, 1), 2, (21, 28), 21, "HV"
        ),
        Vaccine("Abdala", "Abdala", ("Abdala", "ABDALA"), dt.date(2021, 10, 10), 3, (14, 16), 14, "C2"),
    )
}
AZ, PFIZER, MODERNA, SPUTNIK, VERO, JANSSEN, HAYAT, ABDALA = VACCINES
# Names that are no product of the list (for ``unknown_vaccine``).
UNKNOWN_VACCINES = ("Covaxin", "Nanocovax", "Novavax", "ZF2001", "Sinovac", "Sputnik Light", "Covivac")


def min_interval(previous_code: str, dose_number: int) -> int:
    """Minimum days before dose ``dose_number`` after a dose of ``previous_code``."""
    vaccine = VACCINES[previous_code]
    if dose_number <= vaccine.primary_doses:
        return vaccine.min_interval
    return BOOSTER_MIN_INTERVAL


# --- phones ------------------------------------------------------------------------------------------

MOBILE_PREFIXES = (
    "032 033 034 035 036 037 038 039 086 096 097 098 081 082 083 084 085 088 091 094 070 076 077 078 079 "
    "089 090 093 056 058 092 059 099"
).split()
# new 3-digit prefix → pre-2018 4-digit prefix (the 2018 conversion, reversed)
OLD_FORM = {
    "070": "0120",
    "079": "0121",
    "077": "0122",
    "076": "0126",
    "078": "0128",
    "083": "0123",
    "084": "0124",
    "085": "0125",
    "081": "0127",
    "082": "0129",
    "032": "0162",
    "033": "0163",
    "034": "0164",
    "035": "0165",
    "036": "0166",
    "037": "0167",
    "038": "0168",
    "039": "0169",
    "056": "0186",
    "058": "0188",
    "059": "0199",
}
HOA_BINH_LANDLINE = "0218"

# --- places ------------------------------------------------------------------------------------------

VENUE_TYPES = (
    ("market", "Chợ", 10),
    ("school", "Trường", 10),
    ("office", "Văn phòng", 8),
    ("restaurant", "Nhà hàng", 10),
    ("bus_station", "Bến xe", 3),
    ("agency", "UBND", 8),
    ("supermarket", "Siêu thị", 6),
    ("hospital", "Bệnh viện", 4),
    ("bank", "Ngân hàng", 4),
    ("factory", "Nhà máy", 4),
    ("cafe", "Quán cà phê", 6),
    ("pharmacy", "Nhà thuốc", 4),
)


@lru_cache(maxsize=1)
def admin_units() -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """Hòa Bình districts (code → name) and communes (code → (district, name)), 2021."""
    raw = resources.files("covidsync").joinpath("data", "hoabinh_admin_units_2021.json").read_text("utf-8")
    districts: dict[str, str] = {}
    communes: dict[str, tuple[str, str]] = {}
    for district_code, district_name, commune_code, commune_name in json.loads(raw):
        districts[district_code] = district_name
        communes[commune_code] = (district_code, commune_name)
    return districts, communes


# district code → rough share of the province's population (Hòa Bình city and Lạc Sơn largest)
DISTRICT_WEIGHTS = {
    "148": 14,
    "150": 7,
    "152": 12,
    "153": 13,
    "154": 6,
    "155": 10,
    "156": 7,
    "157": 17,
    "158": 8,
    "159": 7,
}

# --- text --------------------------------------------------------------------------------------------

_TONE_MARKS = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}


def strip_accents(text: str) -> str:
    """Vietnamese text without any diacritic (đ → d)."""
    decomposed = unicodedata.normalize("NFD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return plain.replace("đ", "d").replace("Đ", "D")


def has_non_ascii_letter(text: str) -> bool:
    return any(ch.isalpha() and not ch.isascii() for ch in text)


@lru_cache(maxsize=1)
def cp1258_table() -> dict[int, str]:
    """``str.translate`` table making NFC Vietnamese text encodable in Windows-1258.

    Letters cp1258 lacks precomposed become base letter (precomposed with its circumflex, breve or horn when
    cp1258 has that) + combining tone mark, as Windows-1258 text is written.
    """
    table: dict[int, str] = {}
    for code in range(0xC0, 0x1F00):
        ch = chr(code)
        try:
            ch.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        decomposed = unicodedata.normalize("NFD", ch)
        if len(decomposed) == 1:
            continue
        tones = "".join(c for c in decomposed if c in _TONE_MARKS)
        rest = unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in _TONE_MARKS))
        candidate = rest + tones
        try:
            candidate.encode("cp1258")
        except UnicodeEncodeError:
            continue
        table[code] = candidate
    return table


def to_cp1258(text: str) -> bytes:
    return text.translate(cp1258_table()).encode("cp1258")
