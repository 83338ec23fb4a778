"""What the ingest engine needs to know about one dataset: a :class:`DatasetSpec` (issue 16).

The engine (:mod:`covidsync.ingest.engine`) is one write-audit-publish driver — lock, register, read,
type, rules, profile, gate, merge or hold, report, move — and knows nothing about vaccinations or
check-ins. Everything that differs between datasets is declared here, once per dataset, in a module of
:mod:`covidsync.ingest.datasets` (``datasets/<name>.py`` defining ``SPEC``): a new dataset is a new spec
file (its columns, its staging table, its SQL), never a new driver.

A spec declares:

* ``columns``: the contract's columns, each with its accepted headers in Vietnamese and English and
  whether it is required (what header matching, ``missing_columns`` and the report read);
* ``staging``: the typed columns of ``staging.<table>``, each computed from the raw text columns by a
  vectorised :class:`Typed` reader (:mod:`covidsync.ingest.columnar`: dates and vocabulary words read
  once per distinct value, identifiers repaired as column expressions), plus the raw values as sent
  (``keep_raw``) for the report and the quarantine;
* ``frame_rules`` (optional): the row codes a single row decides, as column expressions on each typed
  batch while the file is staged (:mod:`covidsync.ingest.frame_rules`); the SQL ``rules`` then hold only
  what needs the whole file or the database;
* ``rules``: the SQL files (``sql/ingest/<name>.sql``) that write the contract's row codes as sets into
  ``quarantine.row_problem``; ``rules_after_hold`` run once the hold decision is known (a rule that
  looks at which rows are free of errors, e.g. ``vaccination_short_interval``). A new row code (issue
  17's ``invalid_text``, ``time_out_of_window``) is one more line in a rules file, or one more file;
* ``profile`` and ``merge``: the SQL of the gate's per-batch profile and of the merge (one transaction);
* ``identity_columns``: the values masked in ``errors.csv``, and ``rejected_raw_sql`` /
  ``report_value_sql`` where the masking of the quarantine and the report is done in SQL;
* ``sql_names``: for an SQL file that several datasets share (the feeds keyed by area and period share one
  profile), the names it leaves open (``%(staging_table)s``…), filled in quoted;
* ``outbox``: where the sender's reports go (the facility's folder, or ``pccovid``);
* hooks, for the few steps SQL and column expressions cannot say (check-ins: splitting QR payloads and
  spooling identity facts at stage time, partitions and pseudonyms at merge time).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Column:
    """A canonical column: its English name, whether the contract requires it, its accepted headers.

    ``headers[0]`` is the canonical name itself; ``headers[1]`` is the Vietnamese header a facility is
    shown in messages (``missing_columns``).
    """

    name: str
    required: bool
    headers: tuple[str, ...]

    @property
    def english(self) -> str:
        """The column's English header as a person writes it: the first accepted header in plain ASCII
        with a lower-case letter after the canonical name, one of two words if there is one (``Vaccine
        name``, ``ID number``)."""
        english = [h for h in self.headers[1:] if h.isascii() and any(ch.islower() for ch in h)]
        return next((h for h in english if " " in h), english[0] if english else self.name)


def col(name: str, required: bool, *headers: str) -> Column:
    return Column(name, required, (name, *headers))


def optional(column: Column) -> Column:
    return Column(column.name, False, column.headers)


def required(column: Column) -> Column:
    return Column(column.name, True, column.headers)


@dataclass(frozen=True)
class Typed:
    """One typed staging column: ``reader`` (a name in :data:`covidsync.ingest.columnar.READERS`) applied
    to the raw text column ``source`` (default: the staging column's own name), with ``args``.

    A reader that gives two columns (``birth``: the date and whether only a year was sent) names them in
    ``outputs``."""

    name: str
    reader: str = "text"
    source: str | None = None
    args: tuple = ()
    outputs: tuple[str, ...] = ()

    @property
    def column(self) -> str:
        return self.source or self.name

    @property
    def names(self) -> tuple[str, ...]:
        return self.outputs or (self.name,)


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset, as the engine sees it (see the module docstring)."""

    name: str  # the landing folder's dataset name: vaccinations, test_results, venues, checkins
    table: str  # staging.<table>, core.<table>, quarantine joins, sql/ingest/<table>_*.sql
    columns: tuple[Column, ...]
    staging: tuple[Typed, ...] = ()
    keep_raw: bool = True  # staging.<table>.raw: the values as sent (jsonb), for reports and quarantine
    rules: tuple[str, ...] = ()  # sql/ingest/<name>.sql writing quarantine.row_problem
    rules_after_hold: tuple[str, ...] = ()  # rules that need the hold decision (%(hold_batch)s)
    profile: str = ""  # sql/ingest/<name>.sql: one jsonb profile of the batch for the gate
    merge: tuple[str, ...] = ()  # sql/ingest/<name>.sql, in one transaction
    # issue 16, many small files: the merge of several files of a group as sets in one transaction
    # (sql/ingest/<name>.sql, parameter ``file_ids``), and the query naming the files that send the same
    # record (one array of file ids a row), which are merged one after the other instead. Empty: each file
    # of a group merges on its own (``merge``).
    group_merge: tuple[str, ...] = ()
    group_merge_overlap: str = ""
    # and its row rules as sets over the group's files (``rules`` and ``rules_after_hold``, each file's rows
    # judged on their own: parameters ``file_ids``, ``has_record_ids``, and ``held_ids`` after the hold)
    group_rules: tuple[str, ...] = ()
    group_rules_after_hold: tuple[str, ...] = ()
    # and its profiles in one statement (sql/ingest/<name>.sql, parameter ``file_ids``: one row a file,
    # ``(file_id, profile)``, each file's profile as ``profile`` gives it). Empty: one statement a file.
    group_profile: str = ""
    identity_columns: frozenset[str] = frozenset()  # masked in errors.csv
    outbox: str = "facility"  # "facility": <outbox>/<facility>/; otherwise that folder name
    rejected_raw_sql: str = "s.raw"  # the quarantine.rejected_row.raw of a staged row ``s``
    report_value_sql: str = "s.raw ->> q.column_name"  # the value shown for problem ``q`` of row ``s``
    extra_staging: tuple[str, ...] = ()  # more staging tables of the file (cleared with it)
    analyze_min_rows: int = 10_000  # fresh planner statistics on staging past this many rows
    # the staging columns whose statistics the rules, profile and merge plans need (empty: all columns;
    # ANALYZE of every column of a 200k-row vaccination file took 1.6–2.5 s, of five 0.3–0.5 s)
    analyze_columns: tuple[str, ...] = ()
    run_order: int = 0  # files of a run by (run_order, received): venues before check-ins
    # names that one SQL file shared by several datasets leaves open: each ``%(<key>)s`` of the spec's rules,
    # profile and merge SQL is replaced by the name, quoted (covidsync.sqlfiles.with_tables)
    sql_names: tuple[tuple[str, str], ...] = ()
    # hooks: fn(conn, file_row, row_stream, path) -> rows staged; fn(conn, file_row) before the merge SQL (its own
    # transaction); fn(cur, file_row, params) inside the merge transaction, instead of the merge SQL
    stage_hook: Callable | None = field(default=None, compare=False)
    merge_hook: Callable | None = field(default=None, compare=False)
    prepare_merge_hook: Callable | None = field(default=None, compare=False)
    # issue 16, throughput: fn(raw batch, typed batch, covidsync.ingest.frame_rules.Context) -> the row codes a
    # single row decides (row_number, column_name, code), computed while the file is staged and written to
    # staging.row_check; the rules step copies them to quarantine.row_problem before the ``rules`` SQL files
    # (set rules: duplicates, references to core, later issues' rules). With it, ``staging.<table>.raw`` holds
    # the values as sent only for rows with a problem: rules SQL must test typed columns, not ``raw``.
    frame_rules: Callable | None = field(default=None, compare=False)
    # issue 16 (e6-stage): fn(typed batch) -> the merge key of each row as staging's generated ``record_key``
    # computes it; with it, staging records whether a file's rows came in key order
    # (``staging.staged_file.keys_in_order``), and the merge SQL (``%(keys_in_order)s``) skips its sort then
    record_key: Callable | None = field(default=None, compare=False)
    # fn(typed batch, has_record_id) -> the key the duplicates rule groups on (null: not compared); with it,
    # staging keeps the rows whose key's 32-bit hash repeats (``staging.staged_file.duplicate_rows``), and the
    # rules' SQL (``%(duplicate_rows)s``) compares only those rows instead of every staged row
    duplicate_key: Callable | None = field(default=None, compare=False)
    # the core table's columns a merge's ``ANALYZE`` (covidsync.ingest.engine.analyze_if_stale) reads: the
    # ones statements filter, join and group on (empty: all; names and addresses cost the most to analyse)
    core_analyze_columns: tuple[str, ...] = ()
    # issue 16 (e10-direct): the rows no set rule needs written by their batches straight into core.<table>
    # inside the file's one transaction (covidsync.ingest.engine.process_file, columnar.stage_direct).
    # ``direct_columns``: the typed staging columns that core takes as they are (besides facility_code,
    # record_key, warnings, source_file_id, source_row); ``direct_false``: the booleans core takes as
    # ``coalesce(x, false)``; ``direct_profile_columns``: the columns whose value counts the profile sums;
    # ``direct_rules_after_hold``: ``rules_after_hold`` for such a file (its clean rows partly in core);
    # ``direct_profile``: the profile SQL for such a file (the core rows' counts in ``pg_temp.direct_profile``).
    # Empty ``direct_columns``: the staging path only.
    direct_columns: tuple[str, ...] = ()
    direct_false: tuple[str, ...] = ()
    direct_profile_columns: tuple[str, ...] = ()
    direct_rules_after_hold: tuple[str, ...] = ()
    direct_profile: str = ""
    # issue 16 (e18-decl-direct): a dataset whose rows are not a facility's records (no facility take-back, no
    # record key) or whose merge writes more than its core table takes the direct path by two hooks instead
    # of columnar.stage_direct and the ``merge`` SQL: ``direct_stage_hook`` fn(conn, file_row, row_stream, path,
    # spill) -> a columnar.DirectResult (its batches' clean rows written into core.<table>, the rest, their
    # row codes and the spill as stage_direct writes them; raise engine.StagingPath to take the staging path),
    # and ``direct_merge_hook`` fn(cur, file_row, params, result) -> the staged rows loaded, in the file's one
    # transaction after the gate (``params`` with take_back false). Both set: the direct path with
    # ``direct_profile`` and ``direct_profile_columns``; a gate failure takes the staging path (which holds).
    direct_stage_hook: Callable | None = field(default=None, compare=False)
    direct_merge_hook: Callable | None = field(default=None, compare=False)
    # issue 16 (e23-checkins): ``direct_take_back`` false: the engine does not delete core rows of the file
    # before the stage hook (a received file has none; the hook's merge takes back by the file's own local
    # days, where core.checkin's partitions prune the delete); ``direct_any_size``: the hook's memory is flat
    # whatever the file's size, so COVIDSYNC_INGEST_DIRECT_MAX_BYTES does not send a large file to staging
    direct_take_back: bool = True
    direct_any_size: bool = False
    # and ``direct_rules``: the SQL rules on the direct path instead of ``rules`` (empty: ``rules``)
    direct_rules: tuple[str, ...] = ()

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def staging_columns(self) -> tuple[str, ...]:
        return tuple(name for typed in self.staging for name in typed.names)

    @property
    def suite(self) -> str:
        return f"{self.name}_batch"
