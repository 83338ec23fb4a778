"""What the ingest engine leaves behind for the generator's sample with defects: the fixture of issue 16.

:func:`record` ingests a generated landing zone (facility files in the order received, then the PC-Covid
venues and check-ins) into a fresh warehouse and returns everything a sender or a reader of the warehouse
sees: every ``result.json`` (without its ``processed_at`` clock), every ``errors.csv`` (its lines), and the
md5 of each core, quarantine and ops table ordered by its key (columns that hold a clock or a surrogate id
left out: they differ between runs of the same engine). ``tests/fixtures/engine/seed-<n>.json`` holds what
the engine before issue 16 produced; ``test_engine_fixtures.py`` checks the current one against it, so a
rewrite of the engine has to reproduce it exactly.

Run as a script to (re)write the fixtures: ``python tests/integration/engine_outputs.py URL`` with URL a
server on which databases may be created (only when a change of behaviour is intended and reviewed).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import psycopg2

SEEDS = (7, 11, 23)
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "engine"


def options(seed: int, out: Path):
    from covidsync.sample.generator import Options

    return Options(out=out, seed=seed, persons=300, days=3, defect_rate=0.06, bomb_mb=64)


# table -> (its columns as selected, the key it is ordered by)
OUTPUT_TABLES: dict[str, tuple[str, str]] = {
    "core.vaccination": (
        "facility_code, record_key, record_id, full_name, date_of_birth, birth_year_only, gender, citizen_id, "
        "phone, health_insurance_no, province_code, district_code, commune_code, address, vaccine_code, "
        "lot_number, dose_number, vaccinated_on, warnings, source_file_id, source_row",
        "facility_code, record_key",
    ),
    "core.vaccination_history": (
        "facility_code, record_key, record_id, full_name, date_of_birth, birth_year_only, gender, citizen_id, "
        "phone, health_insurance_no, province_code, district_code, commune_code, address, vaccine_code, "
        "lot_number, dose_number, vaccinated_on, warnings, source_file_id, source_row, replaced_by_file_id",
        "facility_code, record_key, source_file_id, replaced_by_file_id",
    ),
    "core.test_result": (
        "facility_code, record_key, record_id, sample_id, full_name, date_of_birth, birth_year_only, gender, "
        "citizen_id, phone, province_code, district_code, commune_code, test_type, pooled, sampled_at, "
        "result, ct_value, resulted_at, warnings, source_file_id, source_row",
        "facility_code, record_key",
    ),
    "core.test_result_history": (
        "facility_code, record_key, record_id, sample_id, full_name, date_of_birth, birth_year_only, gender, "
        "citizen_id, phone, province_code, district_code, commune_code, test_type, pooled, sampled_at, "
        "result, ct_value, resulted_at, warnings, source_file_id, source_row, replaced_by_file_id",
        "facility_code, record_key, source_file_id, replaced_by_file_id",
    ),
    "core.venue": (
        "venue_code, name, province_code, district_code, commune_code, address, venue_type, source_file_id, "
        "source_row",
        "venue_code",
    ),
    "core.checkin": (
        "checkin_id, local_day, venue_code, scanned_at, direction, mode, person_kind, person_key, "
        "source_file_id, source_row, qr_kind",
        "local_day, checkin_id",
    ),
    "core.checkin_person": (
        "person_kind, person_key, identifier, full_name, date_of_birth, birth_year, gender, phone, "
        "first_seen_at, last_seen_at",
        "person_kind, person_key",
    ),
    "core.identity_link": (
        "citizen_id, other_kind, other_value, source, first_seen_file_id",
        "citizen_id, other_kind, other_value",
    ),
    "quarantine.row_problem": (
        "file_id, row_number, column_name, code, severity",
        "file_id, row_number, column_name, code",
    ),
    "quarantine.rejected_row": ("file_id, row_number, raw", "file_id, row_number"),
    "ops.landing_file": (
        "file_id, sha256, source, relative_path, original_name, facility_code, dataset, size_bytes, received_at, "
        "status, file_codes, duplicate_of, rows_total, rows_loaded, rows_rejected, rows_with_warnings, "
        "final_path is not null as has_final_path",
        "file_id",
    ),
    "ops.validation_result": ("file_id, suite, success, evaluated, failed", "file_id, suite"),
}


def table_digests(url: str) -> dict[str, dict]:
    conn = psycopg2.connect(url)
    out: dict[str, dict] = {}
    try:
        with conn.cursor() as cur:
            for table, (columns, key) in OUTPUT_TABLES.items():
                cur.execute(
                    f"select count(*), coalesce(md5(string_agg(t::text, '|' order by {key})), '') "
                    f"from (select {columns} from {table}) t"
                )
                rows, digest = cur.fetchone()
                out[table] = {"rows": rows, "md5": digest}
    finally:
        conn.close()
    return out


def process_pending(conn) -> list[dict]:
    """The registry loaded, then every pending facility file of the landing zone through the pipeline, in
    the order the DAGs take them; their summaries."""
    from covidsync.ingest import landing, pipeline

    with conn:
        landing.load_registry(conn)
    pending = set(landing.register(conn).pending)
    with conn.cursor() as cur:
        cur.execute("select file_id from ops.landing_file order by received_at, file_id")
        order = [r[0] for r in cur.fetchall() if r[0] in pending]
    conn.rollback()
    return [pipeline.process_file(conn, file_id) for file_id in order]


def run_engine(url: str) -> None:
    """Every pending file of the landing zone through the engine, as the DAGs order them."""
    from covidsync import db
    from covidsync.ingest import checkins

    conn = db.connect(url)
    try:
        process_pending(conn)
        checkins.ingest_landing(conn)
    finally:
        conn.close()


def outbox_reports(data: Path) -> dict[str, dict]:
    outbox = data / "outbox"
    results: dict[str, dict] = {}
    for path in sorted(outbox.rglob("*.result.json")):
        result = json.loads(path.read_text(encoding="utf-8"))
        result.pop("processed_at", None)
        results[path.relative_to(outbox).as_posix()] = result
    errors: dict[str, list] = {}
    for path in sorted(outbox.rglob("*.errors.csv")):
        with path.open(encoding="utf-8", newline="") as fh:
            errors[path.relative_to(outbox).as_posix()] = list(csv.reader(fh))
    return {"results": results, "errors": errors}


def record(sample: Path, data: Path, url: str) -> dict:
    """Ingest a private copy of ``sample``'s landing zone under ``data`` into the warehouse at ``url``."""
    shutil.copytree(sample / "landing", data / "landing", copy_function=shutil.copy2)
    saved = {k: os.environ.get(k) for k in _ENV}
    os.environ.update(_env(data, url))
    for name in (
        "COVIDSYNC_LANDING_DIR",
        "COVIDSYNC_OUTBOX_DIR",
        "COVIDSYNC_ARCHIVE_DIR",
        "COVIDSYNC_REJECTED_DIR",
    ):
        os.environ.pop(name, None)
    try:
        run_engine(url)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return {**outbox_reports(data), "tables": table_digests(url)}


