"""The national list of 2021 administrative units (issue 24): 63 provinces, 705 districts, 10,599 communes.

GSO codes as of 2021-08-01 (``covidsync/data/vietnam_admin_units_2021.json``, the shared domain file), loaded
lazily. Origins of declarations and the area codes of risk-level files are checked against it; the warehouse
holds the same list in ``ref.province``, ``ref.district`` and ``ref.commune`` (migration 0025, rendered by
:func:`units_sql`; ``tests/unit/test_arrivals_reference.py`` checks the two agree).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

__all__ = ["DATA_FILE", "area_kind", "communes", "districts", "provinces", "units", "units_sql"]

DATA_FILE = "vietnam_admin_units_2021.json"


@cache
def units() -> dict:
    """The file's content: ``provinces`` [[code, name]], ``districts`` [[code, name, province]],
    ``communes`` [[code, name, district]]."""
    raw = resources.files("covidsync").joinpath("data", DATA_FILE).read_text(encoding="utf-8")
    return json.loads(raw)


def provinces() -> dict[str, str]:
    return {code: name for code, name in units()["provinces"]}


def districts() -> dict[str, tuple[str, str]]:
    """District code → (province code, name)."""
    return {code: (province, name) for code, name, province in units()["districts"]}


def communes() -> dict[str, tuple[str, str]]:
    """Commune code → (district code, name)."""
    return {code: (district, name) for code, name, district in units()["communes"]}


def area_kind(code: str) -> str | None:
    """``province`` / ``district`` / ``commune`` for a code of the list, else None."""
    if len(code) == 2 and code in provinces():
        return "province"
    if len(code) == 3 and code in districts():
        return "district"
    if len(code) == 5 and code in communes():
        return "commune"
    return None


def _literal(rows: list) -> str:
    text = json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
    if "$units$" in text:  # pragma: no cover - names never hold it
        raise AssertionError("a unit name holds the dollar-quote tag")
    return f"$units${text}$units$"


def units_sql() -> str:
    """The INSERTs of migration 0025 that fill ref.province / ref.district / ref.commune."""
    data = units()
    return (
        "-- The national list itself (rendered by covidsync.domain.national.units_sql; do not edit by hand).\n"
        "insert into ref.province (province_code, name)\n"
        "select u.value ->> 0, u.value ->> 1\n"
        f"from jsonb_array_elements({_literal(data['provinces'])}::jsonb) as u;\n\n"
        "insert into ref.district (district_code, province_code, name)\n"
        "select u.value ->> 0, u.value ->> 2, u.value ->> 1\n"
        f"from jsonb_array_elements({_literal(data['districts'])}::jsonb) as u;\n\n"
        "insert into ref.commune (commune_code, district_code, name)\n"
        "select u.value ->> 0, u.value ->> 2, u.value ->> 1\n"
        f"from jsonb_array_elements({_literal(data['communes'])}::jsonb) as u;\n"
    )
