"""Vaccinations from facility files (contract §3): the engine's declaration of the dataset."""

from __future__ import annotations

from covidsync.ingest.datasets._common import (
    ADDRESS,
    CITIZEN_ID,
    COMMUNE,
    DISTRICT,
    DOB,
    FACILITY,
    FULL_NAME,
    GENDER,
    HEALTH_INSURANCE,
    PHONE,
    PROVINCE,
    RECORD_ID,
)
from covidsync.ingest.spec import DatasetSpec, Typed, col, required

PERSON = (
    Typed("full_name"),
    Typed("date_of_birth", "birth", outputs=("date_of_birth", "birth_year_only")),
    Typed("gender", "gender"),
    Typed("citizen_id", "citizen_id"),
    Typed("phone", "phone"),
)
ADMIN = (
    Typed("province_code", "digits", args=(2,)),
    Typed("district_code", "digits", args=(3,)),
    Typed("commune_code", "digits", args=(5,)),
)


def row_codes(raw, typed, context):
    """The per-row §6 codes of a batch (:func:`covidsync.ingest.frame_rules.vaccinations`; imported when a
    file is staged, not when the specs are listed: polars is not a DAG-parse-time import)."""
    from covidsync.ingest import frame_rules

    return frame_rules.vaccinations(raw, typed, context)


def record_key(typed):
    """The merge key of a typed batch (:func:`covidsync.ingest.frame_rules.vaccination_record_key`)."""
    from covidsync.ingest import frame_rules

    return frame_rules.vaccination_record_key(typed)


def duplicate_key(typed, has_record_id):
    """The duplicates rule's key of a typed batch (:func:`covidsync.ingest.frame_rules.vaccination_duplicate_key`)."""
    from covidsync.ingest import frame_rules

    return frame_rules.vaccination_duplicate_key(typed, has_record_id)


IDENTITY = frozenset({"citizen_id", "phone", "health_insurance_no", "full_name"})

SPEC = DatasetSpec(
    name="vaccinations",
    table="vaccination",
    columns=(
        RECORD_ID,
        FULL_NAME,
        DOB,
        GENDER,
        required(CITIZEN_ID),
        PHONE,
        HEALTH_INSURANCE,
        PROVINCE,
        DISTRICT,
        COMMUNE,
        ADDRESS,
        col(
            "vaccine",
            True,
            "Tên vắc xin",
            "Tên vắc-xin",
            "Tên vaccine",
            "Vắc xin",
            "Vắc-xin",
            "Vaccine",
            "Loại vắc xin",
            "Loại vắc-xin",
            "Loại vaccine",
            "Vaccine name",
            "Vaccine product",
            "Product",
        ),
        col(
            "lot_number",
            True,
            "Số lô",
            "Lô",
            "Lô vắc xin",
            "Lô vắc-xin",
            "Số lô vắc xin",
            "Lot",
            "Lot number",
            "Lot no",
            "Batch",
            "Batch number",
        ),
        col(
            "dose_number",
            True,
            "Mũi số",
            "Mũi tiêm",
            "Mũi",
            "Mũi tiêm số",
            "Lần tiêm",
            "Dose",
            "Dose number",
            "Dose no",
        ),
        col(
            "vaccinated_on",
            True,
            "Ngày tiêm",
            "Ngày tiêm chủng",
            "Ngày tiêm vắc xin",
            "Vaccination date",
            "Vaccinated on",
            "Date of vaccination",
            "Date vaccinated",
        ),
        FACILITY,
    ),
    staging=(
        Typed("record_id"),
        *PERSON,
        Typed("health_insurance_no"),
        *ADMIN,
        Typed("address"),
        Typed("vaccine_code", "vaccine", source="vaccine"),
        Typed("lot_number"),
        Typed("dose_number", "int"),
        Typed("vaccinated_on", "date"),
        Typed("facility_code", "digits", args=(5,)),
    ),
    frame_rules=row_codes,  # the per-row codes, on the typed batches (sql/ingest/vaccination_row_problem.sql before)
    rules=("vaccination_duplicate",),  # invalid_text is a frame rule (frame_rules.text_codes)
    analyze_columns=(
        "file_id",
        "row_number",
        "record_key",
        "citizen_id",
        "dose_number",
    ),  # the set rules: duplicates in the file
    rules_after_hold=("vaccination_short_interval",),
    profile="vaccination_profile",
    merge=("vaccination_merge",),
    group_merge=("vaccination_merge_group",),  # a group's files at once (many small files, issue 16)
    group_merge_overlap="vaccination_merge_group_overlap",
    group_rules=("vaccination_duplicate_group",),
    group_rules_after_hold=("vaccination_short_interval_group",),
    group_profile="vaccination_profile_group",
    identity_columns=IDENTITY,
    # the rows no set rule needs go straight into core while the file is read (issue 16, e10-direct)
    direct_columns=(
        "record_id",
        "full_name",
        "date_of_birth",
        "gender",
        "citizen_id",
        "phone",
        "health_insurance_no",
        "province_code",
        "district_code",
        "commune_code",
        "address",
        "vaccine_code",
        "lot_number",
        "dose_number",
        "vaccinated_on",
    ),
    direct_false=("birth_year_only",),
    direct_profile_columns=("vaccine_code", "dose_number", "gender"),
    direct_rules_after_hold=("vaccination_short_interval_direct",),
    direct_profile="vaccination_profile_direct",
    record_key=record_key,  # staging notes whether the rows came in key order: the merge then skips its sort
    duplicate_key=duplicate_key,  # staging keeps the candidate rows: the duplicates rule compares only those
    # the columns core readers filter, join and group on: the merge's ANALYZE leaves names, addresses, lots
    core_analyze_columns=(
        "facility_code",
        "record_key",
        "source_file_id",
        "citizen_id",
        "phone",
        "dose_number",
        "vaccine_code",
        "vaccinated_on",
        "loaded_at",
        "date_of_birth",
        "gender",
        "province_code",
        "district_code",
        "commune_code",
    ),
)
