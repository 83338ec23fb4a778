"""Contract §3, "a contact candidate of an F0 at that time", exactly: an antigen test sampled at ``t`` is
supported by candidacy only of another person's F0 episode whose ``f0_since`` is before ``t``, through a scan
of the person in the 14 days before ``t``. Each reading the contract pins, on hand-made persons, in a full
build and in incremental builds day after day (which must give the same tables); and issue 23's case, where
the build used to fail with "contact tracing did not settle in 20 rounds"."""

from __future__ import annotations

import datetime as dt

import pytest
from status_equality import assert_equals_full_rebuild
from status_world import World, at

from covidsync.cli import main
from covidsync.status import build


def cid(n: int) -> str:
    return f"0170910{n:05d}"


@pytest.fixture
def world(warehouse_url):
    w = World(warehouse_url)
    yield w
    w.close()


def paths(world) -> dict[str, list[tuple]]:
    """cccd -> [(f0_since, path)] of every episode."""
    out: dict[str, list[tuple]] = {}
    for value, since, path in world.sql(
        "select i.value, e.f0_since, e.path from derived.f0_episode e join derived.person_identifier i"
        " on i.person_id = e.person_id and i.kind = 'cccd' order by 1, 2"
    ):
        out.setdefault(value, []).append((since, path))
    return out


def build_day_by_day(world, first: str, last: str) -> None:
    """Incremental builds from ``first`` to ``last``, each compared with a full rebuild of its day."""
    day = dt.date.fromisoformat(first)
    while day <= dt.date.fromisoformat(last):
        world.build(day.isoformat())
        assert_equals_full_rebuild(world.url, build.as_of_for(day), f"as of {day}")
        day += dt.timedelta(days=1)


def test_issue_23_a_pair_whose_earlier_test_is_supported_settles(world):
    # X: RT-PCR positive; A scanned near X, then two positive antigen tests 6 hours apart
    x, a, b, c = cid(1), cid(2), cid(3), cid(4)
    world.test(x, "RT-PCR", "positive", at("2021-10-28", "08:00"), name="Lê Văn Xuân", dob="1970-01-01")
    world.checkin("cccd", x, "V1", at("2021-10-28", "10:00"))
    world.checkin("cccd", a, "V1", at("2021-10-28", "10:10"))
    for sampled, resulted in (("09:00", "11:00"), ("15:00", "17:00")):
        world.test(
            a,
            "antigen",
            "positive",
            at("2021-10-30", sampled),
            resulted=at("2021-10-30", resulted),
            name="Lê Thị An",
            dob="1971-01-01",
        )
    # B met A after A's first result, before the second: only inside the window of A's later test
    world.checkin("cccd", a, "V2", at("2021-10-30", "16:00"))
    world.checkin("cccd", b, "V2", at("2021-10-30", "16:05"))
    # B and C met on the 30th; B tested antigen positive on the 31st, C on the 1st
    world.checkin("cccd", b, "V3", at("2021-10-30", "12:00"))
    world.checkin("cccd", c, "V3", at("2021-10-30", "12:10"))
    world.test(b, "antigen", "positive", at("2021-10-31", "09:00"), name="Lê Văn Bình", dob="1972-01-01")
    world.test(c, "antigen", "positive", at("2021-11-01", "09:00"), name="Lê Văn Cường", dob="1973-01-01")
    result = world.build("2021-11-03", full=True)
    assert result.rounds <= build.SETTLE_ROUNDS
    # A's earlier test is supported by X (X's episode began before it): A is F0 from it, and its window
    # ends at that test's result, before A met B; C's episode began after B's test: B is no F0, so C is none
    assert paths(world) == {
        x: [(at("2021-10-28", "08:00"), "rt_pcr")],
        a: [(at("2021-10-30", "09:00"), "antigen_contact")],
    }
    assert not world.status(b)["contact_candidate"] and not world.status(c)["contact_candidate"]
    assert not world.status(b)["f0"] and not world.status(c)["f0"]
    world.sql("truncate derived.build_state")
    build_day_by_day(world, "2021-10-27", "2021-11-03")
    assert set(paths(world)) == {x, a}


def test_support_from_an_episode_that_began_later_does_not_count(world):
    # P scanned beside Q on the 10th; P's antigen test at 09:00 on the 12th; Q's RT-PCR at 10:00 the same day
    p, q = cid(10), cid(11)
    world.checkin("cccd", q, "V1", at("2021-11-10", "18:00"))
    world.checkin("cccd", p, "V1", at("2021-11-10", "18:10"))
    world.test(p, "antigen", "positive", at("2021-11-12", "09:00"), name="Phạm Văn Phú", dob="1980-01-01")
    world.test(q, "RT-PCR", "positive", at("2021-11-12", "10:00"), name="Phạm Văn Quý", dob="1981-01-01")
    # the same with the RT-PCR an hour before the antigen test: that counts
    p2, q2 = cid(12), cid(13)
    world.checkin("cccd", q2, "V2", at("2021-11-10", "18:00"))
    world.checkin("cccd", p2, "V2", at("2021-11-10", "18:10"))
    world.test(p2, "antigen", "positive", at("2021-11-12", "09:00"), name="Phạm Văn Phong", dob="1982-01-01")
    world.test(q2, "RT-PCR", "positive", at("2021-11-12", "08:00"), name="Phạm Văn Quang", dob="1983-01-01")
    world.build("2021-11-13")
    assert world.status(p)["contact_candidate"] and not world.status(p)["f0"]
    assert world.status(p2)["f0"] and world.status(p2)["f0_since"] == at("2021-11-12", "09:00")
    assert paths(world)[p2] == [(at("2021-11-12", "09:00"), "antigen_contact")]
    world.sql("truncate derived.build_state")
    build_day_by_day(world, "2021-11-09", "2021-11-13")


