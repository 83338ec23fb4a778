"""The streaming step of check-in ingest: which person key a scan gives, what a payload tells, and reading
``scanned_at`` on the fast path exactly as the domain rules read it."""

from __future__ import annotations

import datetime as dt
import unicodedata

import pytest

from covidsync.domain import dates
from covidsync.ingest import checkins

CARD = "017190001234|123456789|Bùi Văn Nam|05031990|Nam|Xóm Mít|15072021"
PERSONAL = "017090001111|BUI XUAN QUAN|1990-06-23|0|183471582224943384|<1<HS4010120878821<0398474790"
MASKED = "******907442|HOANG THI KIM HOA|****-**-**|0|339395218978978988|<2<<0945376247"


def rows(*values):
    return list(checkins.checkin_rows(7, [(i, v) for i, v in enumerate(values, 1)]))


def key(staged):
    return staged[14], staged[15]


def test_a_card_qr_gives_its_cccd_and_the_cmnd_as_a_link():
    qr_kind, kind, identifier, facts = checkins.payload_facts(CARD)
    assert (qr_kind, kind, identifier) == ("cccd", "cccd", "017190001234")
    assert facts == (
        "cccd_qr",
        "017190001234",
        "123456789",
        None,
        None,
        "Bùi Văn Nam",
        "1990-03-05",
        1990,
        "male",
    )


def test_an_nfd_card_name_is_stored_nfc():
    payload = unicodedata.normalize("NFD", CARD)
    assert checkins.payload_facts(payload)[3][5] == "Bùi Văn Nam"


def test_a_masked_personal_qr_is_keyed_by_its_qid_and_keeps_no_number():
    qr_kind, kind, identifier, facts = checkins.payload_facts(MASKED)
    assert (qr_kind, kind, identifier) == ("personal", "qid", "339395218978978988")
    assert facts[1] is None and facts[2] is None and facts[6] is None and facts[7] is None
    assert facts[4] == "0945376247" and facts[8] == "female"


@pytest.mark.parametrize(
    "payload",
    [
        "017190001234|Bùi Văn Nam|05031990|Nam|Xóm Mít|15072021",  # 6-field card layout of some docs
        "017190001234|123456789|Bùi Văn Nam|05031990|Nam|Xóm Mít|15072021|extra",
        "https://qr.tokhaiyte.vn/venue/123",
        "VNEID:abc",
        "017090001111|BUI XUAN QUAN|23/06/1990|0|1834|<1",  # a personal QR with a DDMMYYYY date
    ],
)
def test_other_payloads_are_invalid(payload):
    assert checkins.payload_facts(payload) == ("invalid", None, None, None)


def test_the_best_key_wins_cccd_over_cmnd_over_qid_over_phone():
    out = rows(
        {"qr_payload": MASKED, "citizen_id": "017203009999"},  # a CCCD typed beats a masked QR's QID
        {"qr_payload": MASKED, "phone": "0912345678"},  # a QID beats a phone
        {"citizen_id": "123456789", "phone": "0912345678"},  # a CMND beats a phone
        {"citizen_id": "17203009999"},  # an 11-digit CCCD that lost its zero is repaired
        {"citizen_id": "018203009999", "phone": "+84 912 345 678"},  # unknown province: not a key
        {"citizen_id": "12-34", "phone": "0218385555"},  # nothing usable
        {"qr_payload": "017190001234|Bùi Văn Nam|05031990|Nam|Xóm Mít|15072021", "phone": "0912345678"},
    )
    assert [key(s) for s, _ in out] == [
        ("cccd", "017203009999"),
        ("qid", "339395218978978988"),
        ("cmnd", "123456789"),
        ("cccd", "017203009999"),
        ("phone", "0912345678"),
        (None, None),
        ("phone", "0912345678"),
    ]
    assert out[6][0][9] == "invalid"
    assert out[4][0][11] == "018203009999"  # the digits are kept for the row rules (unknown_province_in_id)
    assert out[5][0][11] is None and out[5][0][13] is None  # unreadable: null beside the text as sent


def test_identity_facts_are_written_once_per_person_key():
    out = rows(
        {"qr_payload": CARD}, {"qr_payload": CARD}, {"qr_payload": PERSONAL}, {"citizen_id": "017190001234"}
    )
    facts = [f for _, f in out]
    assert facts[0][:4] == [7, "cccd", "017190001234", "cccd_qr"]
    assert facts[1] is None
    assert facts[2][:4] == [7, "cccd", "017090001111", "personal_qr"]
    assert facts[3] is None  # no payload, no facts


@pytest.mark.parametrize(
    "text",
    [
        "2021-11-01T00:10:25+07:00",
        "2021-11-02T17:10:29Z",
        "2021-11-02T17:10:29-05:00",
        "01/11/2021 08:00",
        "1/11/2021 8:00:00",
        "2021-11-01 08:00",
        "01112021 08:00",
        "2021-11-01",
    ],
)
def test_scanned_at_reads_like_the_domain_rules(text):
    read = checkins._scanned_at(text)
    assert dt.datetime.fromisoformat(read) == dates.parse_datetime(text)


@pytest.mark.parametrize(
    "text",
    [
        "2021-02-30T09:00:00+07:00",
        "2021-11-01T25:10:00+07:00",
        "hôm qua 9h",
        "10/31/2021 08:00",
        "1850-01-01T00:00:00Z",
    ],
)
def test_unreadable_scanned_at_is_null(text):
    assert checkins._scanned_at(text) is None


def test_citizen_ids_read_by_column_expressions_as_citizen_id_key_reads_them():
    """Issue 24: the plain 12- and 9-digit values (nearly every row) are read without a Python call per
    distinct value; every value, plain or not, gets exactly :func:`checkins.citizen_id_key`'s answer."""
    import polars as pl

    values = [
        "017190001234",  # CCCD, known province
        "018203009999",  # 12 digits, unknown province: digits kept, no key
        "117190001234",  # 12 digits not starting with 0
        "123456789",  # CMND
        "17190001234",  # 11 digits: Excel dropped the leading zero (repaired by the domain rule)
        "0171 9000 1234",  # spaces
        "017190001234.0",  # an Excel float tail
        "٠١٧١٩٠٠٠١٢٣٤",  # Arabic-Indic digits: isdigit() but not ASCII
        "0171900012345",  # 13 digits
        "12345678",
        "abc",
        "",
        None,
        "017190001234",  # repeated
    ]
    table = checkins._id_table(pl.Series(values, dtype=pl.String))
    assert table.height == len({v for v in values if v is not None})
    got = {r["citizen_id_raw"]: (r["citizen_id"], r["c_kind"]) for r in table.iter_rows(named=True)}
    checkins.citizen_id_key.cache_clear()
    assert got == {v: checkins.citizen_id_key(v) for v in values if v is not None}
