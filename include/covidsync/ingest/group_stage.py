"""A group's small files staged together (issue 16, many small files; docs/ingest-engine.md).

:func:`covidsync.ingest.engine.stage` reads, types, checks and ``COPY``s one file: for a 500-row file its
fixed costs (a transaction, the reference lists read again, about a hundred small polars operations to
type and check one batch, two ``COPY`` round trips, a status) were the largest part of its time. Here a
group's files of one dataset are each read on their own (each file's own checks: its bytes against the
registered SHA-256, encoding, header, columns; a file that cannot be read is rejected alone, as before),
then their batches are typed and checked **stacked**, with each row's file kept beside it, and written with
**one** ``COPY`` into staging and one into ``staging.row_check`` for the group, in one transaction.

What stays per file: the rows' numbers, the key order and duplicate candidates recorded in
``staging.staged_file`` (:class:`covidsync.ingest.columnar._KeyOrder`, ``_DuplicateCandidates``, each file's
rows on their own), the spill of the values as sent, ``rows_total`` and the ``staged`` status. The row rules
get the same rows as each file's own would: the files are stacked only where what the rules read of a file's
context is the same (:func:`context_key`: for vaccinations the facility, the local day of arrival and
whether the file has a record id; for another dataset the whole context, so each file is typed alone), and
the stacked rows carry a row number unique in the stack (the file's place × 2³², plus its own row number)
that goes back to each file's own before anything is written.
"""

from __future__ import annotations

import dataclasses
import io
import itertools
import logging
from collections.abc import Callable

import polars as pl

from covidsync.ingest import columnar, landing

log = logging.getLogger(__name__)

FILE_SHIFT = 32  # a stacked row's number: its file's place in the stack << 32 | its own row number
STACK_BYTES = columnar._NATIVE_CHUNK  # read_stream: at most this many bytes of lines read at once


def supported(spec) -> bool:
    """Whether a dataset's files may be staged together: the engine's own frame-rules staging, no hook of
    its own, no other staging table."""
    return spec.frame_rules is not None and spec.stage_hook is None and not spec.extra_staging


def context_key(dataset: str, ctx) -> tuple:
    """What a dataset's frame rules read of a file's context besides the reference lists (the same for
    every file of a run): files with the same key are typed and checked stacked with one context.
    Vaccinations read the facility and the local day of arrival (future dates, the facility's own code);
    another dataset the whole arrival time."""
    if dataset == "vaccinations":
        return (ctx.facility_code, ctx.local_day, ctx.has_record_id)
    return (ctx.facility_code, ctx.received_at, ctx.has_record_id)


@dataclasses.dataclass
class Read:
    """One file's batches as read (text columns and ``row_number``) and its context."""

    f: object  # engine.FileRow
    has_record_id: bool
    frames: list[pl.DataFrame]
    context: object
    rows: int = 0


class Replaced(Exception):  # noqa: N818 (not an error: engine.FileReplaced, without importing the engine)
    """The file's bytes changed after registration: ``summary`` says what was done about it."""

    def __init__(self, summary: dict):
        super().__init__(summary.get("status"))
        self.summary = summary


def open_file(conn, f):
    """A group's file opened as :func:`covidsync.ingest.engine.stage` opens it: its bytes checked against the
    registered hash, then :func:`covidsync.ingest.parse.open_rows`' file checks (encoding, header, columns);
    :class:`Replaced` or ``FileRejected`` raised for the caller. Returns ``(f, path, stream)``."""
    from covidsync.ingest.parse import open_rows

    if (replaced := landing.verify_unchanged(conn, f)) is not None:
        raise Replaced(replaced)
    path = landing.verified_path(f.landing_path)
    return f, path, open_rows(path, f.dataset)


def _context(references, f, has_record_id: bool):
    return dataclasses.replace(
        references, facility_code=f.facility_code, received_at=f.received_at, has_record_id=has_record_id
    )


def read_opened(opened, references) -> Read:
    """One opened file's batches read on their own (``FileRejected`` raised for the caller)."""
    from covidsync.ingest.parse import open_rows

    f, path, stream = opened
    spec = f.spec
    has_record_id = "record_id" in stream.columns
    try:
        frames = list(columnar.read_batches(spec, stream, path, checked_as_read=True))
    except columnar.NotPlain:  # a later chunk was not one record per line: the csv module reads it all
        frames = list(columnar.read_batches(spec, open_rows(path, f.dataset), path, checked_as_read=False))
    return Read(
        f, has_record_id, frames, _context(references, f, has_record_id), sum(fr.height for fr in frames)
    )


def read_file(conn, f, references) -> Read:
    """One file of the group opened (:func:`open_file`) and read (:func:`read_opened`)."""
    return read_opened(open_file(conn, f), references)


