"""Test results from facility files (contract §4): the engine's declaration of the dataset."""

from __future__ import annotations

from covidsync.ingest.datasets._common import (
    CITIZEN_ID,
    COMMUNE,
    DISTRICT,
    DOB,
    FACILITY,
    FULL_NAME,
    GENDER,
    PHONE,
    PROVINCE,
    RECORD_ID,
)
from covidsync.ingest.datasets.vaccinations import ADMIN, IDENTITY, PERSON
from covidsync.ingest.spec import DatasetSpec, Typed, col, required


def row_codes(raw, typed, context):
    """The per-row §6 codes of a batch (:func:`covidsync.ingest.frame_rules.test_results`)."""
    from covidsync.ingest import frame_rules

    return frame_rules.test_results(raw, typed, context)


def record_key(typed):
    """The merge key of a typed batch (:func:`covidsync.ingest.frame_rules.test_result_record_key`)."""
    from covidsync.ingest import frame_rules

    return frame_rules.test_result_record_key(typed)


def duplicate_key(typed, has_record_id):
    """The duplicates rule's key of a typed batch (:func:`covidsync.ingest.frame_rules.test_result_duplicate_key`)."""
    from covidsync.ingest import frame_rules

    return frame_rules.test_result_duplicate_key(typed, has_record_id)


SPEC = DatasetSpec(
    name="test_results",
    table="test_result",
    columns=(
        RECORD_ID,
        col(
            "sample_id",
            True,
            "Mã mẫu",
            "Mã số mẫu",
            "Mã ống mẫu",
            "Barcode",
            "Sample ID",
            "Sample code",
            "Sample",
            "Sample barcode",
        ),
        FULL_NAME,
        DOB,
        GENDER,
        required(CITIZEN_ID),
        PHONE,
        PROVINCE,
        DISTRICT,
        COMMUNE,
        col(
            "test_type",
            True,
            "Loại xét nghiệm",
            "Loại XN",
            "Phương pháp xét nghiệm",
            "Phương pháp",
            "Test type",
            "Test method",
            "Method",
        ),
        col("pooled", False, "Mẫu gộp", "Gộp mẫu", "Gộp", "Pooled", "Pooled sample", "Pool"),
        col(
            "sampled_at",
            True,
            "Thời gian lấy mẫu",
            "Ngày lấy mẫu",
            "Ngày giờ lấy mẫu",
            "Sampled at",
            "Sample time",
            "Sampling time",
            "Sampled on",
            "Collected at",
            "Collection time",
        ),
        col("result", True, "Kết quả", "Kết quả xét nghiệm", "KQ", "Kết quả XN", "Result", "Test result"),
        col("ct_value", False, "Giá trị CT", "CT", "Chỉ số CT", "Giá trị Ct", "CT value", "Ct"),
        col(
            "resulted_at",
            True,
            "Thời gian trả kết quả",
            "Ngày trả kết quả",
            "Thời gian có kết quả",
            "Ngày có kết quả",
            "Ngày giờ trả kết quả",
            "Resulted at",
            "Result time",
            "Result date",
            "Reported at",
        ),
        FACILITY,
    ),
    staging=(
        Typed("record_id"),
        Typed("sample_id"),
        *PERSON,
        *ADMIN,
        Typed("test_type", "word", args=("test_types",)),
        Typed("pooled", "word", args=("yes_no",)),
        Typed("sampled_at", "datetime"),
        Typed("result", "word", args=("results",)),
        Typed("ct_value", "float"),
        Typed("resulted_at", "datetime"),
        Typed("facility_code", "digits", args=(5,)),
    ),
    frame_rules=row_codes,  # the per-row codes, on the typed batches (sql/ingest/test_result_row_problem.sql before)
    rules=("test_result_duplicate",),  # the set rules: duplicates in the file (invalid_text: frame rules)
    analyze_columns=("file_id", "row_number", "record_key", "citizen_id", "sample_id"),
    profile="test_result_profile",
    merge=("test_result_merge",),
    identity_columns=IDENTITY,
    # the rows no set rule needs go straight into core while the file is read (issue 16, e10-direct)
    direct_columns=(
        "record_id",
        "sample_id",
        "full_name",
        "date_of_birth",
        "gender",
        "citizen_id",
        "phone",
        "province_code",
        "district_code",
        "commune_code",
        "test_type",
        "sampled_at",
        "result",
        "ct_value",
        "resulted_at",
    ),
    direct_false=("birth_year_only", "pooled"),
    direct_profile_columns=("test_type", "result", "pooled", "gender"),
    direct_profile="test_result_profile_direct",
    record_key=record_key,  # staging notes whether the rows came in key order: the merge then skips its sort
    duplicate_key=duplicate_key,  # staging keeps the candidate rows: the duplicates rule compares only those
    # the columns core readers filter, join and group on: the merge's ANALYZE leaves names and sample ids
    core_analyze_columns=(
        "facility_code",
        "record_key",
        "source_file_id",
        "citizen_id",
        "phone",
        "test_type",
        "result",
        "sampled_at",
        "resulted_at",
        "loaded_at",
        "date_of_birth",
        "gender",
        "province_code",
        "district_code",
        "commune_code",
    ),
)
