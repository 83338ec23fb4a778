"""CCCD numbers: province, century/sex digit, codes, Excel repair (domain notes §2, contract §2 and §6)."""

import dataclasses

import pytest

from covidsync.domain.cccd import PROVINCES, CccdInfo, cccd_info, check_citizen_id, repair_citizen_id


def test_63_provinces_with_known_codes():
    assert len(PROVINCES) == 63
    assert all(len(code) == 2 and code.isdigit() for code in PROVINCES)
    assert PROVINCES["17"] == "Tỉnh Hoà Bình"
    assert PROVINCES["87"] == "Tỉnh Đồng Tháp"
    assert PROVINCES["01"] == "Thành phố Hà Nội"
    assert PROVINCES["79"] == "Thành phố Hồ Chí Minh"
    assert PROVINCES["96"] == "Tỉnh Cà Mau"
    # Codes are not contiguous: these do not exist.
    for missing in ("03", "05", "16", "18", "97", "98", "00"):
        assert missing not in PROVINCES


def test_worked_example_dong_thap_male_1984():
    assert cccd_info("087084000999") == CccdInfo(province_code="87", gender="male", birth_year=1984)
    assert check_citizen_id("087084000999", birth_year=1984, gender="male") == []


@pytest.mark.parametrize(
    ("digit", "gender", "year"),
    [
        ("0", "male", 1984),
        ("1", "female", 1984),
        ("2", "male", 2084),
        ("3", "female", 2084),
        ("4", "male", 2184),
        ("5", "female", 2184),
        ("8", "male", 2384),
        ("9", "female", 2384),
    ],
)
def test_century_sex_digit_even_male_odd_female(digit, gender, year):
    info = cccd_info(f"017{digit}84123456")
    assert info is not None
    assert (info.gender, info.birth_year) == (gender, year)


def test_2000s_births():
    assert cccd_info("017205001234") == CccdInfo("17", "male", 2005)
    assert cccd_info("001310001234") == CccdInfo("01", "female", 2010)
    assert cccd_info("001300001234").birth_year == 2000


def test_cccd_info_needs_exactly_12_ascii_digits():
    assert cccd_info("87084000999") is None
    assert cccd_info("0870840009990") is None
    assert cccd_info("08708400099A") is None
    assert cccd_info("０８７０８４０００９９９") is None  # full-width digits are not ASCII
    assert cccd_info("") is None
    assert cccd_info(None) is None  # type: ignore[arg-type]


def test_cccd_info_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        cccd_info("087084000999").gender = "female"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, []),
        ({"birth_year": 1984}, []),
        ({"birth_year": 1985}, ["id_birth_year_mismatch"]),
        ({"birth_year": 2084}, ["id_birth_year_mismatch"]),
        ({"gender": "female"}, ["id_gender_mismatch"]),
        ({"gender": "Nữ"}, ["id_gender_mismatch"]),
        ({"gender": "Nam"}, []),
        ({"gender": "unknown-word"}, []),
        ({"birth_year": 1990, "gender": "female"}, ["id_birth_year_mismatch", "id_gender_mismatch"]),
    ],
)
def test_check_citizen_id_year_and_gender(kwargs, expected):
    assert check_citizen_id("087084000999", **kwargs) == expected


def test_unknown_province_still_checks_year_and_gender():
    assert check_citizen_id("003084000999") == ["unknown_province_in_id"]
    assert check_citizen_id("003084000999", birth_year=1990, gender="female") == [
        "unknown_province_in_id",
        "id_birth_year_mismatch",
        "id_gender_mismatch",
    ]


def test_province_needs_a_leading_zero():
    # "117" would be province 17 without the leading 0: not a CCCD province code.
    assert check_citizen_id("117084000999") == ["unknown_province_in_id"]


def test_every_province_code_is_accepted():
    for code in PROVINCES:
        assert check_citizen_id(f"0{code}084000999", birth_year=1984, gender="male") == []


def test_legacy_cmnd_and_invalid_values():
    assert check_citizen_id("171234567") == ["legacy_cmnd"]
    assert check_citizen_id("171234567", birth_year=1984, gender="male") == ["legacy_cmnd"]
    for bad in ("12345", "87084000999", "0870840009991", "08708400099X", "B1234567", "17123456"):
        assert check_citizen_id(bad) == ["invalid_citizen_id"], bad


def test_empty_is_left_to_missing_required():
    assert check_citizen_id("") == []
    assert check_citizen_id("   ") == []
    assert check_citizen_id(None) == []  # type: ignore[arg-type]


def test_surrounding_spaces_are_ignored():
    assert check_citizen_id(" 087084000999 ", birth_year=1984) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("87084000999", "087084000999"),  # 11 digits, valid with its 0 back
        ("17090001234", "017090001234"),
        ("17090001234.0", "017090001234"),  # Excel float exported as text
        ("17090001234.00", "017090001234"),
        (17090001234, "017090001234"),  # Excel number cell
        (17090001234.0, "017090001234"),
        ("087084000999", "087084000999"),  # already fine
        ("087 084 000 999", "087084000999"),  # spaces removed
        (" 087084000999 ", "087084000999"),
        ("30084000999", "030084000999"),  # 030 is Hải Dương: padded
        ("03084000999", "03084000999"),  # 003 is no province: left alone
        ("99084000999", "99084000999"),  # 099 is no province: left alone
        ("1234567890", "1234567890"),  # 10 digits: nothing proves a repair
        ("171234567", "171234567"),  # CMND untouched
        ("17123456", "17123456"),  # 8 digits: not repaired
        ("1.7090001234E+10", "1.7090001234E+10"),  # scientific notation refused
        ("17090001234.5", "17090001234.5"),
        ("", ""),
    ],
)
def test_repair_citizen_id(value, expected):
    assert repair_citizen_id(value) == expected


def test_repaired_value_passes_the_checks():
    repaired = repair_citizen_id("17090001234.0")
    assert check_citizen_id(repaired, birth_year=1990, gender="male") == []


def test_repair_none_gives_empty_string():
    assert repair_citizen_id(None) == ""  # type: ignore[arg-type]
