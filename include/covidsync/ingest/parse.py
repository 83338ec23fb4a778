"""Read any accepted landing file as a stream of rows with canonical column names.

Contract: ``docs/contract/facility-files.md`` §1 (formats), §2 (encodings, separators, NFC text, headers in
Vietnamese or English), §3–§5 (columns), §6 (file codes); the Vietnamese text pitfalls handled here are in
``docs/domain/vietnam-covid-data.md`` §8.

This module only *reads*: it never judges a value (the normaliser and the row rules do), and rejects a file
only for the file codes of §6, raised as :class:`FileRejected` by :func:`open_rows` before a row is yielded
(or, for damage found later in the file, while iterating). Memory stays flat whatever the file size (CSV and
JSONL line by line, JSON arrays object by object, XLSX read-only with a compact shared-strings table).
Details of :class:`FileRejected` never quote file content. The decisions taken where the contract is
silent (encoding detection, separator, header row, row numbers, XLSX and JSON values, precedence of codes)
are listed in docs/ingest-engine.md, "Reading a file: decisions where the contract is silent".
"""

from __future__ import annotations

import codecs
import csv
import datetime as _dt
import io
import json
import os
import re
import zipfile
import zlib
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from covidsync.domain.text import name_key, nfc
from covidsync.ingest.spec import Column  # re-exported: the columns are declared by the specs

__all__ = [
    "ACCEPTED_EXTENSIONS",
    "DATASET_COLUMNS",
    "Column",
    "FileRejected",
    "RowStream",
    "header_key",
    "match_header",
    "open_rows",
]

ACCEPTED_EXTENSIONS = {".csv": "csv", ".xlsx": "xlsx", ".json": "json", ".jsonl": "jsonl"}
DEFAULT_MAX_XLSX_EXPANDED_BYTES = 512 * 1024 * 1024
MAX_JSON_OBJECT_CHARS = 16 * 1024 * 1024
_CHUNK = 256 * 1024  # bytes read per step of the strict decode pass and text buffering
_SNIFF_CHARS = 64 * 1024  # decoded characters looked at to find the CSV header line


class FileRejected(Exception):
    """A whole file refused: a file code of contract §6 and an operator's explanation (no cell values)."""

    def __init__(self, code: str, detail: str, missing: list | None = None):
        super().__init__(code, detail)  # both in args: the exception pickles (Airflow, multiprocessing)
        self.code = code
        self.detail = detail
        self.missing = list(missing or [])  # missing_columns: the MissingColumn of each

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"


def _datasets() -> dict[str, tuple[Column, ...]]:
    from covidsync.ingest.datasets import specs

    return {name: spec.columns for name, spec in specs().items()}


# The canonical columns of each dataset and their accepted headers: declared by the dataset's spec
# (covidsync/ingest/datasets/<dataset>.py); contract §3 (vaccinations), §4 (test results), §5 (PC-Covid).
DATASET_COLUMNS: dict[str, tuple[Column, ...]] = _datasets()

_NON_ALNUM = re.compile(r"[\W_]+")
_BRACKETED = re.compile(r"\([^)]*\)|\[[^\]]*\]")


def header_key(text: str) -> str:
    """Match key for headers: case, accents, ``đ``, spaces and punctuation folded away.

    ``"Số CCCD/CMND"``, ``"so cccd cmnd"``, ``"SỐ CCCD / CMND"`` (NFC or NFD) all give ``"socccdcmnd"``;
    ``"citizen_id"`` and ``"Citizen ID"`` give ``"citizenid"``.
    """
    return _NON_ALNUM.sub("", name_key(text))


def _build_lookup() -> dict[str, dict[str, str]]:
    lookup: dict[str, dict[str, str]] = {}
    for dataset, columns in DATASET_COLUMNS.items():
        keys: dict[str, str] = {}
        for column in columns:
            for header in column.headers:
                key = header_key(header)
                owner = keys.setdefault(key, column.name)
                if owner != column.name:  # a programming error: one spelling for two columns
                    raise AssertionError(f"{dataset}: header {header!r} matches {owner} and {column.name}")
        lookup[dataset] = keys
    return lookup


