"""Dates and date-times as facilities write them (contract §2, domain notes §8.4).

Day first, never month first: ``01/02/2021`` is 1 February 2021.

Accepted by :func:`parse_date`:

* ``datetime.date`` / ``datetime.datetime`` objects (an aware datetime is first converted to Vietnam time);
* ``dd/mm/yyyy`` and ``d/m/yyyy``, also with ``-`` or ``.`` as separator (the same separator twice);
* ``yyyy-mm-dd`` (also with ``/`` or ``.``: a 4-digit year first can only be year-month-day);
* ``ddmmyyyy`` (8 digits, as in the CCCD QR);
* Excel serial day numbers (1900 date system), as ``int``/``float`` or as a string of up to 5 digits with
  an optional decimal part; a fraction (time of day) is ignored for a date.

Excel's 1900 system counts 1900 as a leap year: serial 1 is 1900-01-01, serial 59 is 1900-02-28, serial 60
is the phantom 29/02/1900 (Excel shows it, but it does not exist: ``ValueError``), serial 61 is 1900-03-01;
from 61 on, ``date = 1899-12-30 + serial`` (e.g. 44197 → 2021-01-01, 44501 → 2021-11-01).

Decisions where the contract is silent:

* Years must lie in 1900–2099 for text and serial input (a two-digit year such as ``1/2/21`` is refused).
* A date followed by a time (``02/11/2021 00:00:00``, as spreadsheets export date cells) is accepted by
  :func:`parse_date` too; the date as written is kept, or, when an offset is given, the date in Vietnam.
* 7 digits are read as ``ddmmyyyy`` whose leading zero was lost in Excel (``1112021`` → 01/11/2021); the
  length proves it, as for identifiers (contract §2). ``yyyymmdd`` (``20211102``) is **not** accepted.
* Date-times: a time is ``H:MM``, ``HH:MM`` or ``HH:MM:SS`` (optionally with a fraction of a second), after
  a space or a ``T``, optionally followed by an offset (``Z``, ``+07:00``, ``+0700``, ``+07``).
  No offset means Asia/Ho_Chi_Minh (UTC+7). A bare date means 00:00 in Vietnam.
* :func:`parse_birth_date`: a year alone (``yyyy`` in 1900–2099, also an Excel number ``1987``/``1987.0``)
  is year-only; a 4-digit value outside that range is an error (never read as an Excel serial).
  ``01/01/yyyy`` written in full is *not* reported as year-only.

Every ``ValueError`` message describes the problem without repeating the value.
"""

from __future__ import annotations

import datetime as _dt
import math
import numbers
import re
from functools import lru_cache
from zoneinfo import ZoneInfo

__all__ = [
    "MAX_YEAR",
    "MIN_YEAR",
    "VN_TZ",
    "from_excel_serial",
    "parse_birth_date",
    "parse_date",
    "parse_datetime",
]

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
MIN_YEAR = 1900
MAX_YEAR = 2099

_EXCEL_MAX_SERIAL = 2958465  # 9999-12-31
_EXCEL_BASE_BEFORE_LEAP_BUG = _dt.datetime(1899, 12, 31)
_EXCEL_BASE = _dt.datetime(1899, 12, 30)

_TIME = (
    r"(?:(?:[ \t]+|[Tt])(?P<H>[0-9]{1,2}):(?P<M>[0-9]{2})"
    r"(?::(?P<S>[0-9]{2})(?:[.,](?P<f>[0-9]{1,9}))?)?"
    r"[ \t]*(?P<tz>[Zz]|[+\-][0-9]{2}(?::?[0-9]{2})?)?)?"
)
_DMY_RE = re.compile(r"(?P<d>[0-9]{1,2})(?P<sep>[/.\-])(?P<m>[0-9]{1,2})(?P=sep)(?P<y>[0-9]{4})" + _TIME)
_YMD_RE = re.compile(r"(?P<y>[0-9]{4})(?P<sep>[/.\-])(?P<m>[0-9]{1,2})(?P=sep)(?P<d>[0-9]{1,2})" + _TIME)
_COMPACT_RE = re.compile(r"(?P<c>[0-9]{7,8})" + _TIME)
_SERIAL_RE = re.compile(r"[0-9]{1,5}(?:\.[0-9]+)?")
_YEAR_RE = re.compile(r"([0-9]{4})(?:\.0+)?")


def _check_year(year: int) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValueError(f"year outside {MIN_YEAR}-{MAX_YEAR}")


