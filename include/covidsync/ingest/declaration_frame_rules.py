"""The declaration row codes a single row decides, as column expressions on each typed batch (issue 24,
throughput; migration 0030). Contract arrivals.md §1.1 and §4, with the check-in codes of facility-files.md §6.

The same codes, on the same column, as the SQL file they replaced (``sql/ingest/declaration_row_problem.sql``),
test for test: one code per (row, code) on the first column at fault in the contract's column order, SQL's
three-valued logic (a null test is no code). Origins are placed on the national list of 2021 units (``ref.*``),
destinations on it and Hòa Bình (17), the province of a CCCD on ``core.province``: each list read once per
file (:class:`Context`) and joined to the batch. ``time_out_of_window`` (the window of :mod:`covidsync.ingest.plausible`) and ``invalid_text`` (the patterns of
:mod:`covidsync.textsafe`, which read the same in Rust's regex as in PostgreSQL's) are expressions here too, as
for check-ins (they were ``declaration_time_window.sql`` and ``declaration_text.sql``, two more scans of
staging; e13-declarations). ``duplicate_in_file`` needs the whole file and stays SQL
(``declaration_duplicate.sql``, one hash aggregate: the file's only rules statement).
``tests/integration/test_declaration_row_codes.py`` checks every output against the SQL rules' on a file of
edge cases.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from covidsync.ingest.frame_rules import LOCAL, _instants_exact, first_per_code
from covidsync.textsafe import FORMULA_PATTERN, MOJIBAKE_PATTERN

HOA_BINH = "17"
KINDS = ["movement", "health"]


@dataclass(frozen=True)
class Context:
    """What the rules of one declarations file need besides its rows (read once per file)."""

    received_at: dt.datetime
    window_start: dt.datetime  # time_out_of_window (covidsync.ingest.plausible)
    window_skew_minutes: int
    id_provinces: tuple[str, ...]  # core.province: the province a CCCD's digits 2-3 name
    provinces: pl.DataFrame  # ref.province: op_code
    districts: pl.DataFrame  # ref.district: od_code, od_province
    communes: pl.DataFrame  # ref.commune with its district's province: c_code, c_district, c_province


def context(conn, received_at: dt.datetime) -> Context:
    from covidsync.ingest.plausible import window_skew_minutes, window_start

    with conn.cursor() as cur:
        cur.execute("select province_code from core.province")
        id_provinces = tuple(r[0] for r in cur.fetchall())
        cur.execute("select province_code from ref.province")
        provinces = pl.DataFrame({"op_code": [r[0] for r in cur.fetchall()]}, schema={"op_code": pl.String})
        cur.execute("select district_code, province_code from ref.district")
        districts = pl.DataFrame(
            cur.fetchall(), schema=dict.fromkeys(("od_code", "od_province"), pl.String), orient="row"
        )
        cur.execute(
            "select c.commune_code, c.district_code, d.province_code"
            " from ref.commune as c join ref.district as d on d.district_code = c.district_code"
        )
        communes = pl.DataFrame(
            cur.fetchall(),
            schema=dict.fromkeys(("c_code", "c_district", "c_province"), pl.String),
            orient="row",
        )
    return Context(
        received_at, window_start(), window_skew_minutes(), id_provinces, provinces, districts, communes
    )


def _utc(value: dt.datetime) -> pl.Expr:
    return pl.lit(value.astimezone(dt.UTC)).cast(pl.Datetime("us", "UTC"))


def _lookup(frame: pl.DataFrame, table: pl.DataFrame, on: list[str], keys: list[str], prefix: str):
    """``frame`` with the matching row of ``table`` (a key: at most one) joined on, its columns renamed."""
    right = table.rename({c: f"{prefix}_{c}" for c in table.columns})
    return frame.join(
        right,
        left_on=on,
        right_on=[f"{prefix}_{k}" for k in keys],
        how="left",
        maintain_order="left",
        coalesce=False,
    )


def row_codes(raw: pl.DataFrame, typed: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """The per-row codes of a declarations batch: ``raw`` the values as sent (null: not sent), ``typed`` the
    staging rows (:func:`covidsync.ingest.declarations.declaration_frames`)."""
    sent = raw.select(pl.col(c).is_not_null().alias(f"sent_{c}") for c in raw.columns if c != "row_number")
    frame = pl.concat([typed, sent], how="horizontal")
    frame = _instants_exact(frame, "submitted_at")
    frame = _lookup(frame, ctx.provinces, ["origin_province_code"], ["op_code"], "p")
    frame = _lookup(
        frame,
        ctx.districts,
        ["origin_district_code", "origin_province_code"],
        ["od_code", "od_province"],
        "d",
    )
    frame = _lookup(frame, ctx.communes, ["origin_commune_code"], ["c_code"], "oc")
    frame = _lookup(frame, ctx.communes, ["destination_commune_code"], ["c_code"], "dc")
    c = pl.col
    cid = c("citizen_id")
    kind_word = c("kind").str.to_lowercase()
    is_movement = kind_word == "movement"
    id_length = cid.str.len_chars()
    frame = frame.with_columns(
        id_length.alias("id_length"),
        ((id_length == 12) & (cid.str.slice(0, 1) == "0") & cid.str.slice(1, 2).is_in(list(ctx.id_provinces)))
        .fill_null(False)
        .alias("id_province_known"),
        c("p_op_code").is_not_null().alias("origin_province_known"),
        c("d_od_code").is_not_null().alias("origin_district_known"),
        (
            c("oc_c_code").is_not_null()
            & (c("oc_c_province") == c("origin_province_code"))
            & (c("origin_district_code").is_null() | (c("origin_district_code") == c("oc_c_district")))
        ).alias("origin_commune_known"),
        c("dc_c_code").is_not_null().alias("destination_known"),
        (c("dc_c_province") == HOA_BINH).alias("destination_in_province"),
        c("date_of_birth").str.to_date("%Y-%m-%d", strict=False).alias("dob"),
    )
    received = _utc(ctx.received_at)
    latest = _utc(ctx.received_at + dt.timedelta(minutes=ctx.window_skew_minutes))
    submitted = c("submitted_at_t")
    full_name = c("full_name")
    checks = [
        (0, "declaration_id", "missing_required", c("declaration_id").is_null()),
        (1, "kind", "missing_required", c("kind").is_null()),
        (1, "kind", "invalid_declaration_kind", c("kind").is_not_null() & ~kind_word.is_in(KINDS)),
        (3, "submitted_at", "missing_required", ~c("sent_submitted_at")),
        (3, "submitted_at", "invalid_date", c("sent_submitted_at") & c("submitted_at").is_null()),
        (3, "submitted_at", "future_date", submitted > received),
        (
            3,
            "submitted_at",
            "time_out_of_window",
            (submitted < _utc(ctx.window_start)) | (submitted > latest),
        ),
        (4, "qr_payload", "invalid_qr_payload", c("qr_kind") == "invalid"),
        (
            5,
            "citizen_id",
            "invalid_citizen_id",
            c("sent_citizen_id") & (cid.is_null() | ~c("id_length").is_in([9, 12])),
        ),
        (5, "citizen_id", "legacy_cmnd", c("id_length") == 9),
        (5, "citizen_id", "unknown_province_in_id", (c("id_length") == 12) & ~c("id_province_known")),
        (6, "phone", "invalid_phone", c("sent_phone") & c("phone").is_null()),
        (6, "", "missing_person_key", c("person_kind").is_null()),
        (
            7,
            "full_name",
            "name_without_diacritics",
            (full_name.str.len_bytes() == full_name.str.len_chars()) & full_name.str.contains("[A-Za-z]"),
        ),
        (
            7,
            "full_name",
            "invalid_text",
            full_name.str.contains(FORMULA_PATTERN) | full_name.str.contains(MOJIBAKE_PATTERN),
        ),
        (8, "date_of_birth", "invalid_date", c("sent_date_of_birth") & c("dob").is_null()),
        (
            8,
            "date_of_birth",
            "event_before_birth",
            submitted.dt.convert_time_zone(str(LOCAL)).dt.date() < c("dob"),
        ),
        (11, "origin_province_code", "missing_required", is_movement & ~c("sent_origin_province_code")),
        (
            11,
            "origin_province_code",
            "unknown_origin_area",
            c("sent_origin_province_code")
            & (
                ~c("origin_province_known")
                | (c("sent_origin_district_code") & ~c("origin_district_known"))
                | (c("sent_origin_commune_code") & ~c("origin_commune_known"))
            ),
        ),
        (
            14,
            "destination_commune_code",
            "missing_required",
            is_movement & ~c("sent_destination_commune_code"),
        ),
        (
            14,
            "destination_commune_code",
            "invalid_admin_code",
            c("sent_destination_commune_code") & ~c("destination_known"),
        ),
        (
            14,
            "destination_commune_code",
            "destination_outside_province",
            is_movement & c("destination_known") & ~c("destination_in_province"),
        ),
        (15, "travel_date", "missing_required", is_movement & ~c("sent_travel_date")),
        (15, "travel_date", "invalid_date", c("sent_travel_date") & c("travel_date").is_null()),
    ]
    return first_per_code(frame, checks)
