"""Facility and lab APIs (contract §8) into the file pipeline: the source registry, pulls, watermarks.

A pull of one source asks for the records ``updated_since`` its watermark and writes them, page after
page (flat memory), as **canonical JSON Lines** (one item a line, keys sorted, UTF-8, in the served order)
to ``<landing>/.api/<facility>/<dataset>/``. That file is the batch: registered in ``ops.landing_file``
(``source = 'api'``, the SHA-256 of those bytes) and taken through
:func:`covidsync.ingest.pipeline.process_file` like any facility file, so the same row rules, gate, merge,
archive and report apply; the report is ``<outbox>/<facility>/api-<dataset>-<batch id>.result.json``
(the batch id is its ``file_id``). The landing zone is the shared storage every worker sees; the ``.api``
folder starts with a dot, which the facility-file registration never reads (contract §1), and that
registration only ever matches ``source = 'file'`` rows.

Watermark: ``ops.api_source.watermark`` is the largest ``updated_at`` of the source's batches that
**merged**; it moves only after the merge (:func:`advance_watermark`), and only from a batch that asked
from at or before the current watermark, so there is never a gap. A pull that fails half-way registers
nothing (the next try asks the same window again); a batch left unfinished by a crash is finished before
the next pull (:func:`resume`); the same bytes pulled again are recognised by their SHA-256 and not
loaded twice; records pulled again in a different batch replace their earlier version by ``record_id``
(the earlier one kept in ``core.*_history``), as a resent file does.

API contract violations refuse the batch at once, with its report, and leave the watermark where it was:

* a page that is not JSON, or not ``{"items": [objects], ...}``, or an ``updated_at`` that is missing or
  unreadable: ``unsupported_format`` (the batch file keeps the items before it and the page's body as
  received, as evidence);
* items with a field the contract does not name (a renamed field), or a page where a required field is
  absent from every item: ``missing_columns`` (the parser would accept many spellings of a header in a
  file; an API must use the contract's English names).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from covidsync import settings
from covidsync.errors import CovidsyncError
from covidsync.ingest import landing

log = logging.getLogger(__name__)

API_DIR = ".api"  # under the landing zone; a dot folder, never read by the file registration
VN = dt.timezone(dt.timedelta(hours=7))
PENDING = ("received", "staged", "validated")
_LOCK_NAMESPACE = 0x61706973  # advisory lock namespace for "one pull per source" ("apis")


class SourceError(CovidsyncError):
    pass


# -- the registry -----------------------------------------------------------------------------------------
@dataclass
class Source:
    source_id: int
    facility_code: str
    dataset: str
    base_url: str
    conn_id: str
    page_size: int
    enabled: bool
    watermark: dt.datetime | None

    @property
    def folder(self) -> Path:
        return settings.landing_dir() / API_DIR / self.facility_code / self.dataset


_SOURCE_COLUMNS = "source_id, facility_code, dataset, base_url, conn_id, page_size, enabled, watermark"


def add_source(
    conn, facility: str, dataset: str, url: str, conn_id: str, page_size: int | None = None
) -> Source:
    """Register a source, or change the URL, connection or page size of the (facility, dataset) one.

    The watermark is kept: changing where a source is read does not load its records again.
    """
    if dataset not in landing.FACILITY_DATASETS:
        raise SourceError(f"dataset is one of {', '.join(landing.FACILITY_DATASETS)}")
    if not url.startswith(("http://", "https://")) or any(ord(c) < 33 for c in url):
        raise SourceError(
            "the base URL starts with http:// or https:// and has no spaces or control characters"
        )
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,250}", conn_id or ""):
        raise SourceError("the connection id is letters, digits, '_', '.' or '-' (an Airflow connection id)")
    if page_size is not None and not 1 <= page_size <= 1000:
        raise SourceError("the page size is 1 to 1000")
    with conn, conn.cursor() as cur:
        cur.execute("select 1 from ops.facility where facility_code = %s", (facility,))
        if cur.fetchone() is None:
            raise SourceError(
                f"facility {facility} is not registered: add it to landing/registry/facilities.csv first"
            )
        cur.execute(
            f"""
            insert into ops.api_source (facility_code, dataset, base_url, conn_id, page_size)
            values (%(facility)s, %(dataset)s, %(url)s, %(conn_id)s, coalesce(%(page_size)s, 500))
            on conflict (facility_code, dataset) do update set
                base_url = excluded.base_url, conn_id = excluded.conn_id,
                page_size = coalesce(%(page_size)s, ops.api_source.page_size), enabled = true,
                updated_at = now()
            returning {_SOURCE_COLUMNS}
            """,  # noqa: S608 (column list is a constant)
            {
                "facility": facility,
                "dataset": dataset,
                "url": url.rstrip("/"),
                "conn_id": conn_id,
                "page_size": page_size,
            },
        )
        return Source(*cur.fetchone())


def list_sources(conn, *, enabled_only: bool = False) -> list[Source]:
    with conn.cursor() as cur:
        cur.execute(
            f"select {_SOURCE_COLUMNS} from ops.api_source"  # noqa: S608
            + (" where enabled" if enabled_only else "")
            + " order by facility_code, dataset"
        )
        rows = cur.fetchall()
    conn.rollback()
    return [Source(*row) for row in rows]


def get_source(conn, source_id: int) -> Source:
    with conn.cursor() as cur:
        cur.execute(f"select {_SOURCE_COLUMNS} from ops.api_source where source_id = %s", (source_id,))  # noqa: S608
        row = cur.fetchone()
    conn.rollback()
    if row is None:
        raise SourceError(f"no API source with id {source_id} (covidsync sources list)")
    return Source(*row)


# -- the watermark --------------------------------------------------------------------------------------
def advance_watermark(conn, source_id: int) -> dt.datetime | None:
    """Move the watermark over every merged batch that continues it; return the watermark."""
    from covidsync.ingest.pipeline import sql_text

    with conn, conn.cursor() as cur:
        while True:
            cur.execute(sql_text("api_source_watermark"), {"source_id": source_id})
            if cur.fetchone() is None:
                break
        cur.execute("select watermark from ops.api_source where source_id = %s", (source_id,))
        return cur.fetchone()[0]


# -- checking items against §8 --------------------------------------------------------------------------
def _fields(dataset: str) -> tuple[frozenset[str], frozenset[str]]:
    from covidsync.ingest.parse import DATASET_COLUMNS

    columns = DATASET_COLUMNS[dataset]
    allowed = frozenset(c.name for c in columns) | {"updated_at"}
    required = frozenset(c.name for c in columns if c.required) | {"updated_at"}
    return allowed, required


def parse_updated_at(value: object) -> dt.datetime | None:
    """``updated_at`` of an item: ISO 8601; no offset means +07:00 (contract §2)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        when = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=VN)


