"""Contact tracing (contract §5) on a small hand-made set of check-ins with known answers, the candidate
flag of §6 (14 days), and `covidsync explain` naming the records behind a status."""

from __future__ import annotations

import datetime as dt

import pytest
from status_world import World, at

from covidsync.cli import main

F0 = "017080000100"


def cid(n: int) -> str:
    return f"0170800{n:05d}"


@pytest.fixture
def world(warehouse_url):
    w = World(warehouse_url)
    # the F0: sampled 2021-11-10 09:00, result 2021-11-11 09:00 -> window 2021-11-08 09:00 .. 2021-11-11 09:00
    w.test(F0, "RT-PCR", "positive", at("2021-11-10", "09:00"), resulted=at("2021-11-11", "09:00"))
    w.checkin("cccd", F0, "V1", at("2021-11-09", "10:00"))
    w.checkin("cccd", cid(1), "V1", at("2021-11-09", "10:30"))  # 30 min: candidate
    w.checkin("cccd", cid(2), "V1", at("2021-11-09", "10:31"))  # 31 min: not
    w.checkin("cccd", cid(3), "V1", at("2021-11-09", "09:45"))  # 15 min before: candidate
    w.checkin("cccd", cid(4), "V2", at("2021-11-09", "10:00"))  # another venue: not
    w.checkin("cccd", F0, "V1", at("2021-11-07", "10:05"))  # before the window
    w.checkin("cccd", cid(5), "V1", at("2021-11-07", "10:00"))  # so not a candidate
    w.checkin("cccd", F0, "V1", at("2021-11-11", "10:10"))  # after the result: outside the window
    w.checkin("cccd", cid(6), "V1", at("2021-11-11", "10:00"))  # so not a candidate
    w.checkin("cccd", F0, "V3", at("2021-11-08", "09:10"))  # 10 min into the window
    w.checkin("cccd", cid(7), "V3", at("2021-11-08", "08:55"))  # 15 min away but before the window opens: not
    w.checkin("cccd", cid(8), "V3", at("2021-11-08", "09:30"))  # candidate
    w.checkin(
        "phone", "0911111111", "V1", at("2021-11-09", "10:10")
    )  # a phone nobody resolves: still a candidate
    for n in range(1, 9):
        w.vacc(cid(n), 1, "AZ", "2021-09-01")
    w.vacc(F0, 1, "AZ", "2021-09-01")
    yield w
    w.close()


def test_candidates_have_known_answers_with_evidence(world):
    world.build("2021-11-12")
    rows = world.sql(
        """
        select coalesce(p.citizen_id, c.candidate_person_key), c.venue_code, c.f0_scanned_at, c.candidate_scanned_at,
               c.f0_since, c.window_end
        from derived.contact_candidate c left join derived.person p on p.person_id = c.candidate_person_id
        order by 4
        """
    )
    from covidsync import privacy

    phone_key = privacy.pseudonym("phone", "0911111111")
    assert [(r[0], r[1], r[3]) for r in rows] == [
        (cid(8), "V3", at("2021-11-08", "09:30")),
        (cid(3), "V1", at("2021-11-09", "09:45")),
        (phone_key, "V1", at("2021-11-09", "10:10")),
        (cid(1), "V1", at("2021-11-09", "10:30")),
    ]
    assert {r[2] for r in rows if r[1] == "V1"} == {at("2021-11-09", "10:00")}
    assert {(r[4], r[5]) for r in rows} == {(at("2021-11-10", "09:00"), at("2021-11-11", "09:00"))}
    assert world.status(cid(1))["contact_candidate"] is True
    assert world.status(cid(2))["contact_candidate"] is False
    assert world.status(F0)["contact_candidate"] is False


def test_the_flag_lasts_14_days(world):
    world.build("2021-11-22")  # as_of 11-23 00:00: a scan of 11-09 10:30 is within 14 days
    assert world.status(cid(1))["contact_candidate"] is True
    world.build("2021-11-23")  # as_of 11-24 00:00: no longer
    assert world.status(cid(1))["contact_candidate"] is False
    assert world.sql("select count(*) from derived.contact_candidate")[0][0] == 4  # the evidence stays


