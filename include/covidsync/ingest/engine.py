"""The ingest engine: one write-audit-publish driver for every dataset (issue 16; docs/ingest-engine.md).

``process_file(conn, file_id)`` takes one registered landing file as far as it can go: lock → read and
type into staging → row rules → profile → gate → merge or hold → report → move. Each step commits on its
own and records the file's status in ``ops.landing_file`` (received → staged → validated → merged | held
| rejected), so a failure anywhere leaves ``core`` untouched and the file reprocessable, and a rerun picks
up where the last one stopped. The merge is one transaction. Only counts and ids leave this module (XCom,
logs): never a row.

What differs between datasets is the dataset's :class:`covidsync.ingest.spec.DatasetSpec`
(``covidsync/ingest/datasets/<dataset>.py``): its columns, typed staging columns, SQL files, masking and
hooks. This module names no dataset.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from covidsync import settings, sqlfiles
from covidsync.errors import CovidsyncError
from covidsync.ingest import landing
from covidsync.ingest.datasets import spec as dataset_spec
from covidsync.ingest.datasets import specs
from covidsync.ingest.spec import DatasetSpec

log = logging.getLogger(__name__)

LOCK_NAMESPACE = 0x66696C65  # advisory lock namespace for "one worker per file"


class FileStateError(CovidsyncError):
    pass


class FileReplaced(Exception):  # noqa: N818 (not an error: the summary of what was done instead)
    """The file's bytes changed after registration (:func:`covidsync.ingest.landing.verify_unchanged`):
    nothing was read; ``summary`` says what was done about it."""

    def __init__(self, summary: dict):
        super().__init__(summary.get("status"))
        self.summary = summary


def max_rejected_share() -> float:
    return float(os.environ.get("COVIDSYNC_MAX_REJECTED_SHARE", "0.2"))


def sql_text(name: str) -> str:
    """``sql/ingest/<name>.sql`` (:func:`covidsync.sqlfiles.load`)."""
    return sqlfiles.load("ingest", name)


def spec_sql(cur, spec: DatasetSpec, name: str) -> str:
    """A rules, profile or merge file of ``spec``, with the names it leaves open filled in (``sql_names``)."""
    return sqlfiles.with_tables(cur, sql_text(name), **dict(spec.sql_names))


@dataclass
class FileRow:
    file_id: int
    relative_path: str
    original_name: str
    facility_code: str
    dataset: str
    received_at: dt.datetime
    status: str
    sha256: str
    final_path: str | None

    @property
    def landing_path(self) -> Path:
        return settings.landing_dir() / self.relative_path

    @property
    def spec(self) -> DatasetSpec:
        return dataset_spec(self.dataset)

    @property
    def table(self) -> str:
        return self.spec.table

    @property
    def archive_path(self) -> Path:
        return landing.area_path(
            settings.archive_dir(), self.facility_code, self.dataset, self.received_at, self.original_name
        )

    @property
    def rejected_path(self) -> Path:
        return landing.area_path(
            settings.rejected_dir(), self.facility_code, self.dataset, self.received_at, self.original_name
        )


def load_file(conn, file_id: int) -> FileRow:
    with conn.cursor() as cur:
        cur.execute(
            """
            select file_id, relative_path, original_name, facility_code, dataset, received_at, status, sha256,
                   final_path
            from ops.landing_file where file_id = %s
            """,
            (file_id,),
        )
        row = cur.fetchone()
    if row is None:
        raise FileStateError(f"no file with id {file_id}")
    return FileRow(*row)


def set_status(
    cur, file_id: int, status: str, *, reason: str | None = None, actor: str = "pipeline", **counts
):
    assignments = ", ".join(f"{column} = %({column})s" for column in counts)
    cur.execute(
        f"""
        with before as (select status from ops.landing_file where file_id = %(file_id)s)
        update ops.landing_file set status = %(status)s, updated_at = now(){", " + assignments if counts else ""}
        where file_id = %(file_id)s
        returning (select status from before)
        """,  # noqa: S608 (column names come from this module's keyword arguments)
        {"file_id": file_id, "status": status, **counts},
    )
    previous = cur.fetchone()[0]
    cur.execute(
        "insert into ops.file_event (file_id, from_status, to_status, actor, reason) values (%s, %s, %s, %s, %s)",
        (file_id, previous, status, actor, reason),
    )


def set_statuses(
    cur, file_ids: list[int], status: str, *, reason: str | None = None, actor: str = "pipeline", **columns
) -> None:
    """:func:`set_status` for several files in one statement (a group's files, issue 16): ``columns`` holds a
    list a column, each file's own value in ``file_ids``' order (counts, ``final_path``); each file gets its
    own event, in that order, with the status it had before."""
    if not file_ids:
        return
    names = list(columns)
    kinds = {name: "text" if any(isinstance(v, str) for v in columns[name]) else "bigint" for name in names}
    arrays = "".join(f", %({name})s::{kinds[name]}[]" for name in names)
    assignments = "".join(f", {name} = v.{name}" for name in names)
    cur.execute(
        f"""
        with v as (
            select * from unnest(%(file_ids)s::bigint[]{arrays}) with ordinality as v (file_id, {"".join(n + ", " for n in names)}n)
        ),
        before as (select l.file_id, l.status from ops.landing_file as l inner join v on l.file_id = v.file_id),
        done as (
            update ops.landing_file as l set status = %(status)s, updated_at = now(){assignments}
            from v where l.file_id = v.file_id
            returning l.file_id
        )
        insert into ops.file_event (file_id, from_status, to_status, actor, reason)
        select v.file_id, b.status, %(status)s, %(actor)s, %(reason)s
        from v
        inner join done as d on v.file_id = d.file_id
        inner join before as b on v.file_id = b.file_id
        order by v.n
        """,  # noqa: S608 (column names come from the caller's keyword arguments)
        {"file_ids": list(file_ids), "status": status, "actor": actor, "reason": reason, **columns},
    )


def _params(f: FileRow, **more) -> dict:
    from covidsync.ingest.plausible import rule_params  # issue 17: time window and text rules

    return {
        "file_id": f.file_id,
        "facility_code": f.facility_code,
        "dataset": f.dataset,
        "received_at": f.received_at,
        **rule_params(),
        **more,
    }


def set_based_work_mem() -> str:
    """``COVIDSYNC_INGEST_WORK_MEM`` (default 64MB): the ``work_mem`` of a file's set-based statements."""
    return settings.memory_size("COVIDSYNC_INGEST_WORK_MEM", "64MB")


def _set_based(cur, *, work_mem: bool = True) -> None:
    """For the batch statements of this transaction: no JIT (their estimated cost passes the JIT thresholds
    at about 50k rows, and compiling costs more, about 1 s, than it saves on one file), and (``work_mem``:
    the rules and the profile) room for the hash of a file's keys: with the server's default 4 MB, the
    duplicates rule's and the profile's hash aggregates over 200k keys went to disk (2.2 s of the
    profile's 3.7 s under load). The merge keeps the server's setting (its plans are the destination's)."""
    cur.execute("set local jit = off")
    if work_mem:
        cur.execute("select set_config('work_mem', %s, true)", (set_based_work_mem(),))


def analyze_row_problems(cur, file_id: int, min_rows: int = 10_000) -> None:
    """Fresh statistics on ``quarantine.row_problem`` after a big file's rules: the loadable views anti-join
    to it and the errors.csv queries join it to staging; without them the planner guesses a few rows."""
    cur.execute("select coalesce(rows_total, 0) from ops.landing_file where file_id = %s", (file_id,))
    if cur.fetchone()[0] >= min_rows:
        cur.execute("analyze quarantine.row_problem")


# -- the steps ---------------------------------------------------------------------------------------
def stage(conn, f: FileRow, *, path: Path | None = None) -> tuple[int, bool]:
    """Read the file (at ``path``, else its landing path) and type it into staging; return (rows staged,
    whether the file has a record_id column)."""
    from covidsync.ingest import columnar
    from covidsync.ingest.parse import open_rows

    spec = f.spec
    if path is None:
        # hardening (issue 17): the file's bytes still hash to the registered SHA-256, right before they are
        # read; the bytes read are the ones checked (a hard link to them, held until the file moves out)
        if (replaced := landing.verify_unchanged(conn, f)) is not None:
            raise FileReplaced(replaced)
        path = landing.verified_path(f.landing_path)
    stream = open_rows(path, f.dataset)
    has_record_id = "record_id" in stream.columns
    with conn, conn.cursor() as cur:
        if spec.stage_hook is not None:
            rows = spec.stage_hook(conn, f, stream, path)
        elif spec.frame_rules is not None:
            from covidsync.ingest import frame_rules

            context = frame_rules.context(conn, f.facility_code, f.received_at, has_record_id=has_record_id)
            rows = columnar.stage_rows(
                conn, spec, f.file_id, stream, path, context=context, spill=spill_path(f)
            )
        else:
            rows = columnar.stage_rows(conn, spec, f.file_id, stream, path)
        if rows >= spec.analyze_min_rows:
            columns = f" ({', '.join(spec.analyze_columns)})" if spec.analyze_columns else ""
            cur.execute(f"analyze staging.{spec.table}{columns}")  # noqa: S608 (table, columns from the spec)
        set_status(cur, f.file_id, "staged", rows_total=rows)
    if spec.analyze_min_rows == 0 and spec.extra_staging:
        with conn, conn.cursor() as cur:
            for table in spec.extra_staging:
                cur.execute(f"analyze staging.{table}")
    return rows, has_record_id


def _row_problems(cur, f: FileRow, params: dict, *, rules: tuple[str, ...] | None = None) -> int:
    """A file's row problems written afresh: the codes its frame rules found while staging, then its spec's
    SQL rules over the staged rows; returns how many rows have an error (the rejected rows)."""
    spec = f.spec
    cur.execute("delete from quarantine.row_problem where file_id = %s", (f.file_id,))
    cur.execute("delete from quarantine.rejected_row where file_id = %s", (f.file_id,))
    if spec.frame_rules is not None:  # the codes found while staging (covidsync.ingest.frame_rules)
        cur.execute(
            """
            insert into quarantine.row_problem (file_id, row_number, column_name, code, severity)
            select c.file_id, c.row_number, c.column_name, c.code, rc.severity
            from staging.row_check as c
            join ops.row_code as rc on rc.code = c.code
            where c.file_id = %s
            """,
            (f.file_id,),
        )
    for name in spec.rules if rules is None else rules:
        cur.execute(spec_sql(cur, spec, name), params)
    analyze_row_problems(cur, f.file_id)
    cur.execute(
        "select count(distinct row_number) filter (where severity = 'error') "
        "from quarantine.row_problem where file_id = %s",
        (f.file_id,),
    )
    return cur.fetchone()[0]


def apply_rules(conn, f: FileRow, has_record_id: bool = True) -> dict:
    """Row rules as sets; return the counts (rows, rejected, with warnings) and whether to hold."""
    spec = f.spec
    params = _params(f, has_record_id=has_record_id, duplicate_rows=None)
    with conn, conn.cursor() as cur:
        _set_based(cur)
        if spec.duplicate_key is not None:  # the rows staging found may repeat a key (migration 0038)
            cur.execute(
                "select duplicate_rows, duplicates_by_record_id from staging.staged_file where file_id = %s",
                (f.file_id,),
            )
            found = cur.fetchone()
            if found and found[0] is not None and found[1] == has_record_id:
                params["duplicate_rows"] = found[0]
        rejected = _row_problems(cur, f, params)
        if spec.frame_rules is not None:  # the rows stage_rows staged and counted (no scan of staging)
            cur.execute("select rows_total from ops.landing_file where file_id = %s", (f.file_id,))
        else:
            cur.execute(f"select count(*) from staging.{spec.table} where file_id = %s", (f.file_id,))  # noqa: S608
        total = cur.fetchone()[0]
        hold = total > 0 and rejected / total > max_rejected_share()
        for name in spec.rules_after_hold:
            cur.execute(spec_sql(cur, spec, name), {**params, "hold_batch": hold})
        if spec.frame_rules is not None and spec.keep_raw:
            fill_raw(cur, f)
        cur.execute(
            f"""
            insert into quarantine.rejected_row (file_id, row_number, raw)
            select s.file_id, s.row_number, {spec.rejected_raw_sql}
            from staging.{spec.table} s
            join (
                select distinct q.row_number from quarantine.row_problem q
                where q.file_id = %(file_id)s and q.severity = 'error'
            ) e on e.row_number = s.row_number
            where s.file_id = %(file_id)s
            """,  # noqa: S608 (table and expression from the spec)
            params,
        )
        cur.execute(
            "select count(distinct row_number) filter (where severity = 'warning') "
            "from quarantine.row_problem where file_id = %s",
            (f.file_id,),
        )
        warned = cur.fetchone()[0]
        set_status(cur, f.file_id, "validated", rows_rejected=rejected, rows_with_warnings=warned)
    return {"rows_total": total, "rows_rejected": rejected, "rows_with_warnings": warned, "hold": hold}


def apply_rules_group(conn, staged: list[tuple[FileRow, bool]]) -> dict[int, dict]:
    """:func:`apply_rules` for several staged files of one dataset (``(file, has_record_id)``) whose spec
    declares ``group_rules``: each statement once for all of them, one transaction, each file's rows judged
    on their own and each file ending ``validated`` with its own counts and hold decision; return the
    counts by file id. A failure rolls back every file (the caller then checks each on its own)."""
    spec = staged[0][0].spec
    ids = [f.file_id for f, _ in staged]
    params = {**_params(staged[0][0]), "file_ids": ids, "has_record_ids": [has for _, has in staged]}
    with conn, conn.cursor() as cur:
        _set_based(cur)
        cur.execute("delete from quarantine.row_problem where file_id = any(%s)", (ids,))
        cur.execute("delete from quarantine.rejected_row where file_id = any(%s)", (ids,))
        cur.execute(
            """
            insert into quarantine.row_problem (file_id, row_number, column_name, code, severity)
            select c.file_id, c.row_number, c.column_name, c.code, rc.severity
            from staging.row_check as c
            join ops.row_code as rc on rc.code = c.code
            where c.file_id = any(%s)
            """,
            (ids,),
        )
        cur.execute(
            f"select file_id, count(*) from staging.{spec.table} where file_id = any(%s) group by 1",  # noqa: S608
            (ids,),
        )
        totals = dict(cur.fetchall())
        if sum(totals.values()) >= spec.analyze_min_rows:  # the group's statements read all its rows
            columns = f" ({', '.join(spec.analyze_columns)})" if spec.analyze_columns else ""
            cur.execute(f"analyze staging.{spec.table}{columns}")  # noqa: S608 (table, columns from the spec)
        for name in spec.group_rules:
            cur.execute(spec_sql(cur, spec, name), params)
        if sum(totals.values()) >= 10_000:
            cur.execute("analyze quarantine.row_problem")
        cur.execute(
            "select file_id, count(distinct row_number) filter (where severity = 'error') "
            "from quarantine.row_problem where file_id = any(%s) group by 1",
            (ids,),
        )
        rejected = dict(cur.fetchall())
        held = [
            i for i in ids if totals.get(i, 0) > 0 and rejected.get(i, 0) / totals[i] > max_rejected_share()
        ]
        for name in spec.group_rules_after_hold:
            cur.execute(spec_sql(cur, spec, name), {**params, "held_ids": held})
        if spec.frame_rules is not None and spec.keep_raw:
            fill_raw_group(cur, [f for f, _ in staged])
        cur.execute(
            f"""
            insert into quarantine.rejected_row (file_id, row_number, raw)
            select s.file_id, s.row_number, {spec.rejected_raw_sql}
            from staging.{spec.table} s
            join (
                select distinct q.file_id, q.row_number from quarantine.row_problem q
                where q.file_id = any(%(file_ids)s) and q.severity = 'error'
            ) e on e.file_id = s.file_id and e.row_number = s.row_number
            where s.file_id = any(%(file_ids)s)
            """,  # noqa: S608 (table and expression from the spec)
            params,
        )
        cur.execute(
            "select file_id, count(distinct row_number) filter (where severity = 'warning') "
            "from quarantine.row_problem where file_id = any(%s) group by 1",
            (ids,),
        )
        warned = dict(cur.fetchall())
        counts = {
            file_id: {
                "rows_total": totals.get(file_id, 0),
                "rows_rejected": rejected.get(file_id, 0),
                "rows_with_warnings": warned.get(file_id, 0),
                "hold": file_id in held,
            }
            for file_id in ids
        }
        set_statuses(  # each file validated with its own counts and event, in one statement (issue 16)
            cur,
            ids,
            "validated",
            rows_rejected=[counts[i]["rows_rejected"] for i in ids],
            rows_with_warnings=[counts[i]["rows_with_warnings"] for i in ids],
        )
    return counts


def fill_raw_group(cur, files: list[FileRow]) -> None:
    """:func:`fill_raw` for several files of one dataset: one query for the rows wanting their raw
    values, each file's values from its own spill (or the file read again), one update."""
    import polars as pl

    from covidsync.ingest import columnar

    spec = files[0].spec
    cur.execute(
        f"""
        select distinct q.file_id, q.row_number
        from quarantine.row_problem as q
        join staging.{spec.table} as s on s.file_id = q.file_id and s.row_number = q.row_number
        where q.file_id = any(%s) and s.raw is null
        """,  # noqa: S608 (table from the spec)
        ([f.file_id for f in files],),
    )
    wanted: dict[int, list[int]] = {}
    for file_id, row_number in cur.fetchall():
        wanted.setdefault(file_id, []).append(row_number)
    if not wanted:
        return
    names = [c.name for c in spec.columns]
    frames = []
    for f in files:
        if f.file_id not in wanted:
            continue

        def reread(f=f):
            from covidsync.ingest.parse import open_rows

            path = f.landing_path if f.landing_path.exists() else Path(f.final_path or "")
            for frame in columnar.read_batches(spec, open_rows(path, f.dataset), path):
                yield frame.select("row_number", *names)

        raws = columnar.raw_of_rows(spec, wanted[f.file_id], spill_path(f), reread)
        frames.append(raws.select(pl.lit(f.file_id, dtype=pl.Int64).alias("file_id"), "row_number", "raw"))
    cur.execute(
        "create temp table if not exists raw_fill_group (file_id bigint, row_number integer, raw jsonb) "
        "on commit drop"
    )
    cur.execute("truncate raw_fill_group")
    columnar.copy_frame(cur, "raw_fill_group", pl.concat(frames))
    cur.execute(
        f"""
        update staging.{spec.table} as s set raw = r.raw
        from raw_fill_group as r
        where s.file_id = r.file_id and s.row_number = r.row_number
        """  # noqa: S608 (table from the spec)
    )


def spill_path(f: FileRow) -> Path:
    from covidsync.ingest.columnar import spill_path as path_of

    return path_of(f.file_id, f.sha256)


def fill_raw(cur, f: FileRow) -> None:
    """``staging.<table>.raw`` for the rows that a SQL rule flagged and the frame rules did not (only rows
    with a problem keep their values as sent): from the spill written while staging, else from the file
    read again."""
    from covidsync.ingest import columnar

    spec = f.spec
    # a staged row has its raw exactly when a frame rule flagged it (stage_rows): the rows wanted are the
    # problem rows without a frame code, found without a scan of the wide staging table
    cur.execute(
        """
        select distinct q.row_number
        from quarantine.row_problem as q
        where q.file_id = %(file_id)s and not exists (
            select 1 from staging.row_check as c where c.file_id = q.file_id and c.row_number = q.row_number
        )
        """,
        {"file_id": f.file_id},
    )
    wanted = [r[0] for r in cur.fetchall()]
    if not wanted:
        return

    def reread():
        from covidsync.ingest.parse import open_rows

        path = f.landing_path if f.landing_path.exists() else Path(f.final_path or "")
        names = [c.name for c in spec.columns]
        for frame in columnar.read_batches(spec, open_rows(path, f.dataset), path):
            yield frame.select("row_number", *names)

    raws = columnar.raw_of_rows(spec, wanted, spill_path(f), reread)
    cur.execute("create temp table if not exists raw_fill (row_number integer, raw jsonb) on commit drop")
    cur.execute("truncate raw_fill")
    columnar.copy_frame(cur, "raw_fill", raws)
    cur.execute("analyze raw_fill")  # a few rows: found by the staging key, not by a scan of staging
    cur.execute(
        f"""
        update staging.{spec.table} as s set raw = r.raw
        from raw_fill as r
        where s.file_id = %s and s.row_number = r.row_number
        """,  # noqa: S608 (table from the spec)
        (f.file_id,),
    )


def profile(conn, f: FileRow, counts: dict | None = None) -> dict:
    """The file's profile for the gate: the spec's ``profile`` SQL, or the one its group's statement already
    read (``counts["profile"]``, :func:`process_group`)."""
    if counts is not None and counts.get("profile") is not None:
        return counts["profile"]
    with conn.cursor() as cur:
        _set_based(cur)
        cur.execute(spec_sql(cur, f.spec, f.spec.profile), _params(f))
        result = dict(cur.fetchone()[0])
    conn.rollback()  # read-only
    return _finish_profile(f, result)


def _finish_profile(f: FileRow, result: dict) -> dict:
    """The profile SQL's jsonb as the gate reads it (the positivity under history, the file's facts)."""
    if "positivity" in result:
        result.setdefault("history", {})["positivity"] = result.pop("positivity")
    total = result["rows_total"]
    result.update(
        file_id=f.file_id,
        dataset=f.dataset,
        facility_code=f.facility_code,
        rejected_share=(result["rows_rejected"] / total) if total else 0.0,
        max_rejected_share=max_rejected_share(),
    )
    return result


def docs_enabled() -> bool:
    """``COVIDSYNC_GX_DOCS`` (default on): validations go into the Data Docs site; ``0`` turns that off."""
    return os.environ.get("COVIDSYNC_GX_DOCS", "1") != "0"


def gate(conn, f: FileRow, batch_profile: dict, *, docs: str | None = None):
    """The GX gate over the batch profile; its result stored in ``ops.validation_result``.

    ``docs``: ``"file"`` renders the file's page in the Data Docs site now (about 0.3 s a file; its own
    run id, so parallel workers do not collide); ``"store"`` stores the result for its group's one update
    (:func:`process_group`); ``"off"`` neither. Default: ``"file"`` unless ``COVIDSYNC_GX_DOCS=0``.
    """
    from covidsync.ingest import batch_gate

    docs = docs or ("file" if docs_enabled() else "off")
    result = batch_gate.run_gate(batch_profile, build_docs=docs == "file", store=docs == "store")
    with conn:
        batch_gate.store_result(conn, f.file_id, f.spec.suite, result)
    return result


def merge(conn, f: FileRow, *, actor: str = "pipeline", reason: str | None = None) -> int:
    """Merge the file's loadable rows into core in one transaction; return the rows loaded."""
    spec = f.spec
    params = _params(f, keys_in_order=False, take_back=True)
    if spec.prepare_merge_hook is not None:
        spec.prepare_merge_hook(conn, f)
    with conn, conn.cursor() as cur:
        _set_based(cur, work_mem=False)
        inserted = None
        if spec.merge_hook is not None:
            spec.merge_hook(cur, f, params)
        else:
            if spec.record_key is not None:  # rows staged in key order are inserted without a sort (0038)
                cur.execute("select keys_in_order from staging.staged_file where file_id = %s", (f.file_id,))
                params["keys_in_order"] = bool((cur.fetchone() or (False,))[0])
            for name in spec.merge:
                cur.execute(spec_sql(cur, spec, name), params)
            # a facility merge's files end with its insert into core, after the take-back of the file's rows
            inserted = cur.rowcount if spec.record_key is not None else None
        if inserted is not None and inserted >= 0:
            cur.execute("select %s::bigint", (inserted,))
        elif spec.outbox == "facility":
            cur.execute(f"select count(*) from core.{spec.table} where source_file_id = %s", (f.file_id,))  # noqa: S608
        else:
            cur.execute(
                f"select count(*) from staging.{spec.table}_loadable where file_id = %s",  # noqa: S608
                (f.file_id,),
            )
        loaded = cur.fetchone()[0]
        cur.execute(
            "update ops.landing_file set final_path = %s where file_id = %s", (str(f.archive_path), f.file_id)
        )
        set_status(cur, f.file_id, "merged", actor=actor, reason=reason, rows_loaded=loaded)
    analyze_if_stale(conn, f, loaded)
    return loaded


def analyze_if_stale(conn, f: FileRow, loaded: int, *, first_target: int | None = None) -> None:
    """``ANALYZE`` the core table a merge wrote when it has no statistics yet (and at least 50 rows changed,
    autovacuum's own base threshold) or has more than doubled in pages since its last analysis. The next
    file's statements (the take-back of a resent file, the short-interval rule, the merge's joins) are
    planned from those statistics: on a server whose autovacuum is off or behind, a national day's small
    files found ``core.vaccination`` without statistics at 390k rows, estimated a facility's rows at a few
    hundred, hash-joined its whole history for every 500-row file, and their merges grew from 0.2 s to 2.2 s
    each (docs/performance-log.md, "Many small files"). Sampling 30,000 rows costs a fraction of a second, about
    log2(size) times in a table's life. Pages, not the statistics collector's counts of changed rows, decide
    once a table has statistics: those counts reach the collector after the transaction, so the rows just
    analysed would be counted again. A partitioned table (check-ins) is left to its partitions.

    ``first_target`` (the direct path): a table's first statistics sampled at this statistics target (300 x
    it rows) instead of the server's: they plan the next files' statements until the table's next analysis
    (autovacuum's, or this function's when the table has doubled) at the server's target."""
    table = f"core.{f.spec.table}"
    with conn, conn.cursor() as cur:
        cur.execute(
            """
            select c.relkind = 'r' and (
                (c.reltuples < 0 and coalesce(s.n_mod_since_analyze, 0) + %s >= 50)
                or pg_relation_size(c.oid) / current_setting('block_size')::int > 2 * c.relpages + 128
            ), c.reltuples < 0
            from pg_class as c
            left join pg_stat_user_tables as s on s.relid = c.oid
            where c.oid = to_regclass(%s)
            """,
            (loaded, table),
        )
        row = cur.fetchone()
        if row and row[0]:
            if row[1] and first_target is not None:  # this transaction's setting only
                cur.execute("select set_config('default_statistics_target', %s, true)", (str(first_target),))
            columns = f" ({', '.join(f.spec.core_analyze_columns)})" if f.spec.core_analyze_columns else ""
            cur.execute(f"analyze {table}{columns}")  # noqa: S608 (table, columns from the spec)


def merge_batches(conn, files: list[FileRow]) -> list[list[FileRow]]:
    """A group's files of one dataset that merge (in the group's order) cut into batches, each merged as
    sets in one transaction (:func:`merge_group`): a file that sends a record that a file of the current
    batch sends starts the next batch, so a later file still replaces an earlier one's record in order."""
    spec = files[0].spec
    with conn.cursor() as cur:
        _set_based(cur)
        cur.execute(spec_sql(cur, spec, spec.group_merge_overlap), {"file_ids": [f.file_id for f in files]})
        shared = [set(r[0]) for r in cur.fetchall()]
    conn.rollback()
    partners: dict[int, set[int]] = {}
    for ids in shared:
        for file_id in ids:
            partners.setdefault(file_id, set()).update(ids - {file_id})
    batches: list[list[FileRow]] = []
    current: list[FileRow] = []
    for f in files:
        if current and partners.get(f.file_id, set()) & {c.file_id for c in current}:
            batches.append(current)
            current = []
        current.append(f)
    if current:
        batches.append(current)
    return batches


def merge_group(conn, files: list[FileRow]) -> dict[int, int]:
    """Merge several validated files of one dataset (none sending a record another of them sends:
    :func:`merge_batches`) by the spec's ``group_merge`` SQL in one transaction, each file ending
    ``merged`` with its own rows loaded, as :func:`merge` would leave it; return rows loaded by file id.
    A failure rolls back every file of the batch (the caller then merges each on its own)."""
    spec = files[0].spec
    ids = [f.file_id for f in files]
    with conn, conn.cursor() as cur:
        _set_based(cur, work_mem=False)
        for name in spec.group_merge:
            cur.execute(spec_sql(cur, spec, name), {"file_ids": ids})
        if spec.outbox == "facility":
            cur.execute(
                f"select source_file_id, count(*) from core.{spec.table} where source_file_id = any(%s) group by 1",  # noqa: S608
                (ids,),
            )
        else:
            cur.execute(
                f"select file_id, count(*) from staging.{spec.table}_loadable where file_id = any(%s) group by 1",  # noqa: S608
                (ids,),
            )
        loaded = dict(cur.fetchall())
        set_statuses(
            cur,
            ids,
            "merged",
            final_path=[str(f.archive_path) for f in files],
            rows_loaded=[loaded.get(f.file_id, 0) for f in files],
        )
    analyze_if_stale(conn, files[-1], sum(loaded.values()))
    return {file_id: loaded.get(file_id, 0) for file_id in ids}


def hold(conn, f: FileRow, reasons: list[str]) -> None:
    with conn, conn.cursor() as cur:
        cur.execute(
            """
            update ops.landing_file
            set final_path = %s, file_codes = array(select distinct unnest(file_codes || '{batch_rejected}'))
            where file_id = %s
            """,
            (str(f.rejected_path), f.file_id),
        )
        set_status(cur, f.file_id, "held", reason="; ".join(reasons)[:1000], rows_loaded=0)


def reject_file(conn, f: FileRow, code: str, detail: str) -> None:
    """The file cannot be read at all: rejected with its file code, moved, reported."""
    with conn, conn.cursor() as cur:
        cur.execute(f"delete from staging.{f.table} where file_id = %s", (f.file_id,))  # noqa: S608
        cur.execute(
            "update ops.landing_file set final_path = %s, file_codes = %s where file_id = %s",
            (str(f.rejected_path), [code], f.file_id),
        )
        set_status(cur, f.file_id, "rejected", reason=f"{code}: {detail}"[:1000], rows_loaded=0)


def clear_staging(conn, f: FileRow) -> None:
    with conn, conn.cursor() as cur:
        for table in (f.spec.table, *f.spec.extra_staging):
            cur.execute(f"delete from staging.{table} where file_id = %s", (f.file_id,))  # noqa: S608
        if f.spec.frame_rules is not None:
            cur.execute("delete from staging.row_check where file_id = %s", (f.file_id,))
        if f.spec.record_key is not None:
            cur.execute("delete from staging.staged_file where file_id = %s", (f.file_id,))
    if f.spec.frame_rules is not None:
        spill_path(f).unlink(missing_ok=True)


def problem_rows(conn, f: FileRow, file_codes: list[str]):
    """errors.csv lines: file codes first, then each row problem with the value masked where it is identity (as
    tuples: a dry run's; the reports write :func:`problem_lines`' frames)."""
    for item in problem_lines(conn, f, file_codes):
        if isinstance(item, tuple):
            yield item
        else:
            yield from item.iter_rows()


#: row problems read and turned into errors.csv lines this many at a time (memory stays flat for big files)
PROBLEM_CHUNK_ROWS = 50_000


def problem_lines(conn, f: FileRow, file_codes: list[str]):
    """errors.csv lines: the file codes' first (tuples), then the row problems in frames of up to
    :data:`PROBLEM_CHUNK_ROWS` lines (:func:`problem_frame`: messages and masks as column expressions, no
    Python call per row), in the order of the report."""
    spec = f.spec
    yield from _file_code_lines(f, file_codes)
    with conn.cursor(name=f"problems_{f.file_id}") as cur:  # server-side: flat memory for big files
        cur.itersize = PROBLEM_CHUNK_ROWS
        cur.execute(
            f"""
            select q.row_number, q.column_name, q.code, q.severity,
                   coalesce(r.raw ->> q.column_name, {spec.report_value_sql})
            from quarantine.row_problem q
            left join staging.{spec.table} s on s.file_id = q.file_id and s.row_number = q.row_number
            left join quarantine.rejected_row r on r.file_id = q.file_id and r.row_number = q.row_number
            where q.file_id = %s
            order by q.row_number, q.column_name, q.code
            """,  # noqa: S608 (table and expression from the spec)
            (f.file_id,),
        )
        while rows := cur.fetchmany(PROBLEM_CHUNK_ROWS):
            yield problem_frame(spec, rows)
    conn.rollback()


_PROBLEM_SCHEMA = {
    "row_number": "Int64",
    "column": "String",
    "code": "String",
    "severity": "String",
    "value": "String",
}


def problem_frame(spec: DatasetSpec, rows, *, file_id: bool = False, keep_file_id: bool = False):
    """Row problems ``(row_number, column, code, severity, value)`` as errors.csv lines (a polars frame of
    :data:`covidsync.ingest.sender_report.ERRORS_COLUMNS`): the value
    masked (``covidsync.domain.text.mask``) where its column is identity, then appended to the code's
    messages; every expression once per frame (issue 24, e30-decl: 9,000 lines took 0.08 s one by one).
    ``file_id``: each row starts with its file's id (a group's rows, :class:`_GroupProblems`), left out
    unless ``keep_file_id`` (then the first column)."""
    import polars as pl

    from covidsync.domain.codes import ROW_CODES

    c = pl.col
    schema = {k: getattr(pl, v) for k, v in _PROBLEM_SCHEMA.items()}
    frame = pl.DataFrame(rows, schema={"file_id": pl.Int64, **schema} if file_id else schema, orient="row")
    codes = frame.get_column("code").unique().to_list()
    value = c("value")
    masked = value.str.slice(-4).str.pad_start(value.str.len_chars(), "*").fill_null("")
    shown = pl.when(c("column").is_in(sorted(spec.identity_columns))).then(masked).otherwise(value)
    shown = pl.when(shown.is_not_null() & (shown != "")).then(shown)

    def message(attribute: str, label: str):
        words = {code: getattr(ROW_CODES[code], attribute) for code in codes}
        text = c("code").replace_strict(words, return_dtype=pl.String)
        return pl.concat_str(text, pl.concat_str(pl.lit(f" ({label}: "), shown, pl.lit(")")).fill_null(""))

    return frame.select(
        *(["file_id"] if file_id and keep_file_id else []),
        "row_number",
        "column",
        "code",
        "severity",
        message("message_vi", "giá trị").alias("message_vi"),
        message("message_en", "value").alias("message_en"),
    )


def _file_code_lines(f: FileRow, file_codes: list[str]):
    """:func:`problem_rows`' first lines: the file's codes (a missing column each on its own line)."""
    from covidsync.domain.codes import FILE_CODES

    for code in file_codes:
        info = FILE_CODES[code]
        missing = missing_columns_of(f) if code == "missing_columns" else []
        if not missing:
            yield ("", "", code, info.severity, info.message_vi, info.message_en)
        for column in missing:
            yield ("", column.name, code, info.severity, *missing_column_messages(column))


def missing_columns_of(f: FileRow) -> list:
    """The required columns a rejected file lacks, read again from its header (it is still in the landing
    zone while its reports are written); empty when it cannot be read again."""
    from covidsync.ingest.parse import FileRejected, open_rows

    path = f.landing_path if f.landing_path.exists() else Path(f.final_path or "")
    try:
        with open_rows(path, f.dataset):
            return []
    except FileRejected as exc:
        return exc.missing if exc.code == "missing_columns" else []
    except OSError:
        return []


def missing_column_messages(column) -> tuple[str, str]:
    """The errors.csv messages (Vietnamese, English) for one missing column: which, and the closest header."""
    vi = f"Tệp thiếu cột bắt buộc “{column.header_vi}” ({column.header_en})."
    en = f"The file lacks the required column “{column.header_en}” ({column.header_vi})."
    if column.closest:
        vi += f" Cột gần giống nhất trong tệp: “{column.closest}”; nếu đúng là cột này, hãy đổi tên thành “{column.header_vi}”."
        en += f" The closest header in the file: “{column.closest}”; if it is this column, rename it “{column.header_en}”."
    vi += " Hãy dùng đúng tên cột theo mẫu (tiếng Việt hoặc tiếng Anh) và gửi lại."
    en += " Use the column names of the template (Vietnamese or English) and send the file again."
    return vi, en


# a finished file's counts and file codes for its reports (:func:`report_and_move`), after its file_id
REPORT_COUNTS = """
    select file_id, coalesce(rows_total, 0), coalesce(rows_loaded, 0), coalesce(rows_rejected, 0),
           coalesce(rows_with_warnings, 0), file_codes
    from ops.landing_file"""


def report_and_move(conn, f: FileRow, rows_for_report: Callable = problem_lines, *, counts=None) -> dict:
    """The sender's reports for a finished file, then the file to its area; the counts come back. Safe to
    repeat. ``counts``: the file's ``(rows_total, rows_loaded, rows_rejected, rows_with_warnings,
    file_codes)`` as :data:`REPORT_COUNTS` reads them, already read (a group's, :func:`finish_group`)."""
    from covidsync.ingest.sender_report import FileResult, write_reports

    if counts is None:
        with conn.cursor() as cur:
            cur.execute(REPORT_COUNTS + " where file_id = %s", (f.file_id,))
            counts = cur.fetchone()[1:]
        conn.rollback()
    total, loaded, rejected, warned, codes = counts
    if f.status == "merged":
        status = "loaded_with_errors" if rejected else "loaded"
    elif f.status in ("held", "rejected"):
        status = "rejected"
    else:
        raise FileStateError(f"file {f.file_id} is {f.status}: nothing to finish")
    result = FileResult(
        file=f.original_name,
        sha256=f.sha256,
        dataset=f.dataset,
        status=status,
        rows_total=total,
        rows_loaded=loaded,
        rows_rejected=rejected,
        rows_with_warnings=warned,
        file_errors=list(codes),
    )
    write_reports(settings.outbox_dir() / f.facility_code, result, rows_for_report(conn, f, list(codes)))
    if f.final_path and f.landing_path.exists():
        landing.move_out(f.landing_path, Path(f.final_path))
    return {
        "file_id": f.file_id,
        "dataset": f.dataset,
        "status": status,
        "rows_total": total,
        "rows_loaded": loaded,
        "rows_rejected": rejected,
        "rows_with_warnings": warned,
    }


def finish(conn, file_id: int) -> dict:
    """Reports to the sender, the file to its area, staging cleared (kept while a file is held, so that a
    release merges it without reading it again). Safe to repeat: a crash after the status was committed
    is completed by the next run."""
    f = load_file(conn, file_id)
    summary = report_and_move(conn, f)
    if f.status != "held":
        clear_staging(conn, f)
    elif f.spec.frame_rules is not None:
        spill_path(f).unlink(missing_ok=True)  # a held file's problem rows have their raw values in staging
    return summary


# -- one file, start to end ---------------------------------------------------------------------------
def process_file(
    conn,
    file_id: int,
    *,
    datasets: Iterable[str] | None = None,
    merge_step: Callable | None = None,
    rules_step: Callable | None = None,
    docs: str | None = None,
    docs_keys: list | None = None,
) -> dict:
    """Take one registered file as far as it can go; return a summary of counts (no rows, no names).

    ``datasets`` limits the datasets accepted (a caller that handles only some); ``merge_step`` replaces
    :func:`merge` and ``rules_step`` :func:`apply_rules` (seams for tests of faults); ``docs`` is the gate's (:func:`gate`), and the stored
    result's key is appended to ``docs_keys``.
    """
    if not _lock(conn, file_id):
        return {"file_id": file_id, "status": "busy"}
    try:
        # the seams for faults (steps given, or the module's steps replaced) take the staging path
        if rules_step is None and merge_step is None and _steps_as_written():
            done = _direct(conn, file_id, datasets=datasets, docs=docs, docs_keys=docs_keys)
            if done is not None:
                return done
        opened = _open_file(conn, file_id, datasets=datasets, rules_step=rules_step)
        if isinstance(opened, dict):
            return opened
        f, counts, batch_profile = opened
        result = gate(conn, f, batch_profile, docs=docs)
        if docs_keys is not None and result.docs_key is not None:
            docs_keys.append(result.docs_key)
        return _close_file(conn, f, counts, result, merge_step=merge_step)
    finally:
        _unlock(conn, file_id)


# -- one file straight into core (issue 16, e10-direct) -------------------------------------------------------
def direct_enabled(spec: DatasetSpec) -> bool:
    """Whether a file of ``spec`` is read straight into core (:func:`ingest_direct`): its spec names its core
    columns, and ``COVIDSYNC_INGEST_DIRECT`` is not ``0``."""
    if os.environ.get("COVIDSYNC_INGEST_DIRECT", "1") == "0":
        return False
    if spec.direct_stage_hook is not None and spec.direct_merge_hook is not None:  # the spec's own (e18)
        return bool(spec.direct_profile)
    return (
        bool(spec.direct_columns)
        and spec.frame_rules is not None
        and spec.record_key is not None
        and spec.duplicate_key is not None
        and spec.stage_hook is None
        and spec.merge_hook is None
        and spec.prepare_merge_hook is None
    )


#: the statistics target of the direct path's ANALYZE of a core table that has no statistics yet (a
#: warehouse's first file of the dataset): 300 x 10 = 3,000 sampled rows, as the declarations' staging
#: (declarations.STAGING_STATISTICS_TARGET); the table's next analysis (autovacuum's, or analyze_if_stale's
#: when it has doubled) is at the server's target
FIRST_ANALYZE_TARGET = 10


def _direct(conn, file_id: int, *, datasets=None, docs=None, docs_keys=None) -> dict | None:
    """:func:`process_file` by :func:`ingest_direct` (the file's lock held); None: the staging path instead."""
    from covidsync.ingest.columnar import DIRECT_MAX_BYTES

    f = load_file(conn, file_id)
    conn.rollback()
    allowed = set(specs()) if datasets is None else set(datasets)
    if f.dataset not in allowed or f.status != "received" or not direct_enabled(f.spec):
        return None
    try:
        if f.landing_path.stat().st_size > DIRECT_MAX_BYTES and not f.spec.direct_any_size:
            return None
    except OSError:
        return None
    try:
        done = ingest_direct(conn, f, docs=docs)
    except FileReplaced as replaced:
        conn.rollback()
        return replaced.summary
    if done is None:
        return None
    if docs_keys is not None and done["docs_key"] is not None:
        docs_keys.append(done["docs_key"])
    if done["status"] == "held":
        hold(conn, f, done["reasons"])
    return _finished(conn, f)


def _steps_as_written() -> bool:
    """Whether this module's steps are its own (a test of faults replaces them: the staging path then)."""
    g = globals()
    return all(g[name] is fn for name, fn in _STEPS.items())


class _Fallback(Exception):  # noqa: N818 (not an error: the signal to take the staging path)
    pass


#: what a spec's ``direct_stage_hook`` raises to send its file down the staging path (everything rolled back)
StagingPath = _Fallback


def ingest_direct(conn, f: FileRow, *, docs: str | None = None) -> dict | None:
    """One received file read, checked, gated and merged in ONE transaction, its rows that no set rule
    needs written by their batches straight into ``core`` (:func:`covidsync.ingest.columnar.stage_direct`):
    nothing of it is visible before the merge commits, and a failure anywhere rolls all of it back (the file
    stays ``received``). The rest is the staging path's: the frame rules' codes, the SQL rules over the
    staged rows (the duplicates rule over the rows whose key repeats; ``direct_rules_after_hold``), the
    raw values of flagged rows, the rejected rows, the profile (the core rows' value counts summed in
    polars), the GX gate with its result and Data Docs, the merge of the staged rows that replace records.

    Returns None, with everything rolled back, when the file takes the staging path instead: too many rows
    rejected (the file is held whole: staging keeps its rows for a release), a CSV not one record a line, a
    file the reader rejects, or any error (the staging path then does what it does with it). A file whose
    gate fails has its core rows moved back to staging and ends ``validated`` (``status`` "held": the caller
    holds it). Else {"status": "merged", "rows_loaded", "docs_key", "timings"}; the caller reports it."""
    import time

    from covidsync.ingest import batch_gate, columnar, frame_rules
    from covidsync.ingest.parse import FileRejected, open_rows

    spec = f.spec
    timings: dict[str, float] = {}
    clock = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        timings[name] = round(timings.get(name, 0.0) + now - clock[0], 4)
        clock[0] = now

    if (replaced := landing.verify_unchanged(conn, f)) is not None:
        raise FileReplaced(replaced)
    path = landing.verified_path(f.landing_path)
    spill = spill_path(f)
    try:
        stream = open_rows(path, f.dataset)
    except FileRejected:
        conn.rollback()
        return None
    has_record_id = "record_id" in stream.columns
    table = spec.table
    try:
        with conn.cursor() as cur:
            _set_based(cur)
            # a reprocess of this file first takes back what its earlier load put in core
            if spec.direct_take_back:
                cur.execute(f"delete from core.{table} where source_file_id = %s", (f.file_id,))  # noqa: S608
            if spec.direct_stage_hook is not None:  # the spec's own reading (e18-decl-direct)
                read = spec.direct_stage_hook(conn, f, stream, path, spill)
            else:
                cur.execute(
                    f"select exists (select 1 from core.{table} where facility_code = %s)",  # noqa: S608
                    (f.facility_code,),
                )
                has_existing = cur.fetchone()[0]
                context = frame_rules.context(
                    conn, f.facility_code, f.received_at, has_record_id=has_record_id
                )
                read = columnar.stage_direct(
                    conn,
                    spec,
                    f.file_id,
                    f.facility_code,
                    stream,
                    path,
                    context=context,
                    spill=spill,
                    has_existing=has_existing,
                )
            lap("read_and_write")
            if spec.record_key is not None or spec.duplicate_key is not None:
                cur.execute(
                    """
                    insert into staging.staged_file (file_id, keys_in_order, duplicate_rows, duplicates_by_record_id)
                    values (%s, %s, %s, %s)
                    on conflict (file_id) do update set keys_in_order = excluded.keys_in_order,
                        duplicate_rows = excluded.duplicate_rows,
                        duplicates_by_record_id = excluded.duplicates_by_record_id
                    """,
                    (f.file_id, read.keys_in_order, read.duplicate_rows, read.by_record_id),
                )
            # the first row of a key that repeats further down the file: judged with the others, in staging
            moved = list(read.move_back)
            lap("staged_file")
            timings["rows_moved_firsts"] = columnar.direct_move_back(
                conn, spec, f.file_id, moved, spill, read
            )
            lap("move_back_firsts")
            if read.staged + len(moved) >= spec.analyze_min_rows:
                columns = f" ({', '.join(spec.analyze_columns)})" if spec.analyze_columns else ""
                cur.execute(f"analyze staging.{table}{columns}")  # noqa: S608 (table, columns from the spec)
            set_status(cur, f.file_id, "staged", rows_total=read.total)
            lap("staged_status")

            # the row rules, as apply_rules
            params = _params(f, has_record_id=has_record_id, duplicate_rows=read.duplicate_rows)
            rejected = _row_problems(cur, f, params, rules=spec.direct_rules or spec.rules)
            if read.total > 0 and rejected / read.total > max_rejected_share():
                raise _Fallback  # held whole: the staging path keeps its rows in staging
            for name in spec.direct_rules_after_hold:
                cur.execute(spec_sql(cur, spec, name), {**params, "hold_batch": False})
            # the core rows a SQL rule flagged (a short interval): to staging, for their warnings and report
            # (none when the hook stages every row a rule flags: check-ins, e23-checkins)
            flagged: list[int] = []
            if not getattr(read, "flagged_staged", False):
                cur.execute(
                    f"""
                    select distinct q.row_number from quarantine.row_problem as q
                    where q.file_id = %(file_id)s and not exists (
                        select 1 from staging.{table} as s
                        where s.file_id = q.file_id and s.row_number = q.row_number
                    )
                    """,  # noqa: S608 (table from the spec)
                    {"file_id": f.file_id},
                )
                flagged = [r[0] for r in cur.fetchall()]
            lap("rules")
            timings["rows_moved_flagged"] = columnar.direct_move_back(
                conn, spec, f.file_id, flagged, spill, read
            )
            lap("move_back_flagged")
            moved += flagged
            if spec.keep_raw:
                fill_raw(cur, f)
            cur.execute(
                f"""
                insert into quarantine.rejected_row (file_id, row_number, raw)
                select s.file_id, s.row_number, {spec.rejected_raw_sql}
                from staging.{table} s
                join (
                    select distinct q.row_number from quarantine.row_problem q
                    where q.file_id = %(file_id)s and q.severity = 'error'
                ) e on e.row_number = s.row_number
                where s.file_id = %(file_id)s
                """,  # noqa: S608 (table and expression from the spec)
                params,
            )
            cur.execute(
                "select count(distinct row_number) filter (where severity = 'warning') "
                "from quarantine.row_problem where file_id = %s",
                (f.file_id,),
            )
            warned = cur.fetchone()[0]
            set_status(cur, f.file_id, "validated", rows_rejected=rejected, rows_with_warnings=warned)
            lap("rules")

            # the profile: the staged rows by SQL, the core rows' counts summed in polars
            names = ", ".join(spec.direct_profile_columns)
            cur.execute("drop table if exists pg_temp.direct_profile")
            cur.execute(
                f"create temp table direct_profile on commit drop as "  # noqa: S608 (columns from the spec)
                f"select {names}, 0::bigint as n from staging.{table} limit 0"
            )
            counts = read.profile_counts(spec.direct_profile_columns)
            if counts.height:
                columnar.copy_frame(cur, "pg_temp.direct_profile", counts)
            cur.execute(spec_sql(cur, spec, spec.direct_profile), _params(f))
            batch_profile = _finish_profile(f, dict(cur.fetchone()[0]))
            lap("profile")

            docs = docs or ("file" if docs_enabled() else "off")
            gate = functools.partial(
                batch_gate.run_gate, batch_profile, build_docs=docs == "file", store=docs == "store"
            )
            merge_params = _params(f, keys_in_order=read.keys_in_order, take_back=False)
            if spec.direct_merge_hook is not None:
                # a spec's own merge (e30-decl): its SQL runs while GX validates the profile on another thread
                # (GX is Python, the merge waits for PostgreSQL); nothing commits before the gate's answer, and a
                # failed gate rolls all of it back (the staging path reads the file again and holds it)
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(1, thread_name_prefix="gate") as pool:
                    gating = pool.submit(gate)
                    try:
                        inserted = spec.direct_merge_hook(cur, f, merge_params, read)
                    finally:
                        gating.exception()  # the gate ends before the transaction does, either way
                    result = gating.result()
                batch_gate.store_result(conn, f.file_id, spec.suite, result)
                lap("gx_and_merge")
                if not result.success:
                    raise _Fallback
            else:
                result = gate()
                batch_gate.store_result(conn, f.file_id, spec.suite, result)
                lap("gx")
            if not result.success:  # held: its rows as the staging path leaves them (for a release)
                rest = columnar.direct_rows_of(conn, spec, f.file_id)
                columnar.direct_move_back(conn, spec, f.file_id, rest, spill, read)
                fill_raw(cur, f)
                conn.commit()
                return {"status": "held", "reasons": result.failed, "docs_key": result.docs_key}

            if spec.direct_merge_hook is None:
                for name in spec.merge:
                    cur.execute(spec_sql(cur, spec, name), merge_params)
                inserted = max(cur.rowcount, 0)
            loaded = read.direct - len(moved) + inserted
            cur.execute(
                "update ops.landing_file set final_path = %s where file_id = %s",
                (str(f.archive_path), f.file_id),
            )
            set_status(cur, f.file_id, "merged", rows_loaded=loaded)
        conn.commit()
        lap("merge")
    except (_Fallback, columnar.NotPlain, FileRejected):
        conn.rollback()
        spill.unlink(missing_ok=True)
        return None
    except Exception as exc:  # noqa: BLE001 (the staging path does what it does with the file)
        conn.rollback()
        spill.unlink(missing_ok=True)
        # the error's type only: a database error's message may quote a row ("Failing row contains ...")
        log.warning(
            "file %s: not read straight into core (%s); the staging path takes it",
            f.file_id,
            type(exc).__name__,
        )
        return None
    # a first load's statistics from a sample of 3,000 rows (0.25 of the 4.6 s of a 200k file at the full
    # target's 30,000): the row count is exact either way
    analyze_if_stale(conn, f, loaded, first_target=FIRST_ANALYZE_TARGET)
    lap("analyze")
    log.info(
        "file %s: %s rows straight into core, %s staged (%s)",
        f.file_id,
        read.direct - len(moved),
        read.staged + len(moved),
        timings,
    )
    return {
        "status": "merged",
        "rows_loaded": loaded,
        "docs_key": result.docs_key,
        "timings": timings,
        "rows_direct": read.direct - len(moved),
    }


# process_file in three parts, so that a group (process_group) can gate its files together between them
def _lock(conn, file_id: int) -> bool:
    with conn.cursor() as cur:
        cur.execute("select pg_try_advisory_lock(%s, %s)", (LOCK_NAMESPACE, file_id))
        if not cur.fetchone()[0]:
            conn.rollback()
            return False
    conn.commit()
    return True


def _unlock(conn, file_id: int) -> None:
    conn.rollback()
    with conn.cursor() as cur:
        cur.execute("select pg_advisory_unlock(%s, %s)", (LOCK_NAMESPACE, file_id))
    conn.commit()


def _open_file(conn, file_id: int, *, datasets=None, rules_step=None):
    """A locked file up to its gate: a finished summary (nothing left to gate), or (file, counts, profile)."""
    from covidsync.ingest.parse import FileRejected

    f = load_file(conn, file_id)
    conn.rollback()
    allowed = set(specs()) if datasets is None else set(datasets)
    if f.dataset not in allowed:
        raise FileStateError(f"file {file_id} is not one of the datasets {sorted(allowed)} ({f.dataset})")
    if f.status in ("merged", "held", "rejected") and f.landing_path.exists():
        return finish(conn, file_id)  # an earlier run committed but did not finish
    if f.status not in ("received", "staged", "validated"):
        return {"file_id": file_id, "dataset": f.dataset, "status": f.status}
    try:
        _, has_record_id = stage(conn, f)
    except FileReplaced as replaced:
        conn.rollback()
        return replaced.summary  # other bytes than registered: registered again as a new file
    except FileRejected as exc:
        conn.rollback()
        reject_file(conn, f, exc.code, exc.detail)
        return finish(conn, file_id)
    if rules_step is False:  # staged only: a group checks its files together (process_group)
        return f, has_record_id
    counts = (rules_step or apply_rules)(conn, f, has_record_id)
    return f, counts, profile(conn, f, counts)


def _close_file(conn, f: FileRow, counts: dict, result, *, merge_step=None) -> dict:
    """After the gate: hold or merge (:func:`_settle`), then the reports and the move."""
    _settle(conn, f, counts, result, merge_step=merge_step)
    return _finished(conn, f)


def _finished(conn, f: FileRow) -> dict:
    """A held, merged or rejected file's reports and move (:func:`finish`), logged."""
    summary = finish(conn, f.file_id)
    log.info(
        "file %s (%s, %s): %s, %s rows, %s loaded, %s rejected, %s with warnings",
        f.file_id,
        f.facility_code,
        f.dataset,
        summary["status"],
        summary["rows_total"],
        summary["rows_loaded"],
        summary["rows_rejected"],
        summary["rows_with_warnings"],
    )
    return summary


def release(conn, file_id: int, reason: str, actor: str) -> dict:
    """An operator releases a held file: its loadable rows merge, with the reason recorded."""
    if not reason or not reason.strip():
        raise FileStateError("a release needs a reason (it is recorded with the file)")
    f = load_file(conn, file_id)
    conn.rollback()
    if f.status != "held":
        raise FileStateError(f"file {file_id} is {f.status}, not held")
    with conn.cursor() as cur:
        cur.execute(f"select count(*) from staging.{f.table} where file_id = %s", (file_id,))  # noqa: S608
        staged = cur.fetchone()[0]
    conn.rollback()
    if not staged:
        raise FileStateError(f"file {file_id} has no staged rows left: reprocess it instead")
    held_at = Path(f.final_path) if f.final_path else None
    merge(conn, f, actor=actor, reason=f"released: {reason.strip()}"[:1000])
    with conn, conn.cursor() as cur:
        cur.execute(
            "update ops.landing_file set file_codes = array_remove(file_codes, 'batch_rejected') where file_id = %s",
            (file_id,),
        )
    archived = load_file(conn, file_id)
    conn.rollback()
    if held_at and held_at.exists() and archived.final_path:
        landing.move_out(held_at, Path(archived.final_path))
    return finish(conn, file_id)


def reprocess(conn, file_id: int, reason: str, actor: str) -> None:
    """Put a finished file back in the landing zone as ``received``; the next run processes it again."""
    f = load_file(conn, file_id)
    conn.rollback()
    if f.status in ("received", "staged", "validated"):
        return
    if f.status == "duplicate":
        raise FileStateError(f"file {file_id} is a duplicate: reprocess the original instead")
    source = Path(f.final_path) if f.final_path else None
    if source is None or not source.exists():
        raise FileStateError(f"file {file_id}: its copy is not at {source}; cannot reprocess")
    if f.landing_path.exists():
        raise FileStateError(f"file {file_id}: another file is waiting at its landing path")
    with conn, conn.cursor() as cur:
        cur.execute(
            """
            update ops.landing_file
            set final_path = null, file_codes = '{}', rows_loaded = null, rows_rejected = null,
                rows_with_warnings = null
            where file_id = %s
            """,
            (file_id,),
        )
        set_status(cur, file_id, "received", reason=f"reprocess: {reason}"[:1000], actor=actor)
    f.landing_path.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, f.landing_path)