def changed_fields(dataset: str, items: list[dict]) -> str | None:
    """Why the page's items are not the contract's shape (names only, never values), or ``None``."""
    allowed, required = _fields(dataset)
    unknown: set[str] = set()
    present: set[str] = set()
    for item in items:
        keys = set(item)
        unknown |= keys - allowed
        present |= keys
    absent = sorted(required - present) if items else []
    if not unknown and not absent:
        return None
    parts = []
    if unknown:
        shown = ", ".join(sorted(k[:40] for k in unknown)[:5])
        parts.append(f"fields the contract does not name: {shown}")
    if absent:
        parts.append(f"required fields absent: {', '.join(absent)}")
    return "; ".join(parts)


# -- a pull ---------------------------------------------------------------------------------------------
@dataclass
class Pulled:
    path: Path
    sha256: str
    size: int
    items: int
    pages: int
    max_updated_at: dt.datetime | None
    problem: tuple[str, str] | None  # (file code, detail) when the batch breaks §8


def fetch(source: Source, hook, since: dt.datetime | None) -> Pulled:
    """Write every page since ``since`` to a temporary file in the source's folder.

    API errors (auth, unavailable, paging) propagate and leave nothing behind.
    """
    from covidsync.hooks.facility_api import ApiMalformedResponse

    source.folder.mkdir(parents=True, exist_ok=True)
    tmp = source.folder / f".pull-{source.source_id}.jsonl.part"
    digest = hashlib.sha256()
    items = pages = 0
    newest: dt.datetime | None = None
    problem: tuple[str, str] | None = None
    try:
        with tmp.open("wb") as out:

            def write(data: bytes) -> None:
                out.write(data)
                digest.update(data)

            try:
                for page in hook.pages(source.dataset, since):
                    pages = page.number
                    changed = changed_fields(source.dataset, page.items)
                    for item in page.items:
                        write(
                            json.dumps(
                                item, ensure_ascii=False, sort_keys=True, separators=(",", ":")
                            ).encode()
                        )
                        write(b"\n")
                        items += 1
                        stamp = parse_updated_at(item.get("updated_at"))
                        if stamp is None and "updated_at" in item and problem is None and not changed:
                            problem = (
                                "unsupported_format",
                                f"page {page.number}: an updated_at that is not an ISO-8601 date-time",
                            )
                        if stamp is not None and (newest is None or stamp > newest):
                            newest = stamp
                    if changed:
                        problem = ("missing_columns", f"page {page.number}: {changed}")
                    if problem:
                        break
            except ApiMalformedResponse as exc:
                pages = exc.page
                write(exc.content.replace(b"\n", b" ") + b"\n")
                problem = (exc.code, f"{exc}: the API must answer the JSON of contract §8")
        size = tmp.stat().st_size
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return Pulled(tmp, digest.hexdigest(), size, items, pages, newest, problem)


