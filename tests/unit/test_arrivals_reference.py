"""Migration 0025 holds the national list of 2021 units as rendered from the shipped file, and the row codes
of contract arrivals.md §4 (issue 24)."""

from pathlib import Path

from covidsync.domain import codes, national

MIGRATION = Path(__file__).resolve().parents[2] / "sql" / "migrations" / "0025_arrivals_inputs.sql"


def test_migration_holds_the_rendered_national_list():
    text = MIGRATION.read_text(encoding="utf-8")
    assert text.endswith(national.units_sql()), "render 0025's tail again from covidsync.domain.national"
    data = national.units()
    assert (len(data["provinces"]), len(data["districts"]), len(data["communes"])) == (63, 705, 10599)


def test_migration_inserts_every_code_it_introduces():
    text = MIGRATION.read_text(encoding="utf-8")
    for code in codes.ROW_CODES.values():
        added = codes.ROW_CODES_ADDED.get(code.code) == "0025"
        assert (f"('{code.code}', '{code.severity}')" in text) == added, code.code


def test_area_kinds():
    assert national.area_kind("17") == "province"
    assert national.area_kind("148") == "district"
    assert national.area_kind("04789") == "commune"
    assert national.area_kind("99") is None and national.area_kind("1") is None
