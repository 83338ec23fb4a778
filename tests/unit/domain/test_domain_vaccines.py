"""Vaccine products, spellings and minimum intervals (domain notes §4)."""

import pytest

from covidsync.domain.vaccines import (
    ALIASES,
    BOOSTER_MIN_INTERVAL_DAYS,
    PRODUCTS,
    Product,
    canonical_vaccine,
    min_interval_days,
)

AZ, PFIZER, MODERNA, JANSSEN = "EU/1/21/1529", "EU/1/20/1528", "EU/1/20/1507", "EU/1/20/1525"
SPUTNIK, VERO, HAYAT, ABDALA = "Sputnik-V", "BBIBP-CorV", "XM9FQ7", "Abdala"


def test_products_keys_names_and_schedules():
    expected = {
        AZ: ("AstraZeneca", 2, 28),
        PFIZER: ("Pfizer-BioNTech", 2, 21),
        MODERNA: ("Moderna", 2, 28),
        SPUTNIK: ("Sputnik V", 2, 21),
        VERO: ("Vero Cell", 2, 21),
        JANSSEN: ("Janssen", 1, None),
        HAYAT: ("Hayat-Vax", 2, 21),
        ABDALA: ("Abdala", 3, 14),
    }
    assert {code: (p.name, p.primary_doses, p.min_interval_days) for code, p in PRODUCTS.items()} == expected
    for code, product in PRODUCTS.items():
        assert isinstance(product, Product) and product.code == code


def test_eu_and_icd11_codes():
    assert PRODUCTS[AZ].icd11 == "XM4YL8"
    assert PRODUCTS[PFIZER].icd11 == "XM8NQ0"
    assert PRODUCTS[MODERNA].icd11 == "XM3DT5"
    assert PRODUCTS[SPUTNIK].icd11 == "XM5ZJ4"
    assert PRODUCTS[VERO].icd11 == "XM8866"
    assert PRODUCTS[JANSSEN].icd11 == "XM6QV1"
    assert PRODUCTS[HAYAT].eu_code is None and PRODUCTS[HAYAT].icd11 == "XM9FQ7"
    assert PRODUCTS[ABDALA].eu_code == "Abdala" and PRODUCTS[ABDALA].icd11 is None
    for code, product in PRODUCTS.items():
        if product.eu_code is not None:
            assert product.eu_code == code  # EU code preferred as canonical code


SPELLINGS = {
    AZ: [
        "AstraZeneca",
        "Astra Zeneca",
        "AZ",
        "Vaxzevria",
        "Covishield",
        "AZD1222",
        "astrazeneca",
        "ASTRA-ZENECA",
    ],
    PFIZER: [
        "Pfizer",
        "Pfizer-BioNTech",
        "Pfizer BioNTech",
        "Comirnaty",
        "BNT162b2",
        "PFIZER",
        "pfizer biontech",
    ],
    MODERNA: ["Moderna", "Spikevax", "mRNA-1273", "MODERNA", "mrna 1273"],
    SPUTNIK: ["Sputnik V", "Sputnik-V", "Gam-COVID-Vac", "SPUTNIK V", "sputnikv", "Gam COVID Vac"],
    VERO: [
        "Vero Cell",
        "Verocell",
        "Sinopharm",
        "BBIBP-CorV",
        "Sinopharm Vero Cell",
        "VERO CELL",
        "vero-cell",
    ],
    JANSSEN: ["Janssen", "J&J", "Johnson & Johnson", "Johnson and Johnson", "JOHNSON & JOHNSON", "j & j"],
    HAYAT: ["Hayat-Vax", "Hayat Vax", "HAYAT VAX", "hayatvax"],
    ABDALA: ["Abdala", "CIGB-66", "ABDALA", "cigb 66"],
}


@pytest.mark.parametrize(
    ("spelling", "code"), [(s, code) for code, spellings in SPELLINGS.items() for s in spellings]
)
def test_canonical_vaccine_spellings(spelling, code):
    assert canonical_vaccine(spelling) == code


@pytest.mark.parametrize("code", sorted(PRODUCTS))
def test_codes_themselves_and_names_map_to_themselves(code):
    product = PRODUCTS[code]
    assert canonical_vaccine(code) == code
    assert canonical_vaccine(product.name) == code
    if product.icd11:
        assert canonical_vaccine(product.icd11) == code


@pytest.mark.parametrize(
    ("spelling", "code"),
    [
        ("  astra   zeneca ", AZ),
        ("ÁstraZénéca", AZ),  # accents ignored
        ("Vắc xin AstraZeneca", AZ),
        ("Vắc xin phòng COVID-19 Vero Cell", VERO),
        ("COVID-19 Vaccine Janssen", JANSSEN),
        ("Moderna vaccine", MODERNA),
        ("Pfizer (Comirnaty)", PFIZER),
        ("Vero Cell (Sinopharm)", VERO),
        ("Inactivated-SARS-CoV-2-Vero-Cell", VERO),
        ("XM97T2", AZ),  # Covishield ICD-11 code
    ],
)
def test_canonical_vaccine_tolerant_forms(spelling, code):
    assert canonical_vaccine(spelling) == code


@pytest.mark.parametrize(
    "spelling",
    [
        "Covaxin",
        "Sputnik Light",
        "Sinovac",
        "CoronaVac",
        "Nanocovax",
        "Pfizer (Moderna)",  # two products: doubtful
        "AstraZeneca (unknown)",
        "Vắc xin",
        "COVID-19",
        "",
        "   ",
        None,
        "V",
    ],
)
def test_canonical_vaccine_unknown(spelling):
    assert canonical_vaccine(spelling) is None


def test_aliases_cover_every_product_and_all_resolve_to_their_code():
    assert set(ALIASES) == set(PRODUCTS)
    for code, spellings in ALIASES.items():
        assert spellings, code
        assert spellings[0] == PRODUCTS[code].name
        for spelling in spellings:
            assert canonical_vaccine(spelling) == code, spelling


@pytest.mark.parametrize(
    ("previous", "dose", "expected"),
    [
        (AZ, 2, 28),
        (PFIZER, 2, 21),
        (MODERNA, 2, 28),
        (SPUTNIK, 2, 21),
        (VERO, 2, 21),
        (HAYAT, 2, 21),
        (ABDALA, 2, 14),
        (ABDALA, 3, 14),  # still within Abdala's 3-dose primary series
        (ABDALA, 4, 28),
        (AZ, 3, 28),  # additional / booster dose
        (PFIZER, 4, 28),
        (JANSSEN, 2, 28),  # Janssen's primary series is one dose
        (AZ, 1, None),  # no previous dose
        ("Covaxin", 2, None),  # unknown product: no rule
        ("Pfizer", 2, 21),  # a spelling is accepted too
    ],
)
def test_min_interval_days(previous, dose, expected):
    assert min_interval_days(previous, dose) == expected


def test_booster_interval_is_28_days():
    assert BOOSTER_MIN_INTERVAL_DAYS == 28
