"""Migration 0060 (issues 24 and 16, throughput): a declaration's person key, warnings, origin_known and
destination_in_province are computed while staging, and the persons' facts are written once per file; the
outputs stay exactly those recorded in tests/fixtures/declarations/edge-cases.json (every row problem, the
quarantine, errors.csv, result.json, core.declaration, core.checkin_person):

* with the file cut into many batches (facts repeated across batches, codes and person keys per batch);
* for rows an older stage wrote (the four columns null: a file held before the migration, released after),
  which the merge fills in SQL first (sql/ingest/declaration_staged_fill.sql).
"""

from __future__ import annotations

import json

import declaration_cases
import polars as pl
from test_declaration_row_codes import FIXTURE, outputs

from covidsync import db
from covidsync.ingest import declarations, engine, landing
from covidsync.ingest.datasets.declarations import SPEC as declarations_spec


def _run(warehouse_url, areas, merge_step=None) -> dict:
    declaration_cases.write(areas["landing"] / "pccovid" / "declarations")
    conn = db.connect(warehouse_url)
    try:
        [file_id] = landing.register(conn, scope=landing.PCCOVID).pending
        summary = engine.process_file(conn, file_id, docs="off", merge_step=merge_step)
    finally:
        conn.close()
    assert summary["status"] == "loaded_with_errors"
    return json.loads(json.dumps(outputs(warehouse_url, areas["outbox"]), default=str))


def _assert_fixture(got: dict) -> None:
    expected = json.loads(FIXTURE.read_text("utf-8"))
    for key in expected:
        assert got[key] == expected[key], key


def test_many_batches_give_the_recorded_outputs(warehouse_url, areas, monkeypatch):
    monkeypatch.setenv("COVIDSYNC_MAX_REJECTED_SHARE", "1")
    monkeypatch.setattr(declarations, "BATCH_ROWS", 97)  # 1,500 rows: 16 batches
    written = []
    real = declarations.new_facts

    def counting(facts, seen):
        kept, seen = real(facts, seen)
        written.append((facts.unique().height, kept.height))
        return kept, seen

    monkeypatch.setattr(declarations, "new_facts", counting)
    _assert_fixture(_run(warehouse_url, areas))
    assert len(written) >= 15
    assert sum(k for _, k in written) < sum(n for n, _ in written)  # repeats across batches were not written


def test_rows_an_older_stage_wrote_are_filled_by_the_merge(warehouse_url, areas, monkeypatch):
    monkeypatch.setenv("COVIDSYNC_MAX_REJECTED_SHARE", "1")
    nulled = []

    def older_stage_then_merge(conn, f):
        with conn, conn.cursor() as cur:
            cur.execute(
                "update staging.declaration set person_key = null, warnings = null, origin_known = null, "
                "destination_in_province = null where file_id = %s",
                (f.file_id,),
            )
            nulled.append(cur.rowcount)
        return engine.merge(conn, f)

    _assert_fixture(_run(warehouse_url, areas, merge_step=older_stage_then_merge))
    assert nulled and nulled[0] > 100


def test_new_facts_drops_exact_repeats_only():
    schema = {"person_kind": pl.String, "identifier": pl.String, "phone": pl.String, "birth_year": pl.Int64}
    first = pl.DataFrame(
        [("cccd", "1", None, 1990), ("cccd", "2", "09", None), ("cccd", "2", "09", None)],
        schema=schema,
        orient="row",
    )
    kept, seen = declarations.new_facts(first, None)
    assert kept.rows() == [("cccd", "1", None, 1990), ("cccd", "2", "09", None)]
    second = pl.DataFrame(
        [("cccd", "1", None, 1990), ("cccd", "1", "08", 1990), ("cccd", "2", "09", 1991)],
        schema=schema,
        orient="row",
    )
    kept, seen = declarations.new_facts(second, seen)
    assert kept.rows() == [("cccd", "1", "08", 1990), ("cccd", "2", "09", 1991)]  # nulls equal, values not
    assert seen.height == 4


def test_a_late_chunk_not_one_record_a_line_stages_the_file_again(warehouse_url, areas, monkeypatch):
    """Read natively in one checked pass; a chunk past the first with a line break inside quotes: the file is
    staged again by the csv module in the same transaction (no row twice)."""
    from covidsync.ingest import columnar

    monkeypatch.setenv("COVIDSYNC_GX_DOCS", "0")
    monkeypatch.setattr(columnar, "_NATIVE_CHUNK", 512)
    data = [{**declaration_cases.clean(i), "declaration_id": f"N{i}"} for i in range(300)]
    data[-1]["full_name"] = "Nguyễn\nVăn An"
    declaration_cases.write_rows(areas["landing"] / "pccovid" / "declarations", "late.csv", data)
    passes = []
    real = declarations._stage_declarations

    def recording(*args, checked_as_read, **kwargs):
        passes.append(checked_as_read)
        return real(*args, checked_as_read=checked_as_read, **kwargs)

    monkeypatch.setattr(declarations, "_stage_declarations", recording)
    conn = db.connect(warehouse_url)
    try:
        [file_id] = landing.register(conn, scope=landing.PCCOVID).pending
        summary = engine.process_file(conn, file_id)
        with conn.cursor() as cur:
            cur.execute("select count(*) from core.declaration where source_file_id = %s", (file_id,))
            in_core = cur.fetchone()[0]
            cur.execute("select count(*) from quarantine.row_problem where code = 'duplicate_in_file'")
            duplicates = cur.fetchone()[0]
    finally:
        conn.close()
    assert passes == [True, False]
    assert summary["rows_total"] == 300 and duplicates == 0
    assert in_core == summary["rows_loaded"] >= 299


def test_first_load_analyzes_the_columns_statements_read(warehouse_url, areas, monkeypatch):
    """A warehouse's first declarations (indexes built by sort after the insert) leave core.declaration with
    statistics on the columns the arrivals build and the marts filter and join on (the spec's
    ``core_analyze_columns``)."""
    monkeypatch.setenv("COVIDSYNC_MAX_REJECTED_SHARE", "1")
    _run(warehouse_url, areas)
    conn = db.connect(warehouse_url)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "select attname from pg_stats where schemaname = 'core' and tablename = 'declaration' "
                "order by attname"
            )
            analysed = {r[0] for r in cur.fetchall()}
    finally:
        conn.close()
    # (autovacuum may analyse every column meanwhile: only the ones the merge must analyse are asserted)
    assert set(declarations_spec.core_analyze_columns) <= analysed
    assert {"person_key", "submitted_at", "loaded_at", "kind"} <= set(declarations_spec.core_analyze_columns)
