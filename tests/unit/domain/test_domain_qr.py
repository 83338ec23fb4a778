"""QR payloads: CCCD card QR (7 fields) and Decision 1405 personal QR (6 fields)."""

import dataclasses
import datetime as dt
import unicodedata

import pytest

from covidsync.domain.qr import QrError, QrInfo, parse_qr

PUBLISHED = "001093029317|NGUYEN LE KHA HAN|1987-01-18|0|162979388586171100|<1<HS4010120878821<0944713700"
CARD = "001090123456|012345678|NGUYỄN VĂN A|01011990|Nam|Phường Bến Nghé, Quận 1, TP. Hồ Chí Minh|15042021"


def test_published_personal_example():
    info = parse_qr(PUBLISHED)
    assert info == QrInfo(
        kind="personal",
        citizen_id="001093029317",
        cmnd=None,
        full_name="NGUYEN LE KHA HAN",
        date_of_birth=dt.date(1987, 1, 18),
        gender="male",
        qid="162979388586171100",
        phone="0944713700",
        bhyt="HS4010120878821",
        masked=False,
        proxy_declared=False,
        birth_year=1987,
        proxy_qid=None,
    )


def test_qr_info_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        parse_qr(PUBLISHED).masked = True  # type: ignore[misc]


def test_masked_document_number_is_never_an_identity():
    info = parse_qr(PUBLISHED.replace("001093029317", "******029317"))
    assert info.masked is True
    assert info.citizen_id is None and info.cmnd is None
    assert info.qid == "162979388586171100"


def test_masked_birth_day_and_month():
    info = parse_qr(PUBLISHED.replace("1987-01-18", "1987-**-**"))
    assert info.date_of_birth is None
    assert info.birth_year == 1987
    assert info.masked is False  # the document number itself is visible
    fully = parse_qr(PUBLISHED.replace("1987-01-18", "****-**-**"))
    assert fully.date_of_birth is None and fully.birth_year is None


def test_default_display_masks_both():
    info = parse_qr(
        "******029317|NGUYEN LE KHA HAN|1987-**-**|0|162979388586171100|<1<HS4010120878821<0944713700"
    )
    assert (info.masked, info.citizen_id, info.date_of_birth, info.birth_year) == (True, None, None, 1987)


def test_personal_with_cmnd_passport_and_proxy():
    cmnd = parse_qr("171234567|LO THI MAI|1960-05-01|1|Q123|P999<2<<0395678945")
    assert (cmnd.citizen_id, cmnd.cmnd, cmnd.gender, cmnd.proxy_declared, cmnd.proxy_qid) == (
        None,
        "171234567",
        "female",
        True,
        "P999",
    )
    assert cmnd.bhyt is None and cmnd.phone == "0395678945"
    passport = parse_qr("C1234567|JOHN SMITH|1980-02-03|0|Q124|")
    assert (passport.citizen_id, passport.cmnd, passport.masked, passport.gender) == (None, None, False, None)


@pytest.mark.parametrize(
    ("ext", "gender", "bhyt", "phone"),
    [
        ("", None, None, None),
        ("<", None, None, None),
        ("<1", "male", None, None),
        ("<2<HS4010120878821", "female", "HS4010120878821", None),
        ("<0<hs4010120878821<01695678945", None, "HS4010120878821", "0395678945"),  # old number converted
        ("<1<HS4010120878821<0944713700<SIGNATURE<more", "male", "HS4010120878821", "0944713700"),
        ("<1<HS40101*****21<02183855555", "male", None, None),  # masked BHYT, landline
        ("<9<<", None, None, None),  # unknown sex code tolerated
    ],
)
def test_ext_subfields_with_missing_trailing_parts(ext, gender, bhyt, phone):
    info = parse_qr(f"001093029317|NGUYEN LE KHA HAN|1987-01-18|0|162979388586171100|{ext}")
    assert (info.gender, info.bhyt, info.phone) == (gender, bhyt, phone)


def test_bom_whitespace_and_crlf_are_tolerated():
    assert parse_qr("\ufeff" + PUBLISHED + "\r\n") == parse_qr(PUBLISHED)
    assert parse_qr("  " + CARD + "\n") == parse_qr(CARD)


