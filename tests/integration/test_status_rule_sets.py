"""The rule set is a named configuration chosen by COVIDSYNC_RULE_SET; two rule sets keep their own status
side by side; an unknown name is refused in words; the DAG's task builds as of the run's local day."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pendulum
import pytest
from status_world import World, at

from covidsync import tasks
from covidsync.status import rules

CID = "017080000001"


@pytest.fixture
def world(warehouse_url):
    w = World(warehouse_url)
    w.vacc(CID, 1, "AZ", "2021-09-01"), w.vacc(CID, 2, "AZ", "2021-11-10")
    yield w
    w.close()


def test_the_default_rule_set_is_the_contracts():
    rs = rules.get()
    assert rs.name == "hb-2021-11" == rules.DEFAULT_RULE_SET
    assert (rs.fully_vaccinated_days, rs.green_recovery_days, rs.yellow_rt_pcr_hours, rs.dwell_minutes) == (
        14,
        180,
        72,
        30,
    )


def test_a_rule_set_is_chosen_by_configuration(world, monkeypatch):
    seven = dataclasses.replace(rules.get(), name="test-7-days", version=1, fully_vaccinated_days=7)
    monkeypatch.setitem(rules.RULE_SETS, seven.name, seven)
    world.build("2021-11-20")  # the default
    monkeypatch.setenv("COVIDSYNC_RULE_SET", "test-7-days")
    result = world.build("2021-11-20")
    assert result.rule_set == "test-7-days" and result.mode == "full"  # a new rule set starts full
    got = dict(
        world.sql(
            "select rule_set, fully_vaccinated from derived.health_status h join derived.person p using (person_id)"
        )
    )
    assert got == {"hb-2021-11": False, "test-7-days": True}  # dose 2 on 11-10: 11 days before as_of


def test_an_unknown_rule_set_is_refused(monkeypatch):
    monkeypatch.setenv("COVIDSYNC_RULE_SET", "no-such-rules")
    with pytest.raises(rules.UnknownRuleSet, match="known: hb-2021-11"):
        rules.get()


def test_the_task_builds_as_of_the_logical_day_or_today(world):
    logical = pendulum.datetime(2021, 11, 20, tz="Asia/Ho_Chi_Minh")
    summary = tasks.build_health_status(logical)
    assert summary["as_of"] == "2021-11-21T00:00:00+07:00" and summary["persons"] == 1
    assert set(summary) >= {"mode", "touched", "candidates", "open_reviews"}
    assert CID not in repr(summary)  # counts only in XCom
    summary = tasks.build_health_status(None)  # an asset-triggered run: today, local
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=7))).date()
    assert summary["as_of"] == f"{today + dt.timedelta(days=1)}T00:00:00+07:00"
    assert tasks.report_identity_reviews(summary) == {"open_reviews": {}, "as_of": summary["as_of"]}
    assert at("2021-11-20")
