"""Every row code of the contract that applies to facility files: a tiny file that triggers it, and the
clean file that does not. Real files, a real PostgreSQL, the whole per-file pipeline."""

from __future__ import annotations

import json

import psycopg2
import pytest
from ingest_rows import FOLDER, REGISTRY, TEST_RESULT, VACCINATION, ingest, write_csv

from covidsync import db
from covidsync.ingest import pipeline


def problems(url) -> dict[int, set[str]]:
    conn = psycopg2.connect(url)
    with conn.cursor() as cur:
        cur.execute("select row_number, code from quarantine.row_problem")
        found: dict[int, set[str]] = {}
        for row, code in cur.fetchall():
            found.setdefault(row, set()).add(code)
    conn.close()
    return found


@pytest.fixture(autouse=True)
def no_data_docs(monkeypatch):
    """The row codes are what is checked here: the Data Docs site (0.1-0.3 s a file) is proved by
    tests/unit/ingest/test_batch_gate.py, and the pipeline with it on by test_ingest_faults.py; not rebuilt here."""
    monkeypatch.setenv("COVIDSYNC_GX_DOCS", "0")


@pytest.fixture
def registry(areas):
    (areas["landing"] / "registry").mkdir(parents=True)
    (areas["landing"] / "registry" / "facilities.csv").write_text(REGISTRY, encoding="utf-8")
    return areas


@pytest.mark.parametrize("dataset", ["vaccinations", "test_results"])
def test_a_clean_file_loads_whole_with_no_problem(warehouse_url, registry, dataset):
    second = dict(FOLDER[dataset])
    if dataset == "vaccinations":
        second.update({"Mã bản ghi": "R2", "Mũi số": "2", "Ngày tiêm": "15/10/2021"})
    else:
        second.update({"Mã bản ghi": "T2", "Mã mẫu": "S0002", "Loại xét nghiệm": "Test nhanh"})
    write_csv(registry["landing"] / "17001" / dataset / "clean.csv", [FOLDER[dataset], second])
    (summary,) = ingest(warehouse_url, registry)
    assert summary["status"] == "loaded" and summary["rows_loaded"] == 2, summary
    assert problems(warehouse_url) == {}
    report = json.loads((registry["outbox"] / "17001" / "clean.csv.result.json").read_text())
    assert report["status"] == "loaded" and report["rows_loaded"] == 2 and report["file_errors"] == []
    assert list(registry["archive"].rglob("clean.csv")), "a loaded file ends in the archive"


VACCINATION_CASES = [
    ("missing_required", {"Họ và tên": ""}),
    ("missing_required", {"Tên vắc xin": " "}),
    ("invalid_citizen_id", {"Số CCCD/CMND": "12345"}),
    ("invalid_citizen_id", {"Số CCCD/CMND": "01709000123X"}),
    ("unknown_province_in_id", {"Số CCCD/CMND": "003090001234"}),
    ("id_birth_year_mismatch", {"Ngày sinh": "15/03/1991"}),
    ("id_gender_mismatch", {"Giới tính": "Nữ"}),
    ("invalid_date", {"Ngày tiêm": "31/02/2021"}),
    ("invalid_date", {"Ngày sinh": "hôm qua"}),
    ("future_date", {"Ngày tiêm": "01/01/2099"}),
    ("before_campaign", {"Ngày tiêm": "01/02/2021"}),
    (
        "event_before_birth",
        {"Ngày sinh": "01/05/2021", "Số CCCD/CMND": "017221001234", "Ngày tiêm": "01/04/2021"},
    ),
    ("unknown_vaccine", {"Tên vắc xin": "Covaxin"}),
    ("invalid_dose_number", {"Mũi số": "5"}),
    ("invalid_dose_number", {"Mũi số": "hai"}),
    ("invalid_admin_code", {"Mã xã": "04831"}),
    ("invalid_admin_code", {"Mã tỉnh": "03"}),
    ("facility_mismatch", {"Mã cơ sở": "17002"}),
    ("invalid_phone", {"Số điện thoại": "02183855555"}),
    ("legacy_cmnd", {"Số CCCD/CMND": "123456789"}),
    ("name_without_diacritics", {"Họ và tên": "Nguyen Van An"}),
]