def pending_in_order(conn, file_ids: Iterable[int]) -> list[int]:
    """Registered files in the order a run takes them: by the spec's ``run_order`` (venues before
    check-ins), then as received."""
    ids = list(file_ids)
    if not ids:
        return []
    with conn.cursor() as cur:
        cur.execute(
            "select file_id, dataset from ops.landing_file where file_id = any(%s) order by received_at, file_id",
            (ids,),
        )
        rows = cur.fetchall()
    conn.rollback()
    known = specs()
    return [fid for fid, ds in sorted(rows, key=lambda r: known[r[1]].run_order if r[1] in known else 0)]


# -- many small files: groups ---------------------------------------------------------------------------
def group_bytes() -> int:
    """``COVIDSYNC_INGEST_GROUP_BYTES`` (default 64 MiB): the bytes of files processed as one group."""
    return int(os.environ.get("COVIDSYNC_INGEST_GROUP_BYTES", str(64 << 20)))


def group_files() -> int:
    """``COVIDSYNC_INGEST_GROUP_FILES`` (default 200): at most this many files in one group."""
    return int(os.environ.get("COVIDSYNC_INGEST_GROUP_FILES", "200"))


def groups(conn, file_ids: Iterable[int]) -> list[list[int]]:
    """A run's registered files in groups, each processed by one task (:func:`process_group`).

    Per facility, then by size: the files are taken facility by facility (PC-Covid's venues before its
    check-ins), each facility's in the order received, and cut into groups of at most
    :func:`group_files` files and :func:`group_bytes` bytes (a larger file is a group of its own), so
    many small facilities share a group and a facility's files are processed in order.
    """
    ordered = pending_in_order(conn, file_ids)
    if not ordered:
        return []
    with conn.cursor() as cur:
        cur.execute(
            "select file_id, coalesce(size_bytes, 0), dataset, facility_code from ops.landing_file "
            "where file_id = any(%s)",
            (ordered,),
        )
        info = {r[0]: (r[1], r[2], r[3]) for r in cur.fetchall()}
    conn.rollback()
    known = specs()

    def facility_first(file_id: int) -> tuple:
        _, dataset, facility = info[file_id]
        spec = known.get(dataset)
        return (spec.outbox if spec else "", facility, spec.run_order if spec else 0)

    ordered = sorted(ordered, key=facility_first)  # stable: each facility's files stay as received
    out: list[list[int]] = []
    current: list[int] = []
    size = 0
    family = None
    for file_id in ordered:
        nbytes, dataset, _ = info[file_id]
        fam = known[dataset].outbox if dataset in known else None
        if current and (fam != family or len(current) >= group_files() or size + nbytes > group_bytes()):
            out.append(current)
            current, size = [], 0
        current.append(file_id)
        size += nbytes
        family = fam
    if current:
        out.append(current)
    return out


