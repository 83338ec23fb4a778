"""PC-Covid venues and check-ins (contract §5, with §1, §6 and §7): the dataset-specific parts.

The engine (:mod:`covidsync.ingest.engine`) drives a file through parse, stage, rules, gate, merge and
report; this module gives it what check-ins need besides: reading the QR payload and the identifiers of a
scan once per distinct value and choosing its person key (:func:`checkin_frames`, :func:`stage_checkins`),
the pseudonym SQL (:func:`person_key_sql`), the merge (:func:`merge_checkins`), and the daily partitions of
``core.checkin`` with their retention (:func:`maintain_partitions`).

Privacy: ``core.checkin`` holds a pseudonymous ``person_key``, never the payload; identifiers in clear go to
``core.checkin_person`` only; staging and the spool of a file's identity facts (past
:data:`FACTS_SPOOL_BYTES`, an unlinked temporary file) hold values in clear only while the file is
processed. How the hot path is laid out, the privacy rules in full and the decisions where the contract is
silent are in docs/ingest-engine.md, "PC-Covid check-ins"; the decisions also in docs/dags.md.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from covidsync import sqlfiles
from covidsync.ingest import engine, landing
from covidsync.ingest.engine import (  # noqa: F401 (the steps, for callers of this module)
    FileRow,
    FileStateError,
    apply_rules,
    finish,
    gate,
    hold,
    load_file,
    merge,
    problem_rows,
    profile,
    reject_file,
    sql_text,
    stage,
)

if TYPE_CHECKING:
    import polars as pl

log = logging.getLogger(__name__)

# app_users: the app operator's daily counts (adoption.md), from pccovid/app_users/ after the check-ins;
# declarations: issue 24, the same pccovid/ folder
PCCOVID_DATASETS = ("venues", "checkins", "app_users", "declarations")
PCCOVID_TABLES = {
    "venues": "venue",
    "checkins": "checkin",
    "app_users": "app_user_count",
    "declarations": "declaration",
}
IDENTITY_COLUMNS = {"citizen_id", "phone", "qr_payload"}
COPY_READ = 1 << 16  # characters handed to COPY per read
FACTS_SPOOL_BYTES = 32 << 20  # identity facts of a file kept in memory up to this, then on disk
IDENTITY_CACHE = 200_000  # person keys remembered per file before the identity facts are written again

CHECKIN_COLUMNS = (
    "file_id",
    "row_number",
    "checkin_id",
    "venue_code",
    "scanned_at_text",
    "scanned_at",
    "direction_text",
    "mode_text",
    "qr_payload",
    "qr_kind",
    "citizen_id_text",
    "citizen_id",
    "phone_text",
    "phone",
    "person_kind",
    "identifier",
)
IDENTITY_FACT_COLUMNS = (
    "file_id",
    "person_kind",
    "identifier",
    "source",
    "citizen_id",
    "cmnd",
    "qid",
    "phone",
    "full_name",
    "date_of_birth",
    "birth_year",
    "gender",
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
_KIND_RANK = {"cccd": 0, "cmnd": 1, "qid": 2, "phone": 3}


# -- the per-row parsing (the one step that needs Python) -----------------------------------------------
@lru_cache(maxsize=1 << 17)
def payload_facts(payload: str) -> tuple:
    """What one QR payload gives: ``(qr_kind, person_kind, identifier, facts)``.

    ``qr_kind`` is ``cccd``/``personal``, or ``invalid`` (contract code ``invalid_qr_payload``) with the
    rest None. ``facts`` is ``(source, citizen_id, cmnd, qid, phone, full_name, date_of_birth, birth_year,
    gender)``; a masked document number is in neither ``citizen_id`` nor ``cmnd``.
    """
    from covidsync.domain.qr import QrError, parse_qr

    try:
        info = parse_qr(payload)
    except QrError:
        return ("invalid", None, None, None)
    if info.citizen_id:
        kind, identifier = "cccd", info.citizen_id
    elif info.cmnd:
        kind, identifier = "cmnd", info.cmnd
    elif info.qid:
        kind, identifier = "qid", info.qid
    elif info.phone:
        kind, identifier = "phone", info.phone
    else:
        kind = identifier = None
    facts = (
        "cccd_qr" if info.kind == "cccd" else "personal_qr",
        info.citizen_id,
        info.cmnd,
        info.qid,
        info.phone,
        info.full_name,
        info.date_of_birth.isoformat() if info.date_of_birth else None,
        info.birth_year,
        info.gender,
    )
    return (info.kind, kind, identifier, facts)


@lru_cache(maxsize=1 << 16)
def citizen_id_key(text: str) -> tuple[str | None, str | None]:
    """The ``citizen_id`` column read: ``(digits or None, person kind when usable as a key or None)``."""
    from covidsync.domain.cccd import PROVINCES, repair_citizen_id

    repaired = repair_citizen_id(text)
    if not (repaired.isascii() and repaired.isdigit()):
        return None, None
    if len(repaired) == 12 and repaired[0] == "0" and repaired[1:3] in PROVINCES:
        return repaired, "cccd"
    if len(repaired) == 9:
        return repaired, "cmnd"
    return repaired, None


def _scanned_at(text: str) -> str | None:
    """``scanned_at`` as ISO 8601 with an offset, or None when unreadable (contract §2)."""
    n = len(text)
    # fast path: what PC-Covid exports (2021-11-01T00:10:25+07:00, 2021-11-02T17:10:29Z), checked by shape
    # so that nothing outside contract §2 slips through datetime.fromisoformat
    if (n == 25 and text[19] in "+-" and text[22] == ":") or (n == 20 and text[19] == "Z"):
        if text[4] == "-" and text[7] == "-" and text[10] == "T" and text[13] == ":" and text[16] == ":":
            try:
                value = dt.datetime.fromisoformat(text)
            except ValueError:
                value = None
            if value is not None and 1900 <= value.year <= 2099:
                return text
    from covidsync.domain.dates import parse_datetime

    try:
        return parse_datetime(text).isoformat()
    except ValueError:
        return None


def checkin_rows(
    file_id: int, rows: Iterable[tuple[int, dict[str, str]]]
) -> Iterator[tuple[list, list | None]]:
    """For each parsed row: its staging row, and the identity facts to write (None when already written)."""
    from covidsync.domain.phone import normalize_phone

    seen: set = set()
    for row_number, v in rows:
        get = v.get
        payload = get("qr_payload")
        cid_text = get("citizen_id")
        phone_text = get("phone")
        scanned_text = get("scanned_at")
        qr_kind = kind = identifier = facts = None
        if payload is not None:
            qr_kind, kind, identifier, facts = payload_facts(payload)
        citizen_id = phone = None
        if cid_text is not None:
            citizen_id, cid_kind = citizen_id_key(cid_text)
            if cid_kind is not None and (kind is None or _KIND_RANK[cid_kind] < _KIND_RANK[kind]):
                kind, identifier = cid_kind, citizen_id
        if phone_text is not None:
            phone = normalize_phone(phone_text)
            if phone is not None and kind is None:
                kind, identifier = "phone", phone
        scanned_at = _scanned_at(scanned_text) if scanned_text is not None else None
        # a value as sent is written only when it differs from what was read (fewer bytes to COPY)
        staged = [
            file_id,
            row_number,
            get("checkin_id"),
            get("venue_code"),
            scanned_text if scanned_at is None else None,
            scanned_at,
            get("direction"),
            get("mode"),
            payload,
            qr_kind,
            cid_text if cid_text != citizen_id else None,
            citizen_id,
            phone_text if phone is None else None,
            phone,
            kind,
            identifier,
        ]
        fact_row = None
        if facts is not None and kind is not None:
            token = (kind, identifier, facts[0])
            if token not in seen:
                if len(seen) >= IDENTITY_CACHE:
                    seen.clear()
                seen.add(token)
                fact_row = [file_id, kind, identifier, *facts]
        yield staged, fact_row


def _copy(cur, table: str, columns: tuple[str, ...], source) -> None:
    """``COPY`` CSV into ``table`` from ``source``: anything with ``read`` (a file from its start, a stream)."""
    cur.copy_expert(
        f"copy {table} ({', '.join(columns)}) from stdin with (format csv)", source, size=COPY_READ
    )


class CsvStream:
    """A file-like ``read()`` that formats rows as CSV only when ``COPY`` asks for more.

    ``cursor.copy_expert`` calls ``read`` until it returns nothing and sends each piece as it comes, so
    PostgreSQL parses and writes one piece while Python reads the next rows of the file: the two run on
    two cores instead of one after the other (a whole chunk built, then sent). Memory holds one piece.
    An error raised while reading the file ends the stream early and is raised again by :meth:`check`
    after the ``COPY``: the caller's transaction is then rolled back, so a partial stream never stays.
    """

    def __init__(self, rows: Iterator[list]):
        self._rows = rows
        self._buffer = io.StringIO()
        self._writerow = csv.writer(self._buffer, lineterminator="\n").writerow
        self.count = 0
        self.error: BaseException | None = None

    def read(self, size: int = -1) -> str:
        buffer, writerow, rows = self._buffer, self._writerow, self._rows
        size = size if size and size > 0 else COPY_READ
        count = 0
        try:
            while buffer.tell() < size:
                row = next(rows, None)
                if row is None:
                    break
                writerow(row)
                count += 1
        except Exception as exc:  # noqa: BLE001 (kept, and raised by check() once the COPY has ended)
            self.error = exc
        self.count += count
        data = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return data

    def check(self) -> None:
        if self.error is not None:
            raise self.error


def stage_checkins(conn, file_id: int, rows: Iterable[tuple[int, dict[str, str]]]) -> int:
    """Replace the file's staged check-ins (in the caller's transaction); return the rows staged.

    One ``COPY`` streams the rows as they are parsed (:class:`CsvStream`); the identity facts, one row per
    person key of the file, wait in a spooled temporary file (memory up to :data:`FACTS_SPOOL_BYTES`, then
    disk) and follow in a second ``COPY``.
    """
    facts_file = tempfile.SpooledTemporaryFile(max_size=FACTS_SPOOL_BYTES, mode="w+", encoding="utf-8")
    facts_out = csv.writer(facts_file, lineterminator="\n").writerow

    def staged_rows() -> Iterator[list]:
        for staged, fact_row in checkin_rows(file_id, rows):
            if fact_row is not None:
                facts_out(fact_row)
            yield staged

    with conn.cursor() as cur, facts_file:
        cur.execute("delete from staging.checkin where file_id = %s", (file_id,))
        cur.execute("delete from staging.checkin_identity where file_id = %s", (file_id,))
        stream = CsvStream(staged_rows())
        _copy(cur, "staging.checkin", CHECKIN_COLUMNS, stream)
        stream.check()
        if facts_file.tell():
            facts_file.seek(0)
            _copy(cur, "staging.checkin_identity", IDENTITY_FACT_COLUMNS, facts_file)
    # the caches hold personal data: not kept beyond the file
    payload_facts.cache_clear()
    citizen_id_key.cache_clear()
    return stream.count


# -- the columnar stage (what the engine runs) -------------------------------------------------------------
_FACT_FIELDS = (
    "source",
    "f_citizen_id",
    "cmnd",
    "qid",
    "f_phone",
    "full_name",
    "date_of_birth",
    "birth_year",
    "gender",
)


def _payload_table(payloads) -> pl.DataFrame:
    """What each distinct payload gives (:func:`payload_facts`, once per distinct payload)."""
    import polars as pl

    values = payloads.drop_nulls().unique().to_list()
    facts = [payload_facts(v) for v in values]
    columns: dict[str, list] = {"qr_payload": values, "qr_kind": [], "p_kind": [], "p_identifier": []}
    columns.update({name: [] for name in _FACT_FIELDS})
    for qr_kind, kind, identifier, fact in facts:
        columns["qr_kind"].append(qr_kind)
        columns["p_kind"].append(kind)
        columns["p_identifier"].append(identifier)
        for name, value in zip(_FACT_FIELDS, fact or (None,) * len(_FACT_FIELDS), strict=True):
            columns[name].append(value)
    schema = {name: pl.String for name in columns}
    schema["birth_year"] = pl.Int64
    return pl.DataFrame(columns, schema=schema)


_PERSONAL_FAST = (
    r"^(?P<doc>[0-9]{12}|[0-9]{9}|)\|(?P<name>[^|]*)\|(?P<dob>[0-9]{4}-[0-9]{2}-[0-9]{2}|)\|(?P<decl>[01])"
    r"\|(?P<qid>[^|\s\ufeff\u200b]+)\|(?P<ext>[^|\s\ufeff\u200b]*)$"
)
# the same with a masked document number (digits and "*", at least one: never an identity) and a masked
# year, month or day of birth (issue 16, branch e7-checkins: a tenth of a day's scans are masked QRs)
_PERSONAL_FAST_MASKED = (
    r"^(?P<doc>[0-9]{12}|[0-9]{9}|[0-9*]*\*[0-9*]*|)\|(?P<name>[^|]*)"
    r"\|(?P<dob>(?:[0-9]{4}|\*{4})-(?:[0-9]{2}|\*{2})-(?:[0-9]{2}|\*{2})|)\|(?P<decl>[01])"
    r"\|(?P<qid>[^|\s\ufeff\u200b]+)\|(?P<ext>[^|\s\ufeff\u200b]*)$"
)
_CARD_FAST = (
    r"^(?P<cid>[0-9]{12})\|(?P<cmnd>[0-9]{9}|)\|(?P<name>[^|]+)\|(?P<dob>[0-9]{8})\|(?P<sex>Nam|NAM|nam|Nữ|NỮ|nữ)"
    r"\|[^|]*\|(?P<issued>[0-9]{8}|)$"
)
_CLEAN_NAME = r"^(?:[^\s\x00-\x1f\x7f]+(?: [^\s\x00-\x1f\x7f]+)*)?$"


def _fast_payload_table(payloads, *, masked: bool = False) -> tuple[pl.DataFrame, object]:
    """The payloads of the two common, well-formed shapes split and read by column expressions (``|`` and
    ``<`` fields, dates, sex codes, phones), with exactly :func:`payload_facts`' answer; the others come
    back as a Series for :func:`payload_facts`. A payload is taken here only when every rule it meets is
    plain (no masking, no whitespace or control character to clean, already NFC, a real date in
    1900-2099); anything else, however rare, goes through the domain parser.

    With ``masked``, personal QRs with a masked document number (digits and ``*``, at most 20 characters)
    or a masked date of birth (``******907442``, ``1990-**-**``) are taken too, read as
    :func:`covidsync.domain.qr.parse_qr` reads them: the masked number is never a key (the QID is), a
    masked date gives no date of birth, an unmasked year still gives the birth year."""
    import polars as pl

    from covidsync.ingest.columnar import read_phone

    v = pl.col("qr_payload")
    frame = pl.DataFrame({"qr_payload": payloads}, schema={"qr_payload": pl.String})
    # already NFC: every ASCII payload is; the others (names with accents) normalised to see (a third of
    # this function's time when every payload was)
    ascii_ = frame.filter(v.str.len_bytes() == v.str.len_chars())["qr_payload"]
    other = frame.filter(v.str.len_bytes() != v.str.len_chars())
    nfc = pl.concat([ascii_, other.filter(v.str.normalize("NFC") == v)["qr_payload"]])
    frame = frame.with_columns(
        personal=v.str.extract_groups(_PERSONAL_FAST_MASKED if masked else _PERSONAL_FAST),
        card=v.str.extract_groups(_CARD_FAST),
        nfc=v.is_in(nfc.implode()),
    )
    pf, cf = pl.col("personal").struct, pl.col("card").struct

    def valid_day(text: pl.Expr, fmt: str) -> pl.Expr:
        day = text.str.to_date(fmt, strict=False)
        return pl.when(day.dt.year().is_between(1900, 2099)).then(day)

    p_dob = valid_day(pf.field("dob"), "%Y-%m-%d")
    c_dob = valid_day(cf.field("dob"), "%d%m%Y")
    c_issued = valid_day(cf.field("issued"), "%d%m%Y")
    doc_masked = pf.field("doc").str.contains("*", literal=True)
    dob_masked = pf.field("dob").str.contains("*", literal=True)
    personal_ok = (
        pf.field("doc").is_not_null()
        & (pf.field("doc").str.len_bytes() <= 20)
        & pf.field("name").str.contains(_CLEAN_NAME)
        & ((pf.field("dob") == "") | dob_masked | p_dob.is_not_null())
    )
    card_ok = (
        cf.field("cid").is_not_null()
        & cf.field("name").str.contains(_CLEAN_NAME)
        & c_dob.is_not_null()
        & ((cf.field("issued") == "") | c_issued.is_not_null())
    )
    frame = frame.with_columns(
        kind=pl.when(pl.col("nfc") & personal_ok)
        .then(pl.lit("personal"))
        .when(pl.col("nfc") & card_ok)
        .then(pl.lit("cccd")),
        p_dob=p_dob,
        c_dob=c_dob,
        masked=doc_masked,
        year_known=(pf.field("dob") != "") & ~pf.field("dob").str.slice(0, 4).str.contains("*", literal=True),
    )
    slow = frame.filter(pl.col("kind").is_null())["qr_payload"]
    ext = pf.field("ext").str.split("<")

    def sub(i: int) -> pl.Expr:
        return ext.list.get(i, null_on_oob=True).fill_null("")

    personal = frame.filter(pl.col("kind") == "personal").with_columns(sex=sub(1), phone_text=sub(3))
    personal = personal.with_columns(f_phone=read_phone(personal["phone_text"].replace("", None).rename("v")))
    doc = pf.field("doc")
    personal = personal.select(
        "qr_payload",
        pl.lit("personal").alias("qr_kind"),
        pl.when(pl.col("masked"))
        .then(pl.lit("qid"))
        .when(doc.str.len_bytes() == 12)
        .then(pl.lit("cccd"))
        .when(doc.str.len_bytes() == 9)
        .then(pl.lit("cmnd"))
        .otherwise(pl.lit("qid"))
        .alias("p_kind"),
        pl.when(~pl.col("masked") & (doc != "")).then(doc).otherwise(pf.field("qid")).alias("p_identifier"),
        pl.lit("personal_qr").alias("source"),
        pl.when(~pl.col("masked") & (doc.str.len_bytes() == 12)).then(doc).alias("f_citizen_id"),
        pl.when(~pl.col("masked") & (doc.str.len_bytes() == 9)).then(doc).alias("cmnd"),
        pf.field("qid").alias("qid"),
        "f_phone",
        pl.when(pf.field("name") != "").then(pf.field("name")).alias("full_name"),
        pl.col("p_dob").dt.to_string("%Y-%m-%d").alias("date_of_birth"),
        pl.when(pl.col("year_known"))
        .then(pf.field("dob").str.slice(0, 4).cast(pl.Int64, strict=False))
        .alias("birth_year"),
        pl.col("sex")
        .replace_strict({"1": "male", "2": "female"}, default=None, return_dtype=pl.String)
        .alias("gender"),
    )
    card = frame.filter(pl.col("kind") == "cccd").select(
        "qr_payload",
        pl.lit("cccd").alias("qr_kind"),
        pl.lit("cccd").alias("p_kind"),
        cf.field("cid").alias("p_identifier"),
        pl.lit("cccd_qr").alias("source"),
        cf.field("cid").alias("f_citizen_id"),
        pl.when(cf.field("cmnd") != "").then(cf.field("cmnd")).alias("cmnd"),
        pl.lit(None, dtype=pl.String).alias("qid"),
        pl.lit(None, dtype=pl.String).alias("f_phone"),
        cf.field("name").alias("full_name"),
        pl.col("c_dob").dt.to_string("%Y-%m-%d").alias("date_of_birth"),
        pl.col("c_dob").dt.year().cast(pl.Int64).alias("birth_year"),
        pl.when(cf.field("sex").str.to_lowercase() == "nam")
        .then(pl.lit("male"))
        .otherwise(pl.lit("female"))
        .alias("gender"),
    )
    return pl.concat([personal, card], how="vertical_relaxed"), slow


def _id_table(values) -> pl.DataFrame:
    """The distinct citizen ids of a batch read as :func:`citizen_id_key` reads them: the plain 12- and 9-digit
    values (nearly all, and unchanged by the repair) by column expressions, the others one call each (issue
    24: 50k distinct ids of a 100k declarations file took 0.6-1.4 s one call each)."""
    import polars as pl

    from covidsync.domain.cccd import PROVINCES

    schema = {"citizen_id_raw": pl.String, "citizen_id": pl.String, "c_kind": pl.String}
    distinct = values.drop_nulls().unique()
    plain = distinct.str.contains(r"^(?:[0-9]{12}|[0-9]{9})$")
    v = pl.col("citizen_id_raw")
    fast = pl.DataFrame({"citizen_id_raw": distinct.filter(plain)}, schema={"citizen_id_raw": pl.String})
    fast = fast.select(
        v,
        v.alias("citizen_id"),
        pl.when(
            (v.str.len_bytes() == 12)
            & v.str.starts_with("0")
            & v.str.slice(1, 2).is_in(pl.Series(list(PROVINCES), dtype=pl.String).implode())
        )
        .then(pl.lit("cccd"))
        .when(v.str.len_bytes() == 9)
        .then(pl.lit("cmnd"))
        .alias("c_kind"),
    )
    others = distinct.filter(~plain).to_list()
    read = [citizen_id_key(v) for v in others]
    slow = pl.DataFrame(
        {"citizen_id_raw": others, "citizen_id": [r[0] for r in read], "c_kind": [r[1] for r in read]},
        schema=schema,
    )
    return pl.concat([fast, slow], how="vertical")


def checkin_frames(frame: pl.DataFrame, file_id: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One batch of check-in rows (text columns, ``row_number``) → its staging rows and identity facts,
    exactly as :func:`checkin_rows` gives them row by row: payloads, citizen ids and times read once per
    distinct value, the best key chosen by column expressions."""
    import polars as pl

    from covidsync.ingest.columnar import per_distinct, read_phone

    rank = {"cccd": 0, "cmnd": 1, "qid": 2, "phone": 3}
    frame = frame.with_columns(
        scanned_read=per_distinct(frame["scanned_at"], _scanned_at),
        phone_read=read_phone(frame["phone"]),
    )
    fast, slow = _fast_payload_table(frame["qr_payload"].drop_nulls().unique(), masked=True)
    payloads = pl.concat([fast, _payload_table(slow)], how="vertical_relaxed")
    frame = frame.join(payloads, on="qr_payload", how="left", maintain_order="left")
    frame = frame.join(
        _id_table(frame["citizen_id"]).rename({"citizen_id": "cid_read"}),
        left_on="citizen_id",
        right_on="citizen_id_raw",
        how="left",
        maintain_order="left",
    )
    p_rank = pl.col("p_kind").replace_strict(rank, default=None, return_dtype=pl.Int8)
    c_rank = pl.col("c_kind").replace_strict(rank, default=None, return_dtype=pl.Int8)
    cid_wins = pl.col("c_kind").is_not_null() & (pl.col("p_kind").is_null() | (c_rank < p_rank))
    kind = pl.when(cid_wins).then(pl.col("c_kind")).otherwise(pl.col("p_kind"))
    identifier = pl.when(cid_wins).then(pl.col("cid_read")).otherwise(pl.col("p_identifier"))
    phone_wins = kind.is_null() & pl.col("phone_read").is_not_null()
    frame = frame.with_columns(
        person_kind=pl.when(phone_wins).then(pl.lit("phone")).otherwise(kind),
        identifier=pl.when(phone_wins).then(pl.col("phone_read")).otherwise(identifier),
    )
    staged = frame.select(
        pl.lit(file_id, dtype=pl.Int64).alias("file_id"),
        "row_number",
        "checkin_id",
        "venue_code",
        pl.when(pl.col("scanned_read").is_null()).then(pl.col("scanned_at")).alias("scanned_at_text"),
        pl.col("scanned_read").alias("scanned_at"),
        pl.col("direction").alias("direction_text"),
        pl.col("mode").alias("mode_text"),
        "qr_payload",
        "qr_kind",
        pl.when(pl.col("citizen_id").ne_missing(pl.col("cid_read")))
        .then(pl.col("citizen_id"))
        .alias("citizen_id_text"),
        pl.col("cid_read").alias("citizen_id"),
        pl.when(pl.col("phone_read").is_null()).then(pl.col("phone")).alias("phone_text"),
        pl.col("phone_read").alias("phone"),
        "person_kind",
        "identifier",
    )
    facts = (
        frame.filter(pl.col("source").is_not_null() & pl.col("person_kind").is_not_null())
        .unique(subset=["person_kind", "identifier", "source"], keep="first", maintain_order=True)
        .select(
            pl.lit(file_id, dtype=pl.Int64).alias("file_id"),
            "person_kind",
            "identifier",
            "source",
            pl.col("f_citizen_id").alias("citizen_id"),
            "cmnd",
            "qid",
            pl.col("f_phone").alias("phone"),
            "full_name",
            "date_of_birth",
            "birth_year",
            "gender",
        )
    )
    return staged, facts