_LOOKUP = _build_lookup()


def match_header(dataset: str, text: str) -> str | None:
    """The canonical column of ``dataset`` that the header ``text`` names, or ``None``."""
    keys = _LOOKUP[dataset]
    found = keys.get(header_key(text))
    if found is None and ("(" in text or "[" in text):
        found = keys.get(header_key(_BRACKETED.sub(" ", text)))
    return found


# ---------------------------------------------------------------------------------------------------------
# The row stream


@dataclass
class RowStream:
    """The rows of one file: ``for row_number, values in stream`` (see the module docstring)."""

    format: str
    encoding: str | None
    delimiter: str | None
    columns: tuple[str, ...]
    unknown_headers: tuple[str, ...]
    _factory: Callable[[], Iterator[tuple[int, dict[str, str]]]] = field(repr=False, compare=False)
    _first: tuple[int, dict[str, str]] | None = field(default=None, repr=False, compare=False)
    _rows: Generator[tuple[int, dict[str, str]], None, None] | None = field(
        default=None, repr=False, compare=False
    )

    def __iter__(self) -> Iterator[tuple[int, dict[str, str]]]:
        """The rows: the first iteration goes on with the reader of :func:`open_rows`; later ones reopen."""
        first, rows = self._first, self._rows
        self._first = self._rows = None
        if first is None or rows is None:
            return self._factory()
        return _resume(first, rows)

    def close(self) -> None:
        """Release the reader opened by :func:`open_rows` if its rows were not iterated."""
        rows, self._rows, self._first = self._rows, None, None
        if rows is not None:
            rows.close()

    def __enter__(self) -> RowStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _max_expanded_default() -> int:
    raw = os.environ.get("COVIDSYNC_MAX_XLSX_EXPANDED_BYTES", "").strip()
    if raw:
        try:
            return int(raw)
        except ValueError:
            pass
    return DEFAULT_MAX_XLSX_EXPANDED_BYTES


def open_rows(path: Path, dataset: str, *, max_expanded_bytes: int | None = None) -> RowStream:
    """Open a landing file of ``dataset``; raise :class:`FileRejected` for a file-level problem.

    Everything that makes the file unreadable is found here, before any row is yielded (see the module
    docstring for the one exception).
    """
    if dataset not in DATASET_COLUMNS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {sorted(DATASET_COLUMNS)}")
    path = Path(path)
    fmt = ACCEPTED_EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        shown = path.suffix or "(none)"
        raise FileRejected(
            "unsupported_format",
            f"file extension {shown} is not accepted; "
            "send .csv, .xlsx, .json (an array of objects) or .jsonl",
        )
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise FileRejected("undecodable_file", f"the file cannot be read ({exc.strerror})") from exc
    if size == 0:
        raise FileRejected("empty_file", "the file is empty (0 bytes)")
    if fmt == "csv":
        stream = _open_csv(path, dataset)
    elif fmt == "xlsx":
        limit = _max_expanded_default() if max_expanded_bytes is None else max_expanded_bytes
        stream = _open_xlsx(path, dataset, limit)
    else:
        stream = _open_json(path, dataset, lines=fmt == "jsonl")
    return stream


@dataclass(frozen=True)
class MissingColumn:
    """A required column the header lacks: its name, its header in Vietnamese and in English, and the
    header of the file that looks closest to it (``None`` when none looks close)."""

    name: str
    header_vi: str
    header_en: str
    closest: str | None


# how alike a file's header must be to one of a column's accepted headers to be named as the closest
# (difflib's ratio over header_key forms); below it nothing is named. A header row that is really a data
# row holds names and numbers, which are not this close to a column name; short words (``Nam``) and text
# with a number in it are never named.
CLOSEST_HEADER_RATIO = 0.7
_MIN_KEY = 4
_NUMBER = re.compile(r"[0-9]{2}")
_MAX_SHOWN_HEADER = 60