def process_group(conn, file_ids: Iterable[int], *, datasets: Iterable[str] | None = None) -> list[dict]:
    """A group of files, each with its own lock, status, rules, gate result, all-or-nothing merge,
    quarantine and reports (one bad file never holds the others), with one Great Expectations validation
    for the group's profiles (:mod:`covidsync.ingest.group_gate`: each file judged on its own rows of it)
    and one Data Docs update. Every file is read, checked and profiled first (holding its lock), then
    gated together, then each is held or merged and reported. A file that fails with an unexpected error
    is logged and its summary says ``failed``; the others go on, and the error is raised again at the
    end so that the task fails (its file stays where it stopped, to be resumed)."""
    from covidsync.ingest import batch_gate, group_gate

    ids = list(file_ids)
    summaries: list[dict | None] = [None] * len(ids)
    errors: list[BaseException] = []
    opened: list[tuple[int, FileRow, dict, dict]] = []

    def failed(position: int, exc: BaseException) -> None:
        conn.rollback()
        log.error("file %s failed; the group goes on", ids[position], exc_info=exc)
        summaries[position] = {"file_id": ids[position], "status": "failed", "error": type(exc).__name__}
        errors.append(exc)

    keys: list = []
    deferred: list = []
    pool = storing = rendering = None
    locked = _lock_set(conn, ids)
    try:
        staged: list[tuple[int, FileRow, bool]] = []
        candidates: list[tuple[int, FileRow]] = []
        try:  # the locked files' rows in one query (each read on its own if that fails)
            loaded = load_files(conn, [i for i in ids if i in locked])
        except Exception:  # noqa: BLE001
            conn.rollback()
            log.exception("the group's %d files could not be read together; each alone", len(locked))
            loaded = None
        for position, file_id in enumerate(ids):
            if file_id not in locked:
                summaries[position] = {"file_id": file_id, "status": "busy"}
                continue
            try:
                done = _to_stage(conn, file_id, datasets, loaded)
            except Exception as exc:  # noqa: BLE001 (one file's failure never stops its group; raised below)
                failed(position, exc)
                continue
            if isinstance(done, dict):
                summaries[position] = done
            else:
                candidates.append((position, done))
        singles = _stage_together(conn, candidates, staged, summaries, failed)
        for position, f in singles:  # each on its own (engine.stage), as a file outside a group
            try:
                done = _open_file(conn, f.file_id, datasets=datasets, rules_step=False)
            except Exception as exc:  # noqa: BLE001
                failed(position, exc)
                continue
            if isinstance(done, dict):
                summaries[position] = done
            else:
                staged.append((position, *done))
        staged.sort(key=lambda item: item[0])
        checked = _rules_together(conn, [(f, has_record_id) for _, f, has_record_id in staged])
        ruled: list[tuple[int, FileRow, dict]] = []
        for position, f, has_record_id in staged:
            try:
                ruled.append((position, f, checked.get(f.file_id) or apply_rules(conn, f, has_record_id)))
            except Exception as exc:  # noqa: BLE001
                failed(position, exc)
        profiled = _profiles_together(conn, [f for _, f, _ in ruled])
        for position, f, counts in ruled:
            try:
                counts = {**counts, "profile": profiled.get(f.file_id)}  # read, or None: profile reads it
                opened.append((position, f, counts, profile(conn, f, counts)))
            except Exception as exc:  # noqa: BLE001
                failed(position, exc)
        store = docs_enabled()
        results = (
            group_gate.run_group_gate([p for *_, p in opened], store=store, deferred=deferred)
            if opened
            else []
        )
        if deferred:  # the GX results written (Python) while the merge below waits for PostgreSQL
            from concurrent.futures import ThreadPoolExecutor

            pool = ThreadPoolExecutor(1, thread_name_prefix="gx-store")
            storing = pool.submit(group_gate.store_deferred, deferred)
        ready: list[tuple[int, FileRow, dict, object]] = []
        for (position, f, counts, _), result in zip(opened, results, strict=True):
            if isinstance(result, BaseException):
                failed(position, result)
                continue
            ready.append((position, f, counts, result))
        try:  # the group's gate results in one statement (each file's row as store_result writes it)
            with conn:
                group_gate.store_results(
                    conn, [(f.file_id, f.spec.suite, result) for *_, f, _, result in ready]
                )
        except Exception:  # noqa: BLE001 (each file on its own instead: one file's failure is its own)
            conn.rollback()
            stored = []
            for item in ready:
                position, f, _, result = item
                try:
                    with conn:
                        batch_gate.store_result(conn, f.file_id, f.spec.suite, result)
                    stored.append(item)
                except Exception as exc:  # noqa: BLE001
                    failed(position, exc)
            ready = stored
        keys = [result.docs_key for *_, result in ready if result.docs_key is not None]
        if pool is not None and keys:  # their pages and the group's Data Docs update on the same thread,
            in_memory = {key.to_tuple(): own for key, own in deferred}  # after the store, during the merge
            rendering = pool.submit(_group_docs, keys, in_memory)
        merged = _merge_together(conn, [(f, counts, result) for _, f, counts, result in ready])
        settled: list[tuple[int, FileRow]] = []
        for position, f, counts, result in ready:
            try:
                if f.file_id not in merged:
                    _settle(conn, f, counts, result)
                settled.append((position, f))
            except Exception as exc:  # noqa: BLE001
                failed(position, exc)
        finished = finish_group(conn, [f.file_id for _, f in settled])
        for position, f in settled:
            outcome = finished[f.file_id]
            if isinstance(outcome, BaseException):
                failed(position, outcome)
            else:
                summaries[position] = outcome
    finally:
        _unlock_set(conn, locked)
        if pool is not None:
            pool.shutdown(wait=True)
    if storing is not None and (exc := storing.exception()) is not None:
        log.error(
            "the group's GX results could not all be stored: its Data Docs pages are incomplete", exc_info=exc
        )
        errors.append(exc)
    if rendering is not None:
        if (exc := rendering.exception()) is not None:
            errors.append(exc)
    elif keys:  # no thread: the pages read from the GX store, the suites' pages and the index
        batch_gate.build_group_docs(keys)
    if errors:
        raise errors[0]
    return summaries