@pytest.mark.parametrize(
    ("code", "change"), VACCINATION_CASES, ids=[f"{c}-{i}" for i, (c, _) in enumerate(VACCINATION_CASES)]
)
def test_each_vaccination_rule_fires_on_its_row_only(warehouse_url, registry, code, change):
    clean = dict(VACCINATION, **{"Mã bản ghi": "R0", "Số CCCD/CMND": "017090009999"})
    bad = dict(VACCINATION, **change)
    rows = [clean, bad] + [
        dict(VACCINATION, **{"Mã bản ghi": f"R{i}", "Số CCCD/CMND": f"01709000{i:04d}"}) for i in range(5, 9)
    ]
    write_csv(registry["landing"] / "17001" / "vaccinations" / "case.csv", rows)
    ingest(warehouse_url, registry)
    assert problems(warehouse_url) == {2: {code}}
    errors = (registry["outbox"] / "17001" / "case.csv.errors.csv").read_text(encoding="utf-8")
    assert f",{code}," in errors


TEST_CASES = [
    ("missing_required", {"Mã mẫu": ""}),
    ("invalid_test_type", {"Loại xét nghiệm": "Xét nghiệm máu"}),
    ("invalid_result", {"Kết quả": "có lẽ"}),
    ("invalid_ct_value", {"Giá trị CT": "50"}),
    ("invalid_ct_value", {"Giá trị CT": "25", "Loại xét nghiệm": "Test nhanh"}),
    ("result_before_sample", {"Thời gian trả kết quả": "20/11/2021 07:00"}),
    ("future_date", {"Thời gian lấy mẫu": "20/11/2099 08:00", "Thời gian trả kết quả": "20/11/2099 09:00"}),
    ("invalid_date", {"Thời gian lấy mẫu": "20/13/2021 08:00"}),
    (
        "event_before_birth",
        {"Ngày sinh": "01/12/2021", "Số CCCD/CMND": "017321004321", "Thời gian lấy mẫu": "20/11/2021 08:00"},
    ),
    ("id_gender_mismatch", {"Giới tính": "Nam"}),
]


@pytest.mark.parametrize(
    ("code", "change"), TEST_CASES, ids=[f"{c}-{i}" for i, (c, _) in enumerate(TEST_CASES)]
)
def test_each_test_result_rule_fires_on_its_row_only(warehouse_url, registry, code, change):
    rows = [dict(TEST_RESULT, **{"Mã bản ghi": "T0", "Mã mẫu": "S9"}), dict(TEST_RESULT, **change)] + [
        dict(TEST_RESULT, **{"Mã bản ghi": f"T{i}", "Mã mẫu": f"S{i}"}) for i in range(5, 9)
    ]
    write_csv(registry["landing"] / "17001" / "test_results" / "case.csv", rows)
    ingest(warehouse_url, registry)
    assert problems(warehouse_url) == {2: {code}}


def test_duplicate_in_file_marks_the_later_copies_only(warehouse_url, registry):
    others = [
        dict(VACCINATION, **{"Mã bản ghi": f"R{i}", "Số CCCD/CMND": f"01709000{i:04d}"}) for i in range(2, 7)
    ]
    write_csv(
        registry["landing"] / "17001" / "vaccinations" / "dup.csv", [VACCINATION, dict(VACCINATION), *others]
    )
    (summary,) = ingest(warehouse_url, registry)
    assert problems(warehouse_url) == {2: {"duplicate_in_file"}}
    assert summary["status"] == "loaded_with_errors" and summary["rows_loaded"] == 6


