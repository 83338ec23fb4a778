"""Tiny facility files for the ingest tests: a registry of two facilities, one clean row of each dataset (in
the contract's Vietnamese headers), a CSV writer, and the per-file pipeline run over a landing zone."""

from __future__ import annotations

import csv

from covidsync import db
from covidsync.ingest import landing, pipeline

REGISTRY = (
    "facility_code,name,facility_type,province_code,district_code,commune_code\n"
    "17001,Bệnh viện Đa khoa tỉnh Hòa Bình,provincial_hospital,17,148,04789\n"
    "17002,Trạm Y tế xã Yên Mông,commune_health_station,17,148,04813\n"
)
VACCINATION = {
    "Mã bản ghi": "R1",
    "Họ và tên": "Nguyễn Văn An",
    "Ngày sinh": "15/03/1990",
    "Giới tính": "Nam",
    "Số CCCD/CMND": "017090001234",
    "Số điện thoại": "0912345678",
    "Mã tỉnh": "17",
    "Mã huyện": "148",
    "Mã xã": "04789",
    "Tên vắc xin": "AstraZeneca",
    "Số lô": "AZ0001",
    "Mũi số": "1",
    "Ngày tiêm": "01/09/2021",
    "Mã cơ sở": "17001",
}
TEST_RESULT = {
    "Mã bản ghi": "T1",
    "Mã mẫu": "S0001",
    "Họ và tên": "Bùi Thị Hoa",
    "Ngày sinh": "02/07/1985",
    "Giới tính": "Nữ",
    "Số CCCD/CMND": "017185004321",
    "Số điện thoại": "0987654321",
    "Mã tỉnh": "17",
    "Mã huyện": "148",
    "Mã xã": "04789",
    "Loại xét nghiệm": "RT-PCR",
    "Mẫu gộp": "Không",
    "Thời gian lấy mẫu": "20/11/2021 08:00",
    "Kết quả": "Âm tính",
    "Giá trị CT": "",
    "Thời gian trả kết quả": "20/11/2021 14:00",
}
FOLDER = {"vaccinations": VACCINATION, "test_results": TEST_RESULT}


def write_csv(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def ingest(url, areas) -> list[dict]:
    """Register and process every landing file, in order of arrival (what the DAG does)."""
    conn = db.connect(url)
    try:
        with conn:
            landing.load_registry(conn, areas["landing"])
        pending = landing.register(conn, areas["landing"]).pending
        return [pipeline.process_file(conn, file_id) for file_id in sorted(pending)]
    finally:
        conn.close()
