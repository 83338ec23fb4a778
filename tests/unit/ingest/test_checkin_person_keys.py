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


def test_payloads_are_kept_on_every_row_a_report_may_show():
    from covidsync.ingest.checkins import IdsSeen, payloads_where_reported

    def batch(rows):
        return pl.DataFrame(
            {
                "row_number": [n for n, _ in rows],
                "checkin_id": [c for _, c in rows],
                "qr_payload": [f"payload {n}" for n, _ in rows],
            },
            schema={"row_number": pl.Int64, "checkin_id": pl.String, "qr_payload": pl.String},
        )

    codes = pl.DataFrame(
        {"row_number": [2], "column_name": ["venue_code"], "code": ["unknown_venue"]},
        schema={"row_number": pl.Int64, "column_name": pl.String, "code": pl.String},
    )
    seen = IdsSeen()
    first = payloads_where_reported(batch([(1, "A"), (2, "B"), (3, "C"), (4, "C"), (5, None)]), codes, seen)
    # a row with a code, and the rows of an id repeated in the batch, keep it; the others do not
    assert first["qr_payload"].to_list() == [None, "payload 2", "payload 3", "payload 4", None]
    second = payloads_where_reported(batch([(6, "A"), (7, None)]), codes.clear(), seen)
    # an id an earlier batch sent keeps it (checkin_duplicate.sql flags it after staging)
    assert second["qr_payload"].to_list()[0] == "payload 6"


def test_ids_seen_never_misses_an_id_of_an_earlier_batch():
    from covidsync.ingest.checkins import IdsSeen

    seen = IdsSeen()
    earlier = pl.Series([f"PC-{n:08d}" for n in range(0, 200_000, 2)], dtype=pl.String)
    assert not seen.seen_then_add(earlier).any()
    later = pl.Series([f"PC-{n:08d}" for n in range(200_000)] + [None], dtype=pl.String)
    flags = seen.seen_then_add(later)
    assert flags[0:200_000:2].all(), "every id sent before is seen"
    assert flags[1:200_000:2].mean() < 0.01, "few false ones at this size"
    assert flags[200_000] is False
