"""The landing zone: the facility registry, finding complete files, registering them, finishing them.

Contract §1 (``shared/spec/facility-files.md``): files arrive under
``<landing>/<facility_code>/{vaccinations,test_results}/`` and ``<landing>/pccovid/{checkins,venues}/``
(adoption.md adds ``pccovid/app_users/`` and ``registry/population.csv``, whose sender is ``registry`` and
which registers with the facility files); names starting with ``.`` or ending in ``.part``/``.tmp`` are still being written and are never read; the
same bytes are loaded once; nothing a sender puts in the landing zone is deleted: every file ends in the
archive (loaded) or the rejected area (not loaded) under ``<area>/<facility>/<dataset>/<YYYY-MM-DD>/``.

Registration is idempotent for a file's bytes: registering the same landing zone twice registers
nothing new, and a file whose bytes were already taken (loaded, held or waiting) is ``duplicate_file``,
unless its place already refuses it (``unknown_facility``, ``empty_file``, ...). A file is read only if its
bytes still hash to what was registered (:func:`verify_unchanged`): a version renamed over it in between is
registered as a new file, and the registered one ends ``file_replaced``.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from covidsync import settings

log = logging.getLogger(__name__)

FACILITY_DATASETS = ("vaccinations", "test_results")
PCCOVID = "pccovid"
PCCOVID_DATASETS = ("checkins", "venues", "app_users", "declarations")  # declarations: issue 24
# Registry files that are datasets of the ingest engine (adoption.md §1): their place, as (owner, dataset);
# their reports go to <outbox>/registry/. registry/facilities.csv is read by load_registry instead.
REGISTRY_OWNER = "registry"
REGISTRY_DATASETS = {"population.csv": "population"}
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
            for name in sorted(filenames) if len(parts) == 1 else ():
                path = here / name
                if name in REGISTRY_DATASETS and path.is_file() and not path.is_symlink():
                    yield Candidate(
                        path, path.relative_to(landing).as_posix(), REGISTRY_OWNER, REGISTRY_DATASETS[name]
                    )
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
    """Move a landing file to its final area without ever overwriting another file there.

    For a file this process verified before reading it (:func:`verify_unchanged`), the bytes verified are
    what moves: if a sender renamed another version over the landing path meanwhile, that version stays in
    the landing zone (the next registration takes it as a new file) and the verified bytes are archived.
    """
    held = _verified.pop(str(src), None)
    if held is not None:
        dev, ino, link = held
        try:
            now = os.stat(src)
            same = (now.st_dev, now.st_ino) == (dev, ino)
        except FileNotFoundError:
            same = False
        if not same and link.exists():
            log.info(
                "%s was replaced while it was processed: the new version stays for the next run", src.name
            )
            return _move_unique(link, dest)
        link.unlink(missing_ok=True)
    return _move_unique(src, dest)


def _move_unique(src: Path, dest: Path) -> Path:
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
    if candidate.facility_code not in (PCCOVID, REGISTRY_OWNER) and candidate.facility_code not in facilities:
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
    facilities = _facilities(conn)
    result = Registration(pending=[])
    for candidate in discover(landing):
        if (candidate.facility_code == PCCOVID) != (scope == PCCOVID):
            continue
        _register_one(conn, candidate, sha256_file(candidate.path), facilities, result)
    return result


def _facilities(conn) -> set[str]:
    with conn.cursor() as cur:
        cur.execute("select facility_code from ops.facility")
        facilities = {r[0] for r in cur.fetchall()}
    conn.rollback()
    return facilities


def _already_moved(final_path: str | None, sha: str) -> bool:
    """Whether a finished file's bytes are already in its final area (so the landing copy is a new one)."""
    if not final_path:
        return False
    final = Path(final_path)
    return final.is_file() and sha256_file(final) == sha


