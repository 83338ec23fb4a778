"""The dry run behind ``covidsync validate``: one file through the same parser, row rules and gate as the
pipeline, in a scratch database on the warehouse server that is dropped afterwards. Nothing is loaded
and the file is not moved.

The scratch database holds no earlier data, so the one check that looks at history,
``short_dose_interval``, only sees the doses inside the file itself; everything else is exactly what the
pipeline would report.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
from pathlib import Path

from covidsync import db, warehouse
from covidsync.ingest import landing, pipeline
from covidsync.ingest.sender_report import FileResult, write_reports


def dry_run(path: Path, facility_code: str, dataset: str, *, out: Path | None = None) -> tuple[dict, list]:
    from sqlalchemy.engine import make_url

    from covidsync.ingest.parse import FileRejected

    base = warehouse.resolve_url(start=True)
    name = f"covidsync_validate_{os.getpid()}_{secrets.token_hex(4)}"
    scratch = make_url(base).set(database=name).render_as_string(hide_password=False)
    db.execute_autocommit(base, f'create database "{name}"')
    try:
        db.upgrade(scratch)
        conn = db.connect(scratch)
        try:
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            with conn, conn.cursor() as cur:
                cur.execute(
                    "insert into ops.facility (facility_code, name, facility_type, province_code, registry_sha256)"
                    " values (%s, 'dry run', 'unknown', %s, 'dry-run')",
                    (facility_code, facility_code[:2]),
                )
                cur.execute(
                    """
                    insert into ops.landing_file
                        (sha256, relative_path, original_name, facility_code, dataset, size_bytes, received_at)
                    values (%s, %s, %s, %s, %s, %s, now()) returning file_id
                    """,
                    (
                        sha,
                        f"{facility_code}/{dataset}/{path.name}",
                        path.name,
                        facility_code,
                        dataset,
                        path.stat().st_size,
                    ),
                )
                file_id = cur.fetchone()[0]
            f = pipeline.load_file(conn, file_id)
            conn.rollback()
            codes = landing.file_codes_for(
                landing.Candidate(path, f.relative_path, facility_code, dataset),
                path.stat().st_size,
                {facility_code},
            )
            counts = {"rows_total": 0, "rows_rejected": 0, "rows_with_warnings": 0}
            status = "rejected"
            if not codes:
                try:
                    _, has_record_id = pipeline.stage(conn, f, path=path)
                except FileRejected as exc:
                    conn.rollback()
                    codes = [exc.code]
                else:
                    counts = pipeline.apply_rules(conn, f, has_record_id)
                    gate = pipeline.gate(conn, f, pipeline.profile(conn, f, counts))
                    if counts["hold"] or not gate.success:
                        codes = ["batch_rejected"]
                    else:
                        status = "loaded_with_errors" if counts["rows_rejected"] else "loaded"
            problems = list(pipeline.problem_rows(conn, f, codes))
        finally:
            conn.close()
    finally:
        db.execute_autocommit(base, f'drop database if exists "{name}" with (force)')
    total = counts["rows_total"]
    rejected = counts["rows_rejected"]
    result = FileResult(
        file=path.name,
        sha256=sha,
        dataset=dataset,
        status=status,
        rows_total=total,
        rows_loaded=total - rejected if status != "rejected" else 0,
        rows_rejected=rejected,
        rows_with_warnings=counts["rows_with_warnings"],
        file_errors=codes,
        processed_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )
    if out is not None:
        write_reports(out, result, problems)
    return result.__dict__, problems