def _group_docs(keys: list, in_memory: dict) -> None:
    """A group's Data Docs update (:func:`process_group`, on the GX store's thread while the merge waits for
    PostgreSQL): each file's page rendered from its result in memory (:func:`batch_gate.render_pages`), then
    the pages not rendered so (read from the GX store), the suites' pages and the index
    (:func:`batch_gate.build_group_docs`). The index lists the stored results, not the files' statuses, so
    it is the same built before the group's merge ends as after (issue 16, branch e21-smallfiles)."""
    from covidsync.ingest import batch_gate

    failure = None
    try:
        rendered = batch_gate.render_pages(keys, in_memory)
    except Exception as exc:  # noqa: BLE001 (each page's failure is logged there: not reached)
        log.error("the group's Data Docs pages could not be rendered", exc_info=exc)
        rendered, failure = set(), exc
    batch_gate.build_group_docs(keys, rendered=rendered)
    if failure is not None:
        raise failure


def _to_stage(conn, file_id: int, datasets, loaded: dict[int, FileRow] | None = None):
    """The first part of :func:`_open_file` for a group's file: the file to stage, or its summary (finished
    by an earlier run, or nothing left to do). ``loaded``: the group's files read in one query after their
    locks were taken (:func:`load_files`), instead of a query a file."""
    if loaded is None:
        f = load_file(conn, file_id)
        conn.rollback()
    elif (f := loaded.get(file_id)) is None:
        raise FileStateError(f"no file with id {file_id}")
    allowed = set(specs()) if datasets is None else set(datasets)
    if f.dataset not in allowed:
        raise FileStateError(f"file {file_id} is not one of the datasets {sorted(allowed)} ({f.dataset})")
    if f.status in ("merged", "held", "rejected") and f.landing_path.exists():
        return finish(conn, file_id)  # an earlier run committed but did not finish
    if f.status not in ("received", "staged", "validated"):
        return {"file_id": file_id, "dataset": f.dataset, "status": f.status}
    return f


