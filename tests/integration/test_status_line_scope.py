"""The status build computes again only the view lines whose inputs it changed (issue 19, derived.person_line):
the persons whose status, person row, card or arrivals the build wrote, and the lines that expired. Not the
persons noted in publish.pending_person: those are the changes since the last release, which without a release
between builds (or after a full build, which notes everyone or sets full_rebuild) is everyone, every day. Each
incremental build's stored lines must be exactly those a full rebuild stores, with no release in between."""

from __future__ import annotations

import datetime as dt
import logging
import re

import psycopg2
from arrivals_world import ArrivalWorld, at

from covidsync.status import build, identity
from covidsync.status.synthetic import Synthetic

# a line of a person no longer in derived.person shows as such (its person_id is a surrogate, not compared)
LINES = """
select coalesce(p.person_key, 'removed'), l.row_sha256, l.base_sha256, l.line_sha256, l.expires_at
from derived.person_line as l left join derived.person as p using (person_id)
"""


def _lines(cur) -> list:
    cur.execute(LINES)
    return sorted(cur.fetchall(), key=repr)


def _full_lines(url: str, as_of) -> list:
    conn = psycopg2.connect(url)
    try:
        build.build_uncommitted(conn, as_of, full=True)
        with conn.cursor() as cur:
            return _lines(cur)
    finally:
        conn.rollback()
        conn.close()


def _computed(caplog) -> int:
    """The lines the last build's card step computed (its log line)."""
    counts = [
        int(m.group(1)) for r in caplog.records if (m := re.match(r"person lines: (\d+) computed", r.message))
    ]
    return counts[-1]


def test_generated_days_without_a_release_store_the_lines_a_full_rebuild_stores(
    warehouse_url, monkeypatch, caplog
):
    monkeypatch.setattr(identity, "WHOLE_SHARE", float("inf"))  # never fall back to resolving everyone
    caplog.set_level(logging.INFO, logger="covidsync.status.cards")
    data = Synthetic(seed=23, persons=250, days=6, venues=5, checkins_per_day=250, late_share=0.2)
    conn = psycopg2.connect(warehouse_url)
    data.setup(conn)
    partial_days = 0
    try:
        for day in data.dates:
            data.load_day(conn, day)
            as_of = build.as_of_for(day)
            result = build.build(conn, as_of)
            computed = _computed(caplog)
            with conn.cursor() as cur:
                lines = _lines(cur)
                cur.execute(
                    "select (select full_rebuild from publish.build_state), (select count(*) from publish.pending_person)"
                )
                unnoted, pending = cur.fetchone()
                cur.execute("select count(*) from derived.person where citizen_id is not null")
                (published,) = cur.fetchone()
            conn.rollback()
            assert lines == _full_lines(warehouse_url, as_of), f"day {day}: the stored lines differ"
            assert len(lines) == published
            if result.mode == "incremental":
                # no release since the first build: every person is noted (or none, full_rebuild), yet only the
                # day's changes are computed
                assert unnoted or pending >= published
                partial_days += computed < published
    finally:
        conn.close()
    assert partial_days >= 3, partial_days


def test_a_checkpoint_scan_changes_only_its_persons_arrival_and_line(warehouse_url):
    """The arrival measure is in the published row: a checkpoint scan of a known CCCD makes an arrival, and so
    changes the person's line, though neither the person's status, person row nor card changes (the scan is not
    one of identity's seeds, the person is not touched)."""
    w = ArrivalWorld(warehouse_url)
    cid = "001090000031"
    try:
        w.checkpoint("CP01")
        w.risk_levels([("01", 4, "2021-11-01", None)])
        w.vacc(cid, 1, "AZ", "2021-10-01")
        w.vacc("001090000032", 1, "AZ", "2021-10-01")
        w.checkin("cccd", cid, "CP01", at("2021-11-05", "07:00"))  # the CCCD known to check-ins
        w.build("2021-11-12", full=True)
        before = sorted(w.sql(LINES), key=repr)
        assert w.sql("select count(*) from derived.arrival") == [(1,)]
        w.scan(cid, at("2021-11-12", "06:00"))
        result = w.build("2021-11-12")
        assert result.mode == "incremental" and result.touched == 0
        assert w.sql("select count(*) from derived.arrival") == [(2,)]
        # the arrivals' count is kept from the build's deletes and inserts, not counted: still the table's
        assert w.sql("select arrivals, mode from derived.arrival_build_state") == [(2, "incremental")]
        after = sorted(w.sql(LINES), key=repr)
        assert len(set(after) - set(before)) == 1, "the scanned person's line, no other"
        assert after == _full_lines(warehouse_url, build.as_of_for(dt.date(2021, 11, 12)))
    finally:
        w.close()


def test_an_arrival_that_leaves_its_person_changes_that_persons_line(warehouse_url):
    """The arrival measure is in the published row: when identity moves a checkpoint scan's phone away from the
    person (another person's record carries the phone), the person's arrival goes and its line changes, though
    neither its status nor its card changed."""
    w = ArrivalWorld(warehouse_url)
    phone = "0912000111"
    try:
        w.checkpoint("CP01")
        w.risk_levels([("01", 4, "2021-11-01", None)])
        w.vacc("001090000011", 1, "AZ", "2021-10-01", phone=phone)
        w.checkin("phone", phone, "CP01", at("2021-11-10", "07:00"))
        w.build("2021-11-12", full=True)
        before = w.sql(LINES)
        assert w.sql("select count(*) from derived.arrival where person_id is not null") == [(1,)]
        w.vacc("001090000012", 1, "AZ", "2021-11-11", name="Trần Thị Bình", dob="1990-02-02", phone=phone)
        assert w.build("2021-11-12").mode == "incremental"
        assert w.sql("select person_id from derived.arrival") == [(None,)]
        after = sorted(w.sql(LINES), key=repr)
        assert after != sorted(before, key=repr)
        assert after == _full_lines(warehouse_url, build.as_of_for(dt.date(2021, 11, 12)))
    finally:
        w.close()
