"""Registering landing files: the registry, complete files only, file codes, duplicates, resumption."""

from __future__ import annotations

import json
import os

import psycopg2
import pytest

from covidsync import db
from covidsync.ingest import landing

REGISTRY = (
    "facility_code,name,facility_type,province_code,district_code,commune_code\n"
    "17001,Bệnh viện Đa khoa tỉnh Hòa Bình,provincial_hospital,17,148,04789\n"
    "17002,Trạm Y tế xã Yên Mông,commune_health_station,17,148,04813\n"
)
CSV = "citizen_id,full_name\n017090001234,Nguyễn Văn An\n"


def _drop(areas, relative: str, content: bytes | str) -> None:
    path = areas["landing"] / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)


def _register(url, areas, scope="facility"):
    conn = db.connect(url)
    try:
        with conn:
            landing.load_registry(conn, areas["landing"])
        return landing.register(conn, areas["landing"], scope=scope)
    finally:
        conn.close()


def _files(url):
    conn = psycopg2.connect(url)
    with conn.cursor() as cur:
        cur.execute("select relative_path, status, file_codes from ops.landing_file order by file_id")
        rows = cur.fetchall()
    conn.close()
    return rows


@pytest.fixture
def registry(areas):
    _drop(areas, "registry/facilities.csv", REGISTRY)
    return areas


def test_registry_loads_and_reloads_only_when_changed(warehouse_url, registry):
    conn = db.connect(warehouse_url)
    with conn:
        first = landing.load_registry(conn, registry["landing"])
    with conn:
        second = landing.load_registry(conn, registry["landing"])
    assert (first.facilities, first.changed) == (2, True)
    assert (second.facilities, second.changed) == (2, False)
    _drop(
        registry,
        "registry/facilities.csv",
        REGISTRY + "17003,Phòng xét nghiệm An Bình,private_lab,17,152,04924\n",
    )
    with conn:
        third = landing.load_registry(conn, registry["landing"])
    assert (third.facilities, third.changed) == (3, True)
    with conn.cursor() as cur:
        cur.execute("select name from ops.facility where facility_code = '17001'")
        assert cur.fetchone()[0] == "Bệnh viện Đa khoa tỉnh Hòa Bình"
    conn.close()


def test_registry_with_a_bad_code_is_refused_with_its_row(warehouse_url, areas):
    _drop(areas, "registry/facilities.csv", REGISTRY + "1700X,Bad,lab,17,148,04789\n")
    conn = db.connect(warehouse_url)
    with pytest.raises(landing.RegistryError, match="row 3"), conn:
        landing.load_registry(conn, areas["landing"])
    conn.close()


def test_complete_files_register_once_and_incomplete_names_are_never_read(warehouse_url, registry):
    _drop(registry, "17001/vaccinations/2021-11-20.csv", CSV)
    for name in (".hidden.csv", "upload.csv.part", "upload.csv.tmp", "UPLOAD.CSV.PART"):
        _drop(registry, f"17001/vaccinations/{name}", CSV + "x\n")
    first = _register(warehouse_url, registry)
    assert len(first.pending) == 1
    assert [r[:2] for r in _files(warehouse_url)] == [("17001/vaccinations/2021-11-20.csv", "received")]
    second = _register(warehouse_url, registry)
    assert second.pending == first.pending, "a rerun registers nothing new and resumes the pending file"
    assert len(_files(warehouse_url)) == 1


