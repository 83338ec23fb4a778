"""What staging records about a file for later steps (migration 0038, ``staging.staged_file``). A file whose
rows come in merge-key order is merged as staged, without the sort; a file in another order is sorted as
before; both load the same rows. The duplicates rule compares only the rows staging found may repeat a key,
and finds what comparing every row finds. The merge counts its rows by its insert, and analyses only the
core columns statements read. Real files, real PostgreSQL."""

from __future__ import annotations

import re

import psycopg2
from ingest_rows import REGISTRY, TEST_RESULT, VACCINATION, write_csv

from covidsync import db, sqlfiles
from covidsync.ingest import engine, landing

CORE_COLUMNS = (
    "record_key, record_id, full_name, citizen_id, phone, vaccine_code, dose_number, vaccinated_on, warnings, "
    "source_row"
)


def vaccinations(prefix: str, numbers) -> list[dict]:
    return [
        {**VACCINATION, "Mã bản ghi": f"{prefix}{i:04d}", "Số CCCD/CMND": f"0170900{i:05d}"} for i in numbers
    ]


STAGED: dict[int, tuple] = {}  # what staging recorded, by file id


def stage_and_process(url, areas) -> tuple[bool | None, dict]:
    """Stage the one pending file, read its key-order flag, then take it to the end."""
    conn = db.connect(url)
    try:
        with conn:
            landing.load_registry(conn, areas["landing"])
        [file_id] = landing.register(conn, areas["landing"]).pending
        f = engine.load_file(conn, file_id)
        conn.rollback()
        engine.stage(conn, f)
        with conn.cursor() as cur:
            cur.execute(
                "select keys_in_order, duplicate_rows from staging.staged_file where file_id = %s", (file_id,)
            )
            row = cur.fetchone()
        STAGED[file_id] = row
        conn.rollback()
        summary = engine.process_file(conn, file_id)
        with conn.cursor() as cur:
            cur.execute("select count(*) from staging.staged_file where file_id = %s", (file_id,))
            assert cur.fetchone()[0] == 0  # cleared with the file's staging rows
        conn.rollback()
        return (row[0] if row else None), summary
    finally:
        conn.close()


def core_rows(url, facility: str) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            f"select {CORE_COLUMNS} from core.vaccination where facility_code = %s order by record_key",
            (facility,),
        )
        return cur.fetchall()


def test_rows_in_key_order_merge_without_the_sort_and_load_what_a_sorted_merge_loads(warehouse_url, areas):
    (areas["landing"] / "registry").mkdir(parents=True)
    (areas["landing"] / "registry" / "facilities.csv").write_text(REGISTRY, encoding="utf-8")
    # in key order, with one row sent twice at the end (kept out by the duplicates rule; one step back of 301)
    rows = vaccinations("R", range(300))
    folder = areas["landing"] / "17001" / "vaccinations"
    write_csv(folder / "ordered.csv", [*rows, rows[7]])
    in_order, summary = stage_and_process(warehouse_url, areas)
    assert in_order is True
    assert summary["rows_loaded"] == 300 and summary["rows_rejected"] == 1, summary
    ordered = core_rows(warehouse_url, "17001")
    assert len(ordered) == 300

    # the same rows the other way round from another facility: sorted by the merge, the same core rows
    rows = [{**r, "Mã cơ sở": "17002"} for r in rows]
    write_csv(areas["landing"] / "17002" / "vaccinations" / "reversed.csv", [*reversed(rows), rows[7]])
    in_order, summary = stage_and_process(warehouse_url, areas)
    assert in_order is False
    assert summary["rows_loaded"] == 300 and summary["rows_rejected"] == 1, summary
    # the same records, values and warnings; only the row numbers differ (source_row)
    assert [r[:-1] for r in core_rows(warehouse_url, "17002")] == [r[:-1] for r in ordered]


def test_the_merge_skips_its_sort_only_for_rows_staged_in_key_order(warehouse_url):
    for table in ("vaccination", "test_result"):
        text = sqlfiles.load("ingest", f"{table}_merge")
        insert = text[text.index("with warned as") :]  # the merge's last statement, without its target
        select = re.sub(r"insert into core\.\w+ \([^)]*\)", "", insert, flags=re.S).rstrip().rstrip(";")
        with psycopg2.connect(warehouse_url) as conn, conn.cursor() as cur:
            plans = {}
            for keys_in_order in (True, False):
                params = {"file_id": 1, "facility_code": "17001", "keys_in_order": keys_in_order}
                cur.execute("explain " + select, params)
                plans[keys_in_order] = "\n".join(r[0] for r in cur.fetchall())
        assert "Sort Key: s.record_key" in plans[False], plans[False]
        assert "record_key" not in plans[True], plans[True]  # no sort by the key