def read_stream(opened: list[tuple], references) -> dict[int, Read]:
    """A group's opened CSV files read as **one stream** (issue 16, many small files): polars' fixed cost per
    query (the CSV reader, the three cleaning queries of :func:`columnar.clean_columns`, the row filter) paid
    once for the files that share a header line instead of once per 500-row file.

    ``opened`` is ``(key, (f, path, stream))`` pairs (:func:`open_file`); returns the :class:`Read` of each key
    read so, the same frames :func:`read_opened` gives for it. Only files that the native reader would read
    in one chunk, line by line, are taken (UTF-8, every CR in a CRLF, no line over the csv module's field
    limit, the header on the first line, at most ``BATCH_ROWS`` lines, every line of whole cells); any other
    file, and every file of a header whose stacked reading does not give one record per line, is left out
    for :func:`read_opened` to read on its own, as before. The files of a header are read in stacks of at most
    :data:`STACK_BYTES` of lines (memory stays flat: a part of 8 MiB is not held as text several times over)."""
    import csv

    from covidsync.ingest import parse

    if not columnar.NATIVE_CSV:
        return {}
    limit = csv.field_size_limit()
    by_header: dict[tuple, list[tuple]] = {}
    for key, (f, path, stream) in opened:
        if stream.format != "csv" or stream.encoding not in ("utf-8", "utf-8-sig"):
            continue
        try:
            raw = path.read_bytes()
        except OSError:
            continue
        if (
            len(raw) > columnar._NATIVE_CHUNK
            or raw.count(b"\r") != raw.count(b"\r\n")
            or (len(raw) > limit and max(map(len, raw.split(b"\n"))) > limit)
        ):
            continue
        content = raw[:-1] if raw.endswith(b"\n") else raw
        head, newline, body = content.partition(b"\n")
        try:
            header = head.decode(stream.encoding).removesuffix("\r")
            body.decode("utf-8")  # checked here; decoded again with the stack's other files
        except UnicodeDecodeError:
            continue
        lines = body.count(b"\n") + 1 if newline else 0
        if lines > columnar.BATCH_ROWS:
            continue
        stream.close()
        by_header.setdefault((stream.delimiter, header), []).append((key, f, stream, body, lines))
    out: dict[int, Read] = {}
    for (delimiter, header), files in by_header.items():
        dataset = files[0][1].dataset
        record = columnar._cells(pl.Series([header]), delimiter)[0].to_list() if header else []
        if not record or not any(record):
            continue
        if delimiter.join(record).strip().lower() in ("sep=,", "sep=;", "sep=,,", "sep=;;"):
            continue
        found = parse._find_header(iter([record]), parse._csv_text)
        if found is None:
            continue
        mapping, _ = parse._header_mapping(dataset, found[1])
        stacks: list[list[tuple]] = [[]]  # at most STACK_BYTES of lines read at once (flat memory)
        size = 0
        for item in files:
            if stacks[-1] and size + len(item[3]) > STACK_BYTES:
                stacks.append([])
                size = 0
            stacks[-1].append(item)
            size += len(item[3]) + 1
        for stack in stacks:
            frames_of = _stack_frames(stack, mapping, delimiter, stack[0][1].spec)
            if frames_of is None:  # not one record per line: each file of the stack read alone
                continue
            for (key, f, stream, *_), frames in zip(stack, frames_of, strict=True):
                has_record_id = "record_id" in stream.columns
                out[key] = Read(
                    f,
                    has_record_id,
                    frames,
                    _context(references, f, has_record_id),
                    sum(fr.height for fr in frames),
                )
    return out


