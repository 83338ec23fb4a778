"""The check-ins' direct path: the persons of the rows aside summed over the file's batches before their one
``COPY`` (issue 16, e38-checkins), exactly as ``checkin_person_key_direct.sql`` summed one row a person and
batch: the least first scan, the greatest last scan, the rows added; one row a person; the spill closed."""

from __future__ import annotations

import csv
import datetime as dt
import io

import polars as pl
import pytest

from covidsync.ingest.checkins import DIRECT_PERSON_COLUMNS, DirectDays, _Chunks

UTC = dt.UTC


class _Cursor:
    """Reads what ``copy_expert`` is given, as psycopg2 does (``read(size)`` until nothing is left)."""

    def __init__(self) -> None:
        self.sql: list[str] = []
        self.data = b""

    def copy_expert(self, sql: str, source, size: int = 8192) -> None:
        self.sql.append(sql)
        while chunk := source.read(size):
            self.data += chunk


def _batch(rows: list[tuple[str, str, str, dt.datetime, dt.datetime, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "person_kind": pl.String,
            "identifier": pl.String,
            "person_key": pl.String,
            "first_seen_at": pl.Datetime("us", "UTC"),
            "last_seen_at": pl.Datetime("us", "UTC"),
            "loadable_rows": pl.Int64,
        },
        orient="row",
    )


def _at(hour: int, minute: int = 0, micro: int = 0) -> dt.datetime:
    return dt.datetime(2021, 11, 1, hour, minute, 0, micro, tzinfo=UTC)


def test_persons_summed_over_batches_one_row_each():
    key_a, key_b, key_c = "a" * 64, "0" + "f" * 63, "a" + "1" * 63  # a and c share a part, b another
    batches = [
        _batch(
            [
                ("cccd", "001", key_a, _at(3), _at(5), 2),
                ("phone", "0912", key_b, _at(1, 0, 7), _at(1, 0, 7), 1),
            ]
        ),
        _batch([("cccd", "001", key_a, _at(1), _at(4), 3), ("qid", "Q9", key_c, _at(9), _at(10), 4)]),
        _batch([("cccd", "001", key_a, _at(6), _at(7), 1)]),
    ]
    read = DirectDays(1)
    for batch in batches:
        read.write(_Cursor(), ({}, batch))
    cur = _Cursor()
    read.copy_persons(cur)
    assert len(cur.sql) == 1 and "pg_temp.checkin_direct_person" in cur.sql[0]
    rows = list(csv.reader(io.StringIO(cur.data.decode())))
    got = {r[2]: r for r in rows}
    assert len(rows) == len(got) == 3  # one row a person
    assert got[key_a] == [
        "cccd",
        "001",
        key_a,
        "2021-11-01T01:00:00.000000+00:00",
        "2021-11-01T07:00:00.000000+00:00",
        "6",
    ]
    assert got[key_b] == [
        "phone",
        "0912",
        key_b,
        "2021-11-01T01:00:00.000007+00:00",
        "2021-11-01T01:00:00.000007+00:00",
        "1",
    ]
    assert got[key_c][3:] == ["2021-11-01T09:00:00.000000+00:00", "2021-11-01T10:00:00.000000+00:00", "4"]
    assert len(DIRECT_PERSON_COLUMNS) == len(rows[0])
    # the spill (identifiers in clear) is closed once sent
    assert read._persons.closed


def test_no_persons_no_copy_and_closed():
    read = DirectDays(1)
    cur = _Cursor()
    read.copy_persons(cur)
    assert cur.sql == [] and read._persons.closed


@pytest.mark.parametrize("size", [1, 3, 7, 1 << 20])
def test_chunks_read_whole(size):
    chunks = [b"abc", b"", b"defgh", b"ij"]
    source = _Chunks(iter(chunks))
    out = b""
    while piece := source.read(size):
        assert len(piece) <= size
        out += piece
    assert out == b"".join(chunks)
