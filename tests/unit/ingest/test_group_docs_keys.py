"""The group's Data Docs update names its pages by a set (issue 16): GX asks ``key in identifiers`` for every
result its store holds; the answer is the list's, by value, without comparing each key."""

from __future__ import annotations

from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.resource_identifiers import (
    ExpectationSuiteIdentifier,
    ValidationResultIdentifier,
)

from covidsync.ingest.batch_gate import _Identifiers


def key(run: str) -> ValidationResultIdentifier:
    return ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name="vaccinations_batch"),
        run_id=RunIdentifier(run_name=run, run_time="20261207T070000.000000Z"),
        batch_identifier="batch",
    )


def test_identifiers_answer_in_as_the_list_does_by_value():
    group = [key("vaccinations-17001-file-1"), ExpectationSuiteIdentifier(name="vaccinations_batch")]
    ids = _Identifiers(group)
    stored = [
        ValidationResultIdentifier.from_tuple(k.to_tuple())
        for k in (key("vaccinations-17001-file-1"), key("other"))
    ]
    assert [k in ids for k in stored] == [k in group for k in stored] == [True, False]
    assert ExpectationSuiteIdentifier(name="vaccinations_batch") in ids
    assert ExpectationSuiteIdentifier(name="checkins_batch") not in ids
    assert list(ids) == group and ids, "still the list GX iterates and tests for truth"