def _register_one(conn, candidate: Candidate, sha: str, facilities: set[str], result: Registration) -> int:
    """Register one landing file (committed), or resume what an earlier run left of it; returns its id.

    Codes that the file's place, name or size decide come first (``unknown_facility``, ``unsupported_format``,
    ``empty_file``, ``file_too_large``): a file in an unknown folder is ``unknown_facility`` even when its
    bytes were seen elsewhere, and every 0-byte file is ``empty_file``. Only then are bytes that were already
    taken (loaded, held or waiting) ``duplicate_file``. A rejected file does not make later copies
    duplicates: a copy is judged again on its own (its facility may have been registered since).
    """
    size = candidate.path.stat().st_size
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
        if seen is not None and not _already_moved(seen[2], sha):
            file_id, status, final_path, codes = seen
            if status in ("received", "staged", "validated") or (
                status in ("merged", "held")
                and candidate.dataset in (*FACILITY_DATASETS, *PCCOVID_DATASETS, *REGISTRY_DATASETS.values())
            ):
                # waiting, or processed by a run that stopped before the file moved: the
                # per-file step finishes it
                result.pending.append(file_id)
                return file_id
            if final_path and status in ("rejected", "duplicate"):
                # refused in the database, but the move did not happen: finish it
                move_out(candidate.path, Path(final_path))
                _report_refused(candidate, sha, status, codes)
                return file_id
        # a new file, or the same bytes again after the earlier copy left the landing zone (recorded anew)
        cur.execute(
            """
            select file_id from ops.landing_file
            where sha256 = %s and duplicate_of is null and status <> 'rejected'
            """,
            (sha,),
        )
        original = cur.fetchone()
        when = received_at(candidate.path)
        codes = file_codes_for(candidate, size, facilities)
        if not codes and original:
            codes = ["duplicate_file"]
        status = (
            ("duplicate" if original and codes == ["duplicate_file"] else "rejected") if codes else "received"
        )
        final = (
            area_path(
                settings.rejected_dir(), candidate.facility_code, candidate.dataset, when, candidate.path.name
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
                original[0] if status == "duplicate" else None,
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
        return file_id
    # the row is committed: now the file moves and the sender hears why (a crash here is finished
    # by the next run through the branch above)
    move_out(candidate.path, final)
    _report_refused(candidate, sha, status, codes)
    if status == "duplicate":
        result.duplicates += 1
    else:
        result.rejected += 1
    return file_id


# -- the bytes read are the bytes registered ------------------------------------------------------------
INFLIGHT = ".inflight"  # under the landing zone (a dot folder: never registered): links to files being read
_verified: dict[str, tuple[int, int, Path]] = {}  # landing path -> (device, inode, link) verified here


def _hash_and_hold(path: Path, file_id: int) -> tuple[str, bool]:
    """The SHA-256 of the file at ``path``, and whether a hard link to those very bytes is now held (so that
    the archive gets them even if another version is renamed over ``path`` while they are processed)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        st = os.fstat(fh.fileno())
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    link = settings.landing_dir() / INFLIGHT / f"{file_id}-{path.name}"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.unlink(missing_ok=True)
    try:
        os.link(path, link)
    except OSError:  # a file system without hard links: the check above still holds
        return digest.hexdigest(), True
    linked = os.stat(link)
    if (linked.st_dev, linked.st_ino) != (st.st_dev, st.st_ino):
        link.unlink(missing_ok=True)
        return digest.hexdigest(), False
    _verified[str(path)] = (st.st_dev, st.st_ino, link)
    return digest.hexdigest(), True


def verified_path(path: Path) -> Path:
    """Where to read the file at ``path``: the hard link to the bytes :func:`verify_unchanged` checked when
    it holds one (a version renamed over ``path`` since is not read), else ``path`` itself."""
    held = _verified.get(str(path))
    return held[2] if held is not None and held[2].exists() else path


def verify_unchanged(conn, f) -> dict | None:
    """``None`` when the file at ``f``'s landing path still hashes to its registered SHA-256; otherwise the
    summary of what was done about it (call it right before reading the file).

    A sender may replace a file by renaming a new version over it (contract §1) after it was registered and
    before it is read. Then the registered version's bytes are gone: its row ends ``rejected`` with
    ``file_replaced`` (and a report saying so), so that sending those bytes again loads them; and the bytes
    now at the path are registered as a new file, which the next run (or the caller) processes. Nothing is
    loaded under a hash it does not have. A file that is not there at all is left to the caller.
    """
    path = settings.landing_dir() / f.relative_path
    if not path.is_file():
        return None
    actual, verified = _hash_and_hold(path, f.file_id)
    if actual == f.sha256 and verified:
        return None
    if actual == f.sha256:  # renamed over between the hash and the link: hash what is there now
        actual = sha256_file(path)
        if actual == f.sha256:
            return None
    held = _verified.pop(str(path), None)
    if held is not None:
        held[2].unlink(missing_ok=True)
    codes = ["file_replaced"]
    with conn, conn.cursor() as cur:
        cur.execute(
            """
            update ops.landing_file set status = 'rejected', file_codes = %s, rows_loaded = 0, final_path = null,
                   updated_at = now()
            where file_id = %s and status in ('received', 'staged', 'validated')
            returning (select status from ops.landing_file where file_id = %s)
            """,
            (codes, f.file_id, f.file_id),
        )
        row = cur.fetchone()
        if row is None:  # another worker finished it meanwhile
            return {"file_id": f.file_id, "status": "busy"}
        table = {
            "vaccinations": "vaccination",
            "test_results": "test_result",
            "checkins": "checkin",
            "venues": "venue",
            "app_users": "app_user_count",
            "population": "area_population",
            "declarations": "declaration",
        }
        if f.dataset in table:
            cur.execute(f"delete from staging.{table[f.dataset]} where file_id = %s", (f.file_id,))  # noqa: S608
        cur.execute(
            "insert into ops.file_event (file_id, from_status, to_status, reason) values (%s, %s, 'rejected', %s)",
            (
                f.file_id,
                row[0],
                f"file_replaced: the bytes at {f.relative_path} changed after registration "
                f"(registered {f.sha256[:12]}, now {actual[:12]}); registered again as a new file",
            ),
        )
    candidate = next(
        (c for c in discover(settings.landing_dir()) if c.relative_path == f.relative_path), None
    )
    new_id = None
    if candidate is not None:
        new_id = _register_one(conn, candidate, actual, _facilities(conn), Registration(pending=[]))
        with conn, conn.cursor() as cur:
            cur.execute(
                "insert into ops.file_event (file_id, to_status, reason) values (%s, 'received', %s)",
                (new_id, f"a new version of file {f.file_id} (same name, other bytes)"),
            )
    folder = settings.outbox_dir() / (f.facility_code or "_unknown")
    _write_refused_report(folder, f.original_name, f.sha256, f.dataset, "rejected", codes)
    log.info(
        "file %s: replaced in the landing zone before it was read; new version is file %s", f.file_id, new_id
    )
    return {"file_id": f.file_id, "status": "replaced", "replaced_by": new_id}


def _report_refused(candidate: Candidate, sha: str, status: str, codes: list[str]) -> None:
    folder = settings.outbox_dir() / (candidate.facility_code or "_unknown")
    _write_refused_report(folder, candidate.path.name, sha, candidate.dataset, status, codes)


def _write_refused_report(
    folder: Path, name: str, sha: str, dataset: str | None, status: str, codes: list[str]
) -> None:
    """The report of a file refused whole. A copy of bytes already reported under the same name does not
    rewrite that report (it already says what became of those bytes: loaded, most often)."""
    import json

    from covidsync.ingest.sender_report import FileResult, file_problem_rows, write_reports

    existing = folder / f"{name}.result.json"
    if status == "duplicate" and existing.is_file():
        try:
            if json.loads(existing.read_text(encoding="utf-8")).get("sha256") == sha:
                return
        except (OSError, ValueError):
            pass
    result = FileResult(
        file=name,
        sha256=sha,
        dataset=dataset,
        status="duplicate" if status == "duplicate" else "rejected",
        file_errors=codes,
    )
    write_reports(folder, result, file_problem_rows(codes))
