"""Administrative codes and the packaged Hòa Bình list (domain notes §5.3)."""

import pytest

from covidsync.domain import admin
from covidsync.domain.admin import HOA_BINH, check_admin, communes, districts, pad_code

DISTRICT_COUNTS = {
    "148": 19,
    "150": 17,
    "152": 11,
    "153": 17,
    "154": 10,
    "155": 16,
    "156": 16,
    "157": 24,
    "158": 11,
    "159": 10,
}


def test_hoa_binh_code():
    assert HOA_BINH == "17"


def test_ten_districts_151_communes():
    assert len(districts()) == 10
    assert len(communes()) == 151
    assert districts()["148"] == "Thành phố Hòa Bình"
    assert districts()["150"] == "Huyện Đà Bắc"
    assert communes()["04789"] == ("148", "Phường Thái Bình")
    assert communes()["04894"] == ("148", "Phường Kỳ Sơn")  # former Kỳ Sơn district, merged into the city
    assert communes()["04882"] == ("156", "Xã Tân Thành")


@pytest.mark.parametrize(("district", "count"), sorted(DISTRICT_COUNTS.items()))
def test_commune_count_per_district(district, count):
    assert sum(1 for d, _ in communes().values() if d == district) == count


def test_returned_dicts_are_copies():
    districts().clear()
    communes().clear()
    assert len(districts()) == 10 and len(communes()) == 151


def test_data_is_loaded_once():
    assert admin._load() is admin._load()


@pytest.mark.parametrize(
    ("value", "length", "expected"),
    [
        ("4789", 5, "04789"),
        (4789, 5, "04789"),
        (4789.0, 5, "04789"),
        ("4789.0", 5, "04789"),
        (" 4789 ", 5, "04789"),
        ("04789", 5, "04789"),
        ("1", 2, "01"),
        (17, 2, "17"),
        ("17.0", 2, "17"),
        ("48", 3, "048"),
        ("123456", 5, "123456"),  # too long: unchanged
        ("A12", 5, "A12"),  # not digits: stripped, unchanged
        (" x ", 5, "x"),
        ("4789.5", 5, "4789.5"),
        ("", 5, ""),
        (None, 5, ""),
    ],
)
def test_pad_code(value, length, expected):
    assert pad_code(value, length) == expected


@pytest.mark.parametrize(("district", "commune"), [(d, c) for c, (d, _) in sorted(communes().items())])
def test_every_hoa_binh_commune_is_valid_in_its_district(district, commune):
    assert check_admin("17", district, commune)


@pytest.mark.parametrize(
    ("province", "district", "commune", "expected"),
    [
        ("17", "148", "04789", True),
        (17, 148, 4789, True),  # Excel numbers are padded
        ("17", "148", "4789", True),
        ("17", "148.0", "4789.0", True),
        ("17", "150", "04789", False),  # commune of district 148 under 150
        ("17", "157", "05353", False),  # Yên Thủy commune under Lạc Sơn
        ("17", "151", "04894", False),  # Kỳ Sơn district no longer exists in 2021
        ("17", "149", "04789", False),
        ("17", "148", "99999", False),  # no such commune
        ("17", "001", "00001", False),  # Hà Nội codes under Hòa Bình
        ("01", "001", "00001", True),  # other province: format only
        ("79", "760", "26734", True),
        ("01", "148", "04789", False),  # Hòa Bình codes are unique nationally
        ("01", "001", "04789", False),
        ("01", "151", "00001", False),
        ("03", "001", "00001", False),  # no province 03
        ("99", "001", "00001", False),
        ("01", "0012", "00001", False),  # district too long
        ("01", "001", "000012", False),
        ("01", "00A", "00001", False),
        ("", "148", "04789", False),
        (None, None, None, False),
        ("17", "", "04789", False),
    ],
)
def test_check_admin(province, district, commune, expected):
    assert check_admin(province, district, commune) is expected