@pytest.mark.parametrize(
    ("relative", "content", "code"),
    [
        ("99999/vaccinations/a.csv", CSV, "unknown_facility"),
        ("17001/vaccinations/a.pdf", b"%PDF-1.4", "unsupported_format"),
        ("17001/vaccinations/a.txt", CSV, "unsupported_format"),
        ("17001/other_things/a.csv", CSV, "unsupported_format"),
        ("17001/vaccinations/empty.csv", b"", "empty_file"),
    ],
)
def test_files_that_cannot_be_read_are_rejected_with_a_report(
    warehouse_url, registry, relative, content, code
):
    _drop(registry, relative, content)
    result = _register(warehouse_url, registry)
    assert result.pending == [] and result.rejected == 1
    assert _files(warehouse_url) == [(relative, "rejected", [code])]
    assert not (registry["landing"] / relative).exists(), "the file left the landing zone"
    moved = list(registry["rejected"].rglob(os.path.basename(relative)))
    assert len(moved) == 1 and moved[0].read_bytes() == (
        content.encode() if isinstance(content, str) else content
    )
    facility, dataset = relative.split("/")[:2]
    assert moved[0].parent.parent.parent.name == facility
    report = json.loads(
        (registry["outbox"] / facility / f"{os.path.basename(relative)}.result.json").read_text()
    )
    assert report["status"] == "rejected" and report["file_errors"] == [code]
    errors = (registry["outbox"] / facility / f"{os.path.basename(relative)}.errors.csv").read_text()
    assert code in errors


def test_file_too_large(warehouse_url, registry, monkeypatch):
    monkeypatch.setenv("COVIDSYNC_MAX_FILE_BYTES", "10")
    _drop(registry, "17001/test_results/big.csv", CSV)
    _register(warehouse_url, registry)
    assert _files(warehouse_url)[0][1:] == ("rejected", ["file_too_large"])


def test_same_bytes_again_is_a_duplicate_and_nothing_is_deleted(warehouse_url, registry):
    _drop(registry, "17001/vaccinations/first.csv", CSV)
    _register(warehouse_url, registry)
    _drop(registry, "17001/vaccinations/again.csv", CSV)
    result = _register(warehouse_url, registry)
    assert result.duplicates == 1
    rows = _files(warehouse_url)
    assert rows[1] == ("17001/vaccinations/again.csv", "duplicate", ["duplicate_file"])
    assert (registry["landing"] / "17001/vaccinations/first.csv").exists()
    assert list(registry["rejected"].rglob("again.csv"))
    report = json.loads((registry["outbox"] / "17001" / "again.csv.result.json").read_text())
    assert report["status"] == "duplicate"


def test_pccovid_files_belong_to_the_pccovid_scope(warehouse_url, registry):
    _drop(registry, "pccovid/checkins/c.csv", "checkin_id\n1\n")
    _drop(registry, "17001/vaccinations/v.csv", CSV)
    facility = _register(warehouse_url, registry, scope="facility")
    assert [r[0] for r in _files(warehouse_url)] == ["17001/vaccinations/v.csv"]
    pccovid = _register(warehouse_url, registry, scope="pccovid")
    assert len(facility.pending) == len(pccovid.pending) == 1
    assert {r[0] for r in _files(warehouse_url)} == {"17001/vaccinations/v.csv", "pccovid/checkins/c.csv"}


def test_a_crash_after_commit_but_before_the_move_is_finished_by_the_next_run(
    warehouse_url, registry, monkeypatch
):
    _drop(registry, "17001/vaccinations/a.pdf", b"%PDF")

    def crash(src, dest):
        raise OSError("disk went away")

    monkeypatch.setattr(landing, "move_out", crash)
    with pytest.raises(OSError):
        _register(warehouse_url, registry)
    assert _files(warehouse_url)[0][1] == "rejected"
    assert (registry["landing"] / "17001/vaccinations/a.pdf").exists()
    monkeypatch.undo()
    monkeypatch.setenv("COVIDSYNC_DATA_DIR", str(registry["landing"].parent))
    _register(warehouse_url, registry)
    assert not (registry["landing"] / "17001/vaccinations/a.pdf").exists()
    assert list(registry["rejected"].rglob("a.pdf"))
    assert len(_files(warehouse_url)) == 1
    report = json.loads((registry["outbox"] / "17001" / "a.pdf.result.json").read_text())
    assert report["file_errors"] == ["unsupported_format"], "the resumed run also tells the sender"