_ENV = (
    "COVIDSYNC_DATA_DIR",
    "COVIDSYNC_WAREHOUSE_URL",
    "COVIDSYNC_MAX_XLSX_EXPANDED_BYTES",
    "COVIDSYNC_GX_DOCS",
    "COVIDSYNC_PSEUDONYM_KEY",
    "COVIDSYNC_LANDING_DIR",
    "COVIDSYNC_OUTBOX_DIR",
    "COVIDSYNC_ARCHIVE_DIR",
    "COVIDSYNC_REJECTED_DIR",
)


def _env(data: Path, url: str) -> dict[str, str]:
    return {
        "COVIDSYNC_DATA_DIR": str(data),
        "COVIDSYNC_WAREHOUSE_URL": url,
        "COVIDSYNC_MAX_XLSX_EXPANDED_BYTES": str(50 * 1024 * 1024),
        "COVIDSYNC_GX_DOCS": "0",
        "COVIDSYNC_PSEUDONYM_KEY": "engine-fixture-key",
    }


def fixture_path(seed: int) -> Path:
    return FIXTURES / f"seed-{seed}.json"


def digest_of(outputs: dict) -> str:
    return hashlib.sha256(json.dumps(outputs, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _main(admin_url: str) -> None:
    """Write the fixtures: each seed into a new database made from a migrated template, then dropped."""
    import tempfile

    from sqlalchemy.engine import make_url

    from covidsync import db
    from covidsync.sample.generator import generate

    project = Path(__file__).resolve().parents[2]
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for seed in SEEDS:
        name = f"covidsync_engine_fixture_{os.getpid()}_{seed}"
        db.execute_autocommit(admin_url, f'drop database if exists "{name}"')
        db.execute_autocommit(admin_url, db.create_database_sql(name))
        url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        try:
            db.upgrade(url, project / "sql" / "migrations")
            with tempfile.TemporaryDirectory() as tmp:
                sample = Path(tmp) / "sample"
                generate(options(seed, sample))
                outputs = record(sample, Path(tmp) / "data", url)
        finally:
            db.execute_autocommit(admin_url, f'drop database if exists "{name}" with (force)')
        fixture_path(seed).write_text(
            json.dumps(outputs, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        print(seed, {t: v["rows"] for t, v in outputs["tables"].items()}, len(outputs["results"]), "reports")


if __name__ == "__main__":
    _main(sys.argv[1])
