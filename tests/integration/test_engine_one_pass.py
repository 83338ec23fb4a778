"""A UTF-8 CSV is read natively in one pass, its bytes checked chunk by chunk as they are read (issue 16,
throughput): a file whose later chunk is not one record per line (a stray quote) is staged again from the
start by the csv module, and staging holds exactly what the csv module's reading gives. A real PostgreSQL."""

from __future__ import annotations

import pytest
from ingest_rows import REGISTRY, VACCINATION, write_csv

from covidsync import db
from covidsync.ingest import columnar, engine, landing


@pytest.fixture(autouse=True)
def no_data_docs(monkeypatch):
    monkeypatch.setenv("COVIDSYNC_GX_DOCS", "0")


def _staged(conn, f) -> tuple[list, list]:
    engine.stage(conn, f)
    with conn.cursor() as cur:
        cur.execute("select * from staging.vaccination where file_id = %s order by row_number", (f.file_id,))
        rows = cur.fetchall()
        cur.execute("select * from staging.row_check where file_id = %s order by 2, 3, 4", (f.file_id,))
        codes = cur.fetchall()
    conn.rollback()
    return rows, codes


@pytest.mark.parametrize("bad_line", ["first_chunk", "later_chunk", "none"])
def test_a_chunk_that_is_not_plain_stages_the_file_again_by_the_csv_module(
    warehouse_url, areas, monkeypatch, bad_line
):
    (areas["landing"] / "registry").mkdir(parents=True)
    (areas["landing"] / "registry" / "facilities.csv").write_text(REGISTRY, encoding="utf-8")
    rows = [{**VACCINATION, "Mã bản ghi": f"R{i}", "Số lô": f"L{i}"} for i in range(1, 41)]
    rows[7]["Họ và tên"] = "Trần, Văn An"  # a quoted cell: plain
    rows[12]["Mũi số"] = "7"  # a frame rule's code
    path = areas["landing"] / "17001" / "vaccinations" / "one.csv"
    write_csv(path, rows)
    lines = path.read_text(encoding="utf-8").splitlines()
    at = {"first_chunk": 2, "later_chunk": len(lines) - 2, "none": None}[bad_line]
    if at is not None:  # a quote inside an unquoted cell: the csv module reads it as a character
        assert "Nguyễn" in lines[at]
        lines[at] = lines[at].replace("Nguyễn", 'Ngu"yễn', 1)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setattr(columnar, "_NATIVE_CHUNK", 512)  # many chunks, cut between lines
    monkeypatch.setattr(columnar, "BATCH_ROWS", 5)
    attempts: list[bool] = []
    stage_rows = columnar._stage_rows

    def counted(*args, checked_as_read, **kwargs):
        attempts.append(checked_as_read)
        return stage_rows(*args, checked_as_read=checked_as_read, **kwargs)

    conn = db.connect(warehouse_url)
    try:
        with conn:
            landing.load_registry(conn, areas["landing"])
        (file_id,) = landing.register(conn, areas["landing"]).pending
        f = engine.load_file(conn, file_id)
        conn.rollback()
        monkeypatch.setattr(columnar, "NATIVE_CSV", False)
        expected = _staged(conn, f)
        monkeypatch.setattr(columnar, "NATIVE_CSV", True)
        monkeypatch.setattr(columnar, "_stage_rows", counted)
        got = _staged(conn, f)
    finally:
        conn.close()
    assert len(expected[0]) == 40 and expected[1], "every row staged, the frame rule's code kept"
    assert got == expected
    # a later chunk that fails once rows were given out: staged again; else one pass
    assert attempts == ([True, False] if bad_line == "later_chunk" else [True])