class PersonKeys:
    """The pseudonyms of a file's persons (:func:`covidsync.privacy.pseudonym` of ``person_kind:identifier``),
    each computed once per file: :meth:`add` gives a batch of staging rows its ``person_key`` column (null
    where the row has no person key).

    The merge reads the key from staging (migration 0046) instead of joining every loadable row to a table
    of keys hashed in SQL. The HMAC is written out with two SHA-256 states keyed once and copied per person
    (the value of ``hmac.new``; 0.6 s for 235k persons under load against 1.4 s with ``hmac.new`` each), and
    a person met in an earlier batch is not hashed again (a day's file names most persons in two batches;
    at most :data:`IDENTITY_CACHE` remembered, so memory stays flat).
    Holds pseudonyms and identifiers of one file in memory only while it is staged, as staging does."""

    def __init__(self) -> None:
        import hashlib

        from covidsync import privacy

        key = privacy.key()
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        key = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
        self.known: dict[str, str] = {}  # "kind:identifier" -> pseudonym, at most IDENTITY_CACHE of them

    def pseudonym(self, message: str) -> str:
        h = self._inner.copy()
        h.update(message.encode())
        o = self._outer.copy()
        o.update(h.digest())
        return o.hexdigest()

    def add(self, staged: pl.DataFrame) -> pl.DataFrame:
        import polars as pl

        on = ["person_kind", "identifier"]
        pairs = staged.select(on).drop_nulls().unique()
        messages = pairs.select(pl.concat_str(on, separator=":"))["person_kind"].to_list()
        if len(self.known) + len(messages) > IDENTITY_CACHE:  # memory stays flat: a long file hashes again
            self.known.clear()
        known, inner, outer = self.known, self._inner, self._outer
        keys = []
        for message in messages:
            value = known.get(message)
            if value is None:  # self.pseudonym(message), written out: 240k calls a 500k-row file
                h = inner.copy()
                h.update(message.encode())
                o = outer.copy()
                o.update(h.digest())
                value = known[message] = o.hexdigest()
            keys.append(value)
        pairs = pairs.with_columns(person_key=pl.Series(keys, dtype=pl.String))
        return staged.join(pairs, on=on, how="left", maintain_order="left")