def closest_header(column: Column, found: Iterable[str]) -> str | None:
    """The header among ``found`` (the file's unmatched headers) most like one of ``column``'s accepted
    headers, when alike enough (:data:`CLOSEST_HEADER_RATIO`)."""
    from difflib import SequenceMatcher

    best, best_ratio = None, CLOSEST_HEADER_RATIO
    keys = [header_key(h) for h in column.headers]
    for text in found:
        if not text or len(text) > _MAX_SHOWN_HEADER or _NUMBER.search(text):
            continue
        key = header_key(text)
        if len(key) < _MIN_KEY:
            continue
        ratio = max(SequenceMatcher(None, key, k).ratio() for k in keys)
        if ratio > best_ratio or (ratio == best_ratio and best is None):
            best, best_ratio = text, ratio
    return best


def missing_columns(dataset: str, present: set[str], found: Iterable[str] = ()) -> list[MissingColumn]:
    """The required columns of ``dataset`` not in ``present``, each with the closest of the ``found``
    headers that matched no column."""
    found = list(found)
    return [
        MissingColumn(c.name, c.headers[1], c.english, closest_header(c, found))
        for c in DATASET_COLUMNS[dataset]
        if c.required and c.name not in present
    ]


def _missing_columns(dataset: str, present: set[str], found: Iterable[str] = ()) -> None:
    missing = missing_columns(dataset, present, found)
    if missing:
        names = ", ".join(f"{c.name} ({c.header_vi})" for c in missing)
        raise FileRejected(
            "missing_columns", f"required columns not found in the header: {names}", missing=missing
        )


def _resume(first: tuple[int, dict[str, str]], rows: Generator) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        yield first
        yield from rows
    finally:
        rows.close()


def _start(
    fmt: str,
    encoding: str | None,
    delimiter: str | None,
    columns: tuple[str, ...],
    unknown: tuple[str, ...],
    factory: Callable[[], Generator[tuple[int, dict[str, str]], None, None]],
    rows: Generator[tuple[int, dict[str, str]], None, None] | None = None,
) -> RowStream:
    """Probe for a first data row (else ``empty_file``), keep the opened reader for the first iteration."""
    rows = factory() if rows is None else rows
    try:
        first = next(rows, None)
    except BaseException:
        rows.close()
        raise
    if first is None:
        rows.close()
        raise FileRejected("empty_file", "the file has no data rows (only a header, or blank)")
    return RowStream(fmt, encoding, delimiter, columns, unknown, factory, first, rows)


# ---------------------------------------------------------------------------------------------------------
# Tabular files (CSV, XLSX): a header row, then records of cells


def _header_mapping(dataset: str, header: list[str | None]) -> tuple[list[tuple[int, str]], tuple[str, ...]]:
    mapping: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    unknown: list[str] = []
    for index, text in enumerate(header):
        if not text:
            continue
        column = match_header(dataset, text)
        if column is None:
            unknown.append(text)
            continue
        if column in seen:
            raise FileRejected(
                "missing_columns",
                f"column {column} is given twice (file columns {seen[column] + 1} and {index + 1}); "
                "keep one of them",
            )
        seen[column] = index
        mapping.append((index, column))
    _missing_columns(dataset, set(seen), unknown)
    return mapping, tuple(unknown)


def _tabular_rows(
    records: Generator, skip: int, mapping: list[tuple[int, str]], convert: Callable
) -> Generator[tuple[int, dict[str, str]], None, None]:
    """(row number, values) of the records after the first ``skip`` ones (the header and rows above it)."""
    try:
        for _ in range(skip):
            next(records, None)
        number = 0
        for record in records:
            number += 1
            width = len(record)
            values: dict[str, str] = {}
            for index, column in mapping:
                if index < width:
                    value = record[index]
                    if value is not None and value != "":
                        text = convert(value)
                        if text:
                            values[column] = text
            if values or any(convert(v) for v in record if v is not None and v != ""):
                yield number, values
    finally:
        records.close()


