"""Issue 18, item 9: ``missing_columns`` names each missing column, in Vietnamese and English, and the
header of the file that looks closest to it (a file without the vaccine column and with ``Ngày tiêm``
renamed got one generic line)."""

from __future__ import annotations

import csv

import pytest
from ingest_rows import REGISTRY, VACCINATION, ingest, write_csv

from covidsync.ingest import parse


@pytest.fixture
def registry(areas):
    (areas["landing"] / "registry").mkdir(parents=True)
    (areas["landing"] / "registry" / "facilities.csv").write_text(REGISTRY, encoding="utf-8")
    return areas


def test_each_missing_column_is_named_with_the_closest_header(warehouse_url, registry):
    row = {k: v for k, v in VACCINATION.items() if k not in ("Tên vắc xin", "Ngày tiêm")}
    row["Ngày tiêm mũi"] = "01/09/2021"  # renamed: matches no accepted header
    write_csv(registry["landing"] / "17001" / "vaccinations" / "renamed.csv", [row])
    (summary,) = ingest(warehouse_url, registry)
    assert summary["status"] == "rejected"
    with (registry["outbox"] / "17001" / "renamed.csv.errors.csv").open(encoding="utf-8") as fh:
        lines = list(csv.reader(fh))[1:]
    by_column = {line[1]: line for line in lines}
    assert sorted(by_column) == ["vaccinated_on", "vaccine"], "one line per missing column"
    assert all(line[2] == "missing_columns" and line[3] == "error" for line in lines)
    vaccine, date = by_column["vaccine"], by_column["vaccinated_on"]
    assert "“Tên vắc xin”" in vaccine[4] and "“Vaccine name”" in vaccine[5]
    assert "gần giống" not in vaccine[4] and "closest" not in vaccine[5], "nothing in the file looks like it"
    assert "“Ngày tiêm”" in date[4] and "“Vaccination date”" in date[5]
    assert "“Ngày tiêm mũi”" in date[4] and "“Ngày tiêm mũi”" in date[5], "the closest header is named"


def test_a_data_row_taken_for_a_header_is_never_quoted():
    """A file without a header row has personal data in its first row: nothing in it is close enough to a
    column name to be shown as the closest header."""
    found = ["Nguyễn Văn An", "15/03/1990", "Nam", "017090001234", "0912345678", "AZ0001"]
    missing = parse.missing_columns("vaccinations", set(), found)
    assert {m.name for m in missing} >= {"full_name", "citizen_id", "vaccine", "vaccinated_on"}
    assert [m.closest for m in missing if m.closest] == []


def test_json_keys_are_matched_too(tmp_path):
    path = tmp_path / "v.json"
    path.write_text(
        '[{"full_name": "An", "date_of_birth": "1990", "gender": "Nam", "citizen_id": "1",'
        ' "province_code": "17", "district_code": "148", "commune_code": "04789",'
        ' "vacine": "AZ", "lot_number": "A", "dose_number": "1", "vaccinated_on": "01/09/2021"}]',
        encoding="utf-8",
    )
    with pytest.raises(parse.FileRejected) as caught:
        parse.open_rows(path, "vaccinations")
    assert [(m.name, m.closest) for m in caught.value.missing] == [("vaccine", "vacine")]
