"""Declarations (contract arrivals.md §1.1 and §4, issue 24) through the ingest engine: each new code has a
tiny file that triggers it and the clean file that does not; a resent declaration keeps its history; the
person key is the check-ins' pseudonym; the reports mask identity values. Real files, real PostgreSQL."""

from __future__ import annotations

import csv
import json

import psycopg2

from covidsync import db, privacy
from covidsync.ingest import engine, landing

CLEAN = {
    "declaration_id": "D1",
    "kind": "movement",
    "app": "pccovid",
    "submitted_at": "20/11/2021 08:00",
    "citizen_id": "001090001234",
    "phone": "0912345678",
    "full_name": "Nguyễn Văn An",
    "date_of_birth": "15/03/1990",
    "gender": "Nam",
    "declared_by": "self",
    "origin_province_code": "01",
    "origin_district_code": "001",
    "origin_commune_code": "00001",
    "destination_commune_code": "04789",
    "travel_date": "20/11/2021",
    "means": "đường bộ",
    "fever": "Không",
    "cough": "Có",
    "contact_with_f0": "Không",
}
HEALTH = {
    **CLEAN,
    "declaration_id": "H1",
    "kind": "health",
    "origin_province_code": "",
    "origin_district_code": "",
    "origin_commune_code": "",
    "destination_commune_code": "",
    "travel_date": "",
}


def write_csv(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(dict.fromkeys(k for r in rows for k in r))
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def ingest(url) -> list[dict]:
    conn = db.connect(url)
    try:
        pending = landing.register(conn, scope=landing.PCCOVID).pending
        return [engine.process_file(conn, file_id, docs="off") for file_id in sorted(pending)]
    finally:
        conn.close()


def codes_of(url) -> set[str]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("select code from quarantine.row_problem")
        return {r[0] for r in cur.fetchall()}


def query(url, sql, params=()):
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


CODES = [
    ("invalid_declaration_kind", {"kind": "travel"}),
    ("unknown_origin_area", {"origin_district_code": "148"}),  # a Hòa Bình district under Hà Nội
    ("destination_outside_province", {"destination_commune_code": "00004"}),
    ("missing_required", {"travel_date": ""}),
    ("missing_person_key", {"citizen_id": "", "phone": ""}),
    ("time_out_of_window", {"submitted_at": "15/08/2021 08:00"}),  # before PC-Covid's launch (issue 17)
    ("invalid_text", {"full_name": '=HYPERLINK("http://example.invalid")'}),  # issue 17
]


def test_a_tiny_file_triggers_each_code_and_the_clean_one_does_not(warehouse_url, areas):
    folder = areas["landing"] / "pccovid" / "declarations"
    write_csv(folder / "clean.csv", [CLEAN, HEALTH])
    [clean] = ingest(warehouse_url)
    assert clean["status"] == "loaded" and codes_of(warehouse_url) == set()
    for i, (code, changes) in enumerate(CODES):
        write_csv(folder / f"bad{i}.csv", [{**CLEAN, "declaration_id": f"D{i + 2}", **changes}])
        [bad] = ingest(warehouse_url)
        found = query(
            warehouse_url, "select code from quarantine.row_problem where file_id = %s", (bad["file_id"],)
        )
        assert code in {r[0] for r in found}, (code, found)


def test_declarations_load_with_history_pseudonyms_and_masked_reports(warehouse_url, areas):
    folder = areas["landing"] / "pccovid" / "declarations"
    write_csv(folder / "a.csv", [CLEAN, HEALTH, {**CLEAN, "declaration_id": "S1", "app": "Sổ SKĐT"}])
    ingest(warehouse_url)
    write_csv(
        folder / "b.csv", [{**CLEAN, "travel_date": "21/11/2021", "citizen_id": "", "phone": "0912345678"}]
    )
    [resent] = ingest(warehouse_url)
    assert resent["status"] == "loaded", resent
    rows = query(
        warehouse_url,
        "select app, declaration_id, kind, person_kind, person_key, travel_date::text, origin_known,"
        " destination_in_province, means, cough, symptoms_reported from core.declaration order by 1, 2",
    )
    key = privacy.pseudonym("cccd", "001090001234")
    assert rows == [
        (
            "pccovid",
            "D1",
            "movement",
            "phone",
            privacy.pseudonym("phone", "0912345678"),
            "2021-11-21",
            True,
            True,
            "road",
            True,
            True,
        ),
        ("pccovid", "H1", "health", "cccd", key, None, None, None, "road", True, True),
        ("sskdt", "S1", "movement", "cccd", key, "2021-11-20", True, True, "road", True, True),
    ]
    assert query(warehouse_url, "select declaration_id, travel_date::text from core.declaration_history") == [
        ("D1", "2021-11-20")
    ]
    person = query(
        warehouse_url,
        "select full_name, date_of_birth::text from core.checkin_person where person_key = %s",
        (key,),
    )
    assert person == [("Nguyễn Văn An", "1990-03-15")]
    report = json.loads(next((areas["outbox"] / "pccovid").glob("b.csv.result.json")).read_text("utf-8"))
    assert report["rows_loaded"] == 1
    errors = next((areas["outbox"] / "pccovid").glob("b.csv.errors.csv")).read_text("utf-8-sig")
    assert errors.count("\n") == 1  # the header only: a clean row
    write_csv(folder / "c.csv", [{**HEALTH, "declaration_id": "H2", "phone": "12345678"}])
    ingest(warehouse_url)
    errors = next((areas["outbox"] / "pccovid").glob("c.csv.errors.csv")).read_text("utf-8-sig")
    assert "invalid_phone" in errors and "12345678" not in errors
    # XLSX, with the Vietnamese headers
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["Mã tờ khai", "Loại khai báo", "Thời gian khai báo", "Số điện thoại", "Sốt"])
    sheet.append(["X1", "health", "20/11/2021 09:00", "0987654321", "Có"])
    book.save(folder / "d.xlsx")
    [xlsx] = ingest(warehouse_url)
    assert xlsx["status"] == "loaded"
    assert query(
        warehouse_url, "select symptoms_reported from core.declaration where declaration_id = 'X1'"
    ) == [(True,)]


def test_an_origin_province_that_cannot_be_read_is_a_warning_and_the_arrival_is_kept(warehouse_url, areas):
    """arrivals.md §4: an origin code that is not a known province is `unknown_origin_area`, a warning: the
    declaration loads with origin_known false (its level by COVIDSYNC_UNKNOWN_ORIGIN_LEVEL), and the file
    merges; an unreadable province code must not end the whole file `merge_failed`."""
    folder = areas["landing"] / "pccovid" / "declarations"
    write_csv(
        folder / "origin.csv",
        [
            CLEAN,
            {
                **CLEAN,
                "declaration_id": "D2",
                "origin_province_code": "xx",
                "origin_district_code": "",
                "origin_commune_code": "",
            },
            {
                **CLEAN,
                "declaration_id": "D3",
                "origin_province_code": "99",
                "origin_district_code": "",
                "origin_commune_code": "",
            },
        ],
    )
    [result] = ingest(warehouse_url)
    assert result["status"] == "loaded", result
    assert query(
        warehouse_url,
        "select p.code, p.severity from quarantine.row_problem as p where p.file_id = %s order by p.row_number",
        (result["file_id"],),
    ) == [("unknown_origin_area", "warning"), ("unknown_origin_area", "warning")]
    assert query(warehouse_url, "select declaration_id, origin_known from core.declaration order by 1") == [
        ("D1", True),
        ("D2", False),
        ("D3", False),
    ]
