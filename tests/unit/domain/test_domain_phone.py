"""Vietnamese mobile numbers (domain notes §8.5)."""

import pytest

from covidsync.domain.phone import MOBILE_RE, OLD_PREFIXES, is_mobile, normalize_phone

FULL_TABLE = {
    "0120": "070",
    "0121": "079",
    "0122": "077",
    "0126": "076",
    "0128": "078",
    "0123": "083",
    "0124": "084",
    "0125": "085",
    "0127": "081",
    "0129": "082",
    "0162": "032",
    "0163": "033",
    "0164": "034",
    "0165": "035",
    "0166": "036",
    "0167": "037",
    "0168": "038",
    "0169": "039",
    "0186": "056",
    "0188": "058",
    "0199": "059",
}


def test_old_prefix_table_is_complete():
    assert OLD_PREFIXES == FULL_TABLE


@pytest.mark.parametrize(("old", "new"), sorted(FULL_TABLE.items()))
def test_every_old_prefix_is_converted_keeping_the_last_7_digits(old, new):
    assert normalize_phone(old + "5678945") == new + "5678945"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0944713700", "0944713700"),
        ("01695678945", "0395678945"),  # the notes' example
        ("+84 944 713 700", "0944713700"),
        ("+84944713700", "0944713700"),
        ("84944713700", "0944713700"),
        ("0084944713700", "0944713700"),
        ("+84 (0) 944 713 700", "0944713700"),
        ("+841695678945", "0395678945"),  # international form of an old 11-digit number
        ("0944.713.700", "0944713700"),
        ("0944-713-700", "0944713700"),
        ("(0944) 713 700", "0944713700"),
        (" 0944 713 700 ", "0944713700"),
        ("944713700", "0944713700"),  # Excel lost the 0
        (944713700, "0944713700"),
        (944713700.0, "0944713700"),
        ("944713700.0", "0944713700"),
        ("1695678945", "0395678945"),  # old 11-digit number that lost its 0
        ("0395678945", "0395678945"),
        ("0562345678", "0562345678"),
        ("0701234567", "0701234567"),
        ("0812345678", "0812345678"),
    ],
)
def test_normalize_phone_accepts(value, expected):
    assert normalize_phone(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "02183855555",  # Hòa Bình landline (area code 218)
        "02438253333",  # Hà Nội landline
        "218385555",  # landline that lost its 0: not a mobile
        "0144713700",  # no such mobile prefix
        "0644713700",
        "01305678945",  # 0130 was never a mobile prefix
        "01215678945x",
        "094471370",  # 9 digits starting with 0
        "09447137001",  # 11 digits, not an old prefix
        "144713700",  # 9 digits starting with 1
        "19006060",  # service number
        "+1 202 555 0100",  # another country
        "+44 7700 900123",
        "0944713700 / 0912345678",  # two numbers
        "abc",
        "",
        "   ",
        None,
        944713700.5,
        -944713700,
        True,
    ],
)
def test_normalize_phone_rejects(value):
    assert normalize_phone(value) is None


def test_results_always_match_the_mobile_pattern():
    for value in ["01695678945", "+84 944 713 700", "944713700", "0186 123 4567"]:
        result = normalize_phone(value)
        assert result is not None and MOBILE_RE.fullmatch(result)
        assert is_mobile(result)
    assert not is_mobile("02183855555")
    assert not is_mobile(None)
