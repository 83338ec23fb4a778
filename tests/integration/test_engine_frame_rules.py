"""The row codes computed on the typed batches while a file is staged (issue 16, throughput): the values as
sent are kept only for the rows with a problem, including the rows that only a SQL rule flags (taken from
the spill written while staging, or from the file read again when the spill is lost); the report and the
quarantine show them as before. Tiny files, a real PostgreSQL."""

from __future__ import annotations

import psycopg2
import pytest
from ingest_rows import REGISTRY, VACCINATION, write_csv

from covidsync import db
from covidsync.ingest import engine, landing


@pytest.fixture(autouse=True)
def no_data_docs(monkeypatch):
    monkeypatch.setenv("COVIDSYNC_GX_DOCS", "0")


@pytest.mark.parametrize("spill", ["kept", "lost"])
def test_raw_values_only_for_rows_with_a_problem(warehouse_url, areas, monkeypatch, spill):
    monkeypatch.delenv("COVIDSYNC_INGEST_SPILL_DIR", raising=False)
    (areas["landing"] / "registry").mkdir(parents=True)
    (areas["landing"] / "registry" / "facilities.csv").write_text(REGISTRY, encoding="utf-8")
    rows = [
        VACCINATION,  # 1: clean
        {**VACCINATION, "Mã bản ghi": "R2", "Mũi số": "5"},  # 2: invalid_dose_number (a frame rule)
        {
            **VACCINATION,
            "Mũi số": "2",
            "Ngày tiêm": "15/10/2021",
        },  # 3: R1 again: duplicate_in_file (SQL only)
        {**VACCINATION, "Mã bản ghi": "R4", "Mũi số": "2", "Ngày tiêm": "15/10/2021"},  # 4: clean
    ]
    write_csv(areas["landing"] / "17001" / "vaccinations" / "few.csv", rows)
    conn = db.connect(warehouse_url)
    try:
        with conn:
            landing.load_registry(conn, areas["landing"])
        (file_id,) = landing.register(conn, areas["landing"]).pending
        f = engine.load_file(conn, file_id)
        conn.rollback()
        _, has_record_id = engine.stage(conn, f)
        path = engine.spill_path(f)
        assert path.exists() and path.parent == areas["landing"].parent / "spill"  # beside the data areas
        if spill == "lost":
            path.unlink()
        counts = engine.apply_rules(conn, f, has_record_id)
        assert counts["rows_rejected"] == 2, counts
        with conn.cursor() as cur:
            cur.execute(
                "select row_number, raw ->> 'record_id', raw ->> 'dose_number' from staging.vaccination "
                "order by row_number"
            )
            staged = cur.fetchall()
            cur.execute("select row_number, code from quarantine.row_problem order by 1, 2")
            codes = cur.fetchall()
            cur.execute("select row_number, raw ->> 'record_id' from quarantine.rejected_row order by 1")
            rejected = cur.fetchall()
        conn.rollback()
        assert staged == [(1, None, None), (2, "R2", "5"), (3, "R1", "2"), (4, None, None)]
        assert codes == [(2, "invalid_dose_number"), (3, "duplicate_in_file")]
        assert rejected == [(2, "R2"), (3, "R1")]
        engine.merge(conn, f)
        engine.finish(conn, file_id)
        with conn.cursor() as cur:
            cur.execute("select count(*) from staging.row_check")
            assert cur.fetchone()[0] == 0
        conn.rollback()
    finally:
        conn.close()
    assert not path.exists(), "the spill is removed when the file is finished"
    errors = (areas["outbox"] / "17001" / "few.csv.errors.csv").read_text(encoding="utf-8")
    assert "(value: 5)" in errors and "(value: R1)" in errors
    url = psycopg2.connect(warehouse_url)
    with url.cursor() as cur:
        cur.execute("select record_id from core.vaccination order by 1")
        assert [r[0] for r in cur.fetchall()] == ["R1", "R4"]
    url.close()
