"""Issue 17, item 7: the engine's batches of XLSX/JSON rows are bounded by characters as well as rows, so a
workbook of long cells (4,000-character addresses) is not typed 25,000 rows at a time."""

from covidsync.ingest import columnar


def test_long_cells_cut_a_batch_before_its_row_count(monkeypatch):
    monkeypatch.setattr(columnar, "BATCH_CHARS", 10_000)
    rows = [(n, {"address": "x" * 1_000, "full_name": "An"}) for n in range(1, 36)]
    frames = list(columnar.batches(rows, ["full_name", "address"], batch_rows=25_000))
    assert [f.height for f in frames] == [10, 10, 10, 5]
    assert [n for f in frames for n in f["row_number"]] == list(range(1, 36))


def test_short_cells_keep_the_row_count(monkeypatch):
    rows = [(n, {"full_name": "Nguyễn Văn An"}) for n in range(1, 26)]
    frames = list(columnar.batches(rows, ["full_name"], batch_rows=10))
    assert [f.height for f in frames] == [10, 10, 5]
