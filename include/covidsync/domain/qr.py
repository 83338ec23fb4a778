"""QR payloads scanned at check-in points (contract §5, domain notes §1.1 and §3.2).

Two formats are accepted, told apart by their number of ``|``-separated fields:

* **CCCD card QR**, 7 fields: ``SoCCCD|SoCMND|HoTen|NgaySinh|GioiTinh|NoiThuongTru|NgayCap``.
  Field 0 is 12 digits; field 1 a 9-digit old CMND or empty; dates ``DDMMYYYY``; sex ``Nam``/``Nữ``
  (any case, NFC or NFD; ``Nu`` without accent is accepted too); the name is NFC with single spaces.
  The issue date must be a valid ``DDMMYYYY`` date or empty. The address is not kept (not needed, personal data).
* **Personal QR** of Decision 1405/QĐ-BTTTT v1.1, 6 fields: ``SoGiayTo|HoTen|NgaySinh|LoaiDinhDanh|QID|EXT``.
  ``SoGiayTo`` is a CCCD (12 digits → ``citizen_id``), a CMND (9 digits → ``cmnd``) or a passport number
  (kept in neither); any ``*`` in it means it is masked: ``masked`` is True and the number is never used as an
  identity. ``NgaySinh`` is ``YYYY-MM-DD``; a ``*``-masked day or month gives ``date_of_birth`` None
  (``birth_year`` keeps an unmasked year). ``LoaiDinhDanh`` ``0``/``1`` (``1`` = declared on someone's
  behalf); ``QID`` required. ``EXT`` is ``<``-separated: proxy QID, sex (``0`` unknown, ``1`` male,
  ``2`` female), BHYT number, phone (normalised, dropped when not a mobile), e-signature…; missing trailing
  sub-fields are tolerated.

A payload with another field count, or whose fields break these rules, raises :class:`QrError` (contract code
``invalid_qr_payload``). Error messages never contain the payload.

Decisions where the contract is silent:

* Leading/trailing whitespace, a BOM and ``\\r\\n`` (scanners in keyboard mode) are stripped; the payload is NFC.
* The 6-field card layout found in some public docs (``ID|NAME|DOB|GENDER|ADDRESS|ISSUE_DATE``, no CMND
  field) is **not** a card QR (field count 6), and it is not a valid personal QR either: its third field is
  ``DDMMYYYY``, not ``YYYY-MM-DD``, and its fourth is a sex word, not ``0``/``1`` → ``QrError``.
* Personal QR: an empty ``SoGiayTo`` is allowed (QID identifies the person); it may only contain letters,
  digits and ``*``. An empty name gives ``full_name`` None. An unknown sex code gives ``gender`` None (the
  optional EXT field does not invalidate a check-in). A BHYT number containing ``*`` is treated as absent.
* Additions to ``QrInfo`` (with defaults, after the agreed fields): ``birth_year`` and ``proxy_qid``.
"""

from __future__ import annotations

import datetime as _dt
import re
import unicodedata
from dataclasses import dataclass

from covidsync.domain.phone import normalize_phone
from covidsync.domain.text import name_key

__all__ = ["QrError", "QrInfo", "parse_qr"]


class QrError(ValueError):
    """The payload is neither a CCCD card QR nor a Decision 1405 personal QR."""


@dataclass(frozen=True)
class QrInfo:
    kind: str  # "cccd" | "personal"
    citizen_id: str | None
    cmnd: str | None
    full_name: str | None
    date_of_birth: _dt.date | None
    gender: str | None
    qid: str | None
    phone: str | None
    bhyt: str | None
    masked: bool
    proxy_declared: bool
    birth_year: int | None = None
    proxy_qid: str | None = None


_CCCD_RE = re.compile(r"[0-9]{12}")
_CMND_RE = re.compile(r"[0-9]{9}")
_DDMMYYYY_RE = re.compile(r"([0-9]{2})([0-9]{2})([0-9]{4})")
_ISO_DOB_RE = re.compile(r"([0-9]{4}|\*{4})-([0-9]{2}|\*{2})-([0-9]{2}|\*{2})")
_DOC_RE = re.compile(r"[A-Za-z0-9*]{0,20}")
_WS_RUN = re.compile(r"\s+")
_CARD_SEX = {"nam": "male", "nu": "female"}
_EXT_SEX = {"1": "male", "2": "female"}
_STRIP = " \t\r\n\ufeff\u200b"


