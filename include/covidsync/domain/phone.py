"""Vietnamese mobile numbers (domain notes §8.5, contract §2 and §3 ``phone``).

A mobile number is 10 digits ``^0(3|5|7|8|9)\\d{8}$``. :func:`normalize_phone` turns the usual written forms
into it, or returns ``None``:

1. ``int`` and integral ``float`` values (Excel number cells) are read as their digits; a string of digits
   with an Excel ``.0`` tail (``"944713700.0"``) loses the tail.
2. Spaces, dots, dashes and parentheses are removed.
3. ``+84``, ``0084`` and a bare ``84`` (only with 11 or 12 digits in all, i.e. ``84`` + a number that lost
   its ``0``) become ``0``; a ``0`` written after the country code (``+84 0944…``) is dropped.
   Other country codes give ``None``.
4. 9 digits starting 3/5/7/8/9 get their lost leading ``0``. (Decision where the contract is silent: also
   10 digits starting ``1`` whose ``0``-padded form has a pre-2018 prefix, e.g. ``1695678945``, an 11-digit
   old number that lost its zero; no other Vietnamese number has that shape.)
5. 11-digit pre-2018 mobile numbers are converted with the full 2018 table :data:`OLD_PREFIXES`
   (last 7 digits kept).
6. The result must be a mobile number; landlines (``02xx``, 11 digits), service numbers and anything else
   give ``None``.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["MOBILE_RE", "OLD_PREFIXES", "is_mobile", "normalize_phone"]

# 2018 conversion of 11-digit mobile numbers to 10 digits (old 4-digit prefix → new 3-digit prefix).
OLD_PREFIXES: dict[str, str] = {
    # MobiFone
    "0120": "070",
    "0121": "079",
    "0122": "077",
    "0126": "076",
    "0128": "078",
    # VinaPhone
    "0123": "083",
    "0124": "084",
    "0125": "085",
    "0127": "081",
    "0129": "082",
    # Viettel
    "0162": "032",
    "0163": "033",
    "0164": "034",
    "0165": "035",
    "0166": "036",
    "0167": "037",
    "0168": "038",
    "0169": "039",
    # Vietnamobile
    "0186": "056",
    "0188": "058",
    # Gmobile (Gtel)
    "0199": "059",
}

MOBILE_RE = re.compile(r"0[35789][0-9]{8}")
_SEPARATORS_RE = re.compile(r"[\s.\-()]+")
_EXCEL_INT_RE = re.compile(r"\+?[0-9]+\.0+")
_DIGITS_RE = re.compile(r"[0-9]+")


def is_mobile(value: str | None) -> bool:
    """True when ``value`` is already a normalised mobile number (10 digits, ``03/05/07/08/09``)."""
    return bool(value) and MOBILE_RE.fullmatch(value) is not None


@lru_cache(maxsize=65536)
def _normalize(text: str) -> str | None:
    text = text.strip()
    if _EXCEL_INT_RE.fullmatch(text):
        text = text[: text.index(".")]
    text = _SEPARATORS_RE.sub("", text)
    if text.startswith("+"):
        if not text.startswith("+84"):
            return None
        text = text[3:]
        if text.startswith("0"):
            text = text[1:]
        text = "0" + text
    elif text.startswith("0084"):
        text = text[4:]
        if text.startswith("0"):
            text = text[1:]
        text = "0" + text
    elif text.startswith("84") and len(text) in (11, 12):
        text = text[2:]
        if text.startswith("0"):
            text = text[1:]
        text = "0" + text
    if not _DIGITS_RE.fullmatch(text):
        return None
    length = len(text)
    if length == 9 and text[0] in "35789":
        text = "0" + text
    elif length == 10 and text[0] == "1" and ("0" + text[:3]) in OLD_PREFIXES:
        text = "0" + text
        length = 11
    if length == 11:
        new_prefix = OLD_PREFIXES.get(text[:4])
        if new_prefix is None:
            return None
        text = new_prefix + text[4:]
    return text if MOBILE_RE.fullmatch(text) else None


def normalize_phone(value: object) -> str | None:
    """The 10-digit mobile number written in ``value``, or ``None`` (see the module docstring).

    ``"01695678945"`` → ``"0395678945"``; ``"+84 944 713 700"`` → ``"0944713700"``;
    ``944713700`` → ``"0944713700"``; landline ``"02183855555"`` → ``None``.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        if value < 0:
            return None
        text = str(value)
    elif isinstance(value, float):
        if not value.is_integer() or value < 0:
            return None
        text = str(int(value))
    elif isinstance(value, str):
        text = value
    else:
        return None
    if not text:
        return None
    return _normalize(text)