def group_stage_bytes() -> int:
    """``COVIDSYNC_INGEST_GROUP_STAGE_BYTES`` (default 8 MiB): a group's small files are read and staged
    together (:mod:`covidsync.ingest.group_stage`) this many bytes at a time, each file at most a quarter
    of it (a larger one is staged on its own, batch by batch), so that memory holds a few batches."""
    return int(os.environ.get("COVIDSYNC_INGEST_GROUP_STAGE_BYTES", str(8 << 20)))


def _stage_together(conn, candidates, staged, summaries, failed) -> list[tuple[int, FileRow]]:
    """Stage a group's files that can be (:func:`covidsync.ingest.group_stage.supported`, small) together,
    a few MiB at a time: each file read and checked on its own (one that cannot be read is rejected alone,
    one whose bytes changed is registered again), then one transaction and one ``COPY`` for the rest.
    Appends ``(position, file, has_record_id)`` to ``staged``; returns the files to stage one by one (the
    others, and every file of a part whose staging together failed)."""
    from covidsync.ingest import frame_rules, group_stage

    limit = group_stage_bytes()
    parts: dict[str, list[list[tuple[int, FileRow, int]]]] = {}
    singles: list[tuple[int, FileRow]] = []
    for position, f in candidates:
        try:
            size = f.landing_path.stat().st_size
        except OSError:
            size = limit
        if not group_stage.supported(f.spec) or size > limit // 4:
            singles.append((position, f))
            continue
        runs = parts.setdefault(f.dataset, [[]])
        if runs[-1] and sum(s for *_, s in runs[-1]) + size > limit:
            runs.append([])
        runs[-1].append((position, f, size))
    references = None
    for runs in parts.values():
        for run in runs:
            if len(run) < 2:
                singles.extend((position, f) for position, f, _ in run)
                continue
            if references is None:
                references = frame_rules.context(conn, "", dt.datetime.now(dt.UTC))
                conn.rollback()
            opened = []  # each file opened and checked on its own, then read: most as one stream
            for position, f, _ in run:
                with _file_outcome(conn, f, position, summaries, failed):
                    opened.append((position, group_stage.open_file(conn, f)))
            try:
                streamed = group_stage.read_stream(opened, references)
            except Exception:  # noqa: BLE001 (each file read on its own instead)
                log.exception("%d %s files could not be read as one stream", len(opened), run[0][1].dataset)
                streamed = {}
            reads = []
            for position, one in opened:
                if position in streamed:
                    reads.append((position, streamed[position]))
                    continue
                with _file_outcome(conn, one[0], position, summaries, failed):
                    reads.append((position, group_stage.read_opened(one, references)))
            if not reads:
                continue
            try:
                group_stage.stage_group(conn, [read for _, read in reads], set_statuses)
            except Exception:  # noqa: BLE001 (each file on its own instead: one file's failure is its own)
                conn.rollback()
                log.exception(
                    "%d %s files failed to stage together; each alone", len(reads), run[0][1].dataset
                )
                singles.extend((position, read.f) for position, read in reads)
                continue
            staged.extend((position, read.f, read.has_record_id) for position, read in reads)
    return singles


