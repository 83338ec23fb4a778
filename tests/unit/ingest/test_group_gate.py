"""One GX validation for a group of files (covidsync.ingest.group_gate): each file's result is the one its
own gate gives, a file's failure holds only that file, and files with the same bounds share one validation."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest

from covidsync.ingest import batch_gate, group_gate

GX_DIR = Path(__file__).resolve().parents[3] / "great_expectations"

VACCINATIONS = {
    "dataset": "vaccinations",
    "facility_code": "17001",
    "rows_total": 500,
    "rows_rejected": 10,
    "rejected_share": 0.02,
    "max_rejected_share": 0.2,
    "duplicate_keys": 0,
    "null_keys": 0,
    "value_counts": {
        "vaccine_code": {"EU/1/21/1529": 300, "BBIBP-CorV": 190},
        "dose_number": {1: 250, 2: 240},
        "gender": {"male": 245, "female": 245},
    },
    "history": {"days": 0},
}
TEST_RESULTS = {
    "dataset": "test_results",
    "facility_code": "17002",
    "rows_total": 400,
    "rows_rejected": 0,
    "rejected_share": 0.0,
    "max_rejected_share": 0.2,
    "duplicate_keys": 0,
    "null_keys": 0,
    "value_counts": {
        "test_type": {"RT-PCR": 300, "antigen": 100},
        "result": {"negative": 385, "positive": 12, "invalid": 3},
        "pooled": {True: 150, False: 250},
        "gender": {"male": 200, "female": 200},
    },
    "history": {
        "days": 20,
        "rows_mean": 100.0,
        "rows_std": 10.0,
        "positivity": 0.03,
        "positivity_mean": 0.025,
        "positivity_std": 0.01,
    },
}


def profile(base: dict, file_id: int, **changes) -> dict:
    result = copy.deepcopy(base)
    result["file_id"] = file_id
    for key, value in changes.items():
        if key in ("value_counts", "history"):
            result[key].update(value)
        else:
            result[key] = value
    return result


@pytest.fixture(scope="module", autouse=True)
def gx_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("gx") / "great_expectations"
    shutil.copytree(GX_DIR, root, ignore=shutil.ignore_patterns("uncommitted"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COVIDSYNC_GX_DIR", str(root))
        yield root


def test_each_file_gets_the_result_of_its_own_gate_and_bounds_split_the_validations(monkeypatch):
    profiles = [
        profile(VACCINATIONS, 1),
        profile(VACCINATIONS, 2, rows_rejected=150, rejected_share=0.3),  # over the limit: held
        profile(VACCINATIONS, 3, value_counts={"vaccine_code": {"Pfizer": 4, "EU/1/21/1529": 486}}),
        profile(VACCINATIONS, 4, duplicate_keys=2, null_keys=1, value_counts={"gender": {"x": 1}}),
        profile(VACCINATIONS, 5, history={"days": 9, "rows_mean": 5000.0, "rows_std": 100.0}),  # warns
        profile(TEST_RESULTS, 6),  # 400 rows against a history of 100 ± 30: a warning
        profile(TEST_RESULTS, 7, value_counts={"result": {"maybe": 2}}),
        profile(VACCINATIONS, 8),
        {"dataset": "vaccinations", "file_id": 9},  # malformed: that file's error only
    ]
    alone = [batch_gate.run_gate(p) for p in profiles[:-1]]

    validations = []
    real = group_gate._validate_stacked

    def counted(dataset, members, *args, **kwargs):
        validations.append((dataset, len(members)))
        return real(dataset, members, *args, **kwargs)

    monkeypatch.setattr(group_gate, "_validate_stacked", counted)
    grouped = group_gate.run_group_gate(profiles)

    assert isinstance(grouped[-1], ValueError)
    for own, together in zip(alone, grouped[:-1], strict=True):
        assert together.results == own.results
        assert (together.success, together.failed, together.warnings) == (
            own.success,
            own.failed,
            own.warnings,
        )
    assert [r.success for r in grouped[:-1]] == [True, False, False, False, True, True, False, True]
    assert grouped[4].warnings and grouped[5].warnings
    # files 1-4 and 8 share their bounds (no history); 5 has its own; the test results share theirs
    assert sorted(validations) == [("test_results", 2), ("vaccinations", 1), ("vaccinations", 5)]


def test_stored_results_are_each_files_own_page(gx_dir):
    profiles = [profile(VACCINATIONS, 11, original_name="a.csv"), profile(VACCINATIONS, 12, duplicate_keys=1)]
    results = group_gate.run_group_gate(profiles, store=True)
    keys = [r.docs_key for r in results]
    assert len({k.run_id.run_name for k in keys}) == 2
    assert keys[0].run_id.run_name.startswith("vaccinations-17001-file11-a.csv-")
    store = batch_gate._project().context.validation_results_store
    first, second = (store.get(k) for k in keys)
    assert first.success and not second.success
    assert first.meta["batch_spec"]["data_asset_name"] == "vaccinations from facility 17001, file 11 (a.csv)"
    failed = [r for r in second.results if not r.success]
    assert [(r.expectation_config.kwargs["column"], r.result["unexpected_count"]) for r in failed] == [
        ("duplicate_keys", 1)
    ]
    assert failed[0].result["partial_unexpected_list"] == [1.0]
    index = batch_gate.build_group_docs(keys)
    assert all(list((index.parent / "validations").rglob(f"{k.run_id.run_name}/*/*.html")) for k in keys)


def _reference_counts(column, unexpected) -> dict:
    """The per-file counts as e12-smallfiles computed them, from the file's own frame (pandas)."""
    total, missing = len(column), int(column.isna().sum())
    present, bad = total - missing, len(unexpected)
    return {
        "element_count": total,
        "missing_count": missing,
        "missing_percent": 100.0 * missing / total if total else None,
        "partial_unexpected_list": [batch_gate._jsonable(v) for v in list(unexpected)[:20]],
        "unexpected_count": bad,
        "unexpected_percent": 100.0 * bad / present if present else None,
        "unexpected_percent_nonmissing": 100.0 * bad / present if present else None,
        "unexpected_percent_total": 100.0 * bad / total if total else None,
    }