def _open_tabular(
    fmt: str,
    encoding: str | None,
    delimiter: str | None,
    dataset: str,
    open_records: Callable[[], Generator],
    convert: Callable,
    blank: str,
) -> RowStream:
    """Find the header, map it, then keep the same reader for the rows (a workbook is loaded once)."""
    records = open_records()
    try:
        found = _find_header(records, convert)
        if found is None:
            raise FileRejected("empty_file", blank)
        header_at, header = found
        mapping, unknown = _header_mapping(dataset, header)
    except BaseException:
        records.close()
        raise
    columns = tuple(column for _, column in mapping)

    def factory() -> Generator[tuple[int, dict[str, str]], None, None]:
        return _tabular_rows(open_records(), header_at + 1, mapping, convert)

    rows = _tabular_rows(records, 0, mapping, convert)
    return _start(fmt, encoding, delimiter, columns, unknown, factory, rows)


def _find_header(records: Iterator[list], convert: Callable) -> tuple[int, list[str | None]] | None:
    for position, record in enumerate(records):
        cells = [convert(v) if v is not None and v != "" else None for v in record]
        if any(cells):
            return position, cells
    return None


# ---------------------------------------------------------------------------------------------------------
# CSV

_C0_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def _csv_text(value: str) -> str | None:
    if value.isascii():
        return value.strip() or None
    return nfc(value)


def _strict_pass(
    path: Path, encoding: str, controls: re.Pattern[str] | None, mojibake: bool = False
) -> str | None:
    """Decode the whole file strictly in chunks; ``None`` if it decodes, else why not (no content quoted).
    With ``mojibake``, text that is UTF-8 read in this encoding (:mod:`covidsync.textsafe`) is a problem too
    (its message starts with ``utf-8 text``)."""
    from covidsync.textsafe import mojibake_at

    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset = 0
    carry = ""  # the last character of the previous chunk: a mojibake pair may straddle two chunks
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(_CHUNK)
            final = not chunk
            try:
                text = decoder.decode(chunk, final=final)
            except UnicodeDecodeError as exc:
                return f"not valid {encoding} near byte offset {max(offset + exc.start, 0)}"
            if "\x00" in text or (controls is not None and controls.search(text)):
                return f"binary content (control characters) near byte offset {offset}"
            if mojibake and (at := mojibake_at(carry + text)) is not None:
                return f"utf-8 text (UTF-8 byte sequences read as {encoding}) near byte offset {offset + at - len(carry)}"
            if final:
                return None
            carry = text[-1:] or carry
            offset += len(chunk)


def _detect_encoding(path: Path) -> str:
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head.startswith(b"PK\x03\x04"):
        raise FileRejected("unsupported_format", "the .csv file is a ZIP archive (an Excel .xlsx?), not text")
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            problem = _strict_pass(path, encoding, None)
            if problem is None:
                return encoding
            raise FileRejected(
                "undecodable_file", f"the file starts with a {encoding} byte-order mark but is {problem}"
            )
    problem = _strict_pass(path, "utf-8", None)
    if problem is None:
        return "utf-8"
    if "binary" in problem:
        raise FileRejected("undecodable_file", f"the file is not text: {problem}")
    # Windows-1258 decodes almost any bytes: the guess must also not look like UTF-8 read as Windows-1258
    # (issue 17, item 5: a UTF-8 file with one stray byte was loaded as mojibake names). All or nothing.
    problem_1258 = _strict_pass(path, "cp1258", _C0_CONTROLS, mojibake=True)
    if problem_1258 is None:
        return "cp1258"
    if problem_1258.startswith("utf-8 text"):
        raise FileRejected(
            "undecodable_file",
            f"the file is UTF-8 with invalid bytes ({problem}): it holds UTF-8 text, so it is not read as "
            "Windows-1258; save it again as CSV UTF-8 and resend it",
        )
    raise FileRejected(
        "undecodable_file",
        f"the file decodes neither as UTF-8 ({problem}) nor as Windows-1258 ({problem_1258})",
    )