@contextlib.contextmanager
def _file_outcome(conn, f: FileRow, position: int, summaries, failed):
    """A group's file opened or read on its own (:func:`_stage_together`): its transaction ended, a file
    whose bytes changed registered anew, one that cannot be read rejected alone, any other error its own."""
    from covidsync.ingest import group_stage
    from covidsync.ingest.parse import FileRejected

    try:
        yield
        conn.rollback()
    except (FileReplaced, group_stage.Replaced) as replaced:
        conn.rollback()
        summaries[position] = replaced.summary  # other bytes than registered: registered anew
    except FileRejected as exc:
        conn.rollback()
        try:
            reject_file(conn, f, exc.code, exc.detail)
            summaries[position] = finish(conn, f.file_id)
        except Exception as again:  # noqa: BLE001
            failed(position, again)
    except Exception as exc:  # noqa: BLE001
        failed(position, exc)


def _lock_set(conn, file_ids: list[int]) -> set[int]:
    """:func:`_lock` for a group's files in one statement: the ids whose lock this session now holds (the
    others are busy with another worker)."""
    if not file_ids:
        return set()
    with conn.cursor() as cur:
        cur.execute(
            "select array_agg(id) from unnest(%s::bigint[]) as id where pg_try_advisory_lock(%s, id::int)",
            (file_ids, LOCK_NAMESPACE),
        )
        got = cur.fetchone()[0] or []
    conn.commit()
    return set(got)