class IdsSeen:
    """Which ``checkin_id`` values earlier batches of a file may have sent, in a fixed 16 MB bitmap (one bit per
    64-bit hash of an id, modulo 2**27), so that memory stays flat however long the file: a false "seen" is
    possible (about 4 % of ids at 5M distinct ones), a missed one never. What it decides must therefore only
    widen: :func:`payloads_where_reported` keeps a payload it did not need, never drops one it needs."""

    BITS = 1 << 27

    def __init__(self) -> None:
        import numpy as np

        self._bits = np.zeros(self.BITS // 8, dtype=np.uint8)

    def seen_then_add(self, ids: pl.Series) -> pl.Series:
        """For each id of the batch: whether an earlier batch may have sent it (null: False); then the batch's
        ids are added."""
        import numpy as np
        import polars as pl

        slots = (ids.hash(seed=1603) % self.BITS).to_numpy().astype(np.int64)
        byte, bit = slots >> 3, (slots & 7).astype(np.uint8)
        seen = (self._bits[byte] >> bit) & 1
        present = ids.is_not_null().to_numpy()
        np.bitwise_or.at(self._bits, byte[present], (np.uint8(1) << bit[present]).astype(np.uint8))
        return pl.Series(seen.astype(bool)) & ids.is_not_null()


def payloads_where_reported(staged: pl.DataFrame, codes: pl.DataFrame, ids_seen: IdsSeen) -> pl.DataFrame:
    """``staged`` with ``qr_payload`` kept only on the rows whose payload a report may show, null on the
    others (issue 16, e11-checkins: the payload was half the bytes of each staged row, written by ``COPY``
    and read again by every pass of the merge, which never reads it).

    Only a row with a problem shows its payload (masked, in ``quarantine.rejected_row`` and the sender's
    errors.csv): a row with a code of this batch (``codes``), and every row that ``duplicate_in_file``
    (``checkin_duplicate.sql``, after staging) may flag: a ``checkin_id`` repeated in the batch or that an
    earlier batch may have sent (``ids_seen``, a superset; filled here). The identity facts of every payload
    were taken before (their own table)."""
    import polars as pl

    return staged.with_columns(
        qr_payload=pl.when(_reported(staged, codes, ids_seen)).then(pl.col("qr_payload"))
    )


def _reported(staged: pl.DataFrame, codes: pl.DataFrame, ids_seen: IdsSeen) -> pl.Series:
    """The rows of a batch that a report may show (:func:`payloads_where_reported`): a code of the batch, a
    ``checkin_id`` the batch repeats or an earlier batch may have sent (``ids_seen``, filled here)."""
    ids = staged["checkin_id"]
    earlier = ids_seen.seen_then_add(ids)
    keep = staged["row_number"].is_in(codes["row_number"].implode()) | ids.is_duplicated() | earlier
    return keep.fill_null(False)


#: a check-in file's batches read and typed on a thread of their own while the main thread keys, codes, splits
#: and hands the batch before to the writer (issue 16, branch e29-checkins): polars releases the GIL while it
#: reads, cleans and types, so the reading takes the second core the main thread's Python cannot use (0 turns
#: it off: the batches are read on the main thread, as before)
READ_AHEAD = os.environ.get("COVIDSYNC_CHECKIN_READ_AHEAD", "1") != "0"


def _ReadAhead(items: Iterator, enabled: bool = True):  # noqa: N802 (used as a context manager, like a class)
    """:func:`columnar.read_ahead` on the thread ``checkin-read``, as a context manager: the reading thread is
    stopped and joined when the block ends."""
    from contextlib import closing

    from covidsync.ingest import columnar

    return closing(columnar.read_ahead(items, enabled, name="checkin-read"))


def stage_checkins_columnar(
    conn, file_id: int, stream, path: Path | None = None, received_at: dt.datetime | None = None
) -> int:
    """Replace the file's staged check-ins (in the caller's transaction), batch by batch; return the rows
    staged. Each batch is one ``COPY`` of its rows and one of its identity facts not written before (the
    first facts of each person key and QR kind in the file, as :func:`stage_checkins` keeps them).

    With ``received_at`` (the engine's stage), each batch's row codes that a single row decides
    (:mod:`covidsync.ingest.checkin_frame_rules`) go to ``staging.row_check`` with it.

    A CSV is read natively in one pass, its bytes checked chunk by chunk as read (as the engine's
    ``columnar.stage_rows`` and the declarations' stage): when a later chunk is not one record a line, the
    file is staged again from the start by the csv module (same transaction; the rows already written are
    deleted first). Each batch's ``COPY``s run on a background thread while the next batch is read and
    typed (``columnar._Ahead``, ``COVIDSYNC_INGEST_COPY_AHEAD``; issue 16, branch e19-checkins)."""
    from covidsync.ingest import columnar

    try:
        return _stage_checkins_columnar(conn, file_id, stream, path, received_at, checked_as_read=True)
    except columnar.NotPlain:
        return _stage_checkins_columnar(conn, file_id, stream, path, received_at, checked_as_read=False)


def _stage_checkins_columnar(
    conn,
    file_id: int,
    stream,
    path: Path | None,
    received_at: dt.datetime | None,
    *,
    checked_as_read: bool,
    direct: DirectDays | None = None,
) -> int:
    import polars as pl

    from covidsync.ingest import checkin_frame_rules, columnar
    from covidsync.ingest.datasets import spec

    total = 0
    seen: pl.DataFrame | None = None
    keys = ["person_kind", "identifier", "source"]
    context = checkin_frame_rules.context(conn, received_at) if received_at is not None else None
    venues_seen: set[str] = set()  # the file's venue codes found in core.venue so far
    person_keys = PersonKeys()
    ids_seen = IdsSeen() if context is not None else None  # the file's check-in ids so far, as a bitmap
    with conn.cursor() as cur:
        cur.execute("delete from staging.checkin where file_id = %s", (file_id,))
        cur.execute("delete from staging.checkin_identity where file_id = %s", (file_id,))
        cur.execute("delete from staging.row_check where file_id = %s", (file_id,))

        def typed_batches() -> Iterator[tuple[int, pl.DataFrame, pl.DataFrame]]:
            # read, typed and the facts not written before: on the reading thread (_ReadAhead)
            nonlocal seen
            batches = columnar.read_batches(spec("checkins"), stream, path, checked_as_read=checked_as_read)
            for frame in batches:
                staged, facts = checkin_frames(frame, file_id)
                if seen is not None and facts.height:
                    facts = facts.join(seen, on=keys, how="anti", maintain_order="left")
                if facts.height:
                    # at most IDENTITY_CACHE facts remembered (memory stays flat: a long file writes a person's
                    # facts again, which the merges read by group and distinct; 2M rows peaked at 518-540 MB
                    # with every fact of the file kept, against 402 MB at 500k)
                    if seen is None or seen.height + facts.height > IDENTITY_CACHE:
                        seen = facts.select(keys)
                    else:
                        seen = pl.concat([seen, facts.select(keys)])
                yield frame.height, staged, facts

        with columnar._Ahead(columnar.COPY_AHEAD) as ahead, _ReadAhead(typed_batches(), READ_AHEAD) as read:
            for height, staged, facts in read:
                staged = person_keys.add(staged)
                codes = aside = None
                if context is not None:
                    # the connection is the background thread's until the batch before is written: a
                    # statement sent during its COPY breaks the protocol (the server closes the connection)
                    if ahead.pending is not None:
                        ahead.pending.result()
                    batch = checkin_frame_rules.with_venues(cur, context, staged["venue_code"], venues_seen)
                    codes = checkin_frame_rules.row_codes(None, staged, batch)
                    reported = _reported(staged, codes, ids_seen)
                    staged = staged.with_columns(qr_payload=pl.when(reported).then(pl.col("qr_payload")))
                    if direct is not None:  # the rows no rule can stop aside, only the others staged
                        aside, staged = direct.split(cur, staged, reported)

                def write(staged=staged, facts=facts, codes=codes, aside=aside) -> None:
                    if aside is not None:
                        direct.write(cur, aside)
                    if facts.height:
                        columnar.copy_frame(cur, "staging.checkin_identity", facts)
                    if codes is not None and codes.height:
                        columnar.copy_frame(
                            cur,
                            "staging.row_check",
                            codes.select(pl.lit(file_id, pl.Int64).alias("file_id"), pl.all()),
                        )
                    columnar.copy_frame(cur, "staging.checkin", staged)

                ahead.submit(write)
                total += height
        if total:
            # the statistics the rules, profile and merge plans read (every column of 500k rows: 1.9 s
            # and 1.5 s; these few: see docs/performance.md)
            cur.execute("analyze staging.checkin (file_id, row_number, checkin_id, person_kind, identifier)")
            cur.execute("analyze staging.checkin_identity (file_id, person_kind, identifier)")
    # the caches hold personal data: not kept beyond the file
    payload_facts.cache_clear()
    citizen_id_key.cache_clear()
    return total


# -- straight into core (issue 16, branch e23-checkins) ---------------------------------------------------
#: core.checkin's columns as the merge writes them (loaded_at: its default)
CORE_CHECKIN_COLUMNS = (
    "checkin_id",
    "local_day",
    "venue_code",
    "scanned_at",
    "direction",
    "mode",
    "person_kind",
    "person_key",
    "source_file_id",
    "source_row",
    "qr_kind",
)
_DIRECT_SINCE = dt.datetime(1976, 1, 1, tzinfo=dt.UTC)  # Asia/Ho_Chi_Minh has kept +07:00 since 1975


class DirectDays:
    """What :func:`stage_direct` wrote (what ``engine.ingest_direct`` reads of a ``columnar.DirectResult``):
    the rows no rule can stop as ``core.checkin`` rows in a table built aside per local day (``tables``: day ->
    ``core.checkin_load_<file_id>_<yyyymmdd>``; ``direct`` counts them), their persons counted per batch
    (``pg_temp.checkin_direct_person``) and their profile columns' counts (:meth:`profile_counts`); every
    other row staged as the staging path stages it (``staged``), among them every row a rule flags."""

    def __init__(self, file_id: int) -> None:
        self.file_id = file_id
        self.tables: dict[dt.date, str] = {}
        self.total = self.staged = self.direct = 0
        self.keys_in_order = False
        self.duplicate_rows: list[int] | None = None
        self.by_record_id: bool | None = None
        self.move_back: list[int] = []
        self.flagged_staged = True  # a row a SQL rule flags (duplicate_in_file) is always staged
        self._profile: list[pl.DataFrame] = []

    def profile_counts(self, columns: Iterable[str]) -> pl.DataFrame:
        """The rows aside by the profile's columns (``direction_text``, ``mode_text``, ``person_kind``)."""
        import polars as pl

        columns = list(columns)
        if not self._profile:
            return pl.DataFrame(schema={**{c: pl.String for c in columns}, "n": pl.Int64})
        return pl.concat(self._profile).group_by(columns).agg(pl.col("n").sum()).select(*columns, "n")

    def split(self, cur, staged: pl.DataFrame, reported: pl.Series):
        """One batch (staging rows with their person keys; ``reported``: the rows a report may show) → its
        rows no rule can stop, as core rows by the table aside of their day (made here, on the main thread
        while the writer is idle) with their persons counted, and the batch's other rows (to stage)."""
        import polars as pl

        from covidsync.ingest import checkin_frame_rules

        c = pl.col

        def ascii_or_null(name: str) -> pl.Expr:
            return c(name).is_null() | (c(name).str.len_bytes() == c(name).str.len_chars())

        frame = staged.with_columns(scanned=checkin_frame_rules._instants(staged["scanned_at"]))
        # no code in the batch and no id it repeats or an earlier batch may have sent (so no row rule,
        # duplicate_in_file included, can stop it); lower() of an ASCII direction and mode is the SQL's
        clean = (
            ~reported
            & frame["checkin_id"].is_not_null()
            & frame["venue_code"].is_not_null()
            & frame["person_kind"].is_not_null()
            & frame["identifier"].is_not_null()
            & frame["person_key"].is_not_null()
            & (frame["scanned"] >= _DIRECT_SINCE)
            & frame.select(ascii_or_null("direction_text") & ascii_or_null("mode_text")).to_series()
        ).fill_null(False)
        rest = staged.filter(~clean)
        frame = frame.filter(clean)
        direction = c("direction_text").str.to_lowercase()
        mode = c("mode_text").str.to_lowercase()
        core = frame.select(
            "checkin_id",
            c("scanned").dt.convert_time_zone("Asia/Ho_Chi_Minh").dt.date().alias("local_day"),
            "venue_code",
            "scanned_at",
            pl.when(direction.is_in(["out", "ra", "check-out", "checkout"]))
            .then(pl.lit("out"))
            .otherwise(pl.lit("in"))
            .alias("direction"),
            pl.when(mode.is_in(["self_scan", "self", "self scan"]))
            .then(pl.lit("self_scan"))
            .when(mode.is_in(["operator_scan", "operator", "operator scan"]))
            .then(pl.lit("operator_scan"))
            .alias("mode"),
            "person_kind",
            "person_key",
            pl.lit(self.file_id, dtype=pl.Int64).alias("source_file_id"),
            c("row_number").alias("source_row"),
            pl.when(c("qr_kind") == "cccd")
            .then(pl.lit("cccd_qr"))
            .when(c("qr_kind") == "personal")
            .then(pl.lit("personal_qr"))
            .otherwise(pl.lit("typed"))
            .alias("qr_kind"),
        )
        utc = "%Y-%m-%dT%H:%M:%S%.6f+00:00"
        persons = (
            frame.group_by("person_kind", "identifier", "person_key")
            .agg(
                c("scanned").min().dt.to_string(utc).alias("first_seen_at"),
                c("scanned").max().dt.to_string(utc).alias("last_seen_at"),
                pl.len().cast(pl.Int64).alias("loadable_rows"),
            )
            .select(
                "person_kind", "identifier", "person_key", "first_seen_at", "last_seen_at", "loadable_rows"
            )
        )
        if frame.height:
            self._profile.append(
                frame.group_by("direction_text", "mode_text", "person_kind").agg(
                    pl.len().cast(pl.Int64).alias("n")
                )
            )
        days: dict[str, pl.DataFrame] = {}
        for (day,), part in core.partition_by("local_day", as_dict=True, maintain_order=True).items():
            table = self.tables.get(day)
            if table is None:
                if len(self.tables) >= partition_batch_days():  # a file of many days: staging's merge
                    raise engine.StagingPath
                table = f"core.checkin_load_{self.file_id}_{day:%Y%m%d}"
                cur.execute(
                    f"create table {table} (like core.checkin including defaults including constraints,"
                    " constraint load_checkins_day check (local_day >= %s and local_day < %s))",
                    (day, day + dt.timedelta(days=1)),
                )
                self.tables[day] = table
            days[table] = part
        self.direct += core.height
        self.staged += rest.height
        return (days, persons), rest

    def write(self, cur, aside) -> None:
        """A batch's rows aside and its persons (on the writer thread)."""
        days, persons = aside
        for table, part in days.items():
            _copy_frame(cur, table, part)
        if persons.height:
            _copy_frame(cur, "pg_temp.checkin_direct_person", persons)


#: what ``COPY`` reads of a frame's CSV at a time on the writer thread: each read takes the GIL back from the
#: main thread's typing, which may hold it for the interpreter's switch interval (5 ms); at psycopg2's 8 KB a
#: batch of rows aside took about 1,000 reads
COPY_FRAME_READ = 1 << 20


def _copy_frame(cur, table: str, frame: pl.DataFrame) -> None:
    """``columnar.copy_frame`` in reads of :data:`COPY_FRAME_READ` (one ``COPY`` of ``frame``'s columns)."""
    buffer = io.BytesIO()
    frame.write_csv(buffer, include_header=False, null_value="")
    buffer.seek(0)
    cur.copy_expert(
        f"copy {table} ({', '.join(frame.columns)}) from stdin with (format csv)",
        buffer,
        size=COPY_FRAME_READ,
    )


def stage_direct(conn, f: FileRow, stream, path: Path, spill: Path) -> DirectDays:
    """The check-ins' direct path (``DatasetSpec.direct_stage_hook``, :func:`engine.ingest_direct`, in the
    file's one transaction): the file read batch by batch as :func:`stage_checkins_columnar` reads it (its
    identity facts and row codes written as there), each batch's rows that no rule can stop (no code in
    their batch, a ``checkin_id`` that the batch does not repeat and no earlier batch may have sent, a person
    key) copied as ``core.checkin`` rows into a table built aside for their local day, which
    :func:`merge_direct` attaches, with their persons counted; only the other rows staged (every row that
    ``duplicate_in_file`` flags is among them: a repeat's id was seen before). The merge's insert-select of
    the day from staging and most of the staging ``COPY`` are gone. A CSV not one record a line raises
    ``columnar.NotPlain``, a file of more local days than :func:`partition_batch_days`
    ``engine.StagingPath``: the staging path takes it. ``spill`` is unused (nothing moves back)."""
    read = DirectDays(f.file_id)
    with conn.cursor() as cur:
        cur.execute("drop table if exists pg_temp.checkin_direct_person")
        cur.execute(
            "create temporary table checkin_direct_person (person_kind text, identifier text, person_key text,"
            " first_seen_at timestamptz, last_seen_at timestamptz, loadable_rows bigint) on commit drop"
        )
    read.total = _stage_checkins_columnar(
        conn, f.file_id, stream, path, f.received_at, checked_as_read=True, direct=read
    )
    with conn.cursor() as cur:
        # the ids of the rows aside, for duplicate_in_file (checkin_duplicate_direct.sql)
        aside = " union all ".join(
            f"select a.checkin_id, a.source_row as row_number from {t} as a"  # noqa: S608
            for t in read.tables.values()
        )
        cur.execute("drop view if exists pg_temp.checkin_direct_ids")
        cur.execute(
            "create temporary view checkin_direct_ids as "
            + (aside or "select null::text as checkin_id, null::integer as row_number where false")
        )
    return read


def merge_direct(cur, f: FileRow, params: dict, read: DirectDays) -> int:
    """The check-ins' direct merge (``DatasetSpec.direct_merge_hook``, after the gate, the file's one
    transaction): the person keys of the staged loadable rows and of the rows aside
    (``checkin_person_key_direct.sql``); the file's earlier rows of its days out; each day's table aside
    given the day's staged loadable rows (``checkin_merge_direct.sql``) and attached by
    ``core.attach_checkin_day`` (migration 0079), or, when the day already has rows or ``core.checkin`` is
    busy, its rows inserted through ``core.checkin`` with ``ON CONFLICT DO NOTHING``; a day with none aside
    by ``core.load_checkins``; then the persons and the identity links. Returns the rows loaded besides
    ``read.direct`` (the staging path's count: the file's rows without an error)."""
    from covidsync import privacy

    cur.execute("set local work_mem = '64MB'")
    cur.execute("select set_config('maintenance_work_mem', %s, true)", (index_build_memory(),))
    keys = privacy.sql_params()
    cur.execute(person_key_sql(cur, MERGE_TABLES, "checkin_person_key_direct"), {**params, **keys})
    cur.execute("analyze checkin_person_key (person_kind, identifier, person_key)")
    cur.execute(sql_text("checkin_merge_direct"), {**params, **keys})
    cur.execute("analyze pg_temp.checkin_direct_rows (local_day)")
    cur.execute("select distinct local_day from pg_temp.checkin_direct_rows")
    rest_days = {r[0] for r in cur.fetchall()}
    days = sorted(rest_days | set(read.tables))
    cur.execute(
        "delete from core.checkin where local_day = any(%s) and source_file_id = %s", (days, f.file_id)
    )
    # the days' partitions (an empty one is replaced by the table aside), one session at a time
    cur.execute("select pg_advisory_xact_lock(%s)", (_PARTITION_LOCK,))
    cur.execute("select core.ensure_checkin_partition(d) from unnest(%s::date[]) as d", (days,))
    columns = ", ".join(CORE_CHECKIN_COLUMNS)
    cur.execute("drop view pg_temp.checkin_direct_ids")  # it reads the tables aside
    for day, table in sorted(read.tables.items()):
        cur.execute(
            f"insert into {table} ({columns}) select {columns} from pg_temp.checkin_direct_rows "  # noqa: S608
            "where local_day = %s",
            (day,),
        )
        cur.execute("select core.attach_checkin_day(%s::regclass, %s)", (table, day))
        if not cur.fetchone()[0]:
            cur.execute(
                f"insert into core.checkin ({columns}) select {columns} from {table} "  # noqa: S608
                "order by local_day, checkin_id on conflict (local_day, checkin_id) do nothing"
            )
            cur.execute(f"drop table {table}")
    others = sorted(rest_days - set(read.tables))
    if others:
        cur.execute(
            "create temporary view checkin_direct_other as select * from pg_temp.checkin_direct_rows "
            "where local_day = any(%s::date[])",
            (others,),
        )
        cur.execute("select core.load_checkins('pg_temp.checkin_direct_other', %s::date[], true)", (others,))
        cur.execute("drop view checkin_direct_other")
    cur.execute("drop table pg_temp.checkin_direct_rows")
    for name in f.spec.merge:
        if name == "checkin_merge":
            continue
        rebuild = _secondary_indexes_off(cur, FIRST_LOAD_BY_SORT.get(name))
        cur.execute(
            sqlfiles.with_tables(cur, sql_text(name), **MERGE_TABLES), {**params, **keys, "days": days}
        )
        if rebuild:
            cur.execute("select core.secondary_indexes_on(%s)", (rebuild,))
    cur.execute("select rows_total - rows_rejected from ops.landing_file where file_id = %s", (f.file_id,))
    return cur.fetchone()[0] - read.direct


# -- partitions and retention ---------------------------------------------------------------------------
_PARTITION_LOCK = 0x63686B70  # "chkp": one session at a time creates partitions


def partitions_ahead() -> int:
    return int(os.environ.get("COVIDSYNC_CHECKIN_PARTITIONS_AHEAD", "7"))


def retention_days() -> int:
    """``COVIDSYNC_CHECKIN_RETENTION_DAYS`` (default 30): local days of check-ins kept; 0 keeps all."""
    return int(os.environ.get("COVIDSYNC_CHECKIN_RETENTION_DAYS", "30"))


def partition_batch_days() -> int:
    """``COVIDSYNC_CHECKIN_PARTITION_BATCH`` (default 50): partitions made per transaction. Each new
    partition takes locks on itself and its indexes until commit; a file of 1,500 days in one transaction
    passed ``max_locks_per_transaction`` (issue 17, item 4)."""
    return max(1, int(os.environ.get("COVIDSYNC_CHECKIN_PARTITION_BATCH", "50")))


def ensure_partitions(conn, days: Iterable[dt.date]) -> list[str]:
    """Create the check-in partitions of ``days`` that are missing, in transactions of at most
    :func:`partition_batch_days` days each; return their names."""
    days = sorted(set(days))
    batch = partition_batch_days()
    names: list[str] = []
    for start in range(0, len(days), batch):
        with conn, conn.cursor() as cur:
            cur.execute("select pg_advisory_xact_lock(%s)", (_PARTITION_LOCK,))
            cur.execute(
                "select core.ensure_checkin_partition(d) from unnest(%s::date[]) as d",
                (days[start : start + batch],),
            )
            names.extend(r[0] for r in cur.fetchall())
    return names


def maintain_partitions(conn, today: dt.date) -> dict:
    """Partitions from ``today`` to ``today + COVIDSYNC_CHECKIN_PARTITIONS_AHEAD`` made; partitions of days
    before ``today - COVIDSYNC_CHECKIN_RETENTION_DAYS`` detached and dropped. Returns counts and names."""
    ahead = partitions_ahead()
    made = ensure_partitions(conn, [today + dt.timedelta(days=i) for i in range(ahead + 1)])
    dropped = apply_retention(conn, today)
    return {"partitions_ensured": len(made), "partitions_dropped": dropped}


def retention_cutoff(today: dt.date, days: int | None = None) -> dt.date | None:
    """The first local day kept: ``today - (days - 1)``, so ``days`` days are kept including today."""
    days = retention_days() if days is None else days
    if days <= 0:
        return None
    return today - dt.timedelta(days=days - 1)


def apply_retention(conn, today: dt.date, days: int | None = None) -> list[str]:
    """Detach and drop every check-in partition of a local day before the retention cutoff."""
    cutoff = retention_cutoff(today, days)
    if cutoff is None:
        return []
    with conn, conn.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(%s)", (_PARTITION_LOCK,))
        cur.execute("select core.drop_checkin_partitions_before(%s)", (cutoff,))
        dropped = [r[0] for r in cur.fetchall()]
    if dropped:
        log.info("check-in retention: dropped %d partition(s) before %s", len(dropped), cutoff)
    return dropped


# -- what the engine's check-in spec calls ----------------------------------------------------------------
#: the names in the SQL files shared with declarations (sql/ingest/checkin_person_key.sql, person_merge.sql,
#: identity_link_merge.sql)
MERGE_TABLES = {
    "identity_table": "staging.checkin_identity",
    "person_key_table": "checkin_person_key",
    "loadable_table": "staging.checkin_loadable",
    "seen_at": "scanned_at",
}


def person_key_sql(cur, tables: dict[str, str], name: str = "checkin_person_key", alias: str = "k") -> str:
    """``sql/ingest/<name>.sql`` (``checkin_person_key``, shared with declarations) with
    the dataset's ``tables`` (:func:`covidsync.sqlfiles.with_tables`), checked to compute exactly
    :data:`covidsync.privacy.SQL_PSEUDONYM` (of ``<alias>.person_kind``, ``<alias>.identifier``)."""
    import re

    from covidsync import privacy

    text = sql_text(name)
    expected = privacy.sql_pseudonym(f"{alias}.person_kind", f"{alias}.identifier")
    if re.sub(r"\s+", "", expected) not in re.sub(r"\s+", "", text):
        raise AssertionError(f"{name}.sql no longer computes covidsync.privacy.SQL_PSEUDONYM")
    return sqlfiles.with_tables(cur, text, **tables)


def _local_days(cur, file_id: int) -> list[dt.date]:
    cur.execute(
        "select distinct (scanned_at at time zone 'Asia/Ho_Chi_Minh')::date "
        "from staging.checkin_loadable where file_id = %s",
        (file_id,),
    )
    return [r[0] for r in cur.fetchall()]


#: the local days :func:`prepare_merge` read, by file id, taken by the :func:`merge_checkins` that follows it
#: in the same process (the engine's merge calls the two in turn, the file locked): the loadable rows are
#: read once for their days instead of twice (0.6-0.8 s each at 500k rows under load)
_PREPARED_DAYS: dict[int, list[dt.date]] = {}


def prepare_merge(conn, f: FileRow) -> None:
    """Before the merge's transaction: the partitions of the file's local days (their own transaction)."""
    _PREPARED_DAYS.pop(f.file_id, None)
    with conn.cursor() as cur:
        days = _local_days(cur, f.file_id)
    conn.rollback()
    ensure_partitions(conn, days)
    _PREPARED_DAYS[f.file_id] = days


def index_build_memory() -> str:
    """``COVIDSYNC_CHECKIN_INDEX_MEMORY`` (default 256MB): the ``maintenance_work_mem`` of a check-in merge
    (the indexes of a day built aside, and of a first load's persons and links, are built by sort)."""
    from covidsync import settings

    return settings.memory_size("COVIDSYNC_CHECKIN_INDEX_MEMORY", "256MB")


def merge_checkins(cur, f: FileRow, params: dict) -> None:
    """The check-in merge, inside the engine's merge transaction: the file's earlier rows out, person keys
    computed once per distinct person, then the check-ins, the persons and the identity links."""
    from covidsync import privacy

    days = _PREPARED_DAYS.pop(f.file_id, None)
    if days is None:
        days = _local_days(cur, f.file_id)
    cur.execute(
        "delete from core.checkin where local_day = any(%s) and source_file_id = %s", (days, f.file_id)
    )
    # the file's sorts and hashes in memory (the server's default 4 MB spilled three of them to disk at
    # 200k rows), as the status build does
    cur.execute("set local work_mem = '64MB'")
    # and the index builds by sort (a day built aside, the first load's persons and links) in memory: at the
    # server's 64 MB the day's (person_key, scanned_at) and (venue_code, scanned_at) sorts of 490k rows went
    # to disk
    cur.execute("select set_config('maintenance_work_mem', %s, true)", (index_build_memory(),))
    keys = privacy.sql_params()
    cur.execute(person_key_sql(cur, MERGE_TABLES, "checkin_person_key"), {**params, **keys})
    # a table made by CREATE ... AS has no statistics: the planner took its 94k persons for 2k and
    # searched quarantine once per staged row instead of hashing it
    cur.execute("analyze checkin_person_key (person_kind, identifier, person_key)")
    for name in f.spec.merge:
        rebuild = _secondary_indexes_off(cur, FIRST_LOAD_BY_SORT.get(name))
        cur.execute(
            sqlfiles.with_tables(cur, sql_text(name), **MERGE_TABLES), {**params, **keys, "days": days}
        )
        if rebuild:
            cur.execute("select core.secondary_indexes_on(%s)", (rebuild,))


#: the merge files whose table, when still empty (a warehouse's first check-ins), is loaded with its secondary
#: indexes built by sort afterwards (migration 0039): each is dropped right before its file's statements, in
#: the merge's lock order (check-ins, persons, links), and made again right after
FIRST_LOAD_BY_SORT = {"person_merge": "core.checkin_person", "identity_link_merge": "core.identity_link"}


def _secondary_indexes_off(cur, table: str | None) -> list[str] | None:
    """``core.secondary_indexes_off(table)``: the statements that make its dropped indexes again, or None
    (no table, rows already there, or a reader or writer on it: the ordinary insert)."""
    if table is None:
        return None
    cur.execute("select core.secondary_indexes_off(%s::regclass)", (table,))
    return cur.fetchone()[0]


def clear_staging(conn, file_id: int) -> None:
    engine.clear_staging(conn, load_file(conn, file_id))


# -- one file, start to end: the engine ----------------------------------------------------------------
def ingest_file(conn, file_id: int) -> dict:
    """Take one registered PC-Covid file (venues or check-ins) as far as it can go; return counts only.

    The bench hook: one file from ``received`` to ``merged`` (or held/rejected) with its reports.
    """
    return engine.process_file(conn, file_id, datasets=PCCOVID_DATASETS)


def pending_by_dataset(conn, file_ids: Iterable[int]) -> dict[str, list[int]]:
    """Registered PC-Covid files split by dataset, each in the order received (venues go first)."""
    ids = list(file_ids)
    out: dict[str, list[int]] = {d: [] for d in PCCOVID_DATASETS}
    if not ids:
        return out
    with conn.cursor() as cur:
        cur.execute(
            "select file_id, dataset from ops.landing_file where file_id = any(%s) order by received_at, file_id",
            (ids,),
        )
        for file_id, dataset in cur.fetchall():
            if dataset in out:
                out[dataset].append(file_id)
    conn.rollback()
    return out


def ingest_landing(conn) -> list[dict]:
    """Register ``pccovid/`` and ingest every pending file: venues first, then check-ins, each in order."""
    registration = landing.register(conn, scope=landing.PCCOVID)
    pending = pending_by_dataset(conn, registration.pending)
    return [ingest_file(conn, file_id) for dataset in PCCOVID_DATASETS for file_id in pending[dataset]]
