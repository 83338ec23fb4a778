"""The person keys the check-in stage writes with each row (issue 16, migration 0046): the pseudonym of
covidsync.privacy for every row that has a person key, null for one that has none, each person hashed once
per file."""

from __future__ import annotations

import polars as pl

from covidsync import privacy
from covidsync.ingest.checkins import PersonKeys


def _batch(pairs):
    return pl.DataFrame(
        {
            "row_number": list(range(1, len(pairs) + 1)),
            "person_kind": [k for k, _ in pairs],
            "identifier": [i for _, i in pairs],
        },
        schema={"row_number": pl.Int64, "person_kind": pl.String, "identifier": pl.String},
    )


def test_each_row_gets_the_pseudonym_of_its_person_key_and_none_without_one(monkeypatch):
    monkeypatch.setenv("COVIDSYNC_PSEUDONYM_KEY", "a test key, not the development one")
    keys = PersonKeys()
    first = keys.add(
        _batch([("cccd", "001090000001"), ("phone", "0912345678"), (None, None), ("cccd", "001090000001")])
    )
    second = keys.add(_batch([("qid", "Nguyễn-Ω-42"), ("phone", "0912345678")]))
    assert first["row_number"].to_list() == [1, 2, 3, 4]
    assert first["person_key"].to_list() == [
        privacy.pseudonym("cccd", "001090000001"),
        privacy.pseudonym("phone", "0912345678"),
        None,
        privacy.pseudonym("cccd", "001090000001"),
    ]
    assert second["person_key"].to_list() == [
        privacy.pseudonym("qid", "Nguyễn-Ω-42"),
        privacy.pseudonym("phone", "0912345678"),
    ]
    # each person once per file: the second batch hashed only its new person
    assert len(keys.known) == 3


def test_a_key_longer_than_a_block_is_hashed_first_as_hmac_does(monkeypatch):
    monkeypatch.setenv("COVIDSYNC_PSEUDONYM_KEY", "k" * 100)
    keys = PersonKeys()
    assert keys.add(_batch([("cmnd", "123456789")]))["person_key"].to_list() == [
        privacy.pseudonym("cmnd", "123456789")
    ]
