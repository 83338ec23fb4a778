"""Text that is unsafe in a spreadsheet or garbled by a wrong decoding (issue 17, items 5 and 6).

Contract §6 (``invalid_text``): a name, address or other free text that starts with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return is read by a spreadsheet as a formula (``=HYPERLINK(...)``,
``+cmd|...``); text that holds UTF-8 decoded as Windows-1258 or Windows-1252 (``Nguyá»…n``, ``Ä‘``,
``Ă²``) is mis-decoded. The row rules (``sql/ingest/*_text.sql``) take the two patterns below as
parameters (:func:`rule_params`), so Python and SQL test the same thing; the contract reader
(:mod:`covidsync.ingest.parse`) refuses a whole file whose Windows-1258 guess shows mojibake.

Every CSV the project writes for people (``errors.csv``, scorecards, district and commune lists, the CLI's
dry-run problems) goes through :func:`writer`, which neutralises such cells with a leading single quote
(:func:`neutralise`, OWASP's advice for CSV injection): the cell shows as text, never runs.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any

__all__ = [
    "FORMULA_PATTERN",
    "MOJIBAKE_PATTERN",
    "csv_line",
    "csv_text",
    "has_mojibake",
    "is_formula",
    "neutralise",
    "rule_params",
    "writer",
]

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# POSIX/ARE and Python alike: the first character is one of the six (the tab and CR as themselves)
FORMULA_PATTERN = "^[=+@\t\r-]"


def _mojibake_classes() -> tuple[str, str]:
    """The characters a UTF-8 lead byte (C2–F4) and a continuation byte (80–BF) become when the bytes are
    decoded as Windows-1258 or Windows-1252 (the two a Vietnamese office's Excel uses)."""
    leads: set[str] = set()
    follows: set[str] = set()
    for codec in ("cp1258", "cp1252"):
        for byte in range(0xC2, 0xF5):
            char = bytes([byte]).decode(codec, errors="ignore")
            leads.update(char)
        for byte in range(0x80, 0xC0):
            char = bytes([byte]).decode(codec, errors="ignore")
            follows.update(char)
    follows.discard("\xa0")  # a no-break space after a capital letter is rare, but not garbled
    return "".join(sorted(leads)), "".join(sorted(follows))


def _bracket(chars: str) -> str:
    # inside brackets only ] \ ^ - are special (Python and PostgreSQL's ARE); none of them is in the sets
    assert not set(chars) & set("]\\^-"), chars
    return "[" + chars + "]"


_LEADS, _FOLLOWS = _mojibake_classes()
# a lead followed by a continuation: UTF-8's two-byte (Ä‘ for đ, Ă² for ò, Æ° for ư) and the start of its
# three-byte sequences (á»‡ for ệ); legitimate Vietnamese text never puts these symbols after such a letter
MOJIBAKE_PATTERN = _bracket(_LEADS) + _bracket(_FOLLOWS)

_FORMULA = re.compile(FORMULA_PATTERN)
_MOJIBAKE = re.compile(MOJIBAKE_PATTERN)
_NUMBER = re.compile(r"[+-]?[0-9]+(?:[.,][0-9]+)?")


def is_formula(text: str | None) -> bool:
    """Whether ``text`` starts like a spreadsheet formula (``=``, ``+``, ``-``, ``@``, tab, CR)."""
    return bool(text) and _FORMULA.match(text) is not None


def has_mojibake(text: str | None) -> bool:
    """Whether ``text`` holds UTF-8 bytes read as Windows-1258/1252 (``á»``, ``Ä‘``, ``Ă²``, ``Æ°`` …)."""
    return bool(text) and _MOJIBAKE.search(text) is not None


def mojibake_at(text: str) -> int | None:
    """The position of the first mojibake pair in ``text``, or ``None``."""
    found = _MOJIBAKE.search(text)
    return None if found is None else found.start()


def neutralise(value: Any) -> Any:
    """A CSV cell made safe to open in a spreadsheet: a text that starts like a formula gets a leading
    ``'`` (a plain signed number such as ``-3`` or ``+84`` is left alone: it is no formula); anything
    else is returned as it is."""
    if isinstance(value, str) and value and value[0] in "=+-@\t\r" and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


class _SafeWriter:
    """``csv.writer`` whose every cell goes through :func:`neutralise`."""

    def __init__(self, fh, **kwargs: Any):
        self._writer = csv.writer(fh, **kwargs)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([neutralise(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(fh, **kwargs: Any) -> _SafeWriter:
    """A ``csv.writer`` for files people open in a spreadsheet: every cell neutralised."""
    return _SafeWriter(fh, **kwargs)


def csv_line(schema):
    """The polars expression of one CSV line for a frame of ``schema`` (name to dtype), as :func:`writer`
    writes a row: every text cell neutralised (:func:`neutralise`), then quoted as ``csv.writer``'s default
    dialect quotes (a cell holding a comma, a double quote, CR or LF in double quotes, its quotes doubled),
    other cells as ``str()`` gives them, nulls empty; no line ending. Row by row: a line depends on its own
    row only (:func:`csv_text`; a group's errors.csv lines rendered together, covidsync.ingest.engine)."""
    import polars as pl

    cells = []
    for name, dtype in schema.items():
        cell = pl.col(name)
        if dtype == pl.String:
            formula = cell.str.contains(FORMULA_PATTERN) & ~cell.str.contains(f"^(?:{_NUMBER.pattern})$")
            cell = pl.when(formula).then(pl.concat_str(pl.lit("'"), cell)).otherwise(cell)
            quoted = pl.concat_str(pl.lit('"'), cell.str.replace_all('"', '""', literal=True), pl.lit('"'))
            cell = pl.when(cell.str.contains('[,"\r\n]')).then(quoted).otherwise(cell)
        else:
            cell = cell.cast(pl.String)
        cells.append(cell.fill_null(""))
    return pl.concat_str(cells, separator=",")


def csv_text(frame) -> str:
    """The rows of a polars ``frame`` as :func:`writer` writes them, made by column expressions (no Python call
    per row, :func:`csv_line`), each line ended by CRLF."""
    if frame.height == 0:
        return ""
    lines = frame.select(csv_line(frame.schema).alias("line")).get_column("line")
    return lines.str.join("\r\n").item() + "\r\n"


def rule_params() -> dict[str, str]:
    """The parameters of the ``invalid_text`` rules (``sql/ingest/*_text.sql``)."""
    return {"formula_pattern": FORMULA_PATTERN, "mojibake_pattern": MOJIBAKE_PATTERN}