def _name(value: str) -> str | None:
    cleaned = _WS_RUN.sub(" ", value).strip()
    return cleaned or None


def _card_date(value: str, what: str) -> _dt.date:
    match = _DDMMYYYY_RE.fullmatch(value)
    if match is None:
        raise QrError(f"CCCD QR: {what} is not DDMMYYYY")
    day, month, year = (int(g) for g in match.groups())
    try:
        return _dt.date(year, month, day)
    except ValueError:
        raise QrError(f"CCCD QR: {what} is not a calendar date") from None


def _parse_card(fields: list[str]) -> QrInfo:
    citizen_id, cmnd, full_name, dob, sex, _address, issued = (f.strip() for f in fields)
    if not _CCCD_RE.fullmatch(citizen_id):
        raise QrError("CCCD QR: the CCCD number is not 12 digits")
    if cmnd and not _CMND_RE.fullmatch(cmnd):
        raise QrError("CCCD QR: the old CMND number is neither empty nor 9 digits")
    name = _name(full_name)
    if name is None:
        raise QrError("CCCD QR: the name is empty")
    date_of_birth = _card_date(dob, "the date of birth")
    if issued:
        _card_date(issued, "the issue date")
    gender = _CARD_SEX.get(name_key(sex))
    if gender is None:
        raise QrError("CCCD QR: the sex is neither Nam nor Nữ")
    return QrInfo(
        kind="cccd",
        citizen_id=citizen_id,
        cmnd=cmnd or None,
        full_name=name,
        date_of_birth=date_of_birth,
        gender=gender,
        qid=None,
        phone=None,
        bhyt=None,
        masked=False,
        proxy_declared=False,
        birth_year=date_of_birth.year,
    )


def _parse_personal(fields: list[str]) -> QrInfo:
    document, full_name, dob, declared, qid, ext = (f.strip() for f in fields)
    if not _DOC_RE.fullmatch(document):
        raise QrError("personal QR: the document number has unexpected characters")
    masked = "*" in document
    citizen_id = cmnd = None
    if not masked:
        if _CCCD_RE.fullmatch(document):
            citizen_id = document
        elif _CMND_RE.fullmatch(document):
            cmnd = document
    date_of_birth: _dt.date | None = None
    birth_year: int | None = None
    if dob:
        match = _ISO_DOB_RE.fullmatch(dob)
        if match is None:
            raise QrError("personal QR: the date of birth is not YYYY-MM-DD")
        year, month, day = match.groups()
        if "*" not in year:
            birth_year = int(year)
        if "*" not in dob:
            try:
                date_of_birth = _dt.date(int(year), int(month), int(day))
            except ValueError:
                raise QrError("personal QR: the date of birth is not a calendar date") from None
    if declared not in ("0", "1"):
        raise QrError("personal QR: LoaiDinhDanh is neither 0 nor 1")
    if not qid:
        raise QrError("personal QR: the QID is empty")
    subfields = [s.strip() for s in ext.split("<")] + [""] * 4
    proxy_qid, sex, bhyt, phone = subfields[:4]
    bhyt = bhyt.upper()
    return QrInfo(
        kind="personal",
        citizen_id=citizen_id,
        cmnd=cmnd,
        full_name=_name(full_name),
        date_of_birth=date_of_birth,
        gender=_EXT_SEX.get(sex),
        qid=qid,
        phone=normalize_phone(phone) if phone else None,
        bhyt=bhyt if bhyt and "*" not in bhyt else None,
        masked=masked,
        proxy_declared=declared == "1",
        birth_year=birth_year,
        proxy_qid=proxy_qid or None,
    )


def parse_qr(payload: str) -> QrInfo:
    """Parse a CCCD card QR (7 fields) or a personal QR (6 fields); :class:`QrError` otherwise."""
    if not isinstance(payload, str):
        raise QrError("QR payload is not text")
    text = payload.strip(_STRIP)
    if not text:
        raise QrError("QR payload is empty")
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    fields = text.split("|")
    if len(fields) == 7:
        return _parse_card(fields)
    if len(fields) == 6:
        return _parse_personal(fields)
    raise QrError(
        f"QR payload has {len(fields)} '|'-separated fields; expected 7 (CCCD card QR) or 6 (personal QR)"
    )