def _unlock_set(conn, file_ids: Iterable[int]) -> None:
    """:func:`_unlock` for a group's files in one statement."""
    ids = list(file_ids)
    conn.rollback()
    if not ids:
        return
    with conn.cursor() as cur:
        cur.execute(
            "select count(*) from unnest(%s::bigint[]) as id where pg_advisory_unlock(%s, id::int)",
            (ids, LOCK_NAMESPACE),
        )
    conn.commit()


def _settle(conn, f: FileRow, counts: dict, result, *, merge_step=None) -> None:
    """:func:`_close_file` without its reports: hold or merge one file (a failed merge rejected with its
    report's reason, issue 17); the group then finishes its files together (:func:`finish_group`)."""
    if counts["hold"] or not result.success:
        hold(conn, f, result.failed or [f"rejected share over {max_rejected_share():.0%}"])
    else:
        try:
            (merge_step or merge)(conn, f)
        except Exception as exc:  # issue 17: a failed merge ends rejected with a report (merge_failure)
            from covidsync.ingest import merge_failure

            if not merge_failure.record(conn, f, exc, set_status):
                raise


def load_files(conn, file_ids: list[int]) -> dict[int, FileRow]:
    """:func:`load_file` for several files in one query (the ids not found are left out)."""
    with conn.cursor() as cur:
        cur.execute(
            """
            select file_id, relative_path, original_name, facility_code, dataset, received_at, status, sha256,
                   final_path
            from ops.landing_file where file_id = any(%s)
            """,
            (list(file_ids),),
        )
        rows = cur.fetchall()
    conn.rollback()
    return {row[0]: FileRow(*row) for row in rows}


