"""Personal data on an operator's terminal: masked by default, shown on request, and the showing logged.

``review list`` and ``explain`` print identifiers (CCCD, CMND, phone numbers, QR ids). By default each is
masked to its last four characters (``cccd:********3456``, as ``explain`` and the reports mask), which is
enough to tell candidates apart on a screen; ``--show-personal-data`` prints them whole, and every such showing is logged: a warning on the
``covidsync.audit`` logger and one JSON line (when, who, which command, how many records; never the data)
appended to ``<state dir>/personal-data-shown.log`` (``COVIDSYNC_STATE_DIR``, default ``.covidsync/``).
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import logging
import os
import re

from covidsync import settings
from covidsync.domain.text import mask

audit = logging.getLogger("covidsync.audit")

FLAG = "--show-personal-data"
KEEP = 4
_IDENTIFIER = re.compile(r"^(?P<kind>[a-z_]+):(?P<value>.+)$")
# identifiers written in free text: 9 to 12 digits (CMND, CCCD, phone numbers), or a phone with +84
_IN_TEXT = re.compile(r"(?<![0-9a-f])(\+84|0)?[0-9]{8,11}(?![0-9a-f])")


def add_flag(parser) -> None:
    parser.add_argument(
        FLAG,
        dest="show_personal_data",
        action="store_true",
        help="print identifiers (CCCD, CMND, phone) whole instead of masked; the showing is logged",
    )


def mask_value(value: str | None) -> str | None:
    """``017080123456`` -> ``********3456``: all but the last four characters hidden (short values wholly)."""
    if value is None:
        return None
    text = str(value)
    if len(text) <= KEEP:
        return "*" * len(text)
    return mask(text, KEEP)


def mask_identifier(text: str | None) -> str | None:
    """``cccd:017080123456`` -> ``cccd:********3456``; a pseudonymous person key (64 hex) is not personal data
    and is kept; other text has its digit runs that look like identifiers masked."""
    if text is None:
        return None
    match = _IDENTIFIER.match(str(text))
    if match:
        kind, value = match["kind"], match["value"]
        if kind == "person" and re.fullmatch(r"[0-9a-f]{64}", value):
            return text
        return f"{kind}:{mask_value(value)}"
    return mask_text(str(text))


def mask_text(text: str) -> str:
    return _IN_TEXT.sub(lambda m: mask_value(m.group(0)), text)


def record_shown(command: str, records: int) -> None:
    """Log that ``command`` printed ``records`` records with their personal data unmasked."""
    actor = os.environ.get("USER") or getpass.getuser()
    entry = {
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "actor": actor,
        "command": command,
        "records": records,
    }
    audit.warning("personal data shown: %s by %s (%d records)", command, actor, records)
    path = settings.state_dir() / "personal-data-shown.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")
    except OSError as exc:
        from covidsync.errors import CovidsyncError

        raise CovidsyncError(f"could not log the showing of personal data in {path}: {exc.strerror}") from exc