def test_scans_after_as_of_are_not_seen(world):
    world.build("2021-11-08")  # as_of 11-09 00:00: the F0 is not an F0 yet
    assert world.sql("select count(*) from derived.contact_candidate")[0][0] == 0


def test_tracing_uses_the_range_indexes(world):
    """The tracing SQL itself reaches core.checkin through (person_key, scanned_at) for the F0's scans and
    (venue_code, scanned_at) for the others: a range join on indexes, not a cross join."""
    import psycopg2

    from covidsync.status import build, rules
    from covidsync.status.sqlfiles import sql

    world.build("2021-11-12")
    insert = sql("contact_candidate").split(";\n\n", 1)[1]
    params = rules.get().sql_params() | {"as_of": build.as_of_for(dt.date(2021, 11, 12))}
    conn = psycopg2.connect(world.url)
    try:
        with conn.cursor() as cur:
            cur.execute("set enable_seqscan = off")
            cur.execute("create temp table retrace as select distinct person_id from derived.f0_episode")
            cur.execute("explain " + insert, params)
            plan = "\n".join(r[0] for r in cur.fetchall())
    finally:
        conn.close()
    assert "person_key_scanned_at_idx" in plan
    assert "venue_code_scanned_at_idx" in plan
    assert "Index Cond: ((venue_code = " in plan
    # the venue index is searched on the contact window itself, not on the venue alone then filtered
    venue_conds = [line for line in plan.splitlines() if "Index Cond: ((venue_code = " in line]
    assert all("contact_from" in line and "contact_to" in line for line in venue_conds), venue_conds


def test_explain_names_the_records_behind_each_field(world, capsys):
    world.build("2021-11-12")
    assert main(["explain", F0]) == 0
    out = capsys.readouterr().out
    assert "active F0 " in out and "True" in out  # labels for people since issue 18 (was the column name f0)
    assert "file" in out and "test/file.csv, row 1" in out  # the positive test: file and row
    assert "rule: rt_pcr" in out
    assert "dose 1 on 2021-09-01" in out
    assert F0 not in out.replace(f"explain {F0}", "")  # identifiers are masked
    assert main(["explain", cid(1), "--json"]) == 0
    import json

    report = json.loads(capsys.readouterr().out)
    assert report["fields"]["contact_candidate"] is True
    assert report["sources"]["contact_candidate"][0].startswith("venue V1")
    # another date: built in a transaction that is rolled back
    assert main(["explain", F0, "--date", "2021-11-30", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["fields"]["f0"] is False and report["fields"]["recovered_on"] == "2021-11-24"
    assert "14 days" in report["sources"]["recovered_on"][0]
    state = world.sql("select as_of from derived.build_state")
    assert state == [(at("2021-11-13", "00:00"),)]
    assert world.status(F0)["f0"] is True


def test_explain_unknown_person(world):
    world.build("2021-11-12")
    assert main(["explain", "017999999999"]) == 2
    assert dt.date(2021, 11, 12)


def test_scans_sent_late_reach_an_old_window_in_an_incremental_build(world):
    world.vacc(cid(9), 1, "AZ", "2021-09-01")
    world.build("2021-11-20")
    assert world.status(cid(9))["contact_candidate"] is False
    # a day passes: what was loaded and built is a day old, outside the watermark's overlap
    world.sql(
        "update core.checkin set loaded_at = loaded_at - interval '1 day';"
        " update core.vaccination set loaded_at = loaded_at - interval '1 day';"
        " update core.test_result set loaded_at = loaded_at - interval '1 day';"
        " update derived.build_state set checkin_watermark = checkin_watermark - interval '1 day',"
        " record_watermark = record_watermark - interval '1 day'"
    )
    # a venue's file for 2021-11-09 arrives on the 20th: no as_of change, only new scans
    world.checkin("cccd", cid(9), "V1", at("2021-11-09", "09:50"))
    result = world.build("2021-11-20")
    assert (result.mode, result.touched) == ("incremental", 1)
    assert world.status(cid(9))["contact_candidate"] is True
