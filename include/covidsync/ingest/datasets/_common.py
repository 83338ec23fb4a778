"""Columns shared by several datasets (contract §3, reused by §4 and §5): their accepted headers."""

from __future__ import annotations

from covidsync.ingest.spec import col

# Columns shared by the facility datasets (contract §3, reused by §4).
RECORD_ID = col("record_id", False, "Mã bản ghi", "Record ID", "Record", "Mã hồ sơ", "ID bản ghi")
FULL_NAME = col(
    "full_name", True, "Họ và tên", "Họ tên", "Tên", "Name", "Full name", "Fullname", "Tên người tiêm"
)
DOB = col(
    "date_of_birth",
    True,
    "Ngày sinh",
    "Ngày tháng năm sinh",
    "Năm sinh",
    "DOB",
    "Date of birth",
    "Birth date",
    "Birthdate",
    "Birthday",
)
GENDER = col("gender", True, "Giới tính", "Giới", "Sex", "Gender")
CITIZEN_ID = col(
    "citizen_id",
    False,
    "Số CCCD/CMND",
    "Số CMND/CCCD",
    "CCCD/CMND",
    "CMND/CCCD",
    "CCCD",
    "CMND",
    "Số CCCD",
    "Số CMND",
    "Số định danh",
    "Số định danh cá nhân",
    "Căn cước công dân",
    "Chứng minh nhân dân",
    "ID number",
    "Citizen ID number",
    "National ID",
    "National ID number",
    "Identity number",
)
PHONE = col(
    "phone",
    False,
    "Số điện thoại",
    "Điện thoại",
    "SĐT",
    "Số ĐT",
    "ĐT",
    "Di động",
    "Số di động",
    "Phone number",
    "Mobile",
    "Mobile number",
    "Telephone",
    "Tel",
)
HEALTH_INSURANCE = col(
    "health_insurance_no",
    False,
    "Số thẻ BHYT",
    "Thẻ BHYT",
    "BHYT",
    "Mã thẻ BHYT",
    "Số BHYT",
    "Health insurance number",
    "Health insurance no",
    "Health insurance",
    "Insurance number",
)
PROVINCE = col(
    "province_code", True, "Mã tỉnh", "Mã tỉnh/thành phố", "Mã tỉnh thành", "Province code", "Province"
)
DISTRICT = col(
    "district_code", True, "Mã huyện", "Mã quận/huyện", "Mã quận huyện", "District code", "District"
)
COMMUNE = col(
    "commune_code",
    True,
    "Mã xã",
    "Mã xã/phường",
    "Mã phường/xã",
    "Mã xã phường",
    "Commune code",
    "Commune",
    "Ward code",
)
ADDRESS = col("address", False, "Địa chỉ", "Địa chỉ nơi ở", "Nơi ở", "Address")
FACILITY = col(
    "facility_code",
    False,
    "Mã cơ sở",
    "Mã cơ sở y tế",
    "Mã CSYT",
    "Mã đơn vị",
    "Facility code",
    "Facility",
    "Facility ID",
)

# the PC-Covid QR a check-in or a declaration carries (contract facility-files.md §5; arrivals.md §1.1)
QR_PAYLOAD = col(
    "qr_payload", False, "Nội dung QR", "Nội dung mã QR", "Mã QR", "QR", "QR code", "QR payload", "Payload"
)
