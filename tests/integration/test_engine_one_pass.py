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


def test_a_failed_batch_write_on_the_background_thread_fails_the_stage(warehouse_url, areas, monkeypatch):
    """The batches are written on a background thread while the next is read (``COVIDSYNC_INGEST_COPY_AHEAD``):
    a write that fails fails the stage, nothing is staged, and the connection is free again."""
    (areas["landing"] / "registry").mkdir(parents=True)
    (areas["landing"] / "registry" / "facilities.csv").write_text(REGISTRY, encoding="utf-8")
    rows = [{**VACCINATION, "Mã bản ghi": f"R{i}"} for i in range(1, 31)]
    write_csv(areas["landing"] / "17001" / "vaccinations" / "two.csv", rows)
    monkeypatch.setattr(columnar, "_NATIVE_CHUNK", 512)
    monkeypatch.setattr(columnar, "COPY_AHEAD", True)
    copy_frame = columnar.copy_frame
    written: list[int] = []

    def failing(cur, table, frame):
        if table.startswith("staging.vaccination") and written:
            raise RuntimeError("the server went away")
        written.append(frame.height)
        copy_frame(cur, table, frame)

    monkeypatch.setattr(columnar, "copy_frame", failing)
    conn = db.connect(warehouse_url)
    try:
        with conn:
            landing.load_registry(conn, areas["landing"])
        (file_id,) = landing.register(conn, areas["landing"]).pending
        f = engine.load_file(conn, file_id)
        conn.rollback()
        with pytest.raises(RuntimeError, match="went away"):
            engine.stage(conn, f)
        conn.rollback()
        with conn.cursor() as cur:
            cur.execute("select count(*) from staging.vaccination")
            assert cur.fetchone()[0] == 0
            cur.execute("select status from ops.landing_file where file_id = %s", (file_id,))
            assert cur.fetchone()[0] == "received"
        conn.rollback()
    finally:
        conn.close()
    assert written, "the first batch was written"
    assert not engine.spill_path(f).exists()