def _stack_frames(files: list[tuple], mapping, delimiter: str, spec) -> list[list[pl.DataFrame]] | None:
    """:func:`read_stream`'s reading of a stack of files of one header line (``(key, f, stream, body, lines)``):
    each file's frames as :func:`columnar._plain_batches` gives them (its data lines' cells cleaned, row
    numbers from 1 in each file, blank lines counted, rows with nothing in any column dropped, the spec's
    columns the header lacks added empty), or ``None`` when the stacked lines are not one record each."""
    from covidsync.ingest import parse

    names = [column for _, column in mapping]
    counts = [n for *_, n in files]
    total = sum(counts)
    if total == 0:
        return [[] for _ in files]
    data = b"".join(body + b"\n" for *_, body, n in files if n)
    lines = pl.Series("line", [data[:-1].decode("utf-8")]).str.split("\n").explode().str.strip_suffix("\r")
    if lines.len() != total or not columnar._chunk_is_plain(lines, delimiter):
        return None
    width = max((i for i, _ in mapping), default=0) + 1
    table = pl.read_csv(
        io.BytesIO(data),
        has_header=False,
        separator=delimiter,
        quote_char='"',
        schema={f"c{i}": pl.String for i in range(width)},
        truncate_ragged_lines=True,
        missing_columns="insert",
        extra_columns="ignore",
    )
    del data
    if table.height != total:
        return None
    places = pl.Series("_file", [p for p, n in enumerate(counts) for _ in range(n)], dtype=pl.Int64)
    firsts = list(itertools.accumulate(counts, initial=0))[:-1]  # each file's first line in the stack
    numbers = pl.int_range(1, total + 1, eager=True, dtype=pl.Int64) - places.replace_strict(
        list(range(len(counts))), firsts, return_dtype=pl.Int64
    )
    columns = columnar.clean_columns(table, [(f"c{i}", name) for i, name in mapping])
    del table
    frame = pl.DataFrame(columns, height=total).with_columns(numbers.alias("row_number"))
    if names:
        has_value = frame.select(pl.any_horizontal(pl.col(n).is_not_null() for n in names))[:, 0]
    else:
        has_value = pl.Series([False] * total)
    if not has_value.all():  # as _plain_batches: a row without the dataset's columns is kept when an
        keep = has_value.to_list()  # unknown column has text
        for at_row, kept in enumerate(keep):
            if not kept:
                record = columnar._cells(lines.slice(at_row, 1), delimiter)[0]
                keep[at_row] = any(parse._csv_text(v) for v in record if v)
        keep_s = pl.Series(keep)
        frame, places = frame.filter(keep_s), places.filter(keep_s)
    missing = [n for n in (c.name for c in spec.columns) if n not in frame.columns]
    frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(n) for n in missing)
    bounds = places.search_sorted(pl.Series(range(len(files) + 1), dtype=pl.Int64), side="left")
    return [
        [frame.slice(bounds[p], bounds[p + 1] - bounds[p])] if bounds[p + 1] > bounds[p] else []
        for p in range(len(files))
    ]


