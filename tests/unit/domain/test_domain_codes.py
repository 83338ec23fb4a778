"""Contract §6 (and adoption.md §3): exactly the 27 row codes and 8 file codes, with severities and bilingual messages."""

import dataclasses

import pytest

from covidsync.domain.codes import ERROR, FILE_CODES, ROW_CODES, WARNING, Code, lookup
from covidsync.domain.text import has_vietnamese_diacritics

CONTRACT_ROW_CODES = {
    "missing_required": "error",
    "invalid_citizen_id": "error",
    "unknown_province_in_id": "error",
    "id_birth_year_mismatch": "error",
    "id_gender_mismatch": "error",
    "invalid_date": "error",
    "future_date": "error",
    "before_campaign": "error",
    "event_before_birth": "error",
    "unknown_vaccine": "error",
    "invalid_dose_number": "error",
    "invalid_admin_code": "error",
    "invalid_test_type": "error",
    "invalid_result": "error",
    "invalid_ct_value": "error",
    "result_before_sample": "error",
    "facility_mismatch": "error",
    "duplicate_in_file": "error",
    "invalid_qr_payload": "error",
    "unknown_venue": "error",
    "missing_person_key": "error",
    "invalid_phone": "warning",
    "legacy_cmnd": "warning",
    "short_dose_interval": "warning",
    "name_without_diacritics": "warning",
    # adoption.md §3 (issue 20)
    "invalid_count": "error",
    "unknown_area": "error",
    "invalid_text": "error",  # issue 17 (contract §6)
    "time_out_of_window": "error",  # issue 17 (contract §6)
}
CONTRACT_FILE_CODES = {
    "unsupported_format",
    "undecodable_file",
    "empty_file",
    "missing_columns",
    "file_too_large",
    "unknown_facility",
    "duplicate_file",
    "batch_rejected",
    "file_replaced",  # issue 17: the contract is silent on a file replaced before it was read
    "merge_failed",  # issue 17, item 4: a file that fails in merge ends with a report
}
# issue 24: contract arrivals.md §4 (migration 0025)
CONTRACT_ROW_CODES.update(
    {
        "invalid_declaration_kind": "error",
        "unknown_origin_area": "warning",
        "destination_outside_province": "warning",
        "invalid_risk_level": "error",
        "overlapping_risk_level": "error",
        "invalid_measure": "error",
    }
)
CONTRACT_FILE_CODES.add("registry_rejected")

ALL = [*ROW_CODES.values(), *FILE_CODES.values()]


def test_exactly_the_contract_row_codes_with_their_severities():
    assert len(ROW_CODES) == len(CONTRACT_ROW_CODES)
    assert {code: c.severity for code, c in ROW_CODES.items()} == CONTRACT_ROW_CODES


def test_exactly_the_contract_file_codes_all_errors():
    assert len(FILE_CODES) == len(CONTRACT_FILE_CODES)
    assert set(FILE_CODES) == CONTRACT_FILE_CODES
    assert {c.severity for c in FILE_CODES.values()} == {ERROR}


def test_row_and_file_codes_do_not_overlap():
    assert not set(ROW_CODES) & set(FILE_CODES)


@pytest.mark.parametrize("code", ALL, ids=lambda c: c.code)
def test_code_object_is_consistent(code: Code):
    table = ROW_CODES if code.code in ROW_CODES else FILE_CODES
    assert table[code.code] is code
    assert code.severity in (ERROR, WARNING)


@pytest.mark.parametrize("code", ALL, ids=lambda c: c.code)
def test_messages_are_non_empty_in_both_languages(code: Code):
    assert code.message_vi.strip() and code.message_en.strip()
    assert code.message_vi != code.message_en


@pytest.mark.parametrize("code", ALL, ids=lambda c: c.code)
def test_vietnamese_messages_have_diacritics(code: Code):
    assert has_vietnamese_diacritics(code.message_vi)


def test_code_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        ROW_CODES["legacy_cmnd"].severity = "error"  # type: ignore[misc]


def test_lookup_finds_row_and_file_codes():
    assert lookup("legacy_cmnd").severity == WARNING
    assert lookup("batch_rejected").severity == ERROR
    with pytest.raises(KeyError):
        lookup("no_such_code")
