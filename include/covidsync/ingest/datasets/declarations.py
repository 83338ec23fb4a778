"""PC-Covid and Sổ SKĐT declarations (contract arrivals.md §1.1, issue 24): the engine's declaration of the
dataset.

Person keys are read exactly as for check-ins (QR payloads split, identifiers repaired, the best key chosen,
:func:`covidsync.ingest.declarations.stage_declarations`); every other column is a :class:`Typed` reader. The
merge keeps a pseudonymous person key in ``core.declaration`` (as ``core.checkin`` does) and the identity
facts in ``core.checkin_person`` (:func:`covidsync.ingest.declarations.merge_declarations`).
"""

from __future__ import annotations

from covidsync.ingest.datasets._common import CITIZEN_ID, DOB, FULL_NAME, GENDER, PHONE, QR_PAYLOAD
from covidsync.ingest.spec import DatasetSpec, Typed, col, optional

IDENTITY = frozenset({"citizen_id", "phone", "qr_payload", "full_name"})
SYMPTOMS = ("fever", "cough", "shortness_of_breath", "sore_throat", "loss_of_taste_or_smell")


def _mask_sql(column: str) -> str:
    return f"repeat('*', greatest(length({column}) - 4, 0)) || right({column}, 4)"


def _masked_raw(columns: frozenset[str]) -> str:
    """The quarantine's copy of a row: as sent, its identity values masked."""
    parts = []
    for column in sorted(columns):
        value = f"(s.raw ->> '{column}')"
        parts.append(f"'{column}', {_mask_sql(value)}")
    return f"s.raw || jsonb_strip_nulls(jsonb_build_object({', '.join(parts)}))"


def _stage(conn, f, stream, path) -> int:
    from covidsync.ingest.declarations import stage_declarations

    return stage_declarations(conn, f, stream, path)


def _row_codes(raw, typed, context):
    from covidsync.ingest.declaration_frame_rules import row_codes

    return row_codes(raw, typed, context)


def _merge(cur, f, params) -> None:
    from covidsync.ingest.declarations import merge_declarations

    merge_declarations(cur, f, params)


def _stage_direct(conn, f, stream, path, spill):
    from covidsync.ingest.declarations import stage_direct

    return stage_direct(conn, f, stream, path, spill)


def _merge_direct(cur, f, params, read) -> int:
    from covidsync.ingest.declarations import merge_direct

    return merge_direct(cur, f, params, read)


def _yes_no(name: str) -> Typed:
    return Typed(name, "word", args=("yes_no",))


