"""A check-ins CSV is staged in one pass, its bytes checked chunk by chunk as read, each batch's COPYs on a
background thread while the next batch is read (issue 16, branch e19-checkins): staging holds exactly what the
csv module's reading, written batch after batch on one thread, gives; a later chunk that is not one record a
line stages the file again from the start; a failed write fails the stage with nothing staged. A real
PostgreSQL."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from test_checkin_ingest import (
    CARD_WITH_CMND,
    CHECKIN_HEADER,
    PERSONAL_CLEAR,
    PERSONAL_MASKED,
    VENUES,
    write_csv,
)

from covidsync import db
from covidsync.ingest import checkins, columnar, engine, landing

VN = dt.timezone(dt.timedelta(hours=7))


@pytest.fixture(autouse=True)
def no_data_docs(monkeypatch):
    monkeypatch.setenv("COVIDSYNC_GX_DOCS", "0")


def _rows() -> list[list[str]]:
    payloads = [CARD_WITH_CMND, PERSONAL_CLEAR, PERSONAL_MASKED, ""]
    rows = []
    for i in range(1, 61):
        venue = "V999" if i % 17 == 0 else ("V001" if i % 2 else "V002")  # an unknown venue now and then
        phone = "0912345678" if i % 4 == 3 else ""
        rows.append(
            [
                f"C{i:03d}",
                venue,
                f"2021-11-02T{8 + i % 10:02d}:{i % 60:02d}:00+07:00",
                "in",
                "self_scan",
                payloads[i % 4],
                "",
                phone,
            ]
        )
    rows[40][0] = rows[3][0]  # an id repeated in a later batch: its payload kept for the report
    rows[41][0] = rows[42][0]  # and one repeated within a batch
    return rows


def _staged(conn, f) -> tuple[list, list, list]:
    engine.stage(conn, f)
    with conn.cursor() as cur:
        cur.execute("select * from staging.checkin where file_id = %s order by row_number", (f.file_id,))
        rows = cur.fetchall()
        cur.execute(
            "select * from staging.checkin_identity where file_id = %s order by 2, 3, 4", (f.file_id,)
        )
        facts = cur.fetchall()
        cur.execute("select * from staging.row_check where file_id = %s order by 2, 3, 4", (f.file_id,))
        codes = cur.fetchall()
    conn.rollback()
    return rows, facts, codes


def _registered(warehouse_url, areas, bad_line: str | None):
    venues = areas["landing"] / "pccovid" / "venues" / "venues.csv"
    venues.parent.mkdir(parents=True)
    venues.write_text(VENUES, encoding="utf-8")
    stamp = dt.datetime(2021, 11, 1, tzinfo=VN).timestamp()
    os.utime(venues, (stamp, stamp))
    path = areas["landing"] / "pccovid" / "checkins" / "checkins_2021-11-02.csv"
    write_csv(path, CHECKIN_HEADER, _rows())
    lines = path.read_text(encoding="utf-8").splitlines()
    at = {"first_chunk": 2, "later_chunk": len(lines) - 2, None: None}[bad_line]
    if at is not None:  # a quote inside an unquoted cell: the csv module reads it as a character
        lines[at] = lines[at].replace(",in,", ',i"n,', 1)
        assert 'i"n' in lines[at]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    stamp = dt.datetime(2021, 11, 3, 1, tzinfo=VN).timestamp()
    os.utime(path, (stamp, stamp))
    conn = db.connect(warehouse_url)
    pending = checkins.pending_by_dataset(conn, landing.register(conn, scope=landing.PCCOVID).pending)
    for file_id in pending["venues"]:
        checkins.ingest_file(conn, file_id)
    f = engine.load_file(conn, pending["checkins"][0])
    conn.rollback()
    return conn, f


@pytest.mark.parametrize("bad_line", ["first_chunk", "later_chunk", None])
def test_checkins_staged_in_one_pass_with_writes_ahead_as_by_the_csv_module(
    warehouse_url, areas, monkeypatch, bad_line
):
    monkeypatch.setattr(columnar, "_NATIVE_CHUNK", 512)  # many chunks (batches), cut between lines
    attempts: list[bool] = []
    stage = checkins._stage_checkins_columnar

    def counted(*args, checked_as_read, **kwargs):
        attempts.append(checked_as_read)
        return stage(*args, checked_as_read=checked_as_read, **kwargs)

    def two_passes(*args, checked_as_read, **kwargs):  # the file checked first, then read: the earlier stage
        return stage(*args, checked_as_read=False, **kwargs)

    conn, f = _registered(warehouse_url, areas, bad_line)
    try:
        # the same batches (a chunk's lines, or the csv module's) written one after the other on this thread
        monkeypatch.setattr(columnar, "COPY_AHEAD", False)
        monkeypatch.setattr(checkins, "_stage_checkins_columnar", two_passes)
        expected = _staged(conn, f)
        monkeypatch.setattr(columnar, "COPY_AHEAD", True)
        monkeypatch.setattr(checkins, "_stage_checkins_columnar", counted)
        got = _staged(conn, f)
    finally:
        conn.close()
    rows, facts, codes = expected
    assert len(rows) == 60 and facts and codes, "every row staged, facts and the frame rules' codes kept"
    assert {c[3] for c in codes} >= {"unknown_venue"}
    assert got == expected
    # a later chunk that fails once batches were written: staged again from the start; else one pass
    assert attempts == ([True, False] if bad_line == "later_chunk" else [True])


def test_a_failed_write_ahead_fails_the_checkin_stage(warehouse_url, areas, monkeypatch):
    monkeypatch.setattr(columnar, "_NATIVE_CHUNK", 512)
    monkeypatch.setattr(columnar, "COPY_AHEAD", True)
    copy_frame = columnar.copy_frame
    written: list[int] = []

    def failing(cur, table, frame):
        if table == "staging.checkin" and written:
            raise RuntimeError("the server went away")
        if table == "staging.checkin":
            written.append(frame.height)
        copy_frame(cur, table, frame)

    monkeypatch.setattr(columnar, "copy_frame", failing)
    conn, f = _registered(warehouse_url, areas, None)
    try:
        with pytest.raises(RuntimeError, match="went away"):
            engine.stage(conn, f)
        conn.rollback()
        with conn.cursor() as cur:
            cur.execute("select count(*) from staging.checkin")
            assert cur.fetchone()[0] == 0
            cur.execute("select status from ops.landing_file where file_id = %s", (f.file_id,))
            assert cur.fetchone()[0] == "received"
        conn.rollback()
    finally:
        conn.close()
    assert written, "the first batch was written"