def test_a_candidacy_scan_15_days_before_the_test_does_not_count_13_days_does(world):
    # each F0's episode began before the antigen test and its window holds the scan: only the scan's age differs
    p13, q13, p15, q15 = cid(20), cid(21), cid(22), cid(23)
    test_at = at("2021-11-20", "09:00")
    world.test(
        q13, "RT-PCR", "positive", test_at - dt.timedelta(days=12), name="Trần Văn Quế", dob="1980-02-02"
    )
    world.checkin("cccd", q13, "V1", test_at - dt.timedelta(days=13))
    world.checkin("cccd", p13, "V1", test_at - dt.timedelta(days=13, minutes=-5))
    world.test(p13, "antigen", "positive", test_at, name="Trần Văn Phát", dob="1980-03-03")
    world.test(
        q15, "RT-PCR", "positive", test_at - dt.timedelta(days=14), name="Trần Văn Quyết", dob="1980-04-04"
    )
    world.checkin("cccd", q15, "V2", test_at - dt.timedelta(days=15))
    world.checkin("cccd", p15, "V2", test_at - dt.timedelta(days=15, minutes=-5))
    world.test(p15, "antigen", "positive", test_at, name="Trần Văn Phúc", dob="1980-05-05")
    world.build("2021-11-20")
    evidence = dict(
        world.sql(
            "select i.value, count(*) from derived.contact_candidate c join derived.person_identifier i"
            " on i.person_id = c.candidate_person_id and i.kind = 'cccd' group by 1"
        )
    )
    assert evidence.get(p13) == 1 and evidence.get(p15) == 1  # both are candidates of their F0
    assert world.status(p13)["f0"] and world.status(p13)["f0_since"] == test_at
    assert not world.status(p15)["f0"]
    world.sql("truncate derived.build_state")
    build_day_by_day(world, "2021-11-17", "2021-11-20")


def test_mutual_support_yields_neither(world):
    # A and B scanned together; each tested antigen positive after; nothing else supports either
    a, b = cid(30), cid(31)
    world.checkin("cccd", a, "V1", at("2021-11-10", "10:00"))
    world.checkin("cccd", b, "V1", at("2021-11-10", "10:10"))
    world.test(a, "antigen", "positive", at("2021-11-11", "09:00"), name="Đỗ Văn An", dob="1980-01-01")
    world.test(b, "antigen", "positive", at("2021-11-11", "10:00"), name="Đỗ Văn Bá", dob="1981-01-01")
    build_day_by_day(world, "2021-11-10", "2021-11-12")
    assert paths(world) == {}
    assert not world.status(a)["f0"] and not world.status(b)["f0"]
    assert world.sql("select count(*) from derived.contact_candidate") == [(0,)]


def test_mutual_support_of_two_supported_by_an_earlier_f0_runs_forward_only(world):
    # X (RT-PCR) supports A; A and B met, B tested after A: B is F0 through A, A through X, never through B
    x, a, b = cid(40), cid(41), cid(42)
    world.test(x, "RT-PCR", "positive", at("2021-11-09", "08:00"), name="Võ Văn Xuân", dob="1970-01-01")
    world.checkin("cccd", x, "V1", at("2021-11-09", "10:00"))
    world.checkin("cccd", a, "V1", at("2021-11-09", "10:05"))
    world.checkin("cccd", a, "V2", at("2021-11-10", "12:00"))
    world.checkin("cccd", b, "V2", at("2021-11-10", "12:05"))
    world.test(a, "antigen", "positive", at("2021-11-11", "09:00"), name="Võ Văn An", dob="1971-01-01")
    world.test(b, "antigen", "positive", at("2021-11-11", "10:00"), name="Võ Văn Bá", dob="1972-01-01")
    world.build("2021-11-12")
    assert paths(world) == {
        x: [(at("2021-11-09", "08:00"), "rt_pcr")],
        a: [(at("2021-11-11", "09:00"), "antigen_contact")],
        b: [(at("2021-11-11", "10:00"), "antigen_contact")],
    }


def test_an_antigen_pair_starts_at_the_later_test(world):
    p = cid(50)
    world.test(p, "antigen", "positive", at("2021-11-11", "09:00"), name="Bùi Văn Phú", dob="1980-01-01")
    world.test(p, "antigen", "positive", at("2021-11-11", "16:30"), name="Bùi Văn Phú", dob="1980-01-01")
    world.build("2021-11-12")
    assert paths(world) == {p: [(at("2021-11-11", "16:30"), "antigen_pair")]}
    assert world.status(p)["f0_since"] == at("2021-11-11", "16:30")


