"""Declarations (contract arrivals.md §1.1, issue 24): what the engine's spec
(:mod:`covidsync.ingest.datasets.declarations`) calls for the steps SQL and column readers cannot say.

* staging: the person key of each row is read exactly as a check-in's (:func:`covidsync.ingest.checkins.
  checkin_frames`: QR payloads split once per distinct payload, citizen ids repaired, the best key chosen,
  ``submitted_at`` read as ``scanned_at``), the other columns by the spec's :class:`~covidsync.ingest.spec.
  Typed` readers; the row codes a single row decides computed on the same batch
  (:mod:`covidsync.ingest.declaration_frame_rules`) into ``staging.row_check``; the values as sent (``raw``)
  only for the rows with a code, every row's in the local spill (:func:`covidsync.ingest.engine.fill_raw`
  takes those of the rows a SQL rule flags); one ``COPY`` per batch, and one of the identity facts (the QR's
  and the row's own name, birth date, gender, phone) for ``core.checkin_person``.
* staging also computes what the merge used to join for (migration 0060): each row's person key (the pseudonym,
  once per distinct person of a batch, :class:`covidsync.ingest.checkins.PersonKeys`), its warnings,
  ``origin_known`` and ``destination_in_province`` (:func:`core_values`); a person's identity facts are written
  once per file (:func:`new_facts`).
* merge: the persons' keys as staged (``checkin_person_key.sql``), then the spec's merge SQL in the engine's
  transaction; rows an older stage wrote are filled in SQL first (``declaration_staged_fill.sql``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from covidsync import sqlfiles
from covidsync.ingest import checkins
from covidsync.ingest.engine import FileRow, set_based_work_mem, sql_text

# the check-in reader's columns, filled from the declaration's
_AS_CHECKIN = {"checkin_id": "declaration_id", "scanned_at": "submitted_at"}
_CHECKIN_ONLY = ("venue_code", "direction", "mode")
# read by the row codes on the batch only (migration 0030: not staged; the persons' facts are staged apart)
_CODES_ONLY = ("qr_kind", "citizen_id", "phone", "date_of_birth", "birth_year_only", "gender")


def declaration_frames(frame, file_id: int):
    """One batch of declaration rows (text columns, ``row_number``) → (staging rows, identity facts)."""
    import polars as pl

    from covidsync.ingest import columnar
    from covidsync.ingest.checkins import checkin_frames
    from covidsync.ingest.datasets import spec

    as_checkin = frame.select(
        "row_number",
        "qr_payload",
        "citizen_id",
        "phone",
        *(pl.col(source).alias(name) for name, source in _AS_CHECKIN.items()),
        *(pl.lit(None, dtype=pl.String).alias(name) for name in _CHECKIN_ONLY),
    )
    keyed, qr_facts = checkin_frames(as_checkin, file_id)
    typed = columnar.typed(spec("declarations"), frame, file_id, raw=False)
    staged = pl.concat(
        [
            typed,
            keyed.select(
                pl.col("scanned_at").alias("submitted_at"),
                "qr_kind",
                "citizen_id",
                "phone",
                "person_kind",
                "identifier",
            ),
        ],
        how="horizontal",
    )
    year_only = pl.col("birth_year_only").cast(pl.String).str.to_lowercase().is_in(["t", "true"])
    # what the row itself says about its person (a QR's facts come first when merged: see the person merge)
    declared = staged.filter(
        pl.col("person_kind").is_not_null()
        & (
            pl.col("full_name").is_not_null()
            | pl.col("date_of_birth").is_not_null()
            | pl.col("gender").is_not_null()
            | pl.col("phone").is_not_null()
        )
    ).select(
        "file_id",
        "person_kind",
        "identifier",
        pl.lit("declaration").alias("source"),
        pl.when(pl.col("person_kind") == "cccd").then(pl.col("identifier")).alias("citizen_id"),
        pl.when(pl.col("person_kind") == "cmnd").then(pl.col("identifier")).alias("cmnd"),
        pl.lit(None, dtype=pl.String).alias("qid"),
        "phone",
        "full_name",
        pl.when(~year_only).then(pl.col("date_of_birth").cast(pl.String)).alias("date_of_birth"),
        pl.col("date_of_birth")
        .cast(pl.String)
        .str.slice(0, 4)
        .cast(pl.Int64, strict=False)
        .alias("birth_year"),
        "gender",
    )
    facts = pl.concat([qr_facts, declared], how="vertical_relaxed")
    return staged, facts


#: the statistics target of the ANALYZEs of one file's staged rows and of its merge's person keys: a sample
#: of 300 x 10 = 3,000 rows instead of the server's 30,000 (default_statistics_target 100). These statistics
#: only size one file's joins and aggregates (a hash or a nested loop, how many groups: the row count is
#: exact either way, ANALYZE counts every page); they are thrown away with the file. Sampling and sorting 30,000
#: rows of every analysed column was 0.4-1.1 s of a 100k file under load (issue 24, e13-declarations)
STAGING_STATISTICS_TARGET = 10


@contextmanager
def staging_statistics(cur):
    """The ANALYZEs inside at :data:`STAGING_STATISTICS_TARGET` (this transaction's setting restored after)."""
    cur.execute("select current_setting('default_statistics_target')")
    before = cur.fetchone()[0]
    cur.execute("select set_config('default_statistics_target', %s, true)", (str(STAGING_STATISTICS_TARGET),))
    try:
        yield
    finally:
        cur.execute("select set_config('default_statistics_target', %s, true)", (before,))


def stage_declarations(conn, f: FileRow, stream, path: Path | None = None) -> int:
    """Replace the file's staged declarations, identity facts and row codes (in the caller's transaction),
    batch by batch; return the rows staged.

    A CSV is read natively in one pass, its bytes checked chunk by chunk as read (as the engine's
    ``columnar.stage_rows``): when a later chunk is not one record a line, the file is staged again from the
    start by the csv module (same transaction). Each batch's ``COPY``s and spill are written on a background
    thread while the next batch is read and typed (``columnar._Ahead``, ``COVIDSYNC_INGEST_COPY_AHEAD``)."""
    from covidsync.ingest import columnar

    try:
        return _stage_declarations(conn, f, stream, path, checked_as_read=True)
    except columnar.NotPlain:
        return _stage_declarations(conn, f, stream, path, checked_as_read=False)


#: rows per batch (None: the engine's ``columnar.BATCH_ROWS``); tests set it small to cut a file into batches
BATCH_ROWS: int | None = None


def new_facts(facts, seen):
    """(the identity facts of a batch not written by an earlier batch of the file, the facts written so far):
    exact repeats only (every column equal, nulls equal), so the person merge's aggregates and the identity
    links read the same values; at most ``checkins.IDENTITY_CACHE`` remembered (memory stays flat: a long
    file writes a repeat again, which changes nothing). A person named in two batches had the same facts
    written twice (issue 24: half of the bench's 100k rows)."""
    import polars as pl

    facts = facts.unique(maintain_order=True)
    as_text = facts.select(pl.all().cast(pl.String))
    if seen is not None and seen.height + as_text.height > checkins.IDENTITY_CACHE:
        seen = None
    if seen is not None:
        index = (
            as_text.with_row_index("_index")
            .join(seen, on=as_text.columns, how="anti", nulls_equal=True, maintain_order="left")
            .get_column("_index")
        )
        facts, as_text = facts[index], as_text[index]
    return facts, as_text if seen is None else pl.concat([seen, as_text])


#: batches read and typed on a background thread, one ahead of the one being split and written
#: (``COVIDSYNC_INGEST_READ_AHEAD=0`` turns it off): polars releases the GIL, so the second core reads and types
#: batch n+1 while batch n is split and sent (issue 24, e30-decl)
READ_AHEAD = os.environ.get("COVIDSYNC_INGEST_READ_AHEAD", "1") != "0"


def _read_ahead(items: Iterator, enabled: bool) -> Iterator:
    """:func:`columnar.read_ahead` on the thread ``stage-read``."""
    from covidsync.ingest import columnar

    return columnar.read_ahead(items, enabled, name="stage-read")


def _stage_declarations(
    conn, f: FileRow, stream, path: Path | None, *, checked_as_read: bool, direct: DirectRead | None = None
) -> int:
    import polars as pl

    from covidsync.ingest import columnar, declaration_frame_rules
    from covidsync.ingest.checkins import citizen_id_key, payload_facts
    from covidsync.ingest.datasets import spec
    from covidsync.ingest.engine import spill_path

    declarations = spec("declarations")
    names = [c.name for c in declarations.columns]
    context = declaration_frame_rules.context(conn, f.received_at)
    person_keys = checkins.PersonKeys()
    seen = None

    def typed_batches():
        """Each batch read, typed, coded and keyed (no database: on the reading thread, :func:`_read_ahead`)."""
        nonlocal seen
        batches = columnar.read_batches(
            declarations, stream, path, BATCH_ROWS or columnar.BATCH_ROWS, checked_as_read=checked_as_read
        )
        for frame in batches:
            sent = frame.select("row_number", *names)
            staged, facts = declaration_frames(frame, f.file_id)
            codes = declaration_frame_rules.row_codes(sent, staged, context)
            flagged = sent.filter(pl.col("row_number").is_in(codes["row_number"].unique().implode()))
            raws = flagged.select("row_number", columnar.raw_json(names).alias("raw"))
            staged = staged.drop(_CODES_ONLY).join(raws, on="row_number", how="left", maintain_order="left")
            staged = core_values(person_keys.add(staged), codes, context)
            facts, seen = new_facts(facts, seen)
            yield sent, staged, codes, facts

    total = 0
    with conn.cursor() as cur:
        for table in ("declaration", "declaration_identity", "row_check"):
            cur.execute(f"delete from staging.{table} where file_id = %s", (f.file_id,))  # noqa: S608
        with (
            columnar._SpillWriter(spill_path(f)) as spill,
            columnar._Ahead(columnar.COPY_AHEAD) as ahead,
            closing(_read_ahead(typed_batches(), READ_AHEAD)) as prepared,
        ):
            for sent, staged, codes, facts in prepared:
                core = persons = None
                if direct is not None:  # the rows no set rule needs straight into core (ingest_direct)
                    staged, core, persons = direct.split(cur, ahead, staged, codes)

                def write(
                    staged=staged, codes=codes, facts=facts, sent=sent, core=core, persons=persons
                ) -> None:
                    if core is not None and core.height:
                        columnar.copy_frame(cur, "core.declaration", core)
                        columnar.copy_frame(cur, "pg_temp.declaration_direct_person", persons)
                    if staged.height:
                        columnar.copy_frame(cur, "staging.declaration", staged)
                    if codes.height:
                        columnar.copy_frame(
                            cur,
                            "staging.row_check",
                            codes.select(pl.lit(f.file_id, pl.Int64).alias("file_id"), pl.all()),
                        )
                    if facts.height:
                        columnar.copy_frame(cur, "staging.declaration_identity", facts)
                    spill.write(sent)

                ahead.submit(write)
                total += sent.height
        # the spec's analyze_min_rows leaves ANALYZE to this hook (as check-ins do): the spec's columns, and of
        # the persons' facts only those the person merge groups and joins by (issue 24: ANALYZE of every column
        # of staging.declaration_identity, as the engine does an extra staging table, took 0.4-0.7 s of a 100k
        # file under load)
        columns = ", ".join(declarations.analyze_columns)
        with staging_statistics(cur):
            cur.execute(f"analyze staging.declaration ({columns})")  # noqa: S608 (columns from the spec)
            cur.execute("analyze staging.declaration_identity (file_id, person_kind, identifier, source)")
    # the caches hold personal data: not kept beyond the file
    payload_facts.cache_clear()
    citizen_id_key.cache_clear()
    return total


def core_values(staged, codes, context):
    """``staged`` with the values of its core row that the merge used to join for (migration 0060): the
    ``warnings`` (the row's codes in code order, as a PostgreSQL array literal: codes are lower-case words),
    ``origin_known`` (no ``unknown_origin_area``; null for a health declaration without an origin) and
    ``destination_in_province`` (the destination commune's province is Hòa Bình; null without one), exactly as
    ``sql/ingest/declaration_staged_fill.sql`` computes them for a row an older stage wrote. ``staged`` has
    its ``person_key`` already (:class:`covidsync.ingest.checkins.PersonKeys`)."""
    import polars as pl

    from covidsync.ingest.declaration_frame_rules import HOA_BINH

    c = pl.col
    per_row = codes.group_by("row_number").agg(
        # byte order: the database's C.UTF-8 order for these ASCII words (array_agg ... order by code)
        pl.concat_str(pl.lit("{"), c("code").sort().str.join(","), pl.lit("}")).alias("warnings"),
        (c("code") == "unknown_origin_area").any().alias("_unknown_origin"),
    )
    communes = context.communes.select(
        c("c_code").alias("destination_commune_code"), (c("c_province") == HOA_BINH).alias("_in_province")
    ).unique(subset="destination_commune_code")
    framed = staged.join(per_row, on="row_number", how="left", maintain_order="left").join(
        communes, on="destination_commune_code", how="left", maintain_order="left"
    )
    health = c("kind").str.to_lowercase() == "health"
    return framed.with_columns(
        c("warnings").fill_null("{}"),
        pl.when(c("origin_province_code").is_null() & health.fill_null(False))
        .then(pl.lit(None, dtype=pl.Boolean))
        .otherwise(~c("_unknown_origin").fill_null(False))
        .alias("origin_known"),
        pl.when(c("destination_commune_code").is_null())
        .then(pl.lit(None, dtype=pl.Boolean))
        .otherwise(c("_in_province").fill_null(False))
        .alias("destination_in_province"),
    ).drop("_unknown_origin", "_in_province")


#: the names in the SQL files shared with check-ins (sql/ingest/checkin_person_key.sql, person_merge.sql,
#: identity_link_merge.sql)
MERGE_TABLES = {
    "identity_table": "staging.declaration_identity",
    "person_key_table": "declaration_person_key",
    "loadable_table": "staging.declaration_loadable",
    "seen_at": "submitted_at",
}


def staged_fill_sql(cur) -> str:
    """``sql/ingest/declaration_staged_fill.sql``, checked to compute exactly
    :data:`covidsync.privacy.SQL_PSEUDONYM` (of ``s.person_kind``, ``s.identifier``)."""
    import re

    from covidsync import privacy

    text = sql_text("declaration_staged_fill")
    expected = privacy.sql_pseudonym("s.person_kind", "s.identifier")
    if re.sub(r"\s+", "", expected) not in re.sub(r"\s+", "", text):
        raise AssertionError("declaration_staged_fill.sql no longer computes covidsync.privacy.SQL_PSEUDONYM")
    return sqlfiles.with_tables(cur, text)


def merge_declarations(cur, f: FileRow, params: dict, *, direct: bool = False, rebuild=None) -> None:
    """The declarations merge, inside the engine's merge transaction: person keys once per distinct person,
    then the declarations (a resent id replaces the earlier version, kept in the history), the persons and
    the identity links.

    ``direct`` (:func:`merge_direct`): the person keys are made already, the file's rows staged by this very
    code (none to fill), and core.declaration's secondary indexes were dropped before its rows were written
    (``rebuild``: the statements that make them again, or None)."""
    from covidsync import privacy
    from covidsync.ingest.checkins import _secondary_indexes_off, person_key_sql

    # room for the file's rows in memory (issue 24): the transition table of core.declaration's statement-level
    # reference check (migration 0030: every inserted row, 40 MB for 94k rows) and the persons' facts
    # aggregate went to temporary files at the server's 4 MB; the insert into core.declaration took 1.4-2.2x
    # as long (6.4-7.8 s against 2.9-5.7 s under load, alternating, same database)
    cur.execute("select set_config('work_mem', %s, true)", (set_based_work_mem(),))
    if not direct:
        keys = privacy.sql_params()
        # a file an older stage wrote (held before migration 0060, released after): its rows' staged core values
        cur.execute(
            "select exists (select 1 from staging.declaration where file_id = %s and warnings is null)",
            (f.file_id,),
        )
        if cur.fetchone()[0]:
            cur.execute(staged_fill_sql(cur), {**params, **keys})
        # the persons' keys as staged (the pseudonym computed once per person while staging), their first and
        # last submission: the person merge's and the identity links' input
        cur.execute(person_key_sql(cur, MERGE_TABLES, "checkin_person_key"), {**params, **keys})
    with staging_statistics(cur):
        cur.execute("analyze declaration_person_key")
    for name in f.spec.merge:
        if direct and name == "declaration_merge":
            indexes = rebuild
        else:
            indexes = _secondary_indexes_off(cur, FIRST_LOAD_BY_SORT.get(name))
        cur.execute(sqlfiles.with_tables(cur, sql_text(name), **MERGE_TABLES), params)
        if indexes:
            cur.execute("select core.secondary_indexes_on(%s)", (indexes,))
            if name == "declaration_merge":
                # CREATE INDEX sets the table's row count (pg_class.reltuples), which is how the engine's
                # analyze_if_stale tells a table never analysed: the first load's column statistics (what the
                # arrivals build plans by) are taken here instead, as they were after the first load before; on
                # the direct path from a sample of 3,000 rows, as engine.FIRST_ANALYZE_TARGET for facility files
                # (the table's next analysis, autovacuum's or analyze_if_stale's, is at the server's target)
                columns = ", ".join(f.spec.core_analyze_columns)
                if direct:
                    with staging_statistics(cur):
                        cur.execute(f"analyze core.declaration ({columns})")  # noqa: S608
                else:
                    cur.execute(f"analyze core.declaration ({columns})")  # noqa: S608


#: the merge files whose table, when still empty (a warehouse's first declarations), is loaded with its
#: secondary indexes built by sort afterwards (migration 0039, as the check-in merge does for its persons and
#: links): core.declaration's hash on person_key, b-trees on source_file_id and submitted_at and the BRIN on
#: loaded_at (its primary key stays: the replace of a resent id reads it), then the persons' and the links'.
#: 94k declarations into the empty table (truncated in a transaction, rolled back; three alternating pairs under
#: load 8-9): 3.39 / 3.53 / 1.96 s through the indexes, 3.20 / 2.54 / 2.56 s with them built after (0.6-0.7 s
#: of it); 50,000 new persons 2.7 s against 1.2-1.6 s and 0.4-0.7 s for their indexes
FIRST_LOAD_BY_SORT = {
    "declaration_merge": "core.declaration",
    **checkins.FIRST_LOAD_BY_SORT,
}


# -- a file straight into core (issue 16, e18-decl-direct) ------------------------------------------------------
#: core.declaration's columns as the direct path writes them (declaration_merge.sql's insert)
CORE_COLUMNS = (
    "app", "declaration_id", "kind", "submitted_at", "person_kind", "person_key", "declared_by",
    "origin_province_code", "origin_district_code", "origin_commune_code", "origin_known",
    "destination_commune_code", "destination_in_province", "travel_date", "means", "fever", "cough",
    "shortness_of_breath", "sore_throat", "loss_of_taste_or_smell", "contact_with_f0", "visited_outbreak_area",
    "symptoms_reported", "warnings", "source_file_id", "source_row",
)  # fmt: skip
#: the profile columns whose value counts the direct path sums for the gate (declaration_profile_direct.sql)
PROFILE_COLUMNS = ("kind", "app", "person_kind")
_PERSON_COLUMNS = (
    "person_kind",
    "identifier",
    "person_key",
    "first_seen_at",
    "last_seen_at",
    "loadable_rows",
)


class CoreWords:
    """The words of a staged row read as core.declaration holds them (app, kind, declared_by, means), each
    distinct cell read once per file by the very SQL the merge reads it with (``core.declaration_app``,
    ``lower``, ``core.declaration_declared_by``, ``core.declaration_means``: migrations 0070, 0072)."""

    _SQL = (
        "select v, core.declaration_app(v), lower(v), core.declaration_declared_by(v), core.declaration_means(v) "
        "from unnest(%s::text[]) as v"
    )
    _COLUMNS = {"app": 1, "kind": 2, "declared_by": 3, "means": 4}

    def __init__(self) -> None:
        self.known: dict[str | None, tuple] = {}

    def read(self, cur, ahead, staged):
        """``staged``'s four word columns as core holds them (a frame of those columns)."""
        import polars as pl

        new: set = set()
        for name in self._COLUMNS:
            new.update(v for v in staged.get_column(name).unique().to_list() if v not in self.known)
        if new:
            if ahead.pending is not None:  # the connection is the writer thread's until its batch is written
                ahead.pending.result()
            cur.execute(self._SQL, (list(new),))
            for row in cur.fetchall():
                self.known[row[0]] = row
        out = []
        for name, at in self._COLUMNS.items():
            mapping = {v: row[at] for v, row in self.known.items() if v is not None}
            expr = pl.col(name).replace_strict(mapping, default=None, return_dtype=pl.String)
            if None in self.known:
                expr = pl.when(pl.col(name).is_null()).then(pl.lit(self.known[None][at])).otherwise(expr)
            out.append(expr.alias(name))
        return staged.select(out)


class DirectRead:
    """A declarations file read straight into core (:func:`stage_direct`): which of a batch's rows go to
    ``core.declaration`` and which to staging (:meth:`split`), and what the merge needs of the ones in core
    (their persons, counted as read; the secondary indexes a first load builds by sort)."""

    def __init__(self, conn, file_id: int, result) -> None:
        import numpy as np

        from covidsync.ingest.checkins import _secondary_indexes_off

        self.np = np
        self.file_id = file_id
        self.words = CoreWords()
        self.restart(result)
        with conn.cursor() as cur:
            # a warehouse's first declarations: written without the secondary indexes, built by sort at the
            # merge (FIRST_LOAD_BY_SORT, as merge_declarations does)
            self.rebuild = _secondary_indexes_off(cur, FIRST_LOAD_BY_SORT["declaration_merge"])
            cur.execute("select exists (select 1 from core.declaration)")
            self.has_existing = cur.fetchone()[0]
            # the persons of the rows in core, counted batch by batch and written with their batch (on the writer
            # thread, not at the merge): declaration_person_key_direct.sql sums them by person
            cur.execute(
                "create temporary table declaration_direct_person (person_kind text, identifier text, "
                "person_key text, first_seen_at timestamptz, last_seen_at timestamptz, loadable_rows bigint) "
                "on commit drop"
            )

    def restart(self, result) -> None:
        """Nothing of the file read yet (its rows in core deleted by the caller), counted into ``result``."""
        from covidsync.ingest import columnar

        self.result = result
        self.seen = columnar._Seen()  # every key of the file so far
        self.in_core = columnar._Seen()  # the keys of the rows written to core

    def split(self, cur, ahead, staged, codes):
        """(the batch's rows for staging, its rows for core as core.declaration holds them). A row goes to
        staging when it has a row code, no declaration id or person key, an (app, declaration_id) seen at an
        earlier row of the file (64-bit hashes: a false "seen" only stages a row) or one core has already (a
        replacement: the merge moves the earlier version to history). A key repeated after the row of its
        first occurrence went to core raises :class:`covidsync.ingest.engine.StagingPath` (the duplicate rule
        and the profile judge repeated keys among staged rows)."""
        import polars as pl

        from covidsync.ingest import checkin_frame_rules
        from covidsync.ingest.engine import StagingPath

        np = self.np
        c = pl.col
        words = self.words.read(cur, ahead, staged)
        key = pl.DataFrame({"app": words.get_column("app"), "id": staged.get_column("declaration_id")})
        hashes = key.hash_rows(seed=0).to_numpy()
        valid = staged.get_column("declaration_id").is_not_null().to_numpy()
        to_stage = (
            staged.get_column("row_number")
            .is_in(codes.get_column("row_number").unique().implode())
            .to_numpy()
            | ~valid
            | staged.get_column("person_key").is_null().to_numpy()
        )
        again = self.seen.again(hashes, valid)
        to_stage |= again
        if self.has_existing:  # the keys core has already: a replacement, by staging
            wanted = key.filter(pl.Series(valid & ~to_stage))
            if wanted.height:
                if ahead.pending is not None:
                    ahead.pending.result()
                cur.execute(
                    "select d.app, d.declaration_id from core.declaration as d "
                    "join unnest(%s::text[], %s::text[]) as w (app, id) "
                    "on d.app = w.app and d.declaration_id = w.id",
                    (wanted.get_column("app").to_list(), wanted.get_column("id").to_list()),
                )
                found = cur.fetchall()
                if found:
                    there = pl.DataFrame(found, schema={"app": pl.String, "id": pl.String}, orient="row")
                    hit = key.with_row_index("_i").join(there, on=["app", "id"], how="semi")
                    mark = np.zeros(len(hashes), dtype=bool)
                    mark[hit.get_column("_i").to_numpy()] = True
                    to_stage |= mark
        core_rows = ~to_stage
        self.in_core.again(hashes, core_rows)  # adds them
        if (again & valid).any() and np.isin(hashes[again & valid], self.in_core.sorted).any():
            raise StagingPath("a declaration id repeated after its first row went to core")
        mask = pl.Series(core_rows)
        direct = staged.filter(mask)
        self.result.add_profile(PROFILE_COLUMNS, direct)
        # first and last as instants (as PostgreSQL compares them), not as the text sent: 05:00Z sorts before
        # 10:00+07:00 as text and comes after it in time
        seen_at = checkin_frame_rules._instants(direct.get_column("submitted_at"))
        persons = (
            direct.select("person_kind", "identifier", "person_key")
            .with_columns(seen_at.alias("seen_at"))
            .group_by("person_kind", "identifier")
            .agg(
                c("person_key").min(),
                c("seen_at").min().alias("first_seen_at"),
                c("seen_at").max().alias("last_seen_at"),
                pl.len().cast(pl.Int64).alias("loadable_rows"),
            )
        )
        # the yes/no words are staged as text, "t" or "f" (columnar.per_distinct): coalesce(a or b ..., false)
        symptoms = [c(name) == "t" for name in ("fever", "cough", "shortness_of_breath", "sore_throat",
                                                "loss_of_taste_or_smell")]  # fmt: skip
        core = pl.concat([direct.drop(*CoreWords._COLUMNS), words.filter(mask)], how="horizontal").select(
            *CORE_COLUMNS[:22],
            pl.when(pl.any_horizontal(symptoms).fill_null(False))
            .then(pl.lit("t"))
            .otherwise(pl.lit("f"))
            .alias("symptoms_reported"),
            "warnings",
            c("file_id").alias("source_file_id"),
            c("row_number").alias("source_row"),
        )
        self.result.total += staged.height
        self.result.direct += core.height
        self.result.staged += staged.height - core.height
        return staged.filter(~mask), core, persons.select(_PERSON_COLUMNS)


def stage_direct(conn, f: FileRow, stream, path: Path, spill: Path):
    """The spec's ``direct_stage_hook`` (:func:`covidsync.ingest.engine.ingest_direct`, in its transaction): the
    file read as :func:`stage_declarations` stages it, in one checked pass (a CSV not one record a line raises
    ``columnar.NotPlain``: the staging path then), with the rows no set rule needs written by their batches
    into ``core.declaration`` (:class:`DirectRead`); return the read's counts (``columnar.DirectResult``)."""
    from covidsync.ingest import columnar

    result = columnar.DirectResult()
    direct = DirectRead(conn, f.file_id, result)
    try:
        _stage_declarations(conn, f, stream, path, checked_as_read=True, direct=direct)
    except columnar.NotPlain:  # as stage_declarations: read again by the csv module, in the same transaction
        with conn.cursor() as cur:
            cur.execute("delete from core.declaration where source_file_id = %s", (f.file_id,))
            cur.execute("truncate pg_temp.declaration_direct_person")
        result = columnar.DirectResult()
        direct.restart(result)
        _stage_declarations(conn, f, stream, path, checked_as_read=False, direct=direct)
    result.by_record_id = False
    result.declarations = direct
    return result


def merge_direct(cur, f: FileRow, params: dict, read) -> int:
    """The spec's ``direct_merge_hook`` (in :func:`covidsync.ingest.engine.ingest_direct`'s transaction): the
    persons' keys from the staged loadable rows and the counted rows in core
    (``declaration_person_key_direct.sql``), then the merge of :func:`merge_declarations` for the staged
    loadable rows (``take_back`` false: the file's rows in core stay), the first load's indexes built by sort;
    return the staged rows inserted into core."""
    direct: DirectRead = read.declarations
    cur.execute(sql_text("declaration_person_key_direct"), params)
    merge_declarations(cur, f, params, direct=True, rebuild=direct.rebuild)
    cur.execute("select count(*) from staging.declaration_loadable where file_id = %s", (f.file_id,))
    return cur.fetchone()[0]
