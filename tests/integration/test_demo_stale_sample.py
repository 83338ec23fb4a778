"""`covidsync demo` on a new warehouse beside a sample another warehouse already processed: the landing zone is
empty (its files were archived), so the demo would load nothing and show empty tables without a word. It says
so in one line, and what to do."""

from __future__ import annotations

import psycopg2

from covidsync.cli.demo import stale_sample_hint


def test_an_archived_sample_and_an_empty_warehouse_get_one_line_saying_what_to_do(warehouse_url, tmp_path):
    data = tmp_path / "data"
    assert stale_sample_hint(warehouse_url, data) is None, "no sample at all: nothing to say"
    (data / "landing" / "vaccinations" / "10001").mkdir(parents=True)
    assert stale_sample_hint(warehouse_url, data) is None, "nothing archived yet: the demo will load it"
    archived = data / "archive" / "vaccinations" / "10001"
    archived.mkdir(parents=True)
    (archived / "vaccinations_2021-11-20.csv").write_text("x\n", encoding="utf-8")
    hint = stale_sample_hint(warehouse_url, data)
    assert hint is not None
    assert hint.startswith("note: ") and "\n" not in hint
    assert f"remove {data}" in hint


def test_a_warehouse_that_registered_the_files_gets_no_note(warehouse_url, tmp_path):
    data = tmp_path / "data"
    archived = data / "archive" / "vaccinations" / "10001"
    archived.mkdir(parents=True)
    (archived / "vaccinations_2021-11-20.csv").write_text("x\n", encoding="utf-8")
    assert stale_sample_hint(warehouse_url, data) is not None
    conn = psycopg2.connect(warehouse_url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "insert into ops.landing_file (sha256, relative_path, original_name, size_bytes, received_at)"
                " values (repeat('e', 64), 'vaccinations/10001/a.csv', 'a.csv', 1, now())"
            )
    finally:
        conn.close()
    assert stale_sample_hint(warehouse_url, data) is None, "this warehouse processed the sample: a rerun"