def _text_reader(path: Path, encoding: str) -> io.TextIOWrapper:
    return io.TextIOWrapper(
        open(path, "rb", buffering=_CHUNK), encoding=encoding, newline="", errors="strict"
    )


_SEP_LINE = re.compile(r"\s*sep=([,;])\s*(?:\r\n|\n|\r|$)", re.IGNORECASE)


def _detect_delimiter(path: Path, encoding: str) -> str:
    """``,`` or ``;``: the one more frequent outside quotes on the first non-blank line (tie: ``,``)."""
    with _text_reader(path, encoding) as reader:
        sample = reader.read(_SNIFF_CHARS)
    sample = sample.lstrip("\ufeff")
    hint = _SEP_LINE.match(sample)
    if hint:
        return hint.group(1)
    counts = {",": 0, ";": 0}
    quoted = False
    content = False
    for char in sample:
        if char == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif char in "\r\n":
            if content:
                break
        elif char in counts:
            counts[char] += 1
            content = True
        elif not char.isspace():
            content = True
    return ";" if counts[";"] > counts[","] else ","


def _csv_records(path: Path, encoding: str, delimiter: str) -> Iterator[list[str]]:
    reader_file = _text_reader(path, encoding)
    try:
        records = csv.reader(reader_file, delimiter=delimiter, quotechar='"', doublequote=True, strict=False)
        first = True
        while True:
            try:
                record = next(records)
            except StopIteration:
                return
            except csv.Error as exc:
                raise FileRejected(
                    "unsupported_format",
                    f"the CSV structure is broken near line {records.line_num} ({_csv_error(exc)})",
                ) from exc
            except UnicodeDecodeError as exc:  # the file changed after the decode pass
                raise FileRejected(
                    "undecodable_file", f"not valid {encoding} (file changed while read)"
                ) from exc
            if first and record and any(record):
                first = False
                joined = delimiter.join(record).strip().lower()
                if joined in ("sep=,", "sep=;", "sep=,,", "sep=;;"):
                    continue
            yield record
    finally:
        reader_file.close()


def _csv_error(exc: Exception) -> str:
    message = str(exc)
    if "field larger than field limit" in message:
        return "a cell is too large: probably a quote that is never closed"
    return "malformed quoting or a NUL character"


def _open_csv(path: Path, dataset: str) -> RowStream:
    encoding = _detect_encoding(path)
    delimiter = _detect_delimiter(path, encoding)
    return _open_tabular(
        "csv",
        encoding,
        delimiter,
        dataset,
        lambda: _csv_records(path, encoding, delimiter),
        _csv_text,
        "the file has no header and no data (blank)",
    )


# ---------------------------------------------------------------------------------------------------------
# XLSX


def _number_text(value: int | float) -> str:
    if isinstance(value, int):
        return str(value)
    if value.is_integer():
        return str(int(value))
    return repr(value)


def _xlsx_text(value: object) -> str | None:
    if isinstance(value, str):
        return _csv_text(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number_text(value)
    if isinstance(value, _dt.datetime):
        if value.microsecond:
            value = value.replace(microsecond=0) + _dt.timedelta(
                seconds=1 if value.microsecond >= 500_000 else 0
            )
        if value.hour == value.minute == value.second == 0:
            return value.date().isoformat()
        return value.isoformat(timespec="seconds")
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, _dt.time):
        return value.replace(microsecond=0).isoformat()
    if value is None:
        return None
    return _csv_text(str(value))


class _XlsxBroken(Exception):
    pass


def _xlsx_errors() -> tuple[type[BaseException], ...]:
    from openpyxl.utils.exceptions import InvalidFileException

    return (
        zipfile.BadZipFile,
        zlib.error,
        InvalidFileException,
        KeyError,
        ValueError,
        TypeError,
        IndexError,
        AttributeError,
        EOFError,
        OSError,
        SyntaxError,  # xml.etree ParseError (and lxml's XMLSyntaxError) derive from it
        NotImplementedError,
    )