def test_duplicate_without_record_ids_uses_person_and_dose(warehouse_url, registry):
    base = {k: v for k, v in VACCINATION.items() if k != "Mã bản ghi"}
    others = [dict(base, **{"Số CCCD/CMND": f"01709000{i:04d}"}) for i in range(2, 7)]
    later_dose = dict(base, **{"Mũi số": "2", "Ngày tiêm": "15/10/2021"})
    write_csv(
        registry["landing"] / "17001" / "vaccinations" / "dup.csv", [base, dict(base), later_dose, *others]
    )
    ingest(warehouse_url, registry)
    assert problems(warehouse_url) == {2: {"duplicate_in_file"}}


def test_short_dose_interval_is_a_warning_and_the_row_loads(warehouse_url, registry):
    first = dict(VACCINATION)
    write_csv(registry["landing"] / "17001" / "vaccinations" / "day1.csv", [first])
    ingest(warehouse_url, registry)
    second = dict(VACCINATION, **{"Mã bản ghi": "R2", "Mũi số": "2", "Ngày tiêm": "10/09/2021"})
    on_time = dict(
        VACCINATION,
        **{"Mã bản ghi": "R3", "Mũi số": "2", "Ngày tiêm": "20/10/2021", "Số CCCD/CMND": "017090005555"},
    )
    write_csv(
        registry["landing"] / "17002" / "vaccinations" / "day2.csv",
        [second | {"Mã cơ sở": "17002"}, on_time | {"Mã cơ sở": "17002"}],
    )
    (summary,) = ingest(warehouse_url, registry)
    assert problems(warehouse_url) == {1: {"short_dose_interval"}}, "9 days after an AstraZeneca dose 1"
    assert summary["status"] == "loaded" and summary["rows_with_warnings"] == 1
    conn = psycopg2.connect(warehouse_url)
    with conn.cursor() as cur:
        cur.execute("select warnings from core.vaccination where record_id = 'R2'")
        assert cur.fetchone()[0] == ["short_dose_interval"], "a warning loads, flagged"
    conn.close()


def test_a_file_with_too_many_bad_rows_is_held_whole(warehouse_url, registry):
    good = [
        dict(VACCINATION, **{"Mã bản ghi": f"R{i}", "Số CCCD/CMND": f"01709000{i:04d}"}) for i in range(1, 8)
    ]
    bad = [
        dict(
            VACCINATION,
            **{"Mã bản ghi": f"B{i}", "Tên vắc xin": "Covaxin", "Số CCCD/CMND": f"01709001{i:04d}"},
        )
        for i in range(3)
    ]
    write_csv(registry["landing"] / "17001" / "vaccinations" / "held.csv", good + bad)
    (summary,) = ingest(warehouse_url, registry)
    assert summary["status"] == "rejected", "30 % of rows rejected is over the 20 % limit"
    conn = psycopg2.connect(warehouse_url)
    with conn.cursor() as cur:
        cur.execute("select count(*) from core.vaccination")
        assert cur.fetchone()[0] == 0, "nothing of a held file merges"
        cur.execute("select status, file_codes from ops.landing_file")
        assert cur.fetchone() == ("held", ["batch_rejected"])
        cur.execute("select success, failed from ops.validation_result")
        assert cur.fetchone() == (False, 1)
    conn.close()
    report = json.loads((registry["outbox"] / "17001" / "held.csv.result.json").read_text())
    assert report["status"] == "rejected" and report["file_errors"] == ["batch_rejected"]
    assert report["rows_loaded"] == 0 and report["rows_rejected"] == 3
    assert list(registry["rejected"].rglob("held.csv"))

    conn = db.connect(warehouse_url)
    released = pipeline.release(conn, summary["file_id"], "checked with the facility by phone", "tester")
    conn.close()
    assert released["status"] == "loaded_with_errors" and released["rows_loaded"] == 7
    assert list(registry["archive"].rglob("held.csv")) and not list(registry["rejected"].rglob("held.csv"))
    conn = psycopg2.connect(warehouse_url)
    with conn.cursor() as cur:
        cur.execute("select actor, reason from ops.file_event where to_status = 'merged'")
        assert cur.fetchone() == ("tester", "released: checked with the facility by phone")
    conn.close()
