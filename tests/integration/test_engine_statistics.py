"""A merge leaves its core table with statistics the next file can be planned from: a table without
statistics is analysed once 50 rows changed (autovacuum's base threshold), and again when it has more than
doubled since (this test server, like some production ones, runs with autovacuum off). Real files, real
PostgreSQL."""

from __future__ import annotations

import psycopg2
from ingest_rows import REGISTRY, VACCINATION, ingest, write_csv


def statistics(url) -> tuple[float, int]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "select c.reltuples, coalesce(s.analyze_count, 0) from pg_class as c"
            " left join pg_stat_user_tables as s on s.relid = c.oid where c.oid = 'core.vaccination'::regclass"
        )
        return cur.fetchone()


def rows(prefix: str, n: int) -> list[dict]:
    return [
        {**VACCINATION, "Mã bản ghi": f"{prefix}{i}", "Số CCCD/CMND": f"0170900{i:05d}", "Số lô": "AZ0001"}
        for i in range(n)
    ]


def test_a_merge_analyses_its_table_once_the_changes_pass_the_threshold(warehouse_url, areas):
    (areas["landing"] / "registry").mkdir(parents=True)
    (areas["landing"] / "registry" / "facilities.csv").write_text(REGISTRY, encoding="utf-8")
    folder = areas["landing"] / "17001" / "vaccinations"
    write_csv(folder / "small.csv", rows("S", 10))
    [small] = ingest(warehouse_url, areas)
    assert small["rows_loaded"] == 10, small
    reltuples, analysed = statistics(warehouse_url)
    assert reltuples < 0 and analysed == 0  # 10 changed rows: under the threshold of 50, left alone

    write_csv(folder / "bigger.csv", rows("B", 200))
    [bigger] = ingest(warehouse_url, areas)
    assert bigger["rows_loaded"] == 200, bigger
    reltuples, analysed = statistics(warehouse_url)
    assert reltuples == 210 and analysed == 1  # no statistics and 200 rows changed: analysed

    write_csv(folder / "one_more.csv", rows("C", 20))
    ingest(warehouse_url, areas)
    assert statistics(warehouse_url) == (210, 1)  # statistics, and far from double the pages: not again