def _check_zip(path: Path, limit: int) -> None:
    """Refuse a non-ZIP, a corrupt ZIP, or one whose declared expanded size passes ``limit``; then CRCs."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    if not head.startswith(b"PK"):
        raise FileRejected(
            "unsupported_format",
            "the .xlsx file is not an Excel workbook (not a ZIP archive; an old .xls or a renamed file?)",
        )
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            expanded = sum(info.file_size for info in entries)
            if expanded > limit:
                raise FileRejected(
                    "file_too_large",
                    f"the workbook expands to {expanded} bytes, more than the limit of {limit} bytes "
                    "(COVIDSYNC_MAX_XLSX_EXPANDED_BYTES)",
                )
            for info in entries:  # CRC check: reads at most the declared (capped) size
                with archive.open(info) as member:
                    while member.read(_CHUNK):
                        pass
    except FileRejected:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError) as exc:
        raise FileRejected(
            "undecodable_file", f"the workbook is truncated or corrupt ({type(exc).__name__})"
        ) from exc


DEFAULT_XLSX_STRINGS_MEMORY = 64 * 1024 * 1024


def _strings_memory() -> int:
    raw = os.environ.get("COVIDSYNC_XLSX_STRINGS_MEMORY", "").strip()
    try:
        return max(int(raw), 0) if raw else DEFAULT_XLSX_STRINGS_MEMORY
    except ValueError:
        return DEFAULT_XLSX_STRINGS_MEMORY


class _SharedStrings:
    """A workbook's shared-strings table, compact (issue 17, item 7): every string's UTF-8 bytes one after
    the other and an array of offsets, in memory up to ``COVIDSYNC_XLSX_STRINGS_MEMORY`` bytes (64 MiB),
    then in an anonymous temporary file read with ``pread``. openpyxl keeps a Python list of ``str`` (about
    7× the text) and the parsed ``<si>`` elements: a 45 MB workbook took 2.9 GB. Indexed as openpyxl's
    worksheet parser indexes its list; each text is exactly what openpyxl's ``read_string_table`` gives."""

    def __init__(self, budget: int):
        import array

        self._budget = budget
        self._offsets = array.array("Q", [0])
        self._memory = bytearray()
        self._file = None
        self._cache: dict[int, str] = {}

    @classmethod
    def read(cls, source, budget: int) -> _SharedStrings:
        from openpyxl.cell.text import Text
        from openpyxl.xml.constants import SHEET_MAIN_NS
        from openpyxl.xml.functions import iterparse

        table = cls(budget)
        tag = f"{{{SHEET_MAIN_NS}}}si"
        root = None
        try:
            for event, node in iterparse(source, events=("start", "end")):
                if root is None:
                    root = node
                elif event == "end" and node.tag == tag:
                    table._append(Text.from_tree(node).content.replace("x005F_", ""))
                    root.clear()  # the <si> read: no element of the table is kept
        except BaseException:
            table.close()
            raise
        return table

    def _append(self, text: str) -> None:
        data = text.encode("utf-8", "surrogatepass")
        if self._file is None and len(self._memory) + len(data) > self._budget:
            import tempfile

            self._file = tempfile.TemporaryFile(prefix="covidsync-xlsx-strings-")
            self._file.write(self._memory)
            self._memory = bytearray()
        if self._file is None:
            self._memory += data
        else:
            self._file.write(data)
        self._offsets.append(self._offsets[-1] + len(data))

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, index: int) -> str:
        if index < 0:
            index += len(self)
        start, end = self._offsets[index], self._offsets[index + 1]  # IndexError as a list's
        if self._file is None:
            return self._memory[start:end].decode("utf-8", "surrogatepass")
        found = self._cache.get(index)
        if found is None:
            if not self._cache:
                self._file.flush()
            found = os.pread(self._file.fileno(), end - start, start).decode("utf-8", "surrogatepass")
            if len(self._cache) >= 4096:  # the repeated values (a gender, a vaccine) stay cheap
                self._cache.clear()
            self._cache[index] = found
        return found

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _load_workbook(path: Path):
    """openpyxl's read-only workbook with a compact shared-strings table (:class:`_SharedStrings`)."""
    from openpyxl.reader.excel import SHARED_STRINGS, ExcelReader

    class _Reader(ExcelReader):
        def read_strings(self) -> None:
            found = self.package.find(SHARED_STRINGS)
            if found is not None:
                with self.archive.open(found.PartName[1:]) as source:
                    self.shared_strings = _SharedStrings.read(source, _strings_memory())

    reader = _Reader(path, read_only=True, data_only=True)
    try:
        reader.read()
    except BaseException:
        if isinstance(reader.shared_strings, _SharedStrings):
            reader.shared_strings.close()
        reader.archive.close()
        raise
    return reader.wb, reader.shared_strings


