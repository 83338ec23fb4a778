"""The check-in stage streams its rows into ``COPY`` as they are parsed (:class:`checkins.CsvStream`): the
rows arrive whole and in order, however the stream is cut into pieces, and an error met while reading the
file is raised once the ``COPY`` has ended, so that the caller's transaction keeps nothing of the file."""

from __future__ import annotations

import psycopg2
import pytest

from covidsync.ingest import checkins


def _rows(n: int, fail_at: int | None = None):
    for i in range(1, n + 1):
        if i == fail_at:
            raise ValueError(f"row {i} cannot be read")
        yield [i, f'scan {i}, with "quotes"\nand a new line' if i % 7 == 0 else f"scan {i}", None]


def _copy(conn, stream, size):
    with conn.cursor() as cur:
        cur.execute("create temporary table if not exists streamed (n int, text text, empty text)")
        cur.copy_expert("copy streamed from stdin with (format csv)", stream, size=size)
    stream.check()


@pytest.mark.parametrize("size", [1, 100, 1 << 16])
def test_every_row_arrives_whole_and_in_order_whatever_the_piece_size(warehouse_url, size):
    conn = psycopg2.connect(warehouse_url)
    try:
        stream = checkins.CsvStream(_rows(5_000))
        _copy(conn, stream, size)
        assert stream.count == 5_000
        with conn.cursor() as cur:
            cur.execute("select n, text, empty from streamed order by n")
            got = cur.fetchall()
        assert got == [(r[0], r[1], None) for r in _rows(5_000)]
    finally:
        conn.close()


def test_an_error_while_reading_is_raised_after_the_copy_and_nothing_stays(warehouse_url):
    conn = psycopg2.connect(warehouse_url)
    try:
        with conn.cursor() as cur:
            cur.execute("create table streamed (n int, text text, empty text)")
        conn.commit()
        stream = checkins.CsvStream(_rows(5_000, fail_at=3_001))
        with pytest.raises(ValueError, match="row 3001 cannot be read"), conn:
            _copy(conn, stream, 1 << 10)
        assert stream.count == 3_000  # what was read before the error, then the stream ended
        with conn.cursor() as cur:
            cur.execute("select count(*) from streamed")
            assert cur.fetchone() == (0,)  # rolled back with the caller's transaction
    finally:
        conn.close()
