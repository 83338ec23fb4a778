"""Columnar typing of a file's rows: raw text columns in, typed staging columns out, batch by batch.

The rows come from the contract reader (:func:`covidsync.ingest.parse.open_rows`: encodings, separators,
header matching and row numbers exactly as contract §1–§2 say) in bounded batches
(:data:`BATCH_ROWS`), as a polars DataFrame of text columns. Each staging column of a dataset's spec
(:class:`covidsync.ingest.spec.Typed`) is then computed for the whole batch by a reader of
:data:`READERS`:

* values that repeat (dates, administrative and facility codes, genders, vaccines, vocabulary words,
  dose numbers) are read **once per distinct value** with the shared domain functions
  (:mod:`covidsync.domain`) and joined back, so the answer is exactly theirs;
* values that are nearly all distinct (CCCD, phone, date-times) take a column expression for the shapes
  that need no repair (12 or 9 digits; a normalised mobile number; ISO 8601 with an offset), and the
  domain function once per distinct value for the rest.

Every typed value is written as the text PostgreSQL reads back to the same value (``t``/``f``, ISO dates
and date-times), as :mod:`covidsync.ingest.normalize` wrote it row by row; the values as sent go beside
them as one jsonb object (``raw``) for the row rules (``raw ? 'column'``: a value was sent), the report
and the quarantine. A batch goes to ``staging.<table>`` with one ``COPY``; memory holds one batch.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path

# polars allocates through its own jemalloc, which by default keeps freed pages for seconds: with one batch
# after another the process grew by ~400 MB at 100k-row batches. Pages returned at once (set before polars
# is first imported; an operator's own setting wins) keep the peak flat: +150 MB at 20k-row batches.
os.environ.setdefault("_RJEM_MALLOC_CONF", "background_thread:true,dirty_decay_ms:0,muzzy_decay_ms:0")

import polars as pl  # noqa: E402 (after the allocator's setting)

from covidsync.domain import admin, phone, text, vaccines
from covidsync.ingest import normalize
from covidsync.ingest.spec import DatasetSpec, Typed

BATCH_ROWS = int(os.environ.get("COVIDSYNC_INGEST_BATCH_ROWS", "25000"))  # rows typed and COPYed at once
BATCH_CHARS = int(
    os.environ.get("COVIDSYNC_INGEST_BATCH_CHARS", str(8 << 20))
)  # and at most these characters
# CSV files with no quote read by polars' string kernels instead of the csv module (0 turns it off)
NATIVE_CSV = os.environ.get("COVIDSYNC_INGEST_NATIVE_CSV", "1") != "0"


def _cell(value) -> str | None:
    """The text of a typed value for ``COPY`` (as :func:`covidsync.ingest.normalize._cell` and csv wrote it)."""
    value = normalize._cell(value)
    return None if value is None else str(value)


def per_distinct(series: pl.Series, fn: Callable[[str], object]) -> pl.Series:
    """``fn`` of each value, computed once per distinct value; the result as text (see :func:`_cell`)."""
    values = series.drop_nulls().unique()
    if values.is_empty():
        return pl.Series(series.name, [None] * len(series), dtype=pl.String)
    mapped = pl.Series([_cell(fn(v)) for v in values.to_list()], dtype=pl.String)
    return series.replace_strict(values, mapped, default=None, return_dtype=pl.String)


def _fast_or_distinct(series: pl.Series, fast: pl.Expr, fn: Callable[[str], object]) -> pl.Series:
    """Where ``fast`` (an expression over ``series`` named ``v``) is not null it is the answer; every other
    value goes through ``fn`` once per distinct value."""
    frame = pl.DataFrame({"v": series}).with_columns(fast.alias("fast"))
    slow_values = frame.filter(pl.col("fast").is_null() & pl.col("v").is_not_null())["v"]
    if slow_values.is_empty():
        return frame["fast"].rename(series.name)
    distinct = slow_values.unique()
    lookup = pl.DataFrame({"v": distinct, "slow": per_distinct(distinct, fn)})
    out = frame.join(lookup, on="v", how="left", maintain_order="left")
    return out.select(pl.coalesce("fast", "slow"))["fast"].rename(series.name)


# -- the readers -------------------------------------------------------------------------------------------
def read_text(series: pl.Series) -> pl.Series:
    return series


def read_digits(series: pl.Series, length: int) -> pl.Series:
    return per_distinct(series, lambda v: normalize._digits(v, length))


def read_pad(series: pl.Series, length: int) -> pl.Series:
    return per_distinct(series, lambda v: admin.pad_code(v, length))


def _fast_citizen_id(v: pl.Expr) -> pl.Expr:
    # digits only, not 11 of them: repair_citizen_id leaves them as they are
    return pl.when(v.str.contains(r"^[0-9]+$") & (v.str.len_bytes() != 11)).then(v)


def _fast_phone(v: pl.Expr) -> pl.Expr:
    return pl.when(v.str.contains(r"^0[35789][0-9]{8}$")).then(v)  # already a normalised mobile number


def read_citizen_id(series: pl.Series) -> pl.Series:
    return _fast_or_distinct(series, _fast_citizen_id(pl.col("v")), normalize._citizen_id)


def read_phone(series: pl.Series) -> pl.Series:
    return _fast_or_distinct(series, _fast_phone(pl.col("v")), phone.normalize_phone)


def read_gender(series: pl.Series) -> pl.Series:
    return per_distinct(series, text.normalize_gender)


def _fast_date(v: pl.Expr | None = None) -> pl.Expr:
    """dd/mm/yyyy and yyyy-mm-dd, the shapes nearly every file uses, read by column expressions: a real
    calendar day in 1900–2099 gives its ISO text; anything else is left to the domain function. (``v``: the
    column, ``v`` by default.)"""
    v = pl.col("v") if v is None else v
    day = (
        pl.when(v.str.contains(r"^[0-9]{2}/[0-9]{2}/[0-9]{4}$"))
        .then(v.str.to_date("%d/%m/%Y", strict=False))
        .when(v.str.contains(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))
        .then(v.str.to_date("%Y-%m-%d", strict=False))
    )
    return pl.when(day.dt.year().is_between(1900, 2099)).then(day.dt.to_string("%Y-%m-%d"))


def read_birth(series: pl.Series) -> tuple[pl.Series, pl.Series]:
    """(date of birth, whether only a year was sent) as :func:`covidsync.domain.dates.parse_birth_date`."""
    frame = pl.DataFrame({"v": series}).with_columns(_fast_date().alias("fast"))
    slow = frame.filter(pl.col("fast").is_null() & pl.col("v").is_not_null())["v"].unique()
    pairs = [normalize._birth(v) for v in slow.to_list()]
    lookup = pl.DataFrame(
        {
            "v": slow,
            "slow_date": pl.Series([_cell(d) for d, _ in pairs], dtype=pl.String),
            "slow_year": pl.Series([_cell(y) for _, y in pairs], dtype=pl.String),
        }
    )
    out = frame.join(lookup, on="v", how="left", maintain_order="left").select(
        pl.coalesce("fast", "slow_date").alias("date"),
        pl.when(pl.col("fast").is_not_null()).then(pl.lit("f")).otherwise(pl.col("slow_year")).alias("year"),
    )
    return out["date"].rename(series.name), out["year"].rename(series.name)


def read_date(series: pl.Series) -> pl.Series:
    return _fast_or_distinct(series, _fast_date(), normalize._date)


def _fast_datetime(v: pl.Expr | None = None) -> pl.Expr:
    """``dd/mm/yyyy HH:MM[:SS]`` without an offset (what facilities' spreadsheets export) by column
    expressions: a real local time in 1976–2099 (Asia/Ho_Chi_Minh has been UTC+7 without daylight saving
    since 1975) gives the ISO text ``datetime.isoformat`` gives; anything else is left to the domain function."""
    v = pl.col("v") if v is None else v
    minutes = v.str.contains(r"^[0-9]{2}/[0-9]{2}/[0-9]{4} [0-9]{2}:[0-5][0-9]$")
    seconds = v.str.contains(r"^[0-9]{2}/[0-9]{2}/[0-9]{4} [0-9]{2}:[0-5][0-9]:[0-5][0-9]$")  # no leap second
    moment = (
        pl.when(minutes)
        .then(v.str.to_datetime("%d/%m/%Y %H:%M", strict=False, time_unit="us"))
        .when(seconds)
        .then(v.str.to_datetime("%d/%m/%Y %H:%M:%S", strict=False, time_unit="us"))
    )
    return pl.when(moment.dt.year().is_between(1976, 2099)).then(
        moment.dt.to_string("%Y-%m-%dT%H:%M:%S+07:00")
    )


def read_datetime(series: pl.Series) -> pl.Series:
    # sampled and resulted times are nearly one per row at minute precision (50k distinct in 200k rows):
    # the common shapes as expressions, the rest once per distinct value
    return _fast_or_distinct(series, _fast_datetime(), normalize._datetime)


def read_int(series: pl.Series) -> pl.Series:
    return per_distinct(series, normalize.as_int)


def read_float(series: pl.Series) -> pl.Series:
    return per_distinct(series, normalize.as_float)


def read_vaccine(series: pl.Series) -> pl.Series:
    return per_distinct(series, vaccines.canonical_vaccine)


WORDS = {"test_types": normalize.TEST_TYPES, "results": normalize.RESULTS, "yes_no": normalize.YES_NO}
WORDS["venue_types"] = normalize.VENUE_TYPES  # adoption.md (issue 20)


def read_word(series: pl.Series, table: str) -> pl.Series:
    words = WORDS[table]
    return per_distinct(series, lambda v: words.get(text.name_key(v)))


READERS: dict[str, Callable] = {
    "text": read_text,
    "digits": read_digits,
    "pad": read_pad,
    "citizen_id": read_citizen_id,
    "phone": read_phone,
    "gender": read_gender,
    "birth": read_birth,
    "date": read_date,
    "datetime": read_datetime,
    "int": read_int,
    "float": read_float,
    "vaccine": read_vaccine,
    "word": read_word,
}


# -- batches ------------------------------------------------------------------------------------------------
def batches(
    rows: Iterable[tuple[int, dict[str, str]]], columns: Iterable[str], batch_rows: int = BATCH_ROWS
) -> Iterator[pl.DataFrame]:
    """The rows of a file as DataFrames of at most ``batch_rows`` rows: ``row_number`` and one text column
    per canonical column of the dataset (null where the row sent nothing)."""
    schema = {c: pl.String for c in columns}
    numbers: list[int] = []
    values: list[dict[str, str]] = []
    size, limit = (
        0,
        BATCH_CHARS,
    )  # issue 17: long cells (an XLSX of 4,000-character addresses) cut batches too
    for number, row in rows:
        numbers.append(number)
        values.append(row)
        size += sum(map(len, row.values()))
        if len(numbers) == batch_rows or size >= limit:
            yield _frame(numbers, values, schema)
            numbers, values, size = [], [], 0
    if numbers:
        yield _frame(numbers, values, schema)


# A cell that needs no cleaning: nothing to strip at either end (whitespace, control or invisible
# characters) and already NFC. Every other cell goes through the reader's own function once per distinct
# value (covidsync.ingest.parse._csv_text), so the result is exactly the row reader's.
_EDGE = r"\s\x00-\x1f\x7f\ufeff\u200b\u200c\u200d\u2060"
# Characters that leave a text NFC whatever stands beside them: ASCII, Latin-1, Latin Extended-A/B and Latin
# Extended Additional (Vietnamese's precomposed letters), each its own NFC, no combining mark and the second
# character of no canonical composition (tests/unit/test_columnar_nfc.py proves it from unicodedata). A cell
# of these alone is NFC without normalising it (a regex test, 7 ms for 200k names against 48 ms for
# ``str.normalize`` compared with itself; issue 16, e22-typing); any other cell is cleaned by the reader's own
# function, as a cell that is not NFC was.
NFC_SAFE = "\\x00-\\x{24f}\\x{1e00}-\\x{1eff}"


def clean_text(series: pl.Series) -> pl.Series:
    """The parser's cell text (NFC, stripped, empty → null) of a column of raw CSV cells: :func:`clean_columns`
    of that one column."""
    source = "cell" if series.name != "cell" else "cells"
    return clean_columns(pl.DataFrame({source: series}), [(source, series.name)])[series.name]


def clean_columns(cells: pl.DataFrame, columns: list[tuple[str, str]]) -> dict[str, pl.Series]:
    """:func:`clean_text` of several columns of ``cells`` (``(column of cells, name)`` pairs) with the same
    expressions in three queries for all of them, not four or five a column: a small file's batch is a few
    hundred rows, where polars' cost per query, not per row, was half of its reading (issue 16)."""
    from covidsync.ingest.parse import _csv_text

    if not columns:
        return {}
    ascii_all = cells.select(
        (pl.col(src).str.len_bytes() == pl.col(src).str.len_chars()).all().alias(name)
        for src, name in columns
    ).row(0)
    fast = []
    for (src, name), all_ascii in zip(columns, ascii_all, strict=True):
        v = pl.col(src)
        whole = (v.str.len_bytes() > 0) & ~v.str.contains(f"^[{_EDGE}]") & ~v.str.contains(f"[{_EDGE}]$")
        if not all_ascii:  # as clean_text: ASCII is NFC, other cells kept only when of NFC_SAFE characters
            whole = whole & ~v.str.contains(f"[^{NFC_SAFE}]")
        fast.append(pl.when(whole).then(v).alias(name))
    out = cells.select([pl.col(src) for src, _ in columns] + fast)
    slow_any = out.select(
        (pl.col(name).is_null() & (pl.col(src).str.len_bytes() > 0)).any().alias(name)
        for src, name in columns
    ).row(0)
    cleaned = {}
    for (src, name), slow in zip(columns, slow_any, strict=True):
        if not slow:
            cleaned[name] = out[name]
            continue
        raw = out[src]
        distinct = raw.filter(out[name].is_null() & (raw.str.len_bytes() > 0)).unique()
        lookup = pl.DataFrame(
            {"v": distinct, "slow": pl.Series([_csv_text(x) for x in distinct.to_list()], dtype=pl.String)}
        )
        joined = pl.DataFrame({"v": raw, "fast": out[name]}).join(
            lookup, on="v", how="left", maintain_order="left"
        )
        cleaned[name] = joined.select(pl.coalesce("fast", "slow"))["fast"].rename(name)
    return cleaned


def _transpose(records: list[list[str]], width: int) -> list[tuple]:
    """The first ``width`` cells of each record, column by column (a short record's missing cells None)."""
    short = [at for at, r in enumerate(records) if len(r) < width]
    if short:
        records = list(records)
        for at in short:
            records[at] = records[at] + [None] * (width - len(records[at]))
    return list(zip(*records, strict=False))[:width] if records else []


# -- CSV without quotes, read natively --------------------------------------------------------------------
_NATIVE_CHUNK = 2 * 1024 * 1024  # bytes read and parsed at once (whole lines; 8 MiB raised the peak by 76 MB)


def _field(delimiter: str) -> str:
    """One cell with the separator before it: a quoted cell (``""`` inside for a quote) or one without any
    quote character."""
    d = re.escape(delimiter)
    return f'{d}(?:"(?:[^"]|"")*"|[^{d}"\\r\\n]*)'


def _well_formed(lines: pl.Series, delimiter: str) -> bool:
    """Every line is one record of whole cells (:func:`_field`), so the csv module reads it as the split."""
    return bool((delimiter + lines).str.contains(f"^(?:{_field(delimiter)})*$").all())


def _plain_csv(path, encoding: str, delimiter: str = ",") -> bool:
    """Whether the file's records are its lines, each a row of whole cells (no quote inside an unquoted cell,
    nothing after a closing quote, no line break inside quotes), so that polars' string kernels give exactly
    what the csv module (``parse._csv_records``) gives: UTF-8, no carriage return but in a CRLF, and no line
    longer than the csv module's field limit (which it would refuse as broken). One pass over the bytes
    (lines with a quote checked by a regular expression); anything else takes the csv module."""
    import csv

    if encoding not in ("utf-8", "utf-8-sig"):
        return False
    limit = csv.field_size_limit()
    for lines in _plain_lines(path, encoding, check=limit):
        if lines is None:
            return False
        quoted = lines.filter(lines.str.contains('"', literal=True))
        if quoted.len() and not _well_formed(quoted, delimiter):
            return False
    return True


def _cells(lines: pl.Series, delimiter: str) -> pl.Series:
    """Each line's cells (a list per line), quoted cells unquoted."""
    if not lines.str.contains('"', literal=True).any():
        return lines.str.split(delimiter)
    x = pl.element().str.slice(1)
    unquoted = x.str.slice(1, x.str.len_chars() - 2).str.replace_all('""', '"', literal=True)
    return (
        (delimiter + lines)
        .str.extract_all(_field(delimiter))
        .list.eval(pl.when(x.str.starts_with('"')).then(unquoted).otherwise(x))
    )


def _plain_lines(path, encoding: str, check: int | None = None, with_bytes: bool = False) -> Iterator:
    """The file's lines (without their CR/LF), a chunk of whole lines at a time, decoded once per chunk
    (``with_bytes``: with the chunk's bytes, its last line break left out). With ``check`` (a length),
    ``None`` comes instead when a line is longer or a CR is not in a CRLF."""
    tail = b""
    first = True
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(_NATIVE_CHUNK)
            data = tail + chunk
            if chunk:
                cut = data.rfind(b"\n") + 1
                if cut == 0:
                    tail = data
                    if check is not None and len(tail) > check:
                        yield None
                        return
                    continue
                data, tail = data[: cut - 1], data[cut:]
            elif not data:
                return
            has_cr = b"\r" in data  # (a byte search: most files have none, and then neither count is needed)
            if check is not None and (
                (has_cr and data.count(b"\r") != data.count(b"\r\n") + data.endswith(b"\r"))
                or (data.endswith(b"\r") and not chunk)
                or _longest_line(data) > check
            ):
                yield None
                return
            text = data.decode(encoding if first else "utf-8")
            first = False
            lines = pl.Series("line", [text]).str.split("\n").explode()
            if has_cr:
                lines = lines.str.strip_suffix("\r")
            yield (data, lines) if with_bytes else lines
            if not chunk:
                return


def _longest_line(data: bytes) -> int:
    """The length in bytes of the longest line of ``data`` (lines split at LF, as ``data.split(b"\\n")``)."""
    import numpy as np

    breaks = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    if not len(breaks):
        return len(data)
    ends = np.concatenate([breaks, [len(data)]])
    starts = np.concatenate([[0], breaks + 1])
    return int((ends - starts).max())


class NotPlain(Exception):  # noqa: N818 (not an error: the signal to read the file by the csv module)
    """A chunk of a CSV read natively (:func:`csv_batches` with ``checked_as_read``) is not one record per
    line: batches of the file were already given out, so its staging starts again by the csv module."""


def _chunk_is_plain(lines: pl.Series, delimiter: str) -> bool:
    """:func:`_plain_csv`'s test of one chunk's lines (its CR and line lengths are :func:`_plain_lines`'s)."""
    quoted = lines.filter(lines.str.contains('"', literal=True))
    return not quoted.len() or _well_formed(quoted, delimiter)


def _plain_batches(
    path, stream, dataset: str, batch_rows: int, *, check: bool = False
) -> Iterator[pl.DataFrame]:
    """:func:`csv_batches` for a file :func:`_plain_csv` accepts: lines split by polars, not the csv module.

    ``check``: the file was not checked first; each chunk is checked as :func:`_plain_csv` would before its
    rows are read, and :class:`NotPlain` is raised at the first chunk that fails (one pass over the bytes
    instead of two)."""
    import csv

    from covidsync.ingest import parse

    delimiter = stream.delimiter
    mapping = None
    names: list[str] = []
    number = 0
    seen_content = False
    limit = csv.field_size_limit() if check else None
    for chunk in _plain_lines(path, stream.encoding, check=limit, with_bytes=True):
        if chunk is None:
            raise NotPlain
        data, lines = chunk
        if check and not _chunk_is_plain(lines, delimiter):
            raise NotPlain
        offset = 0
        if mapping is None:  # the head: the sep= line and the header, as parse._csv_records/_find_header
            at = 0
            for line in lines:  # a line or two, nearly always
                at += 1
                record = _cells(pl.Series([line]), delimiter)[0].to_list() if line else []
                if not seen_content and record and any(record):
                    seen_content = True
                    if delimiter.join(record).strip().lower() in ("sep=,", "sep=;", "sep=,,", "sep=;;"):
                        continue
                found = parse._find_header(iter([record]), parse._csv_text)
                if found is not None:
                    mapping, _ = parse._header_mapping(dataset, found[1])
                    names = [column for _, column in mapping]
                    break
            if mapping is None:
                continue
            lines = lines.slice(at)
            if lines.is_empty():
                continue
            for _ in range(at):
                offset = data.index(b"\n", offset) + 1
        # the lines' cells by polars' CSV reader (each line is one record of whole cells: _plain_csv)
        width = max((i for i, _ in mapping), default=0) + 1
        table = pl.read_csv(
            io.BytesIO(memoryview(data)[offset:].tobytes() + b"\n"),
            has_header=False,
            separator=delimiter,
            quote_char='"',
            schema={f"c{i}": pl.String for i in range(width)},
            truncate_ragged_lines=True,
            missing_columns="insert",
            extra_columns="ignore",
        )
        if table.height != lines.len():  # not reached: _plain_csv admits only files read line by line
            raise AssertionError(f"the CSV reader found {table.height} records in {lines.len()} lines")
        for start in range(0, lines.len(), batch_rows):
            part = lines.slice(start, batch_rows)
            numbers = pl.int_range(number + 1, number + 1 + part.len(), eager=True, dtype=pl.Int64)
            number += part.len()
            cells = table.slice(start, batch_rows)
            columns = clean_columns(cells, [(f"c{i}", name) for i, name in mapping])
            frame = pl.DataFrame(columns, height=part.len()).with_columns(numbers.alias("row_number"))
            if names:
                has_value = frame.select(pl.any_horizontal(pl.col(n).is_not_null() for n in names))[:, 0]
            else:
                has_value = pl.Series([False] * part.len())
            if not has_value.all():
                keep = has_value.to_list()
                for at_row, kept in enumerate(keep):
                    if not kept:
                        record = _cells(part.slice(at_row, 1), delimiter)[0]
                        keep[at_row] = any(parse._csv_text(v) for v in record if v)
                frame = frame.filter(pl.Series(keep))
            if frame.height:
                yield frame
    if mapping is None:  # the file changed since open_rows read it
        raise parse.FileRejected("empty_file", "the file has no header and no data (blank)")


def csv_batches(
    path, stream, dataset: str, batch_rows: int = BATCH_ROWS, *, checked_as_read: bool = False
) -> Iterator[pl.DataFrame]:
    """The data rows of a CSV file already opened by :func:`covidsync.ingest.parse.open_rows` (which did the
    file's checks: encoding, separator, header, a first row), as DataFrames of at most ``batch_rows`` rows.

    The records come from the same reader as the row stream's (``parse._csv_records``: the csv module,
    ``sep=`` line, broken structure as ``unsupported_format``); the header is found and matched by the same
    functions; row numbers count every record after the header (blank ones too) and a row is kept when any
    of its cells has text, as :func:`covidsync.ingest.parse._tabular_rows` does. Cells are cleaned per
    column (:func:`clean_text`) instead of one by one.

    ``checked_as_read``: a UTF-8 file is read natively without a first pass over its bytes, each chunk
    checked as it is read; a chunk that fails raises :class:`NotPlain` once rows were given (the caller
    starts again with ``checked_as_read=False``), or before that the csv module reads the file.
    """
    from covidsync.ingest import parse

    stream.close()
    if NATIVE_CSV and checked_as_read and stream.encoding in ("utf-8", "utf-8-sig"):
        given = False
        try:
            for frame in _plain_batches(path, stream, dataset, batch_rows, check=True):
                given = True
                yield frame
            return
        except NotPlain:
            if given:
                raise  # the caller stages the file again (stage_rows), by the csv module
    elif NATIVE_CSV and _plain_csv(path, stream.encoding, stream.delimiter):
        yield from _plain_batches(path, stream, dataset, batch_rows)
        return
    records = parse._csv_records(path, stream.encoding, stream.delimiter)
    try:
        found = parse._find_header(records, parse._csv_text)
        if found is None:  # the file changed since open_rows read it
            raise parse.FileRejected("empty_file", "the file has no header and no data (blank)")
        mapping, _ = parse._header_mapping(dataset, found[1])
        names = [column for _, column in mapping]
        number = 0
        while True:
            batch = list(islice(records, batch_rows))
            if not batch:
                return
            numbers = pl.int_range(number + 1, number + 1 + len(batch), eager=True, dtype=pl.Int64)
            number += len(batch)
            cells = _transpose(batch, max((i for i, _ in mapping), default=-1) + 1)
            columns = {name: clean_text(pl.Series(name, cells[i], dtype=pl.String)) for i, name in mapping}
            frame = pl.DataFrame(columns).with_columns(numbers.alias("row_number"))
            if names:
                has_value = frame.select(pl.any_horizontal(pl.col(n).is_not_null() for n in names))[:, 0]
            else:
                has_value = pl.Series([False] * len(batch))
            if not has_value.all():
                # rows with nothing in the dataset's columns: kept when an unknown column has text
                keep = has_value.to_list()
                for at, kept in enumerate(keep):
                    if not kept:
                        keep[at] = any(parse._csv_text(v) for v in batch[at] if v)
                frame = frame.filter(pl.Series(keep))
            if frame.height:
                yield frame
    finally:
        records.close()


def _frame(numbers: list[int], values: list[dict], schema: dict) -> pl.DataFrame:
    frame = pl.from_dicts(values, schema=schema) if schema else pl.DataFrame(height=len(numbers))
    return frame.with_columns(pl.Series("row_number", numbers, dtype=pl.Int64))


def raw_json(columns: Iterable[str]) -> pl.Expr:
    """The values as sent, one JSON object per row without the columns the row did not send
    (``json.dumps`` of the reader's dict, as jsonb sees it): the row's columns encoded once, then the
    ``"column":null`` members taken out (values are strings, so ``:null`` after a key is only ever a
    missing value; a quote inside a value is escaped, so no value text can look like a member)."""
    columns = list(columns)
    if not columns:
        return pl.lit("{}")
    return (
        pl.struct(columns)
        .struct.json_encode()
        .str.replace_all(r',"[a-z_0-9]+":null', "")
        .str.replace(r'^\{"[a-z_0-9]+":null,?', "{")
    )


def _word_of(table: str) -> Callable[[str], object]:
    words = WORDS[table]
    return lambda v: words.get(text.name_key(v))


# each reader of READERS as typed() runs it with the other columns of a batch: ``(fast, fn)``, the column
# expression for the values that need no repair (None: every value by ``fn``) and the domain function, once
# per distinct value that the expression leaves null; "birth" gives two columns (normalize._birth's pair)
_PLANS: dict[str, Callable[..., tuple[Callable[[pl.Expr], pl.Expr] | None, Callable[[str], object]]]] = {
    "digits": lambda length: (None, lambda v: normalize._digits(v, length)),
    "pad": lambda length: (None, lambda v: admin.pad_code(v, length)),
    "citizen_id": lambda: (_fast_citizen_id, normalize._citizen_id),
    "phone": lambda: (_fast_phone, phone.normalize_phone),
    "gender": lambda: (None, text.normalize_gender),
    "birth": lambda: (_fast_date, normalize._birth),
    "date": lambda: (_fast_date, normalize._date),
    "datetime": lambda: (_fast_datetime, normalize._datetime),
    "int": lambda: (None, normalize.as_int),
    "float": lambda: (None, normalize.as_float),
    "vaccine": lambda: (None, vaccines.canonical_vaccine),
    "word": lambda table: (None, _word_of(table)),
}


def _replace(source: pl.Expr, values: list, mapped: list) -> pl.Expr:
    """``source`` mapped by ``values`` → ``mapped`` (text; null for any other value), as per_distinct."""
    if not values:
        return pl.lit(None, pl.String)
    return source.replace_strict(
        pl.Series(values, dtype=pl.String),
        pl.Series(mapped, dtype=pl.String),
        default=None,
        return_dtype=pl.String,
    )


def typed(spec: DatasetSpec, frame: pl.DataFrame, file_id: int, *, raw: bool = True) -> pl.DataFrame:
    """The staging rows of one batch: file_id, row_number, raw (when the spec keeps it and ``raw``), typed
    columns.

    Every column of the batch in three polars queries, not three to six a column (issue 16, e22-typing: a
    200k-row file's typing was about 1,500 calls): the fast expressions of every column at once, then the
    distinct values each column leaves to its domain function, then every column's answer (the expression's,
    else the function's, joined back by value). The values are READERS' own, reader by reader."""
    present = [c.name for c in spec.columns]
    steps = []  # (column, plan) per staging column
    fast: list[pl.Expr] = []
    wanted: list[pl.Expr] = []
    for at, column in enumerate(spec.staging):
        source = pl.col(column.column)
        if column.reader == "text" or column.reader not in _PLANS:
            steps.append((column, None))
            continue
        fast_of, fn = _PLANS[column.reader](*column.args)
        name = f"\x00fast{at}"
        if fast_of is not None:
            fast.append(fast_of(source).alias(name))
            slow = source.filter(pl.col(name).is_null() & source.is_not_null())
        else:
            slow = source.drop_nulls()
        wanted.append(slow.unique().implode().alias(f"\x00slow{at}"))
        steps.append((column, (name if fast_of is not None else None, fn)))
    work = frame.with_columns(fast) if fast else frame
    distinct = work.select(wanted).row(0) if wanted else ()
    columns: list[pl.Expr] = [pl.lit(file_id, pl.Int64).alias("file_id"), pl.col("row_number")]
    if spec.keep_raw and raw:
        columns.append(raw_json(present).alias("raw"))
    at_distinct = 0
    for column, plan in steps:
        source = pl.col(column.column)
        if plan is None:
            if column.reader == "text":
                columns.append(source.alias(column.name))
            else:  # a reader typed() has no plan for: its own function, on its own
                result = _read(column, frame[column.column])
                for name, series in zip(
                    column.names, result if isinstance(result, tuple) else (result,), strict=True
                ):
                    columns.append(pl.lit(series.rename(name)))
            continue
        fast_name, fn = plan
        values = distinct[at_distinct]
        at_distinct += 1
        answers = [fn(v) for v in values]
        if column.reader == "birth":
            dates = _replace(source, values, [_cell(d) for d, _ in answers])
            years = _replace(source, values, [_cell(y) for _, y in answers])
            date_name, year_name = column.names
            columns.append(pl.coalesce(pl.col(fast_name), dates).alias(date_name))
            columns.append(
                pl.when(pl.col(fast_name).is_not_null()).then(pl.lit("f")).otherwise(years).alias(year_name)
            )
            continue
        slow = _replace(source, values, [_cell(a) for a in answers])
        answer = slow if fast_name is None else pl.coalesce(pl.col(fast_name), slow)
        columns.append(answer.alias(column.name))
    return work.select(columns)


def _read(column: Typed, series: pl.Series):
    return READERS[column.reader](series, *column.args)


def copy_frame(cur, table: str, frame: pl.DataFrame) -> None:
    """One ``COPY`` of ``frame`` (its columns by name) into ``table``."""
    buffer = io.BytesIO()
    frame.write_csv(buffer, include_header=False, null_value="")
    buffer.seek(0)
    cur.copy_expert(f"copy {table} ({', '.join(frame.columns)}) from stdin with (format csv)", buffer)


def read_batches(
    spec: DatasetSpec, stream, path=None, batch_rows: int = BATCH_ROWS, *, checked_as_read: bool = False
) -> Iterator[pl.DataFrame]:
    """A file's rows in batches: CSV read column-wise (:func:`csv_batches`, with ``checked_as_read``), other
    formats from the row stream (XLSX, JSON, JSONL: the contract reader's rows, gathered into batches)."""
    names = [c.name for c in spec.columns]
    if getattr(stream, "format", None) == "csv" and path is not None:
        for frame in csv_batches(path, stream, spec.name, batch_rows, checked_as_read=checked_as_read):
            missing = [n for n in names if n not in frame.columns]
            yield frame.with_columns(pl.lit(None, dtype=pl.String).alias(n) for n in missing)
        return
    yield from batches(stream, names, batch_rows)


def stage_rows(
    conn,
    spec: DatasetSpec,
    file_id: int,
    rows: Iterable[tuple[int, dict[str, str]]],
    path=None,
    *,
    context=None,
    spill: Path | None = None,
) -> int:
    """Replace the file's staged rows with ``rows`` typed batch by batch (in the caller's transaction).

    With the spec's ``frame_rules`` (and their ``context``), each batch's row codes go to
    ``staging.row_check``, ``raw`` is written only for the rows with a code, and every row's values as sent
    go to the local ``spill`` file (Arrow IPC, one batch at a time), from which the rules step takes the
    rows that the SQL rules flag (:func:`raw_of_rows`).

    A CSV is read natively in one pass, its bytes checked chunk by chunk as read; when a later chunk turns
    out not to be one record per line (:class:`NotPlain`), the file is staged again from the start by the
    csv module (the rows already written are replaced: same transaction)."""
    try:
        return _stage_rows(
            conn, spec, file_id, rows, path, context=context, spill=spill, checked_as_read=True
        )
    except NotPlain:
        return _stage_rows(
            conn, spec, file_id, rows, path, context=context, spill=spill, checked_as_read=False
        )


# at most one row in this many may step back in key order for a file to count as staged in key order (_KeyOrder)
KEY_ORDER_SLACK = 100

# a file of more rows than this gives no duplicate candidates (_DuplicateCandidates): its peak memory stays flat
DUPLICATE_CANDIDATES_MAX_ROWS = 2_000_000

# a batch's COPY (and spill) on a background thread while the next batch is read and typed (0 turns it off)
COPY_AHEAD = os.environ.get("COVIDSYNC_INGEST_COPY_AHEAD", "1") != "0"


def read_ahead(items: Iterator, enabled: bool = True, name: str = "stage-read") -> Iterator:
    """``items`` produced on a background thread (``name``) at most one ahead of the caller (a queue of one:
    memory holds one batch more), in order; an exception of the producer is raised here, in its place. When the
    caller stops early (its own exception, or it closes this generator: ``contextlib.closing``), the producer is
    stopped and joined before this returns, and ``items`` is closed on its thread, so nothing runs behind the
    caller's back (the caller may read the file again). ``enabled`` false: ``items`` on the caller's thread.
    Polars releases the GIL, so a file's reading and typing run on the second core (declarations, check-ins)."""
    if not enabled:
        yield from items
        return
    import queue
    import threading

    ready: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    end = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((end, None))
        except BaseException as exc:  # noqa: BLE001 (raised again on the caller's thread)
            put((None, exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item, exc = ready.get()
            if exc is not None:
                raise exc
            if item is end:
                return
            yield item
    finally:
        stop.set()
        thread.join()


class _Ahead:
    """Each batch's writing (its ``COPY``s, its spill) done on one background thread, in order, while the
    next batch is read and typed: PostgreSQL parses one batch while polars reads the next (both release
    the GIL: libpq's sends and waits, polars' kernels). At most one batch is being written, so memory holds
    two batches. The connection is used by that thread alone until the block ends, which waits for the
    last write (also when it ends by an exception, so the connection is idle when the caller goes on)."""

    def __init__(self, enabled: bool):
        self.pool = None
        if enabled:
            from concurrent.futures import ThreadPoolExecutor

            self.pool = ThreadPoolExecutor(1, thread_name_prefix="stage-copy")
        self.pending = None

    def submit(self, fn: Callable[[], None]) -> None:
        if self.pool is None:
            fn()
            return
        if self.pending is not None:
            self.pending.result()  # the batch before is written (its error raised here)
        self.pending = self.pool.submit(fn)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if self.pending is not None:
                if exc_type is None:
                    self.pending.result()
                else:
                    self.pending.exception()  # wait; the exception in flight is the one raised
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True)


# the rows of staging and row-code COPYs held back while one core COPY is open (_OneCopy): past this, the COPY
# ends and they are written (memory stays bounded whatever share of a file is staged)
HELD_MAX_ROWS = 25_000


class _Feed:
    """The file-like object a ``COPY ... FROM STDIN`` reads (psycopg2's ``copy_expert``): each batch's bytes
    made on the reading thread, in order, from the callables put in its queue (one waiting at most); None
    ends the data, an exception aborts the COPY."""

    def __init__(self):
        import queue

        self.queue = queue.Queue(maxsize=1)
        self.data = memoryview(b"")
        self.at = 0

    def read(self, size: int = -1) -> bytes:
        while self.at >= len(self.data):
            item = self.queue.get()
            if item is None:
                return b""
            if isinstance(item, BaseException):
                raise item
            self.data, self.at = memoryview(item()), 0
        size = len(self.data) - self.at if size is None or size < 0 else size
        chunk = self.data[self.at : self.at + size]
        self.at += len(chunk)
        return bytes(chunk)


class _OneCopy:
    """The direct path's core rows in ONE ``COPY`` held open across batches on a background thread (e27-writer):
    a statement a file, not one a batch, so the core table's statement triggers (migration 0016's reference
    checks) run once over all the rows and the statement's setup is paid once. Each batch's CSV is made on
    that thread while the next batch is read and typed, as :class:`_Ahead` does; its spill is written there
    too, in order. The connection is the COPY's until :meth:`end`: the batch's staged rows and row codes are
    held and written after it (as soon as more than ``HELD_MAX_ROWS`` are held, so memory stays bounded), and
    a caller that needs the connection (the lookup of existing keys) calls :meth:`end` first. An error raised
    in the caller aborts the COPY (the statement fails; the caller's transaction is rolled back as before)."""

    def __init__(self, cur, table: str, columns: list[str]):
        from concurrent.futures import ThreadPoolExecutor

        self.cur = cur
        self.sql = f"copy {table} ({', '.join(columns)}) from stdin with (format csv)"
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="stage-copy")
        self.feed: _Feed | None = None
        self.task = None
        self.held: list[tuple[str, pl.DataFrame]] = []
        self.held_rows = 0

    def _put(self, item) -> None:
        import queue

        while True:
            try:
                self.feed.queue.put(item, timeout=0.05)
                return
            except queue.Full:
                if self.task.done():
                    self.task.result()  # the COPY failed: its error raised here
                    raise RuntimeError("the core COPY ended before its data did") from None

    def batch(
        self, core: pl.DataFrame, held: list[tuple[str, pl.DataFrame]], spill: Callable[[], None]
    ) -> None:
        """Send a batch: its core rows to the open COPY (opened if none is), its spill written before them,
        ``held`` (table, frame) pairs written after the COPY ends."""
        if self.task is None:
            self.feed = _Feed()
            self.task = self.pool.submit(self.cur.copy_expert, self.sql, self.feed)

        def data() -> bytes:
            spill()
            if not core.height:
                return b""
            buffer = io.BytesIO()
            core.write_csv(buffer, include_header=False, null_value="")
            return buffer.getvalue()

        self._put(data)
        for table, frame in held:
            if frame.height:
                self.held.append((table, frame))
                self.held_rows += frame.height
        if self.held_rows > HELD_MAX_ROWS:
            self.end()

    def end(self) -> None:
        """The COPY ended (its triggers run), then the rows held written; the connection is free after."""
        if self.task is not None:
            self._put(None)
            task, self.task, self.feed = self.task, None, None
            task.result()
        for table, frame in self.held:
            copy_frame(self.cur, table, frame)
        self.held, self.held_rows = [], 0

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.end()
            elif self.task is not None:
                # the COPY aborted; the exception in flight is the one raised (also when the COPY failed first)
                try:
                    self._put(RuntimeError("ingest stopped"))
                except Exception:  # noqa: BLE001, S110
                    pass
                self.task.exception()
        finally:
            self.pool.shutdown(wait=True)


def _stage_rows(conn, spec, file_id, rows, path, *, context, spill, checked_as_read: bool) -> int:
    total = 0
    names = [c.name for c in spec.columns]
    with conn.cursor() as cur:
        cur.execute(f"delete from staging.{spec.table} where file_id = %s", (file_id,))  # noqa: S608 (spec)
        if spec.frame_rules is None:
            with _Ahead(COPY_AHEAD) as ahead:
                for frame in read_batches(spec, rows, path, checked_as_read=checked_as_read):
                    out = typed(spec, frame, file_id)
                    ahead.submit(lambda out=out: copy_frame(cur, f"staging.{spec.table}", out))
                    total += frame.height
            return total
        cur.execute("delete from staging.row_check where file_id = %s", (file_id,))
        order = _KeyOrder(spec.record_key)
        repeats = _DuplicateCandidates(spec.duplicate_key, getattr(context, "has_record_id", True))
        with _SpillWriter(spill) as writer, _Ahead(COPY_AHEAD) as ahead:
            for frame in read_batches(spec, rows, path, checked_as_read=checked_as_read):
                sent = frame.select("row_number", *names)
                out = typed(spec, frame, file_id, raw=False)
                order.add(out)
                repeats.add(out)
                codes = spec.frame_rules(sent, out, context)
                if spec.keep_raw:
                    flagged = sent.filter(pl.col("row_number").is_in(codes["row_number"].unique().implode()))
                    raws = flagged.select("row_number", raw_json(names).alias("raw"))
                    out = out.join(raws, on="row_number", how="left", maintain_order="left")

                def write(out=out, codes=codes, sent=sent) -> None:
                    copy_frame(cur, f"staging.{spec.table}", out)
                    if codes.height:
                        copy_frame(
                            cur,
                            "staging.row_check",
                            codes.select(pl.lit(file_id, pl.Int64).alias("file_id"), pl.all()),
                        )
                    writer.write(sent)

                ahead.submit(write)
                total += frame.height
        if spec.record_key is not None or spec.duplicate_key is not None:
            rows_found, by_record_id = repeats.rows()
            cur.execute(
                """
                insert into staging.staged_file (file_id, keys_in_order, duplicate_rows, duplicates_by_record_id)
                values (%s, %s, %s, %s)
                on conflict (file_id) do update set keys_in_order = excluded.keys_in_order,
                    duplicate_rows = excluded.duplicate_rows,
                    duplicates_by_record_id = excluded.duplicates_by_record_id
                """,
                (file_id, order.in_order, rows_found, by_record_id),
            )
    return total


class _DuplicateCandidates:
    """The rows that may repeat an earlier row's key in the file (``spec.duplicate_key``): every row whose
    key's 32-bit hash occurs more than once. Rows with the same key have the same hash, so every duplicate is
    among them (and a few rows whose different keys collide, which the duplicates rule's SQL then tells
    apart: it compares the keys themselves, on these rows only). Memory: 8 bytes a row, and about three times
    that for a moment at the end (the rows put together and their hashes counted); past
    :data:`DUPLICATE_CANDIDATES_MAX_ROWS` rows the file gives none (the rule compares every row, as before),
    so that the peak of a very large file stays where it was."""

    def __init__(self, duplicate_key: Callable | None, has_record_id: bool):
        self.duplicate_key = duplicate_key
        self.has_record_id = has_record_id
        self.parts: list[pl.DataFrame] = []
        self.count = 0
        self.given_up = False

    def add(self, typed_batch: pl.DataFrame) -> None:
        if self.duplicate_key is None or self.given_up:
            return
        self.count += typed_batch.height
        if self.count > DUPLICATE_CANDIDATES_MAX_ROWS:
            self.given_up, self.parts = True, []
            return
        keys = self.duplicate_key(typed_batch, self.has_record_id)
        hashed = keys.hash(seed=0).cast(pl.UInt32, wrap_numerical=True)  # the same seed for every batch
        part = pl.DataFrame({"row_number": typed_batch["row_number"].cast(pl.Int32), "h": hashed})
        part = part.filter(keys.is_not_null())
        self.parts.append(part)

    def rows(self) -> tuple[list[int] | None, bool | None]:
        """(the candidate rows, the key kind they were found by); (None, None) without a key function."""
        if self.duplicate_key is None or self.given_up:
            return None, None
        if not self.parts:
            return [], self.has_record_id
        found = pl.concat(self.parts).filter(pl.col("h").is_duplicated())["row_number"]
        self.parts = []
        return sorted(found.to_list()), self.has_record_id


class _KeyOrder:
    """Whether a file's rows come in the order of their merge key (``spec.record_key``; by bytes, rows
    without a key left out), batch after batch: recorded in ``staging.staged_file`` for the merge, which
    inserts rows in key order as staged instead of sorting them (migration 0038). "In order" allows one row
    in :data:`KEY_ORDER_SLACK` to step back (a row sent twice further down the file, which the duplicates
    rule keeps out anyway, or a correction appended at the end): those few go into the b-tree's middle, the
    rest is appended at its edge."""

    def __init__(self, record_key: Callable | None):
        self.record_key = record_key
        self.rows = 0
        self.descents = 0
        self.last: str | None = None

    def add(self, typed_batch: pl.DataFrame) -> None:
        if self.record_key is None:
            return
        keys = self.record_key(typed_batch).drop_nulls()
        if keys.is_empty():
            return
        before = keys.shift(1, fill_value=self.last) if self.last is not None else keys.shift(1)
        self.descents += int((keys < before).sum())
        self.rows += keys.len()
        self.last = keys[-1]

    @property
    def in_order(self) -> bool:
        return self.record_key is not None and self.descents * KEY_ORDER_SLACK <= self.rows


# -- the values as sent, spilled to a local file while staging (frame_rules specs) ----------------------------
def spill_path(file_id: int, sha256: str) -> Path:
    """Where a file's values as sent wait between staging and its rules: ``COVIDSYNC_INGEST_SPILL_DIR``
    (default: ``spill`` in the data directory, beside the landing area), one file per landing file and
    content. It holds personal data as the landing file does: owner-only, removed when the file is
    finished."""
    from covidsync import settings

    base = os.environ.get("COVIDSYNC_INGEST_SPILL_DIR")
    return (Path(base) if base else settings.data_dir() / "spill") / f"{file_id}-{sha256[:16]}.arrows"


class _SpillWriter:
    """Batches appended to an Arrow IPC stream, renamed into place when complete (never a partial spill)."""

    def __init__(self, path: Path | None):
        self.path = path
        self.writer = None
        self.sink = None

    def __enter__(self):
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        return self

    def write(self, frame: pl.DataFrame) -> None:
        if self.path is None:
            return
        import pyarrow as pa

        table = frame.to_arrow()
        if self.writer is None:
            self.sink = open(self.tmp, "wb")  # noqa: SIM115 (closed in __exit__)
            os.chmod(self.tmp, 0o600)
            self.schema = table.schema
            self.writer = pa.ipc.new_stream(self.sink, self.schema)
        self.writer.write_table(table if table.schema == self.schema else table.cast(self.schema))

    def __exit__(self, exc_type, exc, tb):
        if self.writer is not None:
            self.writer.close()
            self.sink.close()
            if exc_type is None:
                os.replace(self.tmp, self.path)
            else:
                os.unlink(self.tmp)
        elif self.path is not None and exc_type is None:
            self.path.unlink(missing_ok=True)  # no rows: nothing to spill


def raw_of_rows(spec: DatasetSpec, wanted: Iterable[int], spill: Path | None, reread=None) -> pl.DataFrame:
    """``row_number`` and ``raw`` (the JSON of the values as sent) of the ``wanted`` rows: from the spill
    written while staging, else (a spill lost, e.g. another machine) from the file read again
    (``reread()``: its batches of values as sent)."""
    names = [c.name for c in spec.columns]
    wanted = pl.Series("row_number", sorted(set(wanted)), dtype=pl.Int64)
    if spill is not None and spill.exists():
        import pyarrow as pa

        def frames():
            # an OSFile, not the path: given a path, pyarrow maps the whole spill into the process (a
            # 1.5M-row file's 350 MB counted in the task's memory); a file reads one batch at a time
            with pa.OSFile(str(spill)) as source, pa.ipc.open_stream(source) as reader:
                for batch in reader:
                    yield pl.from_arrow(pa.Table.from_batches([batch]))

        source = frames()
    elif reread is not None:
        source = reread()
    else:
        source = iter(())
    parts = [
        frame.filter(pl.col("row_number").is_in(wanted.implode())).select(
            "row_number", raw_json(names).alias("raw")
        )
        for frame in source
    ]
    parts = [p for p in parts if p.height]
    return pl.concat(parts) if parts else pl.DataFrame(schema={"row_number": pl.Int64, "raw": pl.String})


# -- straight into core (issue 16, branch e10-direct) ---------------------------------------------------------
# A file whose spec names its core columns (``DatasetSpec.direct_columns``) can be written by its batches
# straight into ``core.<table>`` while it is read, inside the transaction that ends with its merge
# (covidsync.ingest.engine.process_file): PostgreSQL maintains the core table's indexes while polars reads
# and types the next batch, instead of after it, and the rows need no staging round trip. Only the rows that
# a set rule still has to judge go to staging, as before: a row with a code of the frame rules, a row whose
# merge key or duplicates key repeats an earlier row's of the file (by a 64-bit hash: a collision only sends
# a row to staging), a row without a merge key, and a row whose key the facility already has in core (it
# replaces that record: history). The rows written straight in core that turn out to need staging after all
# (the first row of a key that repeats further down the file; a row a later SQL rule flags) are moved back
# (:func:`direct_move_back`).

# a file of more bytes than this takes the staging path: the direct path keeps each distinct key's hash and first
# row to find repeated keys (_Repeats: 24 bytes a row for the two keys), so its peak grows with the file, slowly
# since e31-vacc (the bench's peak: 446 MB at 1.5M vaccination rows, 7 December 2026; 613 MB at 1M before);
# 256 MiB (about 1.7M vaccination rows, 1.45M test results) keeps it under 500 MB, and a larger file takes the
# staging path, whose memory is flat (343 MB at 1M rows, 338 MB at 5M)
DIRECT_MAX_BYTES = int(os.environ.get("COVIDSYNC_INGEST_DIRECT_MAX_BYTES", str(256 << 20)))


class _Seen:
    """The 64-bit hashes of one key seen so far in a file (a sorted array: 8 bytes a row)."""

    def __init__(self):
        import numpy as np

        self.np = np
        self.sorted = np.empty(0, dtype=np.uint64)

    def again(self, hashes, valid):
        """Whether each row's key (``hashes``, where ``valid``) was seen at an earlier row of the file."""
        np = self.np
        hit = np.zeros(len(hashes), dtype=bool)
        at = np.flatnonzero(valid)
        if not len(at):
            return hit
        h = hashes[at]
        if len(self.sorted):
            pos = np.searchsorted(self.sorted, h).clip(0, len(self.sorted) - 1)
            hit[at] = self.sorted[pos] == h
        # within the batch: every occurrence after the first (one stable sort: equal hashes in row order)
        order = np.argsort(h, kind="stable")
        ordered = h[order]
        first = np.ones(len(h), dtype=bool)
        first[1:] = ordered[1:] != ordered[:-1]
        hit[at[order[~first]]] = True
        distinct = ordered[first]
        # the batch's keys inserted where they sort (a copy of the array, no sort of it: e22-typing)
        self.sorted = np.insert(self.sorted, np.searchsorted(self.sorted, distinct), distinct)
        return hit


class _Repeats:
    """One key's 64-bit hashes seen so far in a file, each with the row that first had it (e31-vacc): a sorted
    array of hashes and one of first rows beside it, 12 bytes a distinct key, so that the rows of a key that
    repeats (its first row and every later one) are known as the file is read, without a frame of every
    row's hashes kept to the end (23 bytes a row, copied again at the end: 1M rows peaked at 510 MB).

    :meth:`again` says which rows of a batch repeat an earlier row's key; :meth:`record` then notes the
    batch (each row's number, and whether it was staged: a first row is stored negated when it was).
    :meth:`rows` gives every row of a repeated key, :meth:`core_firsts` the first rows of repeated keys that
    went to core: the same sets as grouping every row's hash at the end (``is_duplicated``)."""

    def __init__(self):
        import numpy as np

        self.np = np
        self.sorted = np.empty(0, dtype=np.uint64)
        self.first = np.empty(0, dtype=np.int32)  # the first row of each hash; negated: it was staged
        self.repeats: list = []  # the rows that repeat an earlier row's key
        self.firsts: list = []  # the first rows of keys that repeat (signed as in ``first``)
        self.batch = None
        # the first rows (signed) of the keys of the batch last recorded that were seen in earlier batches
        self.recent = None

    def again(self, hashes, valid):
        """Whether each row's key (``hashes``, where ``valid``) was seen at an earlier row of the file."""
        np = self.np
        hit = np.zeros(len(hashes), dtype=bool)
        at = np.flatnonzero(valid)
        self.batch = None
        if not len(at):
            return hit
        h = hashes[at]
        earlier = np.zeros(len(h), dtype=bool)
        pos = None
        if len(self.sorted):
            pos = np.searchsorted(self.sorted, h).clip(0, len(self.sorted) - 1)
            earlier = self.sorted[pos] == h
        # within the batch: every occurrence after the first (one stable sort: equal hashes in row order)
        order = np.argsort(h, kind="stable")
        ordered = h[order]
        start = np.ones(len(h), dtype=bool)
        start[1:] = ordered[1:] != ordered[:-1]
        repeat = earlier.copy()
        repeat[order[~start]] = True
        hit[at] = repeat
        self.batch = (at, h, earlier, pos, order, ordered, start, repeat)
        return hit

    def leads(self, size: int):
        """After :meth:`again`: whether each row of that batch (``size`` rows) is the first row of a key new
        to the file that repeats further down the same batch (e40-vacc). Such a row goes to staging with the
        batch, not to core and back: the rows of a key that repeats mostly come together (the bench's 381
        repeated keys of 200k vaccinations all repeat within their batch)."""
        np = self.np
        lead = np.zeros(size, dtype=bool)
        if self.batch is None:
            return lead
        at, _, earlier, _, order, ordered, start, _ = self.batch
        heads = np.flatnonzero(start)
        sizes = np.diff(np.append(heads, len(ordered)))
        grown = ~earlier[order[heads]] & (sizes > 1)
        lead[at[order[heads[grown]]]] = True
        return lead

    def record(self, row_numbers, staged) -> None:
        """Note the batch :meth:`again` last saw: ``row_numbers`` and ``staged`` (bool) for each of its rows."""
        if self.batch is None:
            return
        np = self.np
        at, h, earlier, pos, order, ordered, start, repeat = self.batch
        self.batch = None
        rows = np.asarray(row_numbers, dtype=np.int32)[at]
        signed = np.where(np.asarray(staged)[at], -rows, rows)
        if repeat.any():
            self.repeats.append(rows[repeat])
        self.recent = self.first[pos[earlier]] if earlier.any() else None
        if self.recent is not None:  # keys first seen in an earlier batch
            self.firsts.append(self.recent)
        # each distinct key of the batch: its first row here; a key new to the file is inserted where it sorts
        heads = np.flatnonzero(start)
        sizes = np.diff(np.append(heads, len(ordered)))
        head_rows = signed[order[heads]]
        new = ~earlier[order[heads]]
        if (grown := new & (sizes > 1)).any():  # new to the file, and repeated within the batch
            self.firsts.append(head_rows[grown])
        keys = ordered[heads[new]]
        where = np.searchsorted(self.sorted, keys)
        self.sorted = np.insert(self.sorted, where, keys)
        self.first = np.insert(self.first, where, head_rows[new])

    def _firsts(self):
        np = self.np
        return np.concatenate(self.firsts) if self.firsts else np.empty(0, dtype=np.int32)

    def rows(self):
        """Every row of a key that repeats in the file (its first row and the later ones), sorted."""
        np = self.np
        parts = [np.abs(self._firsts()), *self.repeats]
        return np.unique(np.concatenate(parts)) if parts else np.empty(0, dtype=np.int32)

    def core_firsts(self):
        """The first rows of the keys that repeat in the file that went to core, sorted."""
        firsts = self._firsts()
        return self.np.unique(firsts[firsts > 0])


class DirectResult:
    """What :func:`stage_direct` did: rows read, rows written to core and to staging, the facts that
    ``staging.staged_file`` records, the core rows to move back to staging, and the profile of the rows
    in core (their counts by the profile columns' values, a small frame a batch, for the gate's profile)."""

    def __init__(self):
        self.total = 0
        self.direct = 0
        self.staged = 0
        self.keys_in_order = False
        self.duplicate_rows: list[int] | None = None
        self.by_record_id: bool | None = None
        self.move_back: list[int] = []
        # typed rows of the previous batch that went to core and whose key came again in the next batch (a
        # repeat across a batch boundary): moved back from these, not typed again from the spill (e40-vacc)
        self.typed_firsts: list[pl.DataFrame] = []
        self.profile_parts: list[pl.DataFrame] = []

    def add_profile(self, columns: Iterable[str], rows: pl.DataFrame, sign: int = 1) -> None:
        """Count ``rows`` (typed) by their profile columns' values into the profile of the core rows
        (``sign`` -1: rows moved out of core again). Memory: one small frame of counts a batch."""
        columns = list(columns)
        if rows.height:
            self.profile_parts.append(
                rows.group_by([pl.col(c).cast(pl.String) for c in columns])
                .agg((pl.len().cast(pl.Int64) * sign).alias("n"))
                .select(*columns, "n")
            )

    def profile_counts(self, columns: Iterable[str]) -> pl.DataFrame:
        """The rows in core by their profile columns' values (``n``)."""
        columns = list(columns)
        if not self.profile_parts:
            return pl.DataFrame(schema={**{c: pl.String for c in columns}, "n": pl.Int64})
        return (
            pl.concat(self.profile_parts)
            .group_by(columns)
            .agg(pl.col("n").sum())
            .filter(pl.col("n") != 0)
            .select(*columns, "n")
        )


def stage_direct(
    conn,
    spec: DatasetSpec,
    file_id: int,
    facility_code: str,
    rows,
    path,
    *,
    context,
    spill: Path,
    has_existing: bool,
) -> DirectResult:
    """Read the file batch by batch (in the caller's transaction): each batch typed and checked by the frame
    rules as :func:`stage_rows` does, its row codes to ``staging.row_check``, its values as sent to the
    spill, and its rows to ``core.<table>`` or to ``staging.<table>`` (see above). A CSV that turns out not to
    be one record a line raises :class:`NotPlain` (the caller rolls back and takes the staging path)."""
    import numpy as np

    names = [c.name for c in spec.columns]
    has_record_id = getattr(context, "has_record_id", True)
    out_columns = ["facility_code", "record_key", *spec.direct_columns, *spec.direct_false]
    out_columns += ["warnings", "source_file_id", "source_row"]
    result = DirectResult()
    order = _KeyOrder(spec.record_key)
    seen_key, seen_dup = _Repeats(), _Repeats()
    previous = None  # the previous batch, typed
    with conn.cursor() as cur:
        cur.execute(f"delete from staging.{spec.table} where file_id = %s", (file_id,))  # noqa: S608 (spec)
        cur.execute("delete from staging.row_check where file_id = %s", (file_id,))
        # the core rows in one COPY held open across batches (_OneCopy); with COPY_AHEAD off, each batch's
        # COPYs in turn on this thread
        writing = _OneCopy(cur, f"core.{spec.table}", out_columns) if COPY_AHEAD else _Ahead(False)
        with _SpillWriter(spill) as writer, writing as ahead:
            for frame in read_batches(spec, rows, path, checked_as_read=True):
                sent = frame.select("row_number", *names)
                out = typed(spec, frame, file_id, raw=False)
                order.add(out)
                codes = spec.frame_rules(sent, out, context)
                key = spec.record_key(out)
                dup = spec.duplicate_key(out, has_record_id)
                key_h = key.hash(seed=0).to_numpy()
                dup_h = dup.hash(seed=1).to_numpy()
                key_ok = key.is_not_null().to_numpy()
                dup_ok = dup.is_not_null().to_numpy()
                to_stage = (
                    out["row_number"].is_in(codes["row_number"].unique().implode()).to_numpy()
                    | ~key_ok
                    | seen_key.again(key_h, key_ok)
                    | seen_dup.again(dup_h, dup_ok)
                    # the first row of a key that repeats in this batch: staged now, not moved back later
                    | seen_key.leads(len(key_h))
                    | seen_dup.leads(len(dup_h))
                )
                if has_existing:  # the keys the facility has in core already: a replacement, by staging
                    if isinstance(ahead, _OneCopy):
                        ahead.end()  # the connection free for the lookup
                    wanted = key.filter(pl.Series(key_ok & ~to_stage)).to_list()
                    if wanted:
                        cur.execute(
                            f"select record_key from core.{spec.table} "  # noqa: S608 (table from the spec)
                            "where facility_code = %s and record_key = any(%s)",
                            (facility_code, wanted),
                        )
                        found = {r[0] for r in cur.fetchall()}
                        if found:
                            to_stage |= key.is_in(list(found)).fill_null(False).to_numpy()
                row_numbers = out["row_number"].to_numpy()
                seen_key.record(row_numbers, to_stage)
                seen_dup.record(row_numbers, to_stage)
                back = [r for r in (seen_key.recent, seen_dup.recent) if r is not None]
                if back and previous is not None:
                    back = np.concatenate(back)
                    if (back := back[back > 0]).size:  # first rows that went to core
                        typed_back = previous.filter(pl.col("row_number").is_in(back.tolist()))
                        if typed_back.height:
                            result.typed_firsts.append(typed_back)
                previous = out
                mask = pl.Series(to_stage)
                staged = out.filter(mask)
                if spec.keep_raw:
                    flagged = sent.filter(pl.col("row_number").is_in(codes["row_number"].unique().implode()))
                    raws = flagged.select("row_number", raw_json(names).alias("raw"))
                    staged = staged.join(raws, on="row_number", how="left", maintain_order="left")
                direct = out.filter(~mask).with_columns(key.filter(~mask).alias("record_key"))
                result.add_profile(spec.direct_profile_columns, direct)
                core = direct.select(
                    pl.lit(facility_code).alias("facility_code"),
                    "record_key",
                    *spec.direct_columns,
                    *[pl.col(c).fill_null("f") for c in spec.direct_false],
                    pl.lit("{}").alias("warnings"),
                    pl.lit(file_id, pl.Int64).alias("source_file_id"),
                    pl.col("row_number").alias("source_row"),
                ).select(out_columns)
                # in the order of the unique key, as the merge inserts (the b-tree appended at one edge; a
                # file in key order already stays as it is): each batch sorted, the rows of a batch
                # whose keys come in no order written in key order
                core = core.sort("record_key")

                held = [
                    (f"staging.{spec.table}", staged),
                    ("staging.row_check", codes.select(pl.lit(file_id, pl.Int64).alias("file_id"), pl.all())),
                ]
                if isinstance(ahead, _OneCopy):
                    ahead.batch(core, held, lambda sent=sent: writer.write(sent))
                else:
                    for table, part in [(f"core.{spec.table}", core), *held]:
                        if part.height:
                            copy_frame(cur, table, part)
                    writer.write(sent)
                result.total += frame.height
                result.direct += core.height
                result.staged += staged.height
    result.keys_in_order = order.in_order
    result.by_record_id = has_record_id
    # every row of a repeated duplicates key is a candidate of the duplicates rule; the first row of a repeated
    # key of either kind that went to core is moved back (the later ones were staged as they came)
    result.duplicate_rows = seen_dup.rows().tolist()
    result.move_back = np.union1d(seen_key.core_firsts(), seen_dup.core_firsts()).tolist()
    return result


def direct_move_back(
    conn, spec: DatasetSpec, file_id: int, rows: list[int], spill: Path, read: DirectResult
) -> int:
    """Move rows of the file from ``core.<table>`` (written there by :func:`stage_direct`) to staging, typed
    again from the spill exactly as they were staged, and out of ``read``'s profile of the core rows (in the
    caller's transaction); return the rows moved."""
    import numpy as np

    if not rows:
        return 0
    # rows typed as the file was read (read.typed_firsts), the others typed again from the spill
    held = pl.concat(read.typed_firsts) if read.typed_firsts else None
    if held is not None:
        held = held.filter(pl.col("row_number").is_in(rows)).unique(
            "row_number", keep="first", maintain_order=True
        )
    rest = rows if held is None else np.setdiff1d(rows, held["row_number"].to_numpy()).tolist()
    parts = _spill_rows(spill, rest) if rest else []
    frames = ([held] if held is not None and held.height else []) + (
        [typed(spec, pl.concat(parts), file_id, raw=False)] if parts else []  # typed once (a call a reader)
    )
    if not frames:
        return 0
    out = pl.concat(frames).sort("row_number")
    keys = spec.record_key(out).to_list()
    with conn.cursor() as cur:
        # found by the core table's unique key (facility, record_key): one index probe a row (the lateral
        # subquery behind OFFSET 0, so the planner cannot flatten it), then deleted by their ctids. A first
        # load's table has no statistics yet, and as ``record_key = any(keys) and source_row = any(rows)``
        # the planner bitmap-scanned every row of the file and tested each against both arrays (1.9 s for
        # 400 of 195k rows; 8 ms this way)
        cur.execute(
            f"""
            delete from core.{spec.table} as c
            where c.ctid = any(array(
                select x.ctid
                from unnest(%(keys)s::text[], %(rows)s::integer[]) as m (record_key, source_row)
                cross join lateral (
                    select t.ctid, t.source_row, t.source_file_id
                    from core.{spec.table} as t
                    where t.facility_code = (
                        select l.facility_code from ops.landing_file as l where l.file_id = %(file_id)s
                    )
                    and t.record_key = m.record_key
                    offset 0
                ) as x
                where x.source_row = m.source_row and x.source_file_id = %(file_id)s
            ))
            """,  # noqa: S608 (table from the spec)
            {"file_id": file_id, "keys": keys, "rows": out["row_number"].to_list()},
        )
        moved = cur.rowcount
        if moved != out.height:
            raise RuntimeError(f"file {file_id}: {out.height} rows to move back from core, {moved} found")
        copy_frame(cur, f"staging.{spec.table}", out)
    read.add_profile(spec.direct_profile_columns, out, -1)
    return moved


def _spill_rows(spill: Path, rows: list[int]) -> list[pl.DataFrame]:
    """The ``rows`` of the spill (its values as sent), batch by batch: each batch's rows picked by pyarrow
    before polars sees them, and a batch whose row numbers hold none of them skipped (e22-typing: 4 ms
    instead of 66 for 381 rows of a 200k-row spill)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    wanted = np.unique(np.asarray(rows, dtype=np.int64))
    value_set = pa.array(wanted, type=pa.int64())
    parts = []
    with pa.OSFile(str(spill)) as source, pa.ipc.open_stream(source) as reader:
        for batch in reader:
            if not batch.num_rows:
                continue
            numbers = batch.column("row_number")
            low, high = pc.min_max(numbers).values()
            first = np.searchsorted(wanted, low.as_py())
            if first == len(wanted) or wanted[first] > high.as_py():
                continue
            picked = batch.filter(pc.is_in(numbers, value_set=value_set))
            if picked.num_rows:
                parts.append(pl.from_arrow(pa.Table.from_batches([picked])))
    return parts


def direct_rows_of(conn, spec: DatasetSpec, file_id: int) -> list[int]:
    """The rows of the file in ``core.<table>`` (written there by :func:`stage_direct`)."""
    with conn.cursor() as cur:
        cur.execute(f"select source_row from core.{spec.table} where source_file_id = %s", (file_id,))  # noqa: S608
        return [r[0] for r in cur.fetchall()]
