"""The declaration row codes on the typed batches (issue 24, throughput) give exactly what the SQL rules
gave: tests/fixtures/declarations/edge-cases.json was recorded from the engine with the SQL rules
(sql/ingest/declaration_row_problem.sql, before migration 0030) on the edge-case file of
``declaration_cases``: every row problem, the quarantine's masked rows, errors.csv, result.json, the core rows
and the persons. ``COVIDSYNC_RECORD_DECLARATION_FIXTURE=1`` writes the fixture again (only when a change of
behaviour is intended and reviewed)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import declaration_cases
import psycopg2
import pytest

from covidsync import db
from covidsync.ingest import engine, landing

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "declarations" / "edge-cases.json"

QUERIES = {
    "row_problem": "select row_number, column_name, code, severity from quarantine.row_problem "
    "order by 1, 2, 3",
    "rejected_row": "select row_number, raw::text from quarantine.rejected_row order by 1",
    "declaration": "select app, declaration_id, kind, submitted_at::text, person_kind, person_key, declared_by, "
    "origin_province_code, origin_district_code, origin_commune_code, origin_known, destination_commune_code, "
    "destination_in_province, travel_date::text, means, fever, cough, shortness_of_breath, sore_throat, "
    "loss_of_taste_or_smell, contact_with_f0, visited_outbreak_area, symptoms_reported, warnings, source_row "
    "from core.declaration order by 1, 2",
    "checkin_person": "select person_kind, person_key, identifier, full_name, date_of_birth::text, birth_year, "
    "gender, phone, first_seen_at::text, last_seen_at::text from core.checkin_person order by 1, 2",
}


def outputs(url: str, outbox: Path) -> dict:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("set time zone 'UTC'")
        tables = {}
        for name, sql in QUERIES.items():
            cur.execute(sql)
            tables[name] = [list(r) for r in cur.fetchall()]
    result = json.loads((outbox / "pccovid" / "edge.csv.result.json").read_text("utf-8"))
    result.pop("processed_at", None)
    errors = (outbox / "pccovid" / "edge.csv.errors.csv").read_text("utf-8-sig").splitlines()
    return {"result": result, "errors": errors, **tables}


def test_declaration_codes_on_batches_equal_the_sql_rules(warehouse_url, areas, monkeypatch):
    monkeypatch.setenv(
        "COVIDSYNC_MAX_REJECTED_SHARE", "1"
    )  # merged however many rows fail: core compared too
    declaration_cases.write(areas["landing"] / "pccovid" / "declarations")
    conn = db.connect(warehouse_url)
    try:
        [file_id] = landing.register(conn, scope=landing.PCCOVID).pending
        summary = engine.process_file(conn, file_id, docs="off")
    finally:
        conn.close()
    got = json.loads(json.dumps(outputs(warehouse_url, areas["outbox"]), default=str))
    if os.environ.get("COVIDSYNC_RECORD_DECLARATION_FIXTURE") == "1":
        FIXTURE.parent.mkdir(parents=True, exist_ok=True)
        FIXTURE.write_text(json.dumps(got, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    expected = json.loads(FIXTURE.read_text("utf-8"))
    assert summary["status"] == "loaded_with_errors"
    assert len(expected["row_problem"]) > 500 and len(expected["declaration"]) > 100  # the file does work
    for key in expected:
        assert got[key] == expected[key], key


@pytest.mark.parametrize("spill", ["kept", "lost"])
def test_raw_values_only_for_declarations_with_a_problem(warehouse_url, areas, monkeypatch, spill):
    monkeypatch.setenv("COVIDSYNC_GX_DOCS", "0")
    monkeypatch.delenv("COVIDSYNC_INGEST_SPILL_DIR", raising=False)
    clean = declaration_cases.clean()
    rows = [
        clean,  # 1: clean
        {**clean, "declaration_id": "K2", "kind": "travel"},  # 2: invalid_declaration_kind (a frame rule)
        {**clean, "phone": "0912000999"},  # 3: D0 again: duplicate_in_file (SQL only)
        {**clean, "declaration_id": "K4"},  # 4: clean
    ]
    declaration_cases.write_rows(areas["landing"] / "pccovid" / "declarations", "few.csv", rows)
    conn = db.connect(warehouse_url)
    try:
        [file_id] = landing.register(conn, scope=landing.PCCOVID).pending
        f = engine.load_file(conn, file_id)
        conn.rollback()
        engine.stage(conn, f)
        path = engine.spill_path(f)
        assert path.exists()
        if spill == "lost":
            path.unlink()
        counts = engine.apply_rules(conn, f)
        assert counts["rows_rejected"] == 2, counts
        with conn.cursor() as cur:
            cur.execute(
                "select row_number, raw ->> 'declaration_id', raw ->> 'phone' from staging.declaration order by 1"
            )
            staged = cur.fetchall()
            cur.execute("select row_number, code from quarantine.row_problem order by 1, 2")
            codes = cur.fetchall()
            cur.execute(
                "select row_number, raw ->> 'declaration_id', raw ->> 'phone' from quarantine.rejected_row"
            )
            rejected = sorted(cur.fetchall())
        conn.rollback()
        assert staged == [(1, None, None), (2, "K2", "0912345678"), (3, "D0", "0912000999"), (4, None, None)]
        assert codes == [(2, "invalid_declaration_kind"), (3, "duplicate_in_file")]
        assert rejected == [(2, "K2", "******5678"), (3, "D0", "******0999")]  # identity values masked
        engine.merge(conn, f)
        engine.finish(conn, file_id)
        with conn.cursor() as cur:
            cur.execute("select count(*) from staging.row_check")
            assert cur.fetchone()[0] == 0
            cur.execute("select declaration_id from core.declaration order by 1")
            assert [r[0] for r in cur.fetchall()] == ["D0", "K4"]
        conn.rollback()
    finally:
        conn.close()
    assert not path.exists(), "the spill is removed when the file is finished"
    errors = (areas["outbox"] / "pccovid" / "few.csv.errors.csv").read_text(encoding="utf-8-sig")
    assert "(value: travel)" in errors and "(value: D0)" in errors
