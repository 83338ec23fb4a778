"""The landing zone under a clumsy or racing sender (issue 17, items 1 and 8): a file replaced between its
registration and its reading, 0-byte files, known bytes in an unknown folder, the same file again after it
was archived. Real files, a real PostgreSQL, the whole per-file pipeline."""

from __future__ import annotations

import csv
import json
import os

import pytest

from covidsync import db
from covidsync.ingest import checkins, landing, pipeline

REGISTRY = (
    "facility_code,name,facility_type,province_code,district_code,commune_code\n"
    "17001,Bệnh viện Đa khoa tỉnh Hòa Bình,provincial_hospital,17,148,04789\n"
)
ROW = {
    "Mã bản ghi": "R1",
    "Họ và tên": "Nguyễn Văn An",
    "Ngày sinh": "15/03/1990",
    "Giới tính": "Nam",
    "Số CCCD/CMND": "017090001234",
    "Mã tỉnh": "17",
    "Mã huyện": "148",
    "Mã xã": "04789",
    "Tên vắc xin": "AstraZeneca",
    "Số lô": "AZ0001",
    "Mũi số": "1",
    "Ngày tiêm": "01/09/2021",
    "Mã cơ sở": "17001",
}
VENUES = "venue_code,name,province_code,district_code,commune_code,address,venue_type\n"


def vaccinations(*records: tuple[str, str]) -> bytes:
    """A vaccination CSV with one row per (record id, citizen id)."""
    lines = [list(ROW)]
    for record_id, citizen_id in records:
        lines.append(list({**ROW, "Mã bản ghi": record_id, "Số CCCD/CMND": citizen_id}.values()))
    return "".join(",".join(line) + "\n" for line in lines).encode()


V1 = vaccinations(("R1", "017090001234"), ("R2", "017090001235"))
V2 = vaccinations(("R3", "017090001236"))


@pytest.fixture(autouse=True)
def no_data_docs(monkeypatch):
    monkeypatch.setenv("COVIDSYNC_GX_DOCS", "0")


@pytest.fixture
def conn(warehouse_url, areas):
    (areas["landing"] / "registry").mkdir()
    (areas["landing"] / "registry" / "facilities.csv").write_text(REGISTRY, encoding="utf-8")
    connection = db.connect(warehouse_url)
    with connection:
        landing.load_registry(connection, areas["landing"])
    yield connection
    connection.close()


def drop(areas, relative: str, content: bytes) -> None:
    """What a sender does: write under a temporary name, then rename over the final name (contract §1)."""
    path = areas["landing"] / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(content)
    os.replace(tmp, path)


def files(conn):
    with conn.cursor() as cur:
        cur.execute(
            "select file_id, relative_path, status, file_codes, duplicate_of from ops.landing_file order by 1"
        )
        rows = cur.fetchall()
    conn.rollback()
    return rows


def records(conn) -> set[str]:
    with conn.cursor() as cur:
        cur.execute("select record_id from core.vaccination")
        rows = {r[0] for r in cur.fetchall()}
    conn.rollback()
    return rows


def run(conn, areas) -> list[dict]:
    pending = landing.register(conn, areas["landing"]).pending
    return [pipeline.process_file(conn, file_id) for file_id in sorted(pending)]


# -- item 1 ---------------------------------------------------------------------------------------------
def test_a_file_replaced_after_registration_is_registered_again_and_nothing_is_lost(conn, areas):
    name = "17001/vaccinations/daily.csv"
    drop(areas, name, V1)
    (v1,) = landing.register(conn, areas["landing"]).pending
    drop(areas, name, V2)  # the sender renames a new version over it before the pipeline reads it

    summary = pipeline.process_file(conn, v1)
    assert summary["status"] == "replaced" and summary["replaced_by"] > v1
    v2 = summary["replaced_by"]
    assert records(conn) == set(), "nothing was loaded under v1's hash"
    report = json.loads((areas["outbox"] / "17001" / "daily.csv.result.json").read_text())
    assert report["status"] == "rejected" and report["file_errors"] == ["file_replaced"]
    assert "replaced" in (areas["outbox"] / "17001" / "daily.csv.errors.csv").read_text()

    assert pipeline.process_file(conn, v2)["status"] == "loaded"
    assert records(conn) == {"R3"}
    # the sender sends v1 again: it is loaded, not a duplicate
    drop(areas, name, V1)
    assert [r["status"] for r in run(conn, areas)] == ["loaded"]
    assert records(conn) == {"R1", "R2", "R3"}
    assert [(f[2], f[3]) for f in files(conn)] == [
        ("rejected", ["file_replaced"]),
        ("merged", []),
        ("merged", []),
    ]
    with conn.cursor() as cur:
        cur.execute("select reason from ops.file_event where file_id = %s and to_status = 'rejected'", (v1,))
        assert "registered again as a new file" in cur.fetchone()[0]
    conn.rollback()


