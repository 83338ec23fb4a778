"""COVID-19 vaccine products used in Vietnam in 2021–2022 (domain notes §4, contract §3 ``vaccine``).

The canonical product code is the EU DCC ``mp`` code where one exists (value set
``vaccines-covid-19-names``), else the WHO ICD-11 code (Hayat-Vax → ``XM9FQ7``).

Minimum intervals between primary doses (``Product.min_interval_days``) drive the ``short_dose_interval``
warning. The warning must not fire on doses that were legitimate where they were given, so each product takes
the most lenient minimum in wide use in 2021: AstraZeneca 28 days (MoH's Decision 3588/QĐ-BYT said 8–12 weeks,
but provinces allowed shorter gaps, down to the manufacturer's 4 weeks), Sputnik V, Vero Cell, Pfizer-BioNTech
and Hayat-Vax 21 days (Hayat-Vax is Sinopharm's vaccine filled in the UAE: its interval is unconfirmed and taken
as Vero Cell's), Moderna 28 days, Abdala 14 days (0-14-28 schedule); Janssen has a single primary dose.
Doses beyond the primary series (additional dose / booster) need at least :data:`BOOSTER_MIN_INTERVAL_DAYS`
= 28 days after the previous dose (MoH, 1/12/2021: additional dose ≥ 28 days after the primary series; the
booster's 6 months is not enforced because the two cannot be told apart from a dose number).

:func:`canonical_vaccine` matches case-, accent-, space- and punctuation-insensitively. Decisions where the
contract is silent: a leading or trailing "vắc xin"/"vaccine"/"COVID-19" wording is ignored
("Vắc xin phòng COVID-19 AstraZeneca"), and a name with a parenthesised alternative is accepted when both
parts name the same product ("Pfizer (Comirnaty)"). The ICD-11 codes and the EU alias
"Inactivated-SARS-CoV-2-Vero-Cell" are accepted as codes too. Covishield (the Serum Institute's AZD1222) maps to
AstraZeneca. Other vaccines (Covaxin, Sinovac, Sputnik Light, …) are unknown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from covidsync.domain.text import name_key

__all__ = [
    "ALIASES",
    "BOOSTER_MIN_INTERVAL_DAYS",
    "PRODUCTS",
    "Product",
    "canonical_vaccine",
    "min_interval_days",
]


@dataclass(frozen=True)
class Product:
    code: str
    name: str
    eu_code: str | None
    icd11: str | None
    primary_doses: int
    min_interval_days: int | None


AZ = "EU/1/21/1529"
PFIZER = "EU/1/20/1528"
MODERNA = "EU/1/20/1507"
JANSSEN = "EU/1/20/1525"
SPUTNIK_V = "Sputnik-V"
VERO_CELL = "BBIBP-CorV"
HAYAT_VAX = "XM9FQ7"
ABDALA = "Abdala"

BOOSTER_MIN_INTERVAL_DAYS = 28

PRODUCTS: dict[str, Product] = {
    p.code: p
    for p in (
        Product(AZ, "AstraZeneca", AZ, "XM4YL8", 2, 28),
        Product(PFIZER, "Pfizer-BioNTech", PFIZER, "XM8NQ0", 2, 21),
        Product(MODERNA, "Moderna", MODERNA, "XM3DT5", 2, 28),
        Product(SPUTNIK_V, "Sputnik V", SPUTNIK_V, "XM5ZJ4", 2, 21),
        Product(VERO_CELL, "Vero Cell", VERO_CELL, "XM8866", 2, 21),
        Product(JANSSEN, "Janssen", JANSSEN, "XM6QV1", 1, None),
        Product(HAYAT_VAX, "Hayat-Vax", None, HAYAT_VAX, 2, 21),
        Product(ABDALA, "Abdala", ABDALA, None, 3, 14),
    )
}

# Usual spellings, canonical name first (the sample-data generator writes these variants).
ALIASES: dict[str, list[str]] = {
    AZ: [
        "AstraZeneca",
        "Astra Zeneca",
        "AZ",
        "Vaxzevria",
        "Covishield",
        "AZD1222",
        "ASTRAZENECA",
        "Astrazeneca",
    ],
    PFIZER: [
        "Pfizer-BioNTech",
        "Pfizer",
        "Pfizer BioNTech",
        "Comirnaty",
        "BNT162b2",
        "PFIZER",
        "pfizer",
    ],
    MODERNA: ["Moderna", "Spikevax", "mRNA-1273", "MODERNA"],
    SPUTNIK_V: ["Sputnik V", "Sputnik-V", "Gam-COVID-Vac", "SPUTNIK V"],
    VERO_CELL: [
        "Vero Cell",
        "Verocell",
        "Sinopharm",
        "BBIBP-CorV",
        "Sinopharm Vero Cell",
        "VERO CELL",
        "Vero cell",
    ],
    JANSSEN: ["Janssen", "J&J", "Johnson & Johnson", "Johnson and Johnson", "JANSSEN"],
    HAYAT_VAX: ["Hayat-Vax", "Hayat Vax", "HAYAT-VAX"],
    ABDALA: ["Abdala", "CIGB-66", "ABDALA"],
}

# Extra keys accepted but not offered to the generator: codes, ICD-11 codes, other EU aliases.
_EXTRA_KEYS: dict[str, list[str]] = {
    AZ: ["XM97T2", "COVID-19 Vaccine AstraZeneca"],
    VERO_CELL: ["Inactivated-SARS-CoV-2-Vero-Cell", "Sinopharm BIBP"],
    JANSSEN: ["JnJ", "COVID-19 Vaccine Janssen"],
}

_NON_ALNUM_RE = re.compile(r"[^a-z0-9]+")
_PAREN_RE = re.compile(r"^(?P<outer>[^()]*)\((?P<inner>[^()]*)\)\s*$")
# Words around the product name that carry no information ("Vắc xin phòng COVID-19 …", "… vaccine").
_FILLER_WORDS = frozenset(
    {"vac", "xin", "vacxin", "vaccine", "vaccin", "vacin", "phong", "covid", "covid19", "19"}
)


def _key(text: str) -> str:
    return _NON_ALNUM_RE.sub("", name_key(text))


def _build_lookup() -> dict[str, str]:
    lookup: dict[str, str] = {}
    for code, product in PRODUCTS.items():
        spellings = [code, product.name, *ALIASES.get(code, ()), *_EXTRA_KEYS.get(code, ())]
        spellings += [c for c in (product.eu_code, product.icd11) if c]
        for spelling in spellings:
            key = _key(spelling)
            if lookup.setdefault(key, code) != code:  # pragma: no cover - guarded by tests
                raise AssertionError(f"vaccine spelling {spelling!r} is ambiguous")
    return lookup


_LOOKUP: dict[str, str] = _build_lookup()


def _match(text: str) -> str | None:
    folded = name_key(text)
    found = _LOOKUP.get(_NON_ALNUM_RE.sub("", folded))
    if found is not None:
        return found
    words = [w for w in _NON_ALNUM_RE.split(folded) if w]
    start, end = 0, len(words)
    while start < end and words[start] in _FILLER_WORDS:
        start += 1
    while end > start and words[end - 1] in _FILLER_WORDS:
        end -= 1
    if (start, end) == (0, len(words)) or start == end:
        return None
    return _LOOKUP.get("".join(words[start:end]))


@lru_cache(maxsize=4096)
def _canonical(text: str) -> str | None:
    found = _match(text)
    if found is not None:
        return found
    paren = _PAREN_RE.match(text)
    if paren is None:
        return None
    outer, inner = paren.group("outer").strip(), paren.group("inner").strip()
    outer_code = _match(outer) if outer else None
    inner_code = _match(inner) if inner else None
    if outer_code and inner_code:
        return outer_code if outer_code == inner_code else None
    if outer and inner:
        return None  # one part names no product: too doubtful
    return outer_code or inner_code


def canonical_vaccine(text: str | None) -> str | None:
    """The product code for any usual spelling of a vaccine (see module docstring), else ``None``."""
    if text is None:
        return None
    if not isinstance(text, str):
        text = str(text)
    if not text.strip():
        return None
    return _canonical(text)


def min_interval_days(previous_product_code: str, dose_number: int) -> int | None:
    """Minimum days between the previous dose (of ``previous_product_code``) and dose ``dose_number``.

    Within the previous product's primary series: its ``min_interval_days``; beyond it (additional dose or
    booster): :data:`BOOSTER_MIN_INTERVAL_DAYS`. ``None`` for dose 1 (no previous dose) or an unknown
    product. A spelling instead of a code is accepted too.
    """
    product = PRODUCTS.get(previous_product_code)
    if product is None:
        code = canonical_vaccine(previous_product_code)
        if code is None:
            return None
        product = PRODUCTS[code]
    if dose_number <= 1:
        return None
    if dose_number <= product.primary_doses:
        return product.min_interval_days
    return BOOSTER_MIN_INTERVAL_DAYS