def test_a_merge_counts_its_insert_and_analyses_the_columns_statements_read(warehouse_url, areas):
    (areas["landing"] / "registry").mkdir(parents=True)
    (areas["landing"] / "registry" / "facilities.csv").write_text(REGISTRY, encoding="utf-8")
    write_csv(areas["landing"] / "17001" / "vaccinations" / "a.csv", vaccinations("A", range(120)))
    write_csv(
        areas["landing"] / "17001" / "test_results" / "b.csv",
        [{**TEST_RESULT, "Mã bản ghi": f"T{i:04d}", "Mã mẫu": f"S{i:04d}"} for i in range(80)],
    )
    conn = db.connect(warehouse_url)
    try:
        with conn:
            landing.load_registry(conn, areas["landing"])
        pending = landing.register(conn, areas["landing"]).pending
        summaries = [engine.process_file(conn, file_id) for file_id in sorted(pending)]
    finally:
        conn.close()
    assert sorted(s["rows_loaded"] for s in summaries) == [80, 120], summaries
    with psycopg2.connect(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute(
            "select tablename, array_agg(attname::text order by attname) from pg_stats where schemaname = 'core'"
            " and tablename in ('vaccination', 'test_result') group by tablename"
        )
        analysed = dict(cur.fetchall())
        cur.execute("select dataset, rows_loaded from ops.landing_file order by dataset")
        loaded = dict(cur.fetchall())
    assert loaded == {"test_results": 80, "vaccinations": 120}
    assert {"record_key", "citizen_id", "source_file_id", "vaccinated_on"} <= set(analysed["vaccination"])
    assert not {"full_name", "address", "lot_number"} & set(analysed["vaccination"])
    assert {"record_key", "citizen_id", "sampled_at"} <= set(analysed["test_result"])
    assert "full_name" not in analysed["test_result"]


def test_the_duplicates_rule_compares_the_rows_staging_found_and_finds_what_a_full_comparison_finds(
    warehouse_url, areas
):
    (areas["landing"] / "registry").mkdir(parents=True)
    (areas["landing"] / "registry" / "facilities.csv").write_text(REGISTRY, encoding="utf-8")
    rows = vaccinations("R", range(60))
    rows = [*rows[:20], rows[3], *rows[20:], rows[3], rows[41]]  # R0003 three times, R0041 twice
    write_csv(areas["landing"] / "17001" / "vaccinations" / "twice.csv", rows)
    conn = db.connect(warehouse_url)
    try:
        with conn:
            landing.load_registry(conn, areas["landing"])
        [file_id] = landing.register(conn, areas["landing"]).pending
        f = engine.load_file(conn, file_id)
        conn.rollback()
        _, has_record_id = engine.stage(conn, f)
        with conn.cursor() as cur:
            cur.execute(
                "select duplicate_rows, duplicates_by_record_id from staging.staged_file where file_id = %s",
                (file_id,),
            )
            found, by_record_id = cur.fetchone()
        conn.rollback()
        assert by_record_id is True and has_record_id is True
        assert {4, 21, 43, 62, 63} <= set(found)  # every row of a repeated key (row numbers from 1)

        def duplicates(step_rows) -> list[tuple]:
            with conn, conn.cursor() as cur:
                cur.execute(
                    "update staging.staged_file set duplicate_rows = %s where file_id = %s",
                    (step_rows, file_id),
                )
            engine.apply_rules(conn, f, has_record_id)
            with conn.cursor() as cur:
                cur.execute(
                    "select row_number, column_name from quarantine.row_problem"
                    " where file_id = %s and code = 'duplicate_in_file' order by row_number",
                    (file_id,),
                )
                out = cur.fetchall()
            conn.rollback()
            return out

        assert duplicates(found) == [(21, "record_id"), (62, "record_id"), (63, "record_id")]
        assert duplicates(None) == duplicates(found)  # null: every staged row compared, as before 0038
        assert duplicates([]) == []  # no candidate rows: nothing compared (the list is what the rule reads)
    finally:
        conn.close()


def test_a_file_past_the_candidates_limit_compares_every_row(warehouse_url, areas, monkeypatch):
    from covidsync.ingest import columnar

    monkeypatch.setattr(columnar, "DUPLICATE_CANDIDATES_MAX_ROWS", 10)  # memory: very large files keep none
    (areas["landing"] / "registry").mkdir(parents=True)
    (areas["landing"] / "registry" / "facilities.csv").write_text(REGISTRY, encoding="utf-8")
    rows = vaccinations("R", range(30))
    write_csv(areas["landing"] / "17001" / "vaccinations" / "big.csv", [*rows, rows[2]])
    _, summary = stage_and_process(warehouse_url, areas)
    assert STAGED[summary["file_id"]][1] is None  # no candidates: every row compared
    assert summary["rows_loaded"] == 30 and summary["rows_rejected"] == 1, summary
    with psycopg2.connect(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute("select row_number from quarantine.row_problem where code = 'duplicate_in_file'")
        assert cur.fetchall() == [(31,)]