SPEC = DatasetSpec(
    name="declarations",
    table="declaration",
    columns=(
        col(
            "declaration_id",
            True,
            "Mã tờ khai",
            "Mã khai báo",
            "Số tờ khai",
            "ID tờ khai",
            "Declaration ID",
            "Declaration",
        ),
        col("kind", True, "Loại khai báo", "Loại tờ khai", "Loại", "Kind", "Declaration kind", "Type"),
        col("app", False, "Ứng dụng", "Nguồn", "App", "Application", "Source app"),
        col(
            "submitted_at",
            True,
            "Thời gian khai báo",
            "Thời điểm khai báo",
            "Ngày khai báo",
            "Thời gian gửi",
            "Submitted at",
            "Submission time",
            "Declared at",
        ),
        QR_PAYLOAD,
        optional(CITIZEN_ID),
        PHONE,
        optional(FULL_NAME),
        optional(DOB),
        optional(GENDER),
        col("declared_by", False, "Người khai", "Khai hộ", "Hình thức khai", "Declared by"),
        col(
            "origin_province_code",
            False,
            "Mã tỉnh nơi đi",
            "Tỉnh nơi đi",
            "Mã tỉnh đi",
            "Origin province code",
            "Origin province",
        ),
        col(
            "origin_district_code",
            False,
            "Mã huyện nơi đi",
            "Huyện nơi đi",
            "Mã huyện đi",
            "Origin district code",
            "Origin district",
        ),
        col(
            "origin_commune_code",
            False,
            "Mã xã nơi đi",
            "Xã nơi đi",
            "Mã xã đi",
            "Origin commune code",
            "Origin commune",
        ),
        col(
            "destination_commune_code",
            False,
            "Mã xã nơi đến",
            "Xã nơi đến",
            "Mã xã đến",
            "Destination commune code",
            "Destination commune",
            "Destination",
        ),
        col(
            "travel_date",
            False,
            "Ngày di chuyển",
            "Ngày đi",
            "Ngày khởi hành",
            "Travel date",
            "Date of travel",
        ),
        col("means", False, "Phương tiện", "Phương tiện di chuyển", "Means", "Means of travel", "Transport"),
        col("fever", False, "Sốt", "Fever"),
        col("cough", False, "Ho", "Cough"),
        col("shortness_of_breath", False, "Khó thở", "Shortness of breath"),
        col("sore_throat", False, "Đau họng", "Sore throat"),
        col(
            "loss_of_taste_or_smell",
            False,
            "Mất vị giác hoặc khứu giác",
            "Mất vị giác, khứu giác",
            "Mất vị giác/khứu giác",
            "Loss of taste or smell",
        ),
        col(
            "contact_with_f0",
            False,
            "Tiếp xúc F0",
            "Tiếp xúc gần với F0",
            "Tiếp xúc với ca bệnh",
            "Contact with F0",
            "Close contact",
        ),
        col(
            "visited_outbreak_area",
            False,
            "Đến vùng có dịch",
            "Đi qua vùng dịch",
            "Ở vùng có ca bệnh",
            "Visited outbreak area",
            "Outbreak area",
        ),
    ),
    # the typed columns other than the person key ones, which stage_declarations reads as check-ins do
    staging=(
        Typed("declaration_id"),
        Typed("kind"),
        Typed("app"),
        Typed("full_name"),
        Typed("date_of_birth", "birth", outputs=("date_of_birth", "birth_year_only")),
        Typed("gender", "gender"),
        Typed("declared_by"),
        Typed("origin_province_code", "digits", args=(2,)),
        Typed("origin_district_code", "digits", args=(3,)),
        Typed("origin_commune_code", "digits", args=(5,)),
        Typed("destination_commune_code", "digits", args=(5,)),
        Typed("travel_date", "date"),
        Typed("means"),
        *(_yes_no(name) for name in (*SYMPTOMS, "contact_with_f0", "visited_outbreak_area")),
    ),
    # the codes a single row decides: column expressions on the typed batches, written while staging
    # (covidsync.ingest.declaration_frame_rules); only raw's of rows with a problem are kept (fill_raw)
    frame_rules=_row_codes,
    # time_out_of_window and invalid_text are frame rules too (e13-declarations): one SQL rule is left
    rules=("declaration_duplicate",),
    profile="declaration_profile",
    merge=("declaration_merge", "person_merge", "identity_link_merge"),
    identity_columns=IDENTITY,
    outbox="pccovid",
    # the quarantine keeps the row as sent with its identity values masked
    rejected_raw_sql=_masked_raw(IDENTITY),
    extra_staging=("declaration_identity",),
    # the stage hook analyzes these columns itself, and the few of staging.declaration_identity that the person
    # merge reads (the engine would analyze the facts' every column)
    analyze_min_rows=2**62,
    # what the plans of the rules, profile and merge read (the duplicate check, the loadable rows' anti-join,
    # the person keys, the destination): ANALYZE of every column, the jsonb raw with them, took 2.2 s of 100k rows
    analyze_columns=(
        "file_id",
        "row_number",
        "declaration_id",
        "app",
        "kind",
        "person_kind",
        "identifier",
        "destination_commune_code",
    ),
    # what the arrivals build (sql/status/arrival.sql, arrival_scope.sql), the flags mart and the merge's own
    # take-back and replace filter, join and group on: the first load's ANALYZE (after its indexes are built,
    # covidsync.ingest.declarations.merge_declarations) and analyze_if_stale read these 14 of the 29 columns,
    # not the answers, the means and the warnings array nothing reads by (issue 24, e15-arrivals-direct)
    core_analyze_columns=(
        "app",
        "declaration_id",
        "kind",
        "submitted_at",
        "person_key",
        "origin_province_code",
        "origin_district_code",
        "origin_commune_code",
        "destination_commune_code",
        "travel_date",
        "symptoms_reported",
        "contact_with_f0",
        "source_file_id",
        "loaded_at",
    ),
    run_order=2,
    stage_hook=_stage,
    merge_hook=_merge,
    # issue 16 (e18-decl-direct): a received file read straight into core.declaration in one transaction
    # (covidsync.ingest.engine.ingest_direct; declarations.stage_direct, merge_direct), its profile then
    # sql/ingest/declaration_profile_direct.sql over the staged rows and the counts of the rows in core
    direct_stage_hook=_stage_direct,
    direct_merge_hook=_merge_direct,
    direct_profile_columns=("kind", "app", "person_kind"),
    direct_profile="declaration_profile_direct",
)