def from_excel_serial(serial: float) -> _dt.datetime:
    """Naive local date-time of an Excel (1900 system) serial number; the fraction is the time of day.

    The time is rounded to the nearest second (Excel stores times as binary fractions of a day).
    """
    if isinstance(serial, bool) or not isinstance(serial, numbers.Real):
        raise ValueError("an Excel date serial must be a number")
    serial = float(serial)
    if math.isnan(serial) or serial < 1 or serial >= _EXCEL_MAX_SERIAL + 1:
        raise ValueError("Excel date serial out of range")
    days = int(serial)
    if days == 60:
        raise ValueError("Excel date serial 60 is 29/02/1900, a day that does not exist")
    seconds = round((serial - days) * 86400)
    base = _EXCEL_BASE_BEFORE_LEAP_BUG if days < 60 else _EXCEL_BASE
    result = base + _dt.timedelta(days=days, seconds=seconds)
    _check_year(result.year)
    return result


def _tz_from_text(text: str | None) -> _dt.tzinfo | None:
    if text is None:
        return None
    if text in ("Z", "z"):
        return _dt.UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours = int(digits[:2])
    minutes = int(digits[2:4]) if len(digits) > 2 else 0
    if hours > 23 or minutes > 59:
        raise ValueError("invalid UTC offset")
    return _dt.timezone(sign * _dt.timedelta(hours=hours, minutes=minutes))


def _build(year: int, month: int, day: int, match: re.Match[str]) -> tuple[_dt.datetime, _dt.tzinfo | None]:
    _check_year(year)
    try:
        day_start = _dt.datetime(year, month, day)
    except ValueError:
        raise ValueError("no such calendar date") from None
    hour = match.group("H")
    if hour is None:
        return day_start, None
    h, m = int(hour), int(match.group("M"))
    s = int(match.group("S") or 0)
    frac = match.group("f")
    micro = int(frac[:6].ljust(6, "0")) if frac else 0
    if h > 23 or m > 59 or s > 59:
        raise ValueError("invalid time of day")
    return day_start.replace(hour=h, minute=m, second=s, microsecond=micro), _tz_from_text(match.group("tz"))


@lru_cache(maxsize=65536)
def _parse_text(text: str) -> tuple[_dt.datetime, _dt.tzinfo | None]:
    """(naive local date-time, offset or None) for a date or date-time string."""
    match = _DMY_RE.fullmatch(text) or _YMD_RE.fullmatch(text)
    if match is not None:
        return _build(int(match.group("y")), int(match.group("m")), int(match.group("d")), match)
    if _SERIAL_RE.fullmatch(text):
        return from_excel_serial(float(text)), None
    match = _COMPACT_RE.fullmatch(text)
    if match is not None:
        digits = match.group("c").zfill(8)
        return _build(int(digits[4:]), int(digits[2:4]), int(digits[:2]), match)
    raise ValueError("unrecognised date format (expected dd/mm/yyyy, yyyy-mm-dd or ddmmyyyy)")


def _clean(value: str) -> str:
    text = value.strip()
    if not text:
        raise ValueError("empty date")
    return text


def parse_date(value: object) -> _dt.date:
    """A calendar date from any accepted form (module docstring); ``ValueError`` otherwise."""
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None and value.utcoffset() is not None:
            return value.astimezone(VN_TZ).date()
        return value.date()
    if isinstance(value, _dt.date):
        return value
    if isinstance(value, str):
        naive, tz = _parse_text(_clean(value))
        if tz is not None:
            return naive.replace(tzinfo=tz).astimezone(VN_TZ).date()
        return naive.date()
    if value is None:
        raise ValueError("empty date")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError("unsupported date value type")
    return from_excel_serial(value).date()


def parse_birth_date(value: object) -> tuple[_dt.date, bool]:
    """``(date, year_only)``: like :func:`parse_date`, plus a year alone (1900–2099) → ``(1 Jan, True)``."""
    year: int | None = None
    if isinstance(value, str):
        match = _YEAR_RE.fullmatch(value.strip())
        if match:
            year = int(match.group(1))
    elif isinstance(value, int) and not isinstance(value, bool):
        if 1000 <= value <= 9999:
            year = value
    elif isinstance(value, float) and value.is_integer() and 1000 <= value <= 9999:
        year = int(value)
    if year is not None:
        _check_year(year)
        return _dt.date(year, 1, 1), True
    return parse_date(value), False


def parse_datetime(value: object) -> _dt.datetime:
    """A timezone-aware date-time; no offset means Asia/Ho_Chi_Minh, a bare date means 00:00 there."""
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            return value.replace(tzinfo=VN_TZ)
        return value
    if isinstance(value, _dt.date):
        return _dt.datetime(value.year, value.month, value.day, tzinfo=VN_TZ)
    if isinstance(value, str):
        naive, tz = _parse_text(_clean(value))
        return naive.replace(tzinfo=tz or VN_TZ)
    if value is None:
        raise ValueError("empty date-time")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError("unsupported date-time value type")
    return from_excel_serial(value).replace(tzinfo=VN_TZ)