def test_explain_names_the_episode_behind_an_f0_by_candidacy(world, capsys):
    x, a = cid(60), cid(61)
    world.test(x, "RT-PCR", "positive", at("2021-11-09", "08:00"), name="Ngô Văn Xuân", dob="1970-01-01")
    world.checkin("cccd", x, "V7", at("2021-11-09", "10:00"))
    world.checkin("cccd", a, "V7", at("2021-11-09", "10:05"))
    world.test(a, "antigen", "positive", at("2021-11-11", "09:00"), name="Ngô Văn An", dob="1971-01-01")
    world.build("2021-11-12")
    x_key = world.sql(
        "select p.person_key from derived.person p join derived.person_identifier i using (person_id)"
        " where i.value = %s",
        (x,),
    )[0][0]
    assert main(["explain", a, "--json"]) == 0
    import json

    report = json.loads(capsys.readouterr().out)
    support = [s for s in report["sources"]["f0_since"] if s.startswith("supported by")]
    assert len(support) == 1, report["sources"]["f0_since"]
    line = support[0]
    assert x_key[:12] in line and "venue V7" in line
    # the episode's start and both scan times
    for moment in (at("2021-11-09", "08:00"), at("2021-11-09", "10:00"), at("2021-11-09", "10:05")):
        assert moment.strftime("%Y-%m-%d %H:%M") in line, line
    assert x not in line


def test_a_build_past_its_round_limit_is_a_bug_report_and_changes_nothing(world, monkeypatch, caplog):
    # X supports A, A supports B: three rounds; a limit of one round stands for a build with a bug
    x, a, b = cid(70), cid(71), cid(72)
    world.test(x, "RT-PCR", "positive", at("2021-11-09", "08:00"), name="Lý Văn Xuân", dob="1970-01-01")
    world.checkin("cccd", x, "V1", at("2021-11-09", "10:00"))
    world.checkin("cccd", a, "V1", at("2021-11-09", "10:05"))
    world.test(a, "antigen", "positive", at("2021-11-11", "09:00"), name="Lý Văn An", dob="1971-01-01")
    world.build("2021-11-10")
    before = world.sql("select as_of, mode from derived.build_state")
    world.checkin("cccd", a, "V2", at("2021-11-11", "09:30"))
    world.checkin("cccd", b, "V2", at("2021-11-11", "09:40"))
    world.test(b, "antigen", "positive", at("2021-11-12", "09:00"), name="Lý Văn Bá", dob="1972-01-01")
    monkeypatch.setattr(build, "SETTLE_ROUNDS", 0)
    monkeypatch.setattr(build, "round_limit", lambda cur, params: 1)
    with pytest.raises(build.NotSettledBug) as raised:
        world.build("2021-11-12")
    message = str(raised.value)
    assert "bug in the build" in message and "previous release stays current" in message
    keys = [k for (k,) in world.sql("select person_key from derived.person")]
    assert any(k[:16] in message for k in keys)  # named by pseudonymous key
    assert not any(c in message for c in (x, a, b)) and "Lý" not in message  # never personal data
    assert message in caplog.text
    # rolled back: the last build's result stands; the alert says why
    assert world.sql("select as_of, mode from derived.build_state") == before
    assert world.sql("select count(*) from derived.f0_episode") == [(1,)]  # X, as the last build left
    assert world.person_id("cccd", b) is None
    alerts = world.sql("select kind, message from ops.alert where resolved_at is null")
    assert len(alerts) == 1 and alerts[0][0] == "health_status_build_bug"
    assert "previous release stays current" in alerts[0][1] and "Lý" not in alerts[0][1]
    # the same build without the bug settles
    monkeypatch.undo()
    world.build("2021-11-12")
    assert world.status(b)["f0"]


def test_an_f0_whose_episode_moves_earlier_supports_a_test_it_did_not_before(world):
    # Q: RT-PCR positive at 19:18; P scanned beside Q at 07:38 that morning (inside both windows below)
    q, p = cid(80), cid(81)
    world.test(q, "RT-PCR", "positive", at("2021-11-07", "19:18"), name="Mai Văn Quý", dob="1970-01-01")
    world.checkin("cccd", q, "V1", at("2021-11-07", "07:25"))
    world.checkin("cccd", p, "V1", at("2021-11-07", "07:38"))
    world.build("2021-11-08")
    # sent late: Q's earlier positive (07:18) and P's antigen positive at 13:14, after 07:18, before 19:18
    world.test(q, "RT-PCR", "positive", at("2021-11-07", "07:18"), name="Mai Văn Quý", dob="1970-01-01")
    world.test(p, "antigen", "positive", at("2021-11-07", "13:14"), name="Mai Văn Phú", dob="1971-01-01")
    result = world.build("2021-11-08")
    assert result.mode == "incremental"
    assert paths(world)[p] == [(at("2021-11-07", "13:14"), "antigen_contact")]
    assert_equals_full_rebuild(world.url, build.as_of_for(dt.date(2021, 11, 8)), "after the late records")
