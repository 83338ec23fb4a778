"""PC-Covid check-ins (contract §5): the engine's declaration of the dataset.

Staging splits the QR payloads and spools the identity facts of each person
(:func:`covidsync.ingest.checkins.stage_checkins_columnar`); the merge builds the day partitions and the
pseudonymous person keys (:func:`covidsync.ingest.checkins.merge_checkins`). The raw values are not kept
in staging: the quarantine and the report rebuild them from the staged columns, masked.
"""

from __future__ import annotations

from covidsync.ingest.datasets._common import CITIZEN_ID, PHONE, QR_PAYLOAD
from covidsync.ingest.spec import DatasetSpec, col, optional


def _mask_sql(column: str) -> str:
    return f"repeat('*', greatest(length({column}) - 4, 0)) || right({column}, 4)"


def _stage(conn, f, stream, path) -> int:
    from covidsync.ingest.checkins import stage_checkins_columnar

    return stage_checkins_columnar(conn, f.file_id, stream, path, f.received_at)


def _frame_rules(sent, staged, context):
    """The codes a single row decides (:func:`covidsync.ingest.checkin_frame_rules.row_codes`), computed by
    the stage hook on each batch of staging rows and written to ``staging.row_check``."""
    from covidsync.ingest.checkin_frame_rules import row_codes

    return row_codes(sent, staged, context)


def _stage_direct(conn, f, stream, path, spill):
    from covidsync.ingest.checkins import stage_direct

    return stage_direct(conn, f, stream, path, spill)


def _merge_direct(cur, f, params, read) -> int:
    from covidsync.ingest.checkins import merge_direct

    return merge_direct(cur, f, params, read)


def _prepare_merge(conn, f) -> None:
    from covidsync.ingest.checkins import prepare_merge

    prepare_merge(conn, f)


def _merge(cur, f, params) -> None:
    from covidsync.ingest.checkins import merge_checkins

    merge_checkins(cur, f, params)


SPEC = DatasetSpec(
    name="checkins",
    table="checkin",
    columns=(
        col(
            "checkin_id",
            True,
            "Mã check-in",
            "Mã checkin",
            "Mã lượt quét",
            "Mã quét",
            "Check-in ID",
            "Scan ID",
        ),
        col("venue_code", True, "Mã địa điểm", "Mã điểm", "Venue code", "Venue ID", "Venue"),
        col(
            "scanned_at",
            True,
            "Thời gian quét",
            "Thời gian check-in",
            "Thời điểm quét",
            "Scanned at",
            "Scan time",
            "Checked in at",
            "Check-in time",
        ),
        col("direction", False, "Chiều", "Hướng", "Vào/Ra", "Direction"),
        col("mode", False, "Hình thức quét", "Hình thức", "Chế độ quét", "Mode", "Scan mode"),
        QR_PAYLOAD,
        optional(CITIZEN_ID),
        PHONE,
    ),
    keep_raw=False,
    # the codes a single row decides are computed while staging (checkin_frame_rules, through the stage
    # hook, into staging.row_check); the SQL keeps what needs the whole file
    frame_rules=_frame_rules,
    rules=("checkin_duplicate",),
    profile="checkin_profile",
    merge=("checkin_merge", "person_merge", "identity_link_merge"),
    identity_columns=frozenset({"citizen_id", "phone", "qr_payload"}),
    outbox="pccovid",
    rejected_raw_sql=(
        "jsonb_strip_nulls(jsonb_build_object("
        "'checkin_id', s.checkin_id, 'venue_code', s.venue_code, "
        "'scanned_at', coalesce(s.scanned_at_text, s.scanned_at::text), "
        "'direction', s.direction_text, 'mode', s.mode_text, "
        f"'qr_payload', {_mask_sql('s.qr_payload')}, "
        f"'citizen_id', {_mask_sql('coalesce(s.citizen_id_text, s.citizen_id)')}, "
        f"'phone', {_mask_sql('coalesce(s.phone_text, s.phone)')}))"
    ),
    report_value_sql=(
        "case q.column_name when 'checkin_id' then s.checkin_id when 'venue_code' then s.venue_code "
        "when 'scanned_at' then coalesce(s.scanned_at_text, s.scanned_at::text) "
        "when 'qr_payload' then s.qr_payload "
        "when 'citizen_id' then coalesce(s.citizen_id_text, s.citizen_id) "
        "when 'phone' then coalesce(s.phone_text, s.phone) end"
    ),
    extra_staging=("checkin_identity",),
    # the stage hook analyzes the columns its statements read, staging.checkin_identity included
    analyze_min_rows=2**62,
    run_order=1,
    stage_hook=_stage,
    prepare_merge_hook=_prepare_merge,
    merge_hook=_merge,
    # issue 16 (e23-checkins): a received file read, checked, gated and merged in one transaction
    # (covidsync.ingest.engine.ingest_direct; checkins.stage_direct, merge_direct): the rows no rule can
    # stop copied as core rows into a table built aside for their local day, which the merge attaches, the
    # others staged as above; the duplicates rule, the profile and the person keys read both. Its memory is
    # the stage's (flat), so no size limit; the take-back is the merge's, by the file's days.
    direct_stage_hook=_stage_direct,
    direct_merge_hook=_merge_direct,
    direct_profile_columns=("direction_text", "mode_text", "person_kind"),
    direct_profile="checkin_profile_direct",
    direct_rules=("checkin_duplicate_direct",),
    direct_take_back=False,
    direct_any_size=True,
)
