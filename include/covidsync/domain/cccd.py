"""12-digit CCCD numbers (số định danh cá nhân) and legacy 9-digit CMND numbers.

Layout ``PPP G YY RRRRRR`` (domain notes §2.1): ``PPP`` = ``"0"`` + 2-digit GSO province code of the place
where the birth was registered; ``G`` = century/sex digit (Circular 07/2016/TT-BCA art. 7: even male, odd
female, ``year = 1900 + 100 * (G // 2) + YY``); ``RRRRRR`` random. There is **no** check digit.

Decisions where the contract is silent:

* Surrounding whitespace is ignored by :func:`cccd_info` and :func:`check_citizen_id`; only ASCII digits count.
* :func:`check_citizen_id` reads ``gender`` with :func:`covidsync.domain.text.normalize_gender` (male/female,
  Nam/Nữ, M/F); an unreadable gender is not compared (the row's own gender check reports it).
* Births registered abroad carry a country code instead of a province code; that list is not known, so such
  numbers get ``unknown_province_in_id``.
* :func:`repair_citizen_id` accepts: ``int`` values, integral ``float`` values, and strings of digits with an
  Excel decimal tail of zeros (``"17090001234.0"``); spaces inside the value (``"087 084 000 999"``) are removed.
  It does **not** accept scientific notation (``1.7090E+10``): Excel shows only a few significant digits there,
  so the digits are already lost and nothing proves the repair. Only 11-digit numbers are padded (a CCCD that
  lost its leading zero); shorter numbers, e.g. an 8-digit CMND, are left as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from covidsync.domain.text import normalize_gender

__all__ = [
    "PROVINCES",
    "CccdInfo",
    "cccd_info",
    "check_citizen_id",
    "repair_citizen_id",
]

# 63 provinces, GSO 2-digit code → GSO name (domain notes §2.2, 2021 snapshot).
PROVINCES: dict[str, str] = {
    "01": "Thành phố Hà Nội",
    "02": "Tỉnh Hà Giang",
    "04": "Tỉnh Cao Bằng",
    "06": "Tỉnh Bắc Kạn",
    "08": "Tỉnh Tuyên Quang",
    "10": "Tỉnh Lào Cai",
    "11": "Tỉnh Điện Biên",
    "12": "Tỉnh Lai Châu",
    "14": "Tỉnh Sơn La",
    "15": "Tỉnh Yên Bái",
    "17": "Tỉnh Hoà Bình",
    "19": "Tỉnh Thái Nguyên",
    "20": "Tỉnh Lạng Sơn",
    "22": "Tỉnh Quảng Ninh",
    "24": "Tỉnh Bắc Giang",
    "25": "Tỉnh Phú Thọ",
    "26": "Tỉnh Vĩnh Phúc",
    "27": "Tỉnh Bắc Ninh",
    "30": "Tỉnh Hải Dương",
    "31": "Thành phố Hải Phòng",
    "33": "Tỉnh Hưng Yên",
    "34": "Tỉnh Thái Bình",
    "35": "Tỉnh Hà Nam",
    "36": "Tỉnh Nam Định",
    "37": "Tỉnh Ninh Bình",
    "38": "Tỉnh Thanh Hóa",
    "40": "Tỉnh Nghệ An",
    "42": "Tỉnh Hà Tĩnh",
    "44": "Tỉnh Quảng Bình",
    "45": "Tỉnh Quảng Trị",
    "46": "Tỉnh Thừa Thiên Huế",
    "48": "Thành phố Đà Nẵng",
    "49": "Tỉnh Quảng Nam",
    "51": "Tỉnh Quảng Ngãi",
    "52": "Tỉnh Bình Định",
    "54": "Tỉnh Phú Yên",
    "56": "Tỉnh Khánh Hòa",
    "58": "Tỉnh Ninh Thuận",
    "60": "Tỉnh Bình Thuận",
    "62": "Tỉnh Kon Tum",
    "64": "Tỉnh Gia Lai",
    "66": "Tỉnh Đắk Lắk",
    "67": "Tỉnh Đắk Nông",
    "68": "Tỉnh Lâm Đồng",
    "70": "Tỉnh Bình Phước",
    "72": "Tỉnh Tây Ninh",
    "74": "Tỉnh Bình Dương",
    "75": "Tỉnh Đồng Nai",
    "77": "Tỉnh Bà Rịa - Vũng Tàu",
    "79": "Thành phố Hồ Chí Minh",
    "80": "Tỉnh Long An",
    "82": "Tỉnh Tiền Giang",
    "83": "Tỉnh Bến Tre",
    "84": "Tỉnh Trà Vinh",
    "86": "Tỉnh Vĩnh Long",
    "87": "Tỉnh Đồng Tháp",
    "89": "Tỉnh An Giang",
    "91": "Tỉnh Kiên Giang",
    "92": "Thành phố Cần Thơ",
    "93": "Tỉnh Hậu Giang",
    "94": "Tỉnh Sóc Trăng",
    "95": "Tỉnh Bạc Liêu",
    "96": "Tỉnh Cà Mau",
}

_CCCD_RE = re.compile(r"[0-9]{12}")
_CMND_RE = re.compile(r"[0-9]{9}")
_EXCEL_INT_RE = re.compile(r"([0-9]+)\.0+")
_SPACES_RE = re.compile(r"\s+")


@dataclass(frozen=True)
class CccdInfo:
    province_code: str  # 2-digit GSO
    gender: str  # "male" | "female"
    birth_year: int


def cccd_info(value: str) -> CccdInfo | None:
    """Province, sex and birth year encoded in a 12-digit CCCD; ``None`` unless exactly 12 ASCII digits.

    ``087084000999`` → ``CccdInfo("87", "male", 1984)``. The province code is returned even when it is not
    one of the 63 (check with :data:`PROVINCES`).
    """
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not _CCCD_RE.fullmatch(value):
        return None
    digit = ord(value[3]) - 48
    return CccdInfo(
        province_code=value[1:3],
        gender="female" if digit % 2 else "male",
        birth_year=1900 + 100 * (digit // 2) + int(value[4:6]),
    )


def check_citizen_id(value: str, *, birth_year: int | None = None, gender: str | None = None) -> list[str]:
    """Contract codes for a CCCD/CMND value, in a stable order.

    * 12 digits: ``unknown_province_in_id`` (first 3 digits not ``"0"`` + a province code), then
      ``id_birth_year_mismatch`` (``birth_year`` given and different), then ``id_gender_mismatch``
      (``gender`` given and different); year and gender are checked even when the province is unknown.
    * 9 digits: ``["legacy_cmnd"]``.
    * empty / ``None``: ``[]`` (the caller reports ``missing_required``).
    * anything else: ``["invalid_citizen_id"]``.
    """
    if value is None:
        return []
    if not isinstance(value, str):
        value = str(value)
    value = value.strip()
    if not value:
        return []
    info = cccd_info(value)
    if info is None:
        if _CMND_RE.fullmatch(value):
            return ["legacy_cmnd"]
        return ["invalid_citizen_id"]
    codes: list[str] = []
    if value[0] != "0" or info.province_code not in PROVINCES:
        codes.append("unknown_province_in_id")
    if birth_year is not None and info.birth_year != birth_year:
        codes.append("id_birth_year_mismatch")
    if gender is not None:
        wanted = normalize_gender(gender)
        if wanted is not None and wanted != info.gender:
            codes.append("id_gender_mismatch")
    return codes


def repair_citizen_id(value: str) -> str:
    """Undo Excel's damage to a CCCD, only where the length proves it (contract §2).

    Spaces are removed and an Excel float tail (``.0``) is dropped; then 11 digits that form a CCCD with a
    known province once a leading ``0`` is added are padded (``"87084000999"`` → ``"087084000999"``). Any
    other value is returned unchanged (apart from the spaces and the ``.0`` tail). ``None`` → ``""``.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        if not value.is_integer():
            return str(value)
        text = str(int(value))
    else:
        text = _SPACES_RE.sub("", str(value))
        float_text = _EXCEL_INT_RE.fullmatch(text)
        if float_text:
            text = float_text.group(1)
    if len(text) == 11 and text.isdigit() and text.isascii() and text[:2] in PROVINCES:
        return "0" + text
    return text