def _xlsx_records(path: Path) -> Iterator[tuple]:
    errors = _xlsx_errors()
    try:
        workbook, strings = _load_workbook(path)
    except errors as exc:
        raise _XlsxBroken(type(exc).__name__) from exc
    try:
        sheets = workbook.worksheets
        if not sheets:
            return
        sheet = sheets[0]
        sheet.reset_dimensions()  # producers that write a wrong <dimension> would otherwise lose cells
        rows = sheet.iter_rows(values_only=True)
        while True:
            try:
                row = next(rows)
            except StopIteration:
                return
            except errors as exc:
                raise _XlsxBroken(type(exc).__name__) from exc
            yield row
    finally:
        workbook.close()
        if isinstance(strings, _SharedStrings):
            strings.close()


def _xlsx_guard(records: Iterator[tuple]) -> Iterator[tuple]:
    try:
        yield from records
    except _XlsxBroken as exc:
        raise FileRejected("undecodable_file", f"the workbook cannot be read ({exc})") from exc
    finally:
        records.close()


def _open_xlsx(path: Path, dataset: str, limit: int) -> RowStream:
    _check_zip(path, limit)
    return _open_tabular(
        "xlsx",
        None,
        None,
        dataset,
        lambda: _xlsx_guard(_xlsx_records(path)),
        _xlsx_text,
        "the workbook's first worksheet is empty",
    )


# ---------------------------------------------------------------------------------------------------------
# JSON and JSONL

_WS = " \t\r\n"
_NOT_WS = re.compile(r"[^ \t\r\n]")
_DECODER = json.JSONDecoder()


def _json_shape(detail: str) -> FileRejected:
    return FileRejected("unsupported_format", detail)


def _json_objects(path: Path) -> Iterator[tuple[int, dict]]:
    """The elements of a top-level JSON array, decoded incrementally: (position from 1, object)."""
    with _text_reader(path, "utf-8-sig") as reader:
        buffer = ""
        pos = 0
        eof = False

        def fill(minimum: int = 1) -> bool:
            """Append text to ``buffer`` (dropping the consumed part); False at end of file."""
            nonlocal buffer, pos, eof
            if eof:
                return False
            text = reader.read(max(_CHUNK, minimum))
            if not text:
                eof = True
                return False
            buffer = buffer[pos:] + text
            pos = 0
            return True

        def skip_ws() -> str | None:
            """The next non-space character (not consumed), or None at end of file."""
            nonlocal pos
            while True:
                found = _NOT_WS.search(buffer, pos)
                if found is not None:
                    pos = found.start()
                    return buffer[pos]
                pos = len(buffer)
                if not fill():
                    return None

        first = skip_ws()
        if first is None:
            return
        if first != "[":
            kind = "an object" if first == "{" else "not an array"
            raise _json_shape(f"the JSON top level is {kind}; send an array of objects ([{{...}}, ...])")
        pos += 1
        position = 0
        while True:
            char = skip_ws()
            if char is None:
                raise _json_shape("the JSON array is not closed (the file is truncated?)")
            if char == "]" and position == 0:
                pos += 1
                break
            if position > 0:
                if char == "]":
                    pos += 1
                    break
                if char != ",":
                    raise _json_shape(
                        f"the JSON array is malformed after element {position} (expected , or ])"
                    )
                pos += 1
                char = skip_ws()
                if char is None:
                    raise _json_shape("the JSON array is not closed (the file is truncated?)")
            position += 1
            if char != "{":
                raise _json_shape(f"element {position} of the JSON array is not an object")
            want = _CHUNK
            while True:
                try:
                    value, end = _DECODER.raw_decode(buffer, pos)
                    break
                except RecursionError as exc:
                    raise _json_shape(f"element {position} of the JSON array is nested too deeply") from exc
                except json.JSONDecodeError as exc:
                    if len(buffer) - pos > MAX_JSON_OBJECT_CHARS or not fill(want):
                        raise _json_shape(
                            f"element {position} of the JSON array is not valid JSON ({exc.msg}) "
                            "or larger than 16 MiB"
                        ) from exc
                    want *= 2  # grow geometrically: a large object is parsed O(log n) times, not O(n)
            pos = end
            yield position, value
        if skip_ws() is not None:
            raise _json_shape("text follows the end of the JSON array")