def test_card_qr():
    info = parse_qr(CARD)
    assert info.kind == "cccd"
    assert (info.citizen_id, info.cmnd) == ("001090123456", "012345678")
    assert info.full_name == "NGUYỄN VĂN A"
    assert info.date_of_birth == dt.date(1990, 1, 1)
    assert info.gender == "male"
    assert (info.qid, info.phone, info.bhyt, info.masked, info.proxy_declared) == (
        None,
        None,
        None,
        False,
        False,
    )


def test_card_qr_with_empty_cmnd():
    info = parse_qr("001090123456||NGUYEN VAN A|01011990|Nam|Phường Bến Nghé, Quận 1|15042021")
    assert info.kind == "cccd" and info.cmnd is None and info.citizen_id == "001090123456"


@pytest.mark.parametrize("sex", ["Nữ", "NỮ", "nữ", unicodedata.normalize("NFD", "Nữ"), "Nu"])
def test_card_qr_female_spellings(sex):
    assert parse_qr(CARD.replace("|Nam|", f"|{sex}|")).gender == "female"


@pytest.mark.parametrize("sex", ["Nam", "NAM", "nam"])
def test_card_qr_male_spellings(sex):
    assert parse_qr(CARD.replace("|Nam|", f"|{sex}|")).gender == "male"


def test_card_qr_name_is_nfc_with_single_spaces():
    nfd = unicodedata.normalize("NFD", "Nguyễn  Thị Hòa")
    info = parse_qr(f"017190000123||{nfd}|05061990|Nữ|Hòa Bình|01012021")
    assert info.full_name == "Nguyễn Thị Hòa"
    assert unicodedata.is_normalized("NFC", info.full_name)


def test_wrong_six_field_card_layout_is_rejected():
    # The layout of some public docs, without the CMND field. Six fields make it a candidate personal QR,
    # but its date is DDMMYYYY and its fourth field a sex word: it is no valid QR at all.
    wrong = "001090123456|NGUYEN VAN A|01011990|Nam|Phường Bến Nghé, Quận 1|15042021"
    with pytest.raises(QrError):
        parse_qr(wrong)


@pytest.mark.parametrize(
    "payload",
    [
        "",
        "   ",
        "just some text",
        "001090123456|NGUYEN VAN A",
        "a|b|c|d|e",
        "a|b|c|d|e|f|g|h",
        CARD + "|extra",
        PUBLISHED + "|",
        "https://qr.tokhaiyte.vn/venue/123",
    ],
)
def test_wrong_field_counts_raise(payload):
    with pytest.raises(QrError):
        parse_qr(payload)


@pytest.mark.parametrize(
    "payload",
    [
        CARD.replace("001090123456", "00109012345"),  # 11-digit CCCD
        CARD.replace("001090123456", "******123456"),  # card QR is never masked
        CARD.replace("012345678", "01234567"),  # CMND of 8 digits
        CARD.replace("01011990", "1990-01-01"),  # card dates are DDMMYYYY
        CARD.replace("01011990", "31021990"),
        CARD.replace("|Nam|", "|Male|"),
        CARD.replace("|Nam|", "||"),
        CARD.replace("15042021", "15/04/2021"),
        CARD.replace("NGUYỄN VĂN A", "  "),
        PUBLISHED.replace("1987-01-18", "18/01/1987"),
        PUBLISHED.replace("1987-01-18", "1987-02-30"),
        PUBLISHED.replace("|0|", "|2|"),
        PUBLISHED.replace("|0|", "||"),
        PUBLISHED.replace("162979388586171100", ""),
        PUBLISHED.replace("001093029317", "0010 9302 9317"),
    ],
)
def test_broken_fields_raise(payload):
    with pytest.raises(QrError):
        parse_qr(payload)


def test_qr_error_is_a_value_error_and_hides_the_payload():
    assert issubclass(QrError, ValueError)
    with pytest.raises(QrError) as excinfo:
        parse_qr(CARD.replace("01011990", "31021990"))
    assert "001090123456" not in str(excinfo.value)
    assert "NGUY" not in str(excinfo.value)
    with pytest.raises(QrError):
        parse_qr(None)  # type: ignore[arg-type]
