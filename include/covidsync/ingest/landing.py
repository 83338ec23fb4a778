"""The landing zone: the facility registry, finding complete files, registering them, finishing them.

Contract §1 (``shared/spec/facility-files.md``): files arrive under
``<landing>/<facility_code>/{vaccinations,test_results}/`` and ``<landing>/pccovid/{checkins,venues}/``;
names starting with ``.`` or ending in ``.part``/``.tmp`` are still being written and are never read; the
same bytes are loaded once; nothing a sender puts in the landing zone is deleted: every file ends in the
archive (loaded) or the rejected area (not loaded) under ``<area>/<facility>/<dataset>/<YYYY-MM-DD>/``.

Registration is idempotent for a file's bytes: registering the same landing zone twice registers
nothing new, and a file whose bytes were already registered under another name is ``duplicate_file``.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from covidsync import settings

FACILITY_DATASETS = ("vaccinations", "test_results")
PCCOVID = "pccovid"
PCCOVID_DATASETS = ("checkins", "venues")
ACCEPTED_SUFFIXES = (".csv", ".xlsx", ".json", ".jsonl")
REGISTRY = Path("registry") / "facilities.csv"
REGISTRY_COLUMNS = (
    "facility_code",
    "name",
    "facility_type",
    "province_code",
    "district_code",
    "commune_code",
)
_CHUNK = 1 << 20


class RegistryError(ValueError):
    pass


def is_incomplete(name: str) -> bool:
    """A name a sender is still writing to (contract §1): never read."""
    lowered = name.lower()
    return name.startswith(".") or lowered.endswith(".part") or lowered.endswith(".tmp")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# -- registry ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RegistryResult:
    sha256: str | None
    facilities: int
    changed: bool


def load_registry(conn, landing: Path | None = None) -> RegistryResult:
    """Load ``<landing>/registry/facilities.csv`` into ``ops.facility`` when its bytes changed.

    Facilities are upserted, never deleted (past files still name them). Runs in the caller's
    transaction.
    """
    landing = landing or settings.landing_dir()
    path = landing / REGISTRY
    if not path.exists():
        with conn.cursor() as cur:
            cur.execute("select count(*) from ops.facility")
            return RegistryResult(None, cur.fetchone()[0], False)
    raw = path.read_bytes()
    sha = hashlib.sha256(raw).hexdigest()
    with conn.cursor() as cur:
        cur.execute("select count(*), count(*) filter (where registry_sha256 = %s) from ops.facility", (sha,))
        total, same = cur.fetchone()
        if total and same == total:
            return RegistryResult(sha, total, False)
        rows = list(_registry_rows(raw))
        cur.executemany(
            """
            insert into ops.facility as f
                (facility_code, name, facility_type, province_code, district_code, commune_code, registry_sha256)
            values (%s, %s, %s, %s, %s, %s, %s)
            on conflict (facility_code) do update set
                name = excluded.name, facility_type = excluded.facility_type,
                province_code = excluded.province_code, district_code = excluded.district_code,
                commune_code = excluded.commune_code, registry_sha256 = excluded.registry_sha256,
                updated_at = now()
            """,
            [(*row, sha) for row in rows],
        )
        cur.execute("update ops.facility set registry_sha256 = %s", (sha,))
        cur.execute("select count(*) from ops.facility")
        return RegistryResult(sha, cur.fetchone()[0], True)


def _registry_rows(raw: bytes) -> Iterator[tuple[str | None, ...]]:
    import unicodedata

    text = raw.decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in REGISTRY_COLUMNS if c not in header]
    if missing:
        raise RegistryError(f"registry/facilities.csv lacks the columns: {', '.join(missing)}")
    reader.fieldnames = header
    for number, row in enumerate(reader, start=1):
        code = (row["facility_code"] or "").strip()
        if code.isdigit():
            code = code.zfill(5)
        if len(code) != 5 or not code.isdigit():
            raise RegistryError(f"registry/facilities.csv row {number}: facility_code must be 5 digits")

        def text(col: str, width: int | None = None, row=row) -> str | None:
            value = unicodedata.normalize("NFC", (row.get(col) or "").strip())
            if width and value.isdigit():
                value = value.zfill(width)
            return value or None

        yield (
            code,
            text("name") or code,
            text("facility_type") or "unknown",
            text("province_code", 2),
            text("district_code", 3),
            text("commune_code", 5),
        )


# -- discovery --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    """A complete file in the landing zone, with what its place says about it."""

    path: Path
    relative_path: str
    facility_code: str  # a facility code, or "pccovid"
    dataset: str | None  # None when the folder is not a dataset of the contract


def discover(landing: Path | None = None) -> Iterator[Candidate]:
    """Complete files under the landing zone, in a stable order (the registry excluded)."""
    landing = landing or settings.landing_dir()
    if not landing.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(landing):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        here = Path(dirpath)
        parts = here.relative_to(landing).parts
        if parts[:1] == ("registry",):
            continue
        for name in sorted(filenames):
            if is_incomplete(name):
                continue
            path = here / name
            if not path.is_file() or path.is_symlink():
                continue
            owner = parts[0] if parts else ""
            dataset = parts[1] if len(parts) == 2 else None
            allowed = PCCOVID_DATASETS if owner == PCCOVID else FACILITY_DATASETS
            yield Candidate(
                path=path,
                relative_path=path.relative_to(landing).as_posix(),
                facility_code=owner,
                dataset=dataset if dataset in allowed else None,
            )


def received_at(path: Path, now: dt.datetime | None = None) -> dt.datetime:
    """When the sender finished writing the file: its modification time, never later than now."""
    now = now or dt.datetime.now(dt.UTC)
    mtime = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
    return min(mtime, now)


def area_path(area: Path, facility: str, dataset: str | None, when: dt.datetime, name: str) -> Path:
    """``<area>/<facility>/<dataset>/<YYYY-MM-DD>/<original name>`` (local day of receipt)."""
    day = when.astimezone(ZoneInfo(settings.LOCAL_TZ)).date().isoformat()
    return area / (facility or "_unknown") / (dataset or "_other") / day / name


def move_out(src: Path, dest: Path) -> Path:
    """Move a landing file to its final area without ever overwriting another file there."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    final = dest
    counter = 1
    while final.exists():
        final = dest.with_name(f"{dest.stem}.{counter}{dest.suffix}")
        counter += 1
    shutil.move(str(src), str(final))
    return final


