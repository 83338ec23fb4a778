"""Parameters of the plausibility rules every dataset's spec can name (issue 17, items 4 and 6).

* ``time_out_of_window`` (contract §6): a check-in or declaration time before PC-Covid's launch
  (``COVIDSYNC_TIME_WINDOW_START``, a local date, default ``2021-09-01``: midnight Asia/Ho_Chi_Minh) or
  more than ``COVIDSYNC_TIME_WINDOW_SKEW_MINUTES`` (default 1440: a phone's clock a day off, a time-zone
  mistake) after the file was received. Check-ins and declarations test it as a frame rule
  (:mod:`covidsync.ingest.checkin_frame_rules`, :mod:`covidsync.ingest.declaration_frame_rules`, with
  :func:`window_start` and :func:`window_skew_minutes`); a dataset without frame rules would write it as a small
  SQL file over its staged time column with the parameters ``%(window_start)s`` (timestamptz),
  ``%(window_skew_minutes)s`` (int) and ``%(received_at)s``.
* ``invalid_text``: ``sql/ingest/<table>_text.sql`` with ``%(formula_pattern)s`` and
  ``%(mojibake_pattern)s`` (:mod:`covidsync.textsafe`).

The engine passes :func:`rule_params` to every rules file (``engine._params``). An unreadable setting is a
one-line error naming the variable, before any file is touched.
"""

from __future__ import annotations

import datetime as dt
import os
from zoneinfo import ZoneInfo

from covidsync.errors import CovidsyncError
from covidsync.textsafe import rule_params as text_params

DEFAULT_WINDOW_START = dt.date(2021, 9, 1)  # PC-Covid's launch
DEFAULT_SKEW_MINUTES = 24 * 60
VN = ZoneInfo("Asia/Ho_Chi_Minh")


class WindowSettingError(CovidsyncError):
    pass


def window_start() -> dt.datetime:
    """The first accepted time: ``COVIDSYNC_TIME_WINDOW_START`` (``YYYY-MM-DD``) at local midnight."""
    raw = os.environ.get("COVIDSYNC_TIME_WINDOW_START", "").strip()
    try:
        day = dt.date.fromisoformat(raw) if raw else DEFAULT_WINDOW_START
    except ValueError as exc:
        raise WindowSettingError(
            f"COVIDSYNC_TIME_WINDOW_START={raw!r} is not a date (YYYY-MM-DD, e.g. 2021-09-01)"
        ) from exc
    return dt.datetime.combine(day, dt.time(), VN)


def window_skew_minutes() -> int:
    """``COVIDSYNC_TIME_WINDOW_SKEW_MINUTES``: how far after the file's receipt a time may lie."""
    raw = os.environ.get("COVIDSYNC_TIME_WINDOW_SKEW_MINUTES", "").strip()
    try:
        minutes = int(raw) if raw else DEFAULT_SKEW_MINUTES
    except ValueError:
        minutes = -1
    if minutes < 0:
        raise WindowSettingError(
            f"COVIDSYNC_TIME_WINDOW_SKEW_MINUTES={raw!r} is not a number of minutes (0 or more, e.g. 1440)"
        )
    return minutes


def rule_params() -> dict:
    """What the plausibility rules read, for the engine's parameters of every rules file."""
    return {"window_start": window_start(), "window_skew_minutes": window_skew_minutes(), **text_params()}
