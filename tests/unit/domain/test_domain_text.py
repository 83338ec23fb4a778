"""Text helpers: NFC, name keys, diacritics, masking (domain notes §8.1, §8.3)."""

import unicodedata

import pytest

from covidsync.domain.text import (
    VIETNAMESE_DIACRITIC_LETTERS,
    has_vietnamese_diacritics,
    mask,
    name_key,
    name_without_diacritics,
    nfc,
    normalize_gender,
)

NFC_NAME = "Nguyễn Thị Hòa Bình"
NFD_NAME = unicodedata.normalize("NFD", NFC_NAME)


def test_nfd_and_nfc_forms_differ_as_the_notes_say():
    assert len(NFC_NAME) == 19 and len(NFD_NAME) == 24


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("  Hà Nội \t", "Hà Nội"),
        (NFD_NAME, NFC_NAME),
        ("\ufeffHòa Bình\u00a0", "Hòa Bình"),
        ("abc", "abc"),
    ],
)
def test_nfc(value, expected):
    assert nfc(value) == expected


def test_nfc_output_is_nfc():
    assert unicodedata.is_normalized("NFC", nfc(NFD_NAME))


@pytest.mark.parametrize(
    "value",
    [
        "Nguyễn Thị Hòa",
        "Nguyễn Thị Hoà",  # old-style tone placement
        "NGUYEN THI HOA",
        "  nguyen   thi\thoa ",
        unicodedata.normalize("NFD", "Nguyễn Thị Hòa"),
        unicodedata.normalize("NFD", "NGUYỄN THỊ HOÀ"),
    ],
)
def test_name_key_folds_all_forms_to_one_key(value):
    assert name_key(value) == "nguyen thi hoa"


def test_hoa_tone_placements_differ_but_keys_are_equal():
    assert "Hoà" != "Hòa"
    assert name_key("Hoà") == name_key("Hòa") == "hoa"


@pytest.mark.parametrize("value", ["Đặng Văn Đức", "đặng văn đức", "\u00d0ặng Văn \u00d0ức", "DANG VAN DUC"])
def test_name_key_maps_d_with_stroke_and_eth(value):
    assert name_key(value) == "dang van duc"


def test_name_key_none_and_empty():
    assert name_key(None) == ""
    assert name_key("   ") == ""


def test_vietnamese_letter_set_has_134_letters_plus_eth():
    assert len(VIETNAMESE_DIACRITIC_LETTERS) == 135
    assert "ễ" in VIETNAMESE_DIACRITIC_LETTERS and "Ư" in VIETNAMESE_DIACRITIC_LETTERS
    assert "a" not in VIETNAMESE_DIACRITIC_LETTERS


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Nguyễn", True),
        (unicodedata.normalize("NFD", "Nguyễn"), True),
        ("Đinh", True),
        ("Lê", True),
        ("NGUYEN", False),
        ("José", True),  # é (e + sắc) is a Vietnamese letter too: the check is about letters
        ("", False),
        (None, False),
    ],
)
def test_has_vietnamese_diacritics(value, expected):
    assert has_vietnamese_diacritics(value) is expected


def test_has_vietnamese_diacritics_ignores_other_scripts():
    assert has_vietnamese_diacritics("Müller Ñuñez Ç") is False


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("NGUYEN VAN A", True),
        ("Nguyen Van A", True),
        ("Nguyễn Văn A", False),
        (unicodedata.normalize("NFD", "Nguyễn Văn A"), False),
        ("Đinh Van A", False),
        ("", False),
        (None, False),
        ("123 456", False),  # no letters at all
        ("Nguyen\u00a0Van – A", True),  # non-ASCII spaces and punctuation are not letters
        ("Müller", False),  # a non-ASCII letter, even a foreign one
    ],
)
def test_name_without_diacritics(name, expected):
    assert name_without_diacritics(name) is expected


@pytest.mark.parametrize(
    ("value", "keep", "expected"),
    [
        ("087084000999", 4, "********0999"),
        ("0944713700", 4, "******3700"),
        ("0944713700", 2, "********00"),
        ("0944713700", 0, "**********"),
        ("abc", 4, "abc"),
        ("abcd", 4, "abcd"),
        ("", 4, ""),
        (None, 4, ""),
        (944713700, 4, "*****3700"),
    ],
)
def test_mask(value, keep, expected):
    assert mask(value, keep) == expected


def test_mask_default_keeps_four():
    assert mask("001093029317") == "********9317"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Nam", "male"),
        ("NAM", "male"),
        ("Nữ", "female"),
        (unicodedata.normalize("NFD", "Nữ"), "female"),
        ("NỮ", "female"),
        ("nu", "female"),
        ("male", "male"),
        ("Female", "female"),
        ("M", "male"),
        ("f", "female"),
        ("khác", None),
        ("", None),
        (None, None),
    ],
)
def test_normalize_gender(value, expected):
    assert normalize_gender(value) == expected