def register_batch(conn, source: Source, pulled: Pulled, since: dt.datetime | None) -> tuple[int, bool]:
    """The batch's row in ``ops.landing_file`` and ``ops.api_batch``; return (file_id, new?).

    The same bytes already registered (a retry of a pull, a crash before the watermark moved) give the
    existing batch back, and the temporary file is dropped (or put where the batch's file should be, if
    that is missing while the batch waits).
    """
    from covidsync.ingest.pipeline import set_status

    now = dt.datetime.now(dt.UTC)
    with conn, conn.cursor() as cur:
        cur.execute(
            "select file_id, relative_path, status, source from ops.landing_file "
            "where sha256 = %s and duplicate_of is null",
            (pulled.sha256,),
        )
        seen = cur.fetchone()
        if seen is not None:
            file_id, relative, status, kind = seen
            if kind != "api":
                raise SourceError(f"batch bytes equal file {file_id}'s; not registered")
            final = settings.landing_dir() / relative
            if status in PENDING and not final.exists():
                os.replace(pulled.path, final)
            else:
                pulled.path.unlink(missing_ok=True)
            return file_id, False
        code = pulled.problem[0] if pulled.problem else None
        status = "rejected" if code else "received"
        cur.execute(
            """
            insert into ops.landing_file
                (sha256, source, relative_path, original_name, facility_code, dataset, size_bytes, received_at,
                 status, file_codes)
            values (%s, 'api', '', '', %s, %s, %s, %s, %s, %s)
            returning file_id
            """,
            (
                pulled.sha256,
                source.facility_code,
                source.dataset,
                pulled.size,
                now,
                status,
                [code] if code else [],
            ),
        )
        file_id = cur.fetchone()[0]
        name = f"api-{source.dataset}-{file_id}"
        final = source.folder / f"{name}.jsonl"
        rejected = (
            landing.area_path(settings.rejected_dir(), source.facility_code, source.dataset, now, name)
            if code
            else None
        )
        cur.execute(
            """
            update ops.landing_file set relative_path = %s, original_name = %s, final_path = %s
            where file_id = %s
            """,
            (
                final.relative_to(settings.landing_dir()).as_posix(),
                name,
                str(rejected) if rejected else None,
                file_id,
            ),
        )
        cur.execute(
            "insert into ops.file_event (file_id, to_status, reason) values (%s, %s, %s)",
            (
                file_id,
                "received",
                f"pulled from API source {source.source_id} ({pulled.items} items, {pulled.pages} pages)",
            ),
        )
        if code:
            set_status(cur, file_id, "rejected", reason=f"{code}: {pulled.problem[1]}"[:1000], rows_loaded=0)
        cur.execute(
            """
            insert into ops.api_batch (file_id, source_id, updated_since, max_updated_at, items, pages)
            values (%s, %s, %s, %s, %s, %s)
            """,
            (file_id, source.source_id, since, pulled.max_updated_at, pulled.items, pulled.pages),
        )
        os.replace(pulled.path, final)  # before the commit: a committed batch always has its file
    return file_id, True