def test_a_file_replaced_while_it_is_processed_keeps_both_versions(conn, areas, monkeypatch):
    """The sender renames a new version over the file while the pipeline is in the middle of it: the
    verified bytes are the ones archived, and the new version stays in the landing zone for the next run."""
    name = "17001/vaccinations/daily.csv"
    drop(areas, name, V1)
    (v1,) = landing.register(conn, areas["landing"]).pending
    rules = pipeline.apply_rules

    def rules_then_a_sender(*args, **kwargs):
        counts = rules(*args, **kwargs)
        drop(areas, name, V2)
        return counts

    monkeypatch.setattr(pipeline, "apply_rules", rules_then_a_sender)
    assert pipeline.process_file(conn, v1)["status"] == "loaded"
    monkeypatch.setattr(pipeline, "apply_rules", rules)
    assert records(conn) == {"R1", "R2"}
    (archived,) = list(areas["archive"].rglob("daily.csv"))
    assert archived.read_bytes() == V1
    assert (areas["landing"] / name).read_bytes() == V2, "the new version waits for the next run"
    assert [r["status"] for r in run(conn, areas)] == ["loaded"]
    assert records(conn) == {"R1", "R2", "R3"}
    assert not list((areas["landing"] / landing.INFLIGHT).iterdir()), "no link left behind"


def test_the_checkin_driver_checks_the_bytes_too(conn, areas):
    name = "pccovid/venues/venues.csv"
    drop(areas, name, (VENUES + "V001,Chợ Phương Lâm,17,148,04789,,market\n").encode())
    (first,) = landing.register(conn, areas["landing"], scope="pccovid").pending
    drop(areas, name, (VENUES + "V002,Bến xe Hòa Bình,17,148,04789,,bus_station\n").encode())
    summary = checkins.ingest_file(conn, first)
    assert summary["status"] == "replaced"
    assert checkins.ingest_file(conn, summary["replaced_by"])["status"] == "loaded"
    with conn.cursor() as cur:
        cur.execute("select venue_code from core.venue")
        assert [r[0] for r in cur.fetchall()] == ["V002"]
    conn.rollback()


# -- item 8, the landing parts ----------------------------------------------------------------------------
def test_every_empty_file_is_empty_file(conn, areas):
    for name in ("a.csv", "b.csv", "c.xlsx"):
        drop(areas, f"17001/vaccinations/{name}", b"")
    result = landing.register(conn, areas["landing"])
    assert (result.rejected, result.duplicates) == (3, 0)
    assert {tuple(f[3]) for f in files(conn)} == {("empty_file",)}
    for name in ("a.csv", "b.csv", "c.xlsx"):
        report = json.loads((areas["outbox"] / "17001" / f"{name}.result.json").read_text())
        assert report["file_errors"] == ["empty_file"]


def test_known_bytes_in_an_unknown_folder_are_unknown_facility(conn, areas):
    drop(areas, "17001/vaccinations/a.csv", V1)
    assert [r["status"] for r in run(conn, areas)] == ["loaded"]
    drop(areas, "99999/vaccinations/a.csv", V1)
    result = landing.register(conn, areas["landing"])
    assert (result.rejected, result.duplicates) == (1, 0)
    assert files(conn)[-1][1:] == ("99999/vaccinations/a.csv", "rejected", ["unknown_facility"], None)


def test_bytes_first_sent_to_an_unknown_folder_load_when_sent_to_the_right_one(conn, areas):
    drop(areas, "99999/vaccinations/a.csv", V1)
    landing.register(conn, areas["landing"])
    drop(areas, "17001/vaccinations/a.csv", V1)
    assert [r["status"] for r in run(conn, areas)] == ["loaded"]
    assert records(conn) == {"R1", "R2"}


def test_the_same_file_again_after_archiving_is_recorded_and_the_old_report_is_kept(conn, areas):
    name = "17001/vaccinations/a.csv"
    drop(areas, name, V1)
    assert [r["status"] for r in run(conn, areas)] == ["loaded"]
    report = areas["outbox"] / "17001" / "a.csv.result.json"
    before = report.read_bytes()
    drop(areas, name, V1)  # the same bytes under the same name, after the first copy was archived
    result = landing.register(conn, areas["landing"])
    assert result.pending == [] and result.duplicates == 1
    first, again = files(conn)
    assert again[2:] == ("duplicate", ["duplicate_file"], first[0])
    assert report.read_bytes() == before, "the report of the loaded file is not rewritten"
    assert json.loads(before)["status"] == "loaded"
    assert not (areas["landing"] / name).exists()
    assert len(list(areas["rejected"].rglob("a.csv"))) == 1
    assert records(conn) == {"R1", "R2"}


def test_registration_still_resumes_a_file_whose_move_did_not_happen(conn, areas):
    """The branch a crash between commit and move relies on (not a resend: the file never left)."""
    name = "17001/vaccinations/a.csv"
    drop(areas, name, V1)
    (file_id,) = landing.register(conn, areas["landing"]).pending
    with conn, conn.cursor() as cur:
        cur.execute("update ops.landing_file set status = 'merged' where file_id = %s", (file_id,))
    assert landing.register(conn, areas["landing"]).pending == [file_id]
    assert len(files(conn)) == 1


def _csv(path):
    with open(path, encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_a_replaced_files_report_speaks_the_senders_languages(conn, areas):
    drop(areas, "17001/vaccinations/x.csv", V1)
    (file_id,) = landing.register(conn, areas["landing"]).pending
    drop(areas, "17001/vaccinations/x.csv", V2)
    pipeline.process_file(conn, file_id)
    rows = _csv(areas["outbox"] / "17001" / "x.csv.errors.csv")
    assert rows[1][2] == "file_replaced" and "phiên bản mới" in rows[1][4] and "new version" in rows[1][5]