def test_a_files_stored_result_is_its_own_frames_and_gx_writes_the_same_bytes(gx_dir):
    """Issue 16 (e32-small): a group's files are read from their profile rows as lists, not a DataFrame a
    file, and their stored results serialised apart from GX. Each file's stored result is the one its own
    frame gives (GX's COMPLETE validation of that frame alone, counted as before), the stacked frame is
    the per-file frames concatenated, and the text stored is byte for byte what GX's store writes."""
    import pandas as pd

    profiles = [
        profile(VACCINATIONS, 21),
        profile(VACCINATIONS, 22, rows_rejected=150, rejected_share=0.3),
        profile(VACCINATIONS, 23, value_counts={"vaccine_code": {"Pfizer": 4, "x": 3, "EU/1/21/1529": 486}}),
        profile(VACCINATIONS, 24, duplicate_keys=2, null_keys=1, value_counts={"gender": {"x": 1, "y": 2}}),
        profile(VACCINATIONS, 25, value_counts={"dose_number": {}}),  # a column without values
        profile(VACCINATIONS, 26),
    ]
    frames = [batch_gate.profile_frame(p)[0] for p in profiles]
    rows = [batch_gate.profile_rows(p) for p in profiles]
    stacked = batch_gate.typed_frame("vaccinations", [r for rs, _, _ in rows for r in rs], rows[0][1])
    pd.testing.assert_frame_equal(stacked, pd.concat(frames, ignore_index=True))

    deferred: list = []
    results = group_gate.run_group_gate(profiles, store=True, deferred=deferred)
    assert [r.success for r in results] == [True, False, False, False, True, True]
    project = batch_gate._project()
    suite = project.suites[batch_gate.suite_name("vaccinations")]
    for (_, own), frame, p in zip(deferred, frames, profiles, strict=True):
        alone = project.batch_definition.get_batch(batch_parameters={"dataframe": frame}).validate(
            suite, result_format={"result_format": "COMPLETE"}, expectation_parameters=rows[0][2]
        )
        for mine, theirs in zip(own.results, alone.results, strict=True):
            column = theirs.expectation_config.kwargs.get("column")
            assert mine.success == theirs.success, (p["file_id"], column)
            bad = frame.loc[theirs.result.get("unexpected_index_list") or [], column]
            assert mine.result == _reference_counts(frame[column], bad), (p["file_id"], column)

    store = project.context.validation_results_store
    written = []
    backend = type("Backend", (), {"set": lambda self, key, text: written.append(text)})()
    real = store._store_backend
    store._store_backend = backend
    try:
        group_gate.store_deferred(deferred)
    finally:
        store._store_backend = real
    assert written == [store.serialize(own) for _, own in deferred]
    assert len(set(written)) == len(written)


def test_a_result_gx_would_write_otherwise_is_written_by_gx(gx_dir, monkeypatch):
    """The serialiser checks itself against GX's text: when they differ, GX serialises the group."""
    deferred: list = []
    group_gate.run_group_gate(
        [profile(VACCINATIONS, 31), profile(VACCINATIONS, 32)], store=True, deferred=deferred
    )
    store = batch_gate._project().context.validation_results_store
    serialise = group_gate._Serialiser(store)
    real = serialise._fast
    monkeypatch.setattr(serialise, "_fast", lambda own: None if not serialise.configs else real(own) + " ")
    texts = [serialise(own) for _, own in deferred]
    assert not serialise.trusted
    assert texts == [store.serialize(own) for _, own in deferred]