def unfinished(conn, source: Source) -> list[int]:
    """Batches of the source a crash left: still pending, or finished in the database but not moved out."""
    present = (
        [p.relative_to(settings.landing_dir()).as_posix() for p in source.folder.glob("api-*.jsonl")]
        if source.folder.is_dir()
        else []
    )
    with conn.cursor() as cur:
        cur.execute(
            """
            select b.file_id from ops.api_batch as b join ops.landing_file as f on f.file_id = b.file_id
            where b.source_id = %s and (f.status in ('received', 'staged', 'validated') or f.relative_path = any(%s))
            order by b.file_id
            """,
            (source.source_id, present),
        )
        ids = [r[0] for r in cur.fetchall()]
    conn.rollback()
    return ids


def pull_source(conn, source_id: int, *, hook=None) -> dict:
    """Finish what an earlier pull left, pull what is new, load it through the file pipeline, move the
    watermark. Returns counts and ids only. One pull per source at a time (an advisory lock): a second
    caller gets ``{"status": "busy"}``."""
    source = get_source(conn, source_id)
    with conn.cursor() as cur:
        cur.execute("select pg_try_advisory_lock(%s, %s)", (_LOCK_NAMESPACE, source_id))
        locked = cur.fetchone()[0]
    conn.commit()
    if not locked:  # another worker or an operator is pulling this source right now
        return {"source_id": source_id, "status": "busy"}
    try:
        summary = _pull_locked(conn, source, hook)
        with conn, conn.cursor() as cur:  # the source pages at home again
            from covidsync.publish import alerts

            alerts.resolve_alerts(cur, "api_off_host", f"api_source:{source_id}")
        return summary
    except Exception as exc:
        from covidsync.hooks.facility_api import ApiOffHostError

        if isinstance(exc, ApiOffHostError):  # the operator hears of it, not only the task log
            from covidsync.publish import alerts

            conn.rollback()
            with conn, conn.cursor() as cur:
                alerts.raise_alert(cur, "api_off_host", f"api_source:{source_id}", str(exc)[:1000])
        raise
    finally:
        conn.rollback()
        with conn.cursor() as cur:
            cur.execute("select pg_advisory_unlock(%s, %s)", (_LOCK_NAMESPACE, source_id))
        conn.commit()


def _pull_locked(conn, source: Source, hook) -> dict:
    from covidsync.hooks.facility_api import FacilityApiHook
    from covidsync.ingest import pipeline

    source_id = source.source_id
    summary: dict = {
        "source_id": source.source_id,
        "facility_code": source.facility_code,
        "dataset": source.dataset,
        "resumed": [],
    }
    for file_id in unfinished(conn, source):
        summary["resumed"].append(pipeline.process_file(conn, file_id))
    since = advance_watermark(conn, source.source_id)
    own_hook = hook is None
    hook = hook or FacilityApiHook(source.conn_id, source.base_url, page_size=source.page_size)
    try:
        pulled = fetch(source, hook, since)
    finally:
        if own_hook:
            hook.close()
    summary.update(
        items=pulled.items, pages=pulled.pages, requests=hook.attempts, retry_waits=len(hook.waits)
    )
    if pulled.items == 0 and pulled.problem is None:
        pulled.path.unlink(missing_ok=True)
        summary.update(status="no_new_records", file_id=None, watermark=_iso(since))
        log.info("API source %s (%s, %s): nothing new", source_id, source.facility_code, source.dataset)
        return summary
    file_id, new = register_batch(conn, source, pulled, since)
    result = pipeline.process_file(conn, file_id)
    watermark = advance_watermark(conn, source.source_id)
    summary.update(
        status=result["status"] if new else f"same_batch_again:{result['status']}",
        file_id=file_id,
        batch=result,
        problem=pulled.problem[0] if pulled.problem else None,
        watermark=_iso(watermark),
    )
    log.info(
        "API source %s (%s, %s): batch %s %s, %d items in %d pages, watermark %s",
        source_id,
        source.facility_code,
        source.dataset,
        file_id,
        summary["status"],
        pulled.items,
        pulled.pages,
        summary["watermark"],
    )
    return summary


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(VN).isoformat() if value else None