def key_facts(spec, out: pl.DataFrame, places: list[int], has_record_id: bool) -> dict[int, tuple]:
    """Each stacked file's ``(keys_in_order, duplicate_rows, duplicates_by_record_id)`` for
    ``staging.staged_file``, as :class:`covidsync.ingest.columnar._KeyOrder` and ``_DuplicateCandidates`` give
    them for the file's own rows alone, computed over the stack at once (``out``: the typed stack, each row's
    ``row_number`` its file's place << :data:`FILE_SHIFT` | its own number; ``places``: the stack's files, of
    one ``has_record_id``) instead of a filter and two passes a file (issue 16, many small files)."""
    place = (pl.col("row_number") // (1 << FILE_SHIFT)).alias("_p")
    own = out.with_columns(place, (pl.col("row_number") % (1 << FILE_SHIFT)).alias("row_number"))
    in_order = dict.fromkeys(places, spec.record_key is not None)
    if spec.record_key is not None:
        keys = pl.DataFrame({"_p": own["_p"], "k": spec.record_key(own)}).filter(pl.col("k").is_not_null())
        counted = keys.group_by("_p").agg(
            pl.len().alias("rows"), (pl.col("k") < pl.col("k").shift(1)).sum().alias("descents")
        )
        for p, rows, descents in counted.iter_rows():
            in_order[p] = descents * columnar.KEY_ORDER_SLACK <= rows
    found: dict[int, tuple] = dict.fromkeys(places, (None, None))
    if spec.duplicate_key is not None:
        heights = dict(own.group_by("_p").agg(pl.len()).iter_rows())
        keys = spec.duplicate_key(own, has_record_id)
        hashed = keys.hash(seed=0).cast(pl.UInt32, wrap_numerical=True)  # as _DuplicateCandidates.add
        part = pl.DataFrame({"_p": own["_p"], "row_number": own["row_number"].cast(pl.Int32), "h": hashed})
        repeated = part.filter(keys.is_not_null()).filter(pl.col("h").is_duplicated().over("_p"))
        rows_of: dict[int, list[int]] = {p: [] for p in places}
        for p, numbers in repeated.group_by("_p").agg(pl.col("row_number")).iter_rows():
            rows_of[p] = numbers
        for p in places:
            if heights.get(p, 0) > columnar.DUPLICATE_CANDIDATES_MAX_ROWS:  # as the class: given up
                continue
            found[p] = (sorted(rows_of[p]), has_record_id)
    return {p: (in_order[p], *found[p]) for p in places}


def stage_group(conn, reads: list[Read], set_statuses: Callable) -> None:
    """Stage the files read (one dataset) in one transaction: staging, row checks, ``staged_file``, each
    file ``staged`` with its ``rows_total``. A failure rolls everything back (the caller then stages each
    file on its own)."""
    from psycopg2.extras import execute_values

    spec = reads[0].f.spec
    names = [c.name for c in spec.columns]
    ids = [r.f.file_id for r in reads]
    staged_parts: list[pl.DataFrame] = []
    check_parts: list[pl.DataFrame] = []
    per_file: list[tuple] = []
    # the files in chunks of at most BATCH_ROWS rows that share a context (kept in the group's order)
    chunks: list[list[tuple[int, Read]]] = []
    current: list[tuple[int, Read]] = []
    key = None
    rows = 0
    for place, read in enumerate(reads):
        k = context_key(read.f.dataset, read.context)
        if current and (k != key or rows + read.rows > columnar.BATCH_ROWS):
            chunks.append(current)
            current, rows = [], 0
        current.append((place, read))
        key, rows = k, rows + read.rows
    if current:
        chunks.append(current)
    for chunk in chunks:
        frames = [
            frame.with_columns(
                pl.lit(place, pl.Int64).alias("_place"),
                (pl.col("row_number") + (place << FILE_SHIFT)).alias("row_number"),
            )
            for place, read in chunk
            for frame in read.frames
        ]
        if not frames:  # files of a header and no rows: staged empty, as stage_rows leaves them
            for _, read in chunk:
                with columnar._SpillWriter(columnar.spill_path(read.f.file_id, read.f.sha256)):
                    pass
                if spec.record_key is not None or spec.duplicate_key is not None:
                    order = columnar._KeyOrder(spec.record_key)
                    found, by_record_id = columnar._DuplicateCandidates(
                        spec.duplicate_key, read.has_record_id
                    ).rows()
                    per_file.append((read.f.file_id, order.in_order, found, by_record_id))
            continue
        stacked = pl.concat(frames, how="diagonal_relaxed")
        sent = stacked.select("row_number", *names)
        out = columnar.typed(spec, stacked, 0, raw=False)
        codes = spec.frame_rules(sent, out, chunk[0][1].context)
        if spec.keep_raw:
            flagged = sent.filter(pl.col("row_number").is_in(codes["row_number"].unique().implode()))
            raws = flagged.select("row_number", columnar.raw_json(names).alias("raw"))
            out = out.join(raws, on="row_number", how="left", maintain_order="left")
        own_number = (pl.col("row_number") % (1 << FILE_SHIFT)).alias("row_number")
        file_id = (
            (pl.col("row_number") // (1 << FILE_SHIFT))
            .replace_strict(list(range(len(reads))), ids, return_dtype=pl.Int64)
            .alias("file_id")
        )
        keyed = key_facts(spec, out, [place for place, _ in chunk], chunk[0][1].has_record_id)
        for place, read in chunk:  # what stays per file: the spill of its values as sent
            with columnar._SpillWriter(columnar.spill_path(read.f.file_id, read.f.sha256)) as writer:
                for frame in read.frames:
                    writer.write(frame.select("row_number", *names))
            if spec.record_key is not None or spec.duplicate_key is not None:
                per_file.append((read.f.file_id, *keyed[place]))
        staged_parts.append(out.with_columns(file_id, own_number))
        if codes.height:
            check_parts.append(codes.select(file_id, own_number, "column_name", "code"))
    with conn, conn.cursor() as cur:
        cur.execute(f"delete from staging.{spec.table} where file_id = any(%s)", (ids,))  # noqa: S608 (spec)
        cur.execute("delete from staging.row_check where file_id = any(%s)", (ids,))
        if staged_parts:
            columnar.copy_frame(cur, f"staging.{spec.table}", pl.concat(staged_parts, how="diagonal_relaxed"))
        if check_parts:
            columnar.copy_frame(cur, "staging.row_check", pl.concat(check_parts))
        if per_file:  # every file's row in one statement (a round trip a file before: issue 16, e37-small)
            execute_values(
                cur,
                """
                insert into staging.staged_file (file_id, keys_in_order, duplicate_rows, duplicates_by_record_id)
                values %s
                on conflict (file_id) do update set keys_in_order = excluded.keys_in_order,
                    duplicate_rows = excluded.duplicate_rows,
                    duplicates_by_record_id = excluded.duplicates_by_record_id
                """,
                per_file,
                template="(%s, %s, %s::integer[], %s)",
                page_size=1000,
            )
        if any(r.rows >= spec.analyze_min_rows for r in reads):
            columns = f" ({', '.join(spec.analyze_columns)})" if spec.analyze_columns else ""
            cur.execute(f"analyze staging.{spec.table}{columns}")  # noqa: S608 (table, columns from the spec)
        set_statuses(cur, ids, "staged", rows_total=[read.rows for read in reads])