def _jsonl_objects(path: Path) -> Iterator[tuple[int, dict]]:
    """The objects of a JSONL file: (line number from 1, object); blank lines skipped but counted."""
    with _text_reader(path, "utf-8-sig") as reader:
        number = 0
        while True:
            line = reader.readline(MAX_JSON_OBJECT_CHARS + 1)
            if not line:
                return
            number += 1
            if len(line) > MAX_JSON_OBJECT_CHARS and not line.endswith(("\n", "\r")):
                raise _json_shape(f"line {number} is longer than 16 MiB")
            text = line.strip(_WS)
            if not text:
                continue
            if not text.startswith("{"):
                raise _json_shape(f"line {number} is not a JSON object")
            try:
                value = _DECODER.decode(text)
            except json.JSONDecodeError as exc:
                raise _json_shape(f"line {number} is not valid JSON ({exc.msg})") from exc
            except RecursionError as exc:
                raise _json_shape(f"line {number} is nested too deeply") from exc
            yield number, value


def _json_value(value: object) -> str | None:
    if isinstance(value, str):
        return _csv_text(value) if value else None
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number_text(value)
    if not value:  # [] or {}
        return None
    return nfc(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


_MAX_UNKNOWN_KEYS = 1000


def _open_json(path: Path, dataset: str, *, lines: bool) -> RowStream:
    source = _jsonl_objects if lines else _json_objects
    keymap: dict[str, str | None] = {}
    order: list[str] = []
    unknown: list[str] = []
    has_values = False
    try:
        for _, obj in source(path):
            if not has_values:
                has_values = any(_json_value(v) is not None for v in obj.values())
            seen: dict[str, str] | None = None
            for key in obj:
                column = keymap.get(key, "")
                if column == "":
                    column = match_header(dataset, key)
                    if column is None:
                        if len(unknown) < _MAX_UNKNOWN_KEYS:
                            keymap[key] = None
                            unknown.append(key)
                    else:
                        keymap[key] = column
                        if column not in order:
                            order.append(column)
                if column:
                    seen = {} if seen is None else seen
                    if column in seen:
                        raise FileRejected(
                            "missing_columns",
                            f"column {column} is given twice in one object (two keys name it); "
                            "keep one of them",
                        )
                    seen[column] = key
    except UnicodeDecodeError as exc:
        raise FileRejected("undecodable_file", f"the file is not valid UTF-8 ({exc.reason})") from exc
    if not has_values:
        raise FileRejected(
            "empty_file", "the file has no data rows (an empty array, empty objects, or blank)"
        )
    _missing_columns(dataset, set(order), unknown)
    columns = tuple(order)
    mapped = {key: column for key, column in keymap.items() if column}

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        for number, obj in source(path):
            values: dict[str, str] = {}
            empty = True
            for key, raw in obj.items():
                text = _json_value(raw)
                if text is None:
                    continue
                empty = False
                column = mapped.get(key)
                if column is not None:
                    values[column] = text
            if not empty:
                yield number, values

    return _start("jsonl" if lines else "json", None, None, columns, tuple(unknown), rows)
