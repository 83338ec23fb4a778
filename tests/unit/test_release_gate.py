"""The publish gate's GX suite on tiny good and bad profiles: each expectation can fail."""

from __future__ import annotations

import pytest

from covidsync.publish import release_gate
from covidsync.publish.sync import FIELDS

PCCOVID = ["release_id", *FIELDS["pccovid"][:11], "contact_candidate", "as_of"]
VNEID = [
    "release_id",
    *FIELDS["vneid"][:10],
    "as_of",
    "full_name",
    "date_of_birth",
    "vaccination_certificate",
]
SSKDT = [
    *VNEID,
    "test_history",
    "recovered_on",
    "arrival_measure",
    "arrival_measure_ends_on",
]
LIMITS = {"min_kept_share": 0.99, "max_status_changed_share": 0.2}


def _profile(**changes):
    profile = {
        "row_count": 1000,
        "rows_removed": 0,
        "status_changed": 50,
        "previous_kept_share": 1.0,
        "status_changed_share": 0.05,
        "pccovid_columns": PCCOVID,
        "vneid_columns": VNEID,
        "sskdt_columns": SSKDT,
    }
    profile.update(changes)
    return profile


def test_a_sound_release_passes():
    result = release_gate.run(_profile(), **LIMITS)
    assert result.success and result.failed == [] and result.results["evaluated"] == 6


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"row_count": 0}, "row_count"),
        ({"previous_kept_share": 0.9, "rows_removed": 100}, "incomplete: 100 persons"),
        ({"status_changed_share": 0.35, "status_changed": 350}, "mass change: 350 persons"),
        (
            {"pccovid_columns": [*PCCOVID, "full_name"]},
            "pccovid view columns differ from the contract: extra ['full_name']",
        ),
        ({"vneid_columns": VNEID[:-1]}, "missing ['vaccination_certificate']"),
        ({"vneid_columns": [*VNEID, "phone"]}, "extra ['phone']"),
        (
            {"sskdt_columns": [*SSKDT, "phone"]},
            "sskdt view columns differ from the contract: extra ['phone']",
        ),
        ({"sskdt_columns": SSKDT[:-2]}, "missing ['arrival_measure', 'arrival_measure_ends_on']"),
    ],
)
def test_each_expectation_holds_a_bad_release(changes, message):
    result = release_gate.run(_profile(**changes), **LIMITS)
    assert not result.success
    assert len(result.failed) == 1 and message in result.failed[0]


def test_an_override_lifts_only_the_mass_change_limit():
    mass = _profile(status_changed_share=0.6, status_changed=600)
    assert release_gate.run(mass, min_kept_share=0.99, max_status_changed_share=1.0).success
    incomplete = _profile(status_changed_share=0.6, previous_kept_share=0.5, rows_removed=500)
    assert not release_gate.run(incomplete, min_kept_share=0.99, max_status_changed_share=1.0).success


def test_first_sort_memory_from_the_environment(monkeypatch):
    from covidsync.publish import release

    monkeypatch.delenv("COVIDSYNC_PUBLISH_FIRST_SORT_MEMORY", raising=False)
    assert release.first_sort_memory() == "1GB"
    monkeypatch.setenv("COVIDSYNC_PUBLISH_FIRST_SORT_MEMORY", " 512MB ")
    assert release.first_sort_memory() == "512MB"
    monkeypatch.setenv("COVIDSYNC_PUBLISH_FIRST_SORT_MEMORY", "1GB; drop table x")
    with pytest.raises(ValueError, match="not a size such as 1GB"):
        release.first_sort_memory()


@pytest.mark.parametrize(
    ("var", "default"),
    [
        ("COVIDSYNC_INGEST_WORK_MEM", "64MB"),
        ("COVIDSYNC_CHECKIN_INDEX_MEMORY", "256MB"),
        ("COVIDSYNC_PUBLISH_FIRST_SORT_MEMORY", "1GB"),
    ],
)
def test_every_memory_setting_is_read_the_same_way(monkeypatch, var, default):
    from covidsync import settings
    from covidsync.ingest import checkins, engine
    from covidsync.publish import release

    read = {
        "COVIDSYNC_INGEST_WORK_MEM": engine.set_based_work_mem,
        "COVIDSYNC_CHECKIN_INDEX_MEMORY": checkins.index_build_memory,
        "COVIDSYNC_PUBLISH_FIRST_SORT_MEMORY": release.first_sort_memory,
    }[var]
    monkeypatch.delenv(var, raising=False)
    assert read() == settings.memory_size(var, default) == default
    monkeypatch.setenv(var, "2048kB")
    assert read() == "2048kB"
    monkeypatch.setenv(var, "64 MB")
    with pytest.raises(ValueError, match=f"{var}: '64 MB' is not a size such as {default}"):
        read()
