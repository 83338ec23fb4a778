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


def _scans(n: int):
    """(row number, values) as the parser gives them: n scans by n/2 persons with card QR payloads."""
    for i in range(1, n + 1):
        person = i % (n // 2)
        cccd = f"0171{person:08d}"
        payload = f"{cccd}||Bùi Văn Nam {person}|05031990|Nam|Xóm Mít, Hòa Bình|15072021"
        yield (
            i,
            {
                "checkin_id": f"S{i}",
                "venue_code": "V001",
                "scanned_at": "2021-11-02T08:00:00+07:00",
                "qr_payload": payload,
            },
        )


@pytest.mark.parametrize("spool_bytes", [1, 32 << 20])
def test_the_identity_facts_are_staged_whole_whether_they_stay_in_memory_or_spill_to_disk(
    warehouse_url, monkeypatch, spool_bytes
):
    """One facts row per person of the file, the same rows when the spool stays in memory and when it
    rolls over to its temporary file (a national file's facts do)."""
    monkeypatch.setattr(checkins, "FACTS_SPOOL_BYTES", spool_bytes)
    conn = psycopg2.connect(warehouse_url)
    try:
        with conn:
            staged = checkins.stage_checkins(conn, 7, _scans(2_000))
        assert staged == 2_000
        with conn.cursor() as cur:
            cur.execute(
                "select count(*), count(distinct identifier), min(full_name), max(identifier)"
                " from staging.checkin_identity where file_id = 7"
            )
            assert cur.fetchone() == (1_000, 1_000, "Bùi Văn Nam 0", "017100000999")
            cur.execute("select count(*), count(distinct identifier) from staging.checkin where file_id = 7")
            assert cur.fetchone() == (2_000, 1_000)
    finally:
        conn.close()