def finish_group(conn, file_ids: list[int]) -> dict[int, dict | BaseException]:
    """:func:`finish` for a group's held, merged or rejected files: each file's reports and move on its own
    (a file whose reports fail gets its exception back, the others go on), then the staging of those
    finished (held files keep theirs, as :func:`finish` does) cleared in one statement a table."""
    files = load_files(conn, file_ids)
    out: dict[int, dict | BaseException] = {}
    done: list[FileRow] = []
    try:
        with conn.cursor() as cur:
            cur.execute(REPORT_COUNTS + " where file_id = any(%s)", (list(files),))
            counts = {row[0]: row[1:] for row in cur.fetchall()}
        held = [  # whose reports say held (report_and_move's status "rejected", sender_report.is_held)
            i
            for i, f in files.items()
            if f.status in ("held", "rejected") and "batch_rejected" in counts.get(i, ((),) * 5)[4]
        ]
        problems = _GroupProblems(conn, [files[i] for i in file_ids if i in files], held)
    except Exception:  # noqa: BLE001 (each file's reports read on their own instead)
        conn.rollback()
        log.exception("the reports of %d files could not be read together; each alone", len(files))
        counts, problems = {}, None
    for file_id in file_ids:
        f = files.get(file_id)
        try:
            if f is None:
                raise FileStateError(f"no file with id {file_id}")
            if problems is not None and file_id in counts:
                out[file_id] = report_and_move(conn, f, problems.rows, counts=counts[file_id])
            else:
                out[file_id] = report_and_move(conn, f)
            done.append(f)
        except Exception as exc:  # noqa: BLE001 (that file's error; the caller records it)
            conn.rollback()  # the later files' reports read on their own (the cursors are closed)
            problems = None
            out[file_id] = exc
            continue
        summary = out[file_id]
        log.info(
            "file %s (%s, %s): %s, %s rows, %s loaded, %s rejected, %s with warnings",
            f.file_id,
            f.facility_code,
            f.dataset,
            summary["status"],
            summary["rows_total"],
            summary["rows_loaded"],
            summary["rows_rejected"],
            summary["rows_with_warnings"],
        )
    conn.rollback()  # the group's problem rows read (their cursors closed with the transaction)
    clear_staging_group(conn, [f for f in done if f.status != "held"])
    for f in done:
        if f.status == "held" and f.spec.frame_rules is not None:  # its problem rows keep their raw values
            spill_path(f).unlink(missing_ok=True)
    return out


class _GroupProblems:
    """The row problems of a group's files for their errors.csv (:func:`finish_group`): one server-side
    cursor a dataset over all its files' problems, in the files' order and each file's as
    :func:`problem_rows` orders them, instead of a query a file; :meth:`rows` is :func:`problem_lines` for
    one file, which must come in the same order (a file whose reports failed has the rest of its rows
    skipped). The cursors live in the caller's one read-only transaction.

    The lines are rendered together, :data:`PROBLEM_CHUNK_ROWS` rows of the group at a time: one polars query
    for the messages, masks and CSV cells of many files (:func:`_group_lines`; each line depends on its own
    row only, so a file's lines are byte for byte what :func:`problem_frame` and
    :func:`covidsync.textsafe.csv_text` make of its rows alone), instead of two queries a file (issue 16,
    e37-small: about half of a small file's reports). ``held``: the files whose reports say held
    (:func:`covidsync.ingest.sender_report.is_held`), their lines worded so."""

    def __init__(self, conn, files: list[FileRow], held: Iterable[int] = ()):
        by_dataset: dict[str, list[FileRow]] = {}
        for f in files:
            by_dataset.setdefault(f.dataset, []).append(f)
        self.held = sorted(set(held))
        self.streams: dict[str, dict] = {}
        for dataset, group in by_dataset.items():
            spec, ids = group[0].spec, [f.file_id for f in group]
            cur = conn.cursor(name=f"group_problems_{dataset}")  # server-side: flat memory
            cur.itersize = PROBLEM_CHUNK_ROWS
            cur.execute(
                f"""
                select q.file_id, q.row_number, q.column_name, q.code, q.severity,
                       coalesce(r.raw ->> q.column_name, {spec.report_value_sql})
                from quarantine.row_problem q
                left join staging.{spec.table} s on s.file_id = q.file_id and s.row_number = q.row_number
                left join quarantine.rejected_row r on r.file_id = q.file_id and r.row_number = q.row_number
                where q.file_id = any(%(ids)s)
                order by array_position(%(ids)s, q.file_id), q.row_number, q.column_name, q.code
                """,  # noqa: S608 (table and expression from the spec)
                {"ids": ids},
            )
            self.streams[dataset] = {
                "cursor": cur,
                "spec": spec,
                "place": {fid: n for n, fid in enumerate(ids)},
                "read_to": -1,  # the place of the last file whose rows were read (-1: none yet)
                "done": False,
                "lines": {},  # file id: its rendered lines read so far
            }

    def rows(self, conn, f: FileRow, file_codes: list[str]):
        from covidsync.ingest.sender_report import CsvLines

        yield from _file_code_lines(f, file_codes)
        stream = self.streams[f.dataset]
        place = stream["place"]
        mine = place[f.file_id]
        while not stream["done"] and stream["read_to"] <= mine:  # until a later file's rows, or the end
            rows = stream["cursor"].fetchmany(PROBLEM_CHUNK_ROWS)
            if not rows:
                stream["done"] = True
                break
            for file_id, text in _group_lines(stream["spec"], rows, self.held):
                stream["lines"].setdefault(file_id, []).append(text)
            stream["read_to"] = place[rows[-1][0]]
        lines = stream["lines"]
        for file_id in [i for i in lines if place[i] < mine]:  # an earlier file whose reports failed
            del lines[file_id]
        text = "".join(lines.pop(f.file_id, ()))
        if text:
            yield CsvLines(text)


def _group_lines(spec: DatasetSpec, rows, held: list[int]) -> list[tuple[int, str]]:
    """Row problems ``(file_id, row_number, column, code, severity, value)`` of several files (in order) as
    each file's errors.csv lines: :func:`problem_frame`'s columns, a held file's messages worded as
    :func:`covidsync.ingest.sender_report._frame_as_held` words them, each line as
    :func:`covidsync.textsafe.csv_text` writes it; ``(file_id, text)`` a file, in the rows' order."""
    import polars as pl

    from covidsync import textsafe
    from covidsync.ingest.sender_report import _frame_as_held

    frame = problem_frame(spec, rows, file_id=True, keep_file_id=True)
    if held:
        frame = _frame_as_held(frame, where=pl.col("file_id").is_in(held))
    schema = {name: dtype for name, dtype in frame.schema.items() if name != "file_id"}
    texts = (
        frame.select("file_id", textsafe.csv_line(schema).alias("line"))
        .group_by("file_id", maintain_order=True)
        .agg(pl.concat_str(pl.col("line").str.join("\r\n"), pl.lit("\r\n")))
    )
    return list(zip(texts.get_column("file_id").to_list(), texts.get_column("line").to_list(), strict=True))


def clear_staging_group(conn, files: list[FileRow]) -> None:
    """:func:`clear_staging` for several files: one delete a staging table for all of them."""
    by_dataset: dict[str, list[FileRow]] = {}
    for f in files:
        by_dataset.setdefault(f.dataset, []).append(f)
    with conn, conn.cursor() as cur:
        for group in by_dataset.values():
            spec, ids = group[0].spec, [f.file_id for f in group]
            for table in (spec.table, *spec.extra_staging):
                cur.execute(f"delete from staging.{table} where file_id = any(%s)", (ids,))  # noqa: S608
            if spec.frame_rules is not None:
                cur.execute("delete from staging.row_check where file_id = any(%s)", (ids,))
            if spec.record_key is not None:
                cur.execute("delete from staging.staged_file where file_id = any(%s)", (ids,))
    for f in files:
        if f.spec.frame_rules is not None:
            spill_path(f).unlink(missing_ok=True)


def _merge_together(conn, ready: list[tuple[FileRow, dict, object]]) -> set[int]:
    """The files of a group that merge, merged as sets (:func:`merge_batches`, :func:`merge_group`) where
    their dataset declares a ``group_merge``; return the ids merged so. A batch that fails is rolled back
    and logged, and it and every later batch of its dataset merge file by file (:func:`_close_file`:
    each file all or nothing, a failing one rejected with its report), in the group's order."""
    by_dataset: dict[str, list[FileRow]] = {}
    for f, counts, result in ready:
        spec = f.spec
        if spec.group_merge and spec.merge_hook is None and not counts["hold"] and result.success:
            by_dataset.setdefault(f.dataset, []).append(f)
    merged: set[int] = set()
    for files in by_dataset.values():
        if len(files) < 2:
            continue
        try:
            batches = merge_batches(conn, files)
        except Exception:  # noqa: BLE001 (each file on its own instead)
            conn.rollback()
            log.exception(
                "the group's %d %s files: no batches; each merges alone", len(files), files[0].dataset
            )
            continue
        for batch in batches:  # in order (a batch of one too: a later batch may replace its records)
            try:
                merge_group(conn, batch)
            except Exception:  # noqa: BLE001
                conn.rollback()
                log.exception(
                    "a batch of %d %s files failed to merge; each alone", len(batch), batch[0].dataset
                )
                break
            merged.update(f.file_id for f in batch)
    return merged


def _rules_together(conn, staged: list[tuple[FileRow, bool]]) -> dict[int, dict]:
    """The row rules of a group's staged files as sets (:func:`apply_rules_group`) where their dataset
    declares ``group_rules``; return the counts by file id. If that fails it is rolled back and logged, and
    each file is checked on its own (:func:`apply_rules`), so that one file's failure is its own."""
    by_dataset: dict[str, list[tuple[FileRow, bool]]] = {}
    for f, has_record_id in staged:
        if f.spec.group_rules and f.spec.frame_rules is not None:
            by_dataset.setdefault(f.dataset, []).append((f, has_record_id))
    checked: dict[int, dict] = {}
    for files in by_dataset.values():
        if len(files) < 2:
            continue
        try:
            checked.update(apply_rules_group(conn, files))
        except Exception:  # noqa: BLE001 (each file on its own instead)
            conn.rollback()
            log.exception(
                "the row rules of %d %s files failed together; each alone", len(files), files[0][0].dataset
            )
    return checked


def _profiles_together(conn, files: list[FileRow]) -> dict[int, dict]:
    """The profiles of a group's files in one statement a dataset (the spec's ``group_profile``), each file's
    the same as :func:`profile` gives it; return them by file id. If that fails it is rolled back and
    logged, and each file is profiled on its own (:func:`profile`), so that one file's failure is its own.
    A profile reads no other file of the group (its history is of merged files), so the order is free."""
    by_dataset: dict[str, list[FileRow]] = {}
    for f in files:
        if f.spec.group_profile:
            by_dataset.setdefault(f.dataset, []).append(f)
    out: dict[int, dict] = {}
    for group in by_dataset.values():
        if len(group) < 2:
            continue
        spec, own = group[0].spec, {f.file_id: f for f in group}
        try:
            with conn.cursor() as cur:
                _set_based(cur)
                cur.execute(spec_sql(cur, spec, spec.group_profile), {"file_ids": list(own)})
                rows = cur.fetchall()
            conn.rollback()  # read-only
        except Exception:  # noqa: BLE001 (each file on its own instead)
            conn.rollback()
            log.exception("the profiles of %d %s files failed together; each alone", len(group), spec.name)
            continue
        out.update((file_id, _finish_profile(own[file_id], dict(result))) for file_id, result in rows)
    return out


# the steps as written (:func:`_steps_as_written`)
_STEPS = {fn.__name__: fn for fn in (apply_rules, profile, gate, merge, stage, fill_raw)}