# -- registration -----------------------------------------------------------------------------------
@dataclass
class Registration:
    pending: list[int]  # file ids waiting to be parsed (received, staged or validated)
    rejected: int = 0
    duplicates: int = 0


def max_file_bytes() -> int:
    return int(os.environ.get("COVIDSYNC_MAX_FILE_BYTES", str(2 * 1024**3)))


def file_codes_for(candidate: Candidate, size: int, facilities: set[str]) -> list[str]:
    """File codes that can be told before reading a byte of the file."""
    if candidate.facility_code != PCCOVID and candidate.facility_code not in facilities:
        return ["unknown_facility"]
    if candidate.dataset is None or candidate.path.suffix.lower() not in ACCEPTED_SUFFIXES:
        # a file outside the contract's dataset folders cannot be read as any dataset either
        return ["unsupported_format"]
    if size == 0:
        return ["empty_file"]
    if size > max_file_bytes():
        return ["file_too_large"]
    return []


def register(conn, landing: Path | None = None, *, scope: str = "facility") -> Registration:
    """Register every complete landing file; reject at once what cannot be read; commit per file.

    ``scope`` is ``"facility"`` (the facilities' folders, and any unknown folder) or ``"pccovid"``
    (``pccovid/``): each ingest DAG registers its own files. Returns the ids of the files waiting to be
    processed, including files registered by an earlier run that did not finish them (a killed run
    resumes).
    """
    if scope not in ("facility", PCCOVID):
        raise ValueError("scope is 'facility' or 'pccovid'")
    landing = landing or settings.landing_dir()
    with conn.cursor() as cur:
        cur.execute("select facility_code from ops.facility")
        facilities = {r[0] for r in cur.fetchall()}
    result = Registration(pending=[])
    for candidate in discover(landing):
        if (candidate.facility_code == PCCOVID) != (scope == PCCOVID):
            continue
        size = candidate.path.stat().st_size
        sha = sha256_file(candidate.path)
        with conn, conn.cursor() as cur:
            cur.execute(
                """
                select file_id, status, final_path, file_codes from ops.landing_file
                where sha256 = %s and relative_path = %s and source = 'file'
                order by file_id desc limit 1
                """,
                (sha, candidate.relative_path),
            )
            seen = cur.fetchone()
            if seen is not None:
                file_id, status, final_path, codes = seen
                if status in ("received", "staged", "validated") or (
                    status in ("merged", "held")
                    and candidate.dataset in (*FACILITY_DATASETS, *PCCOVID_DATASETS)
                ):
                    # waiting, or processed by a run that stopped before the file moved: the
                    # per-file step finishes it
                    result.pending.append(file_id)
                elif final_path and status in ("rejected", "duplicate"):
                    # refused in the database, but the move did not happen: finish it
                    move_out(candidate.path, Path(final_path))
                    _report_refused(candidate, sha, status, codes)
                continue
            cur.execute(
                "select file_id from ops.landing_file where sha256 = %s and duplicate_of is null", (sha,)
            )
            original = cur.fetchone()
            when = received_at(candidate.path)
            codes = ["duplicate_file"] if original else file_codes_for(candidate, size, facilities)
            status = "duplicate" if original else ("rejected" if codes else "received")
            final = (
                area_path(
                    settings.rejected_dir(),
                    candidate.facility_code,
                    candidate.dataset,
                    when,
                    candidate.path.name,
                )
                if codes
                else None
            )
            cur.execute(
                """
                insert into ops.landing_file
                    (sha256, relative_path, original_name, facility_code, dataset, size_bytes, received_at,
                     status, file_codes, duplicate_of, final_path)
                values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                returning file_id
                """,
                (
                    sha,
                    candidate.relative_path,
                    candidate.path.name,
                    candidate.facility_code or None,
                    candidate.dataset,
                    size,
                    when,
                    status,
                    codes,
                    original[0] if original else None,
                    str(final) if final else None,
                ),
            )
            file_id = cur.fetchone()[0]
            cur.execute(
                "insert into ops.file_event (file_id, to_status, reason) values (%s, %s, %s)",
                (file_id, status, ",".join(codes) or None),
            )
        if not codes:
            result.pending.append(file_id)
            continue
        # the row is committed: now the file moves and the sender hears why (a crash here is finished
        # by the next run through the branch above)
        move_out(candidate.path, final)
        _report_refused(candidate, sha, status, codes)
        if status == "duplicate":
            result.duplicates += 1
        else:
            result.rejected += 1
    return result


def _report_refused(candidate: Candidate, sha: str, status: str, codes: list[str]) -> None:
    from covidsync.ingest.report import FileResult, file_problem_rows, write_reports

    folder = settings.outbox_dir() / (candidate.facility_code or "_unknown")
    result = FileResult(
        file=candidate.path.name,
        sha256=sha,
        dataset=candidate.dataset,
        status="duplicate" if status == "duplicate" else "rejected",
        file_errors=codes,
    )
    write_reports(folder, result, file_problem_rows(codes))
