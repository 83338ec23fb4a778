"""Check-in row codes as column expressions on the typed batches (issue 16, throughput).

While a check-ins file is staged (:func:`covidsync.ingest.checkins.stage_checkins_columnar`), each batch's
staging rows (:func:`covidsync.ingest.checkins.checkin_frames`: the values as read and, where they differ,
as sent) give the codes of contract §5–§6 that a single row decides, written with the batch to
``staging.row_check``; the rules step copies them to ``quarantine.row_problem`` with their severity, as it
does for vaccinations and test results (:mod:`covidsync.ingest.frame_rules`). What needs the whole file —
a ``checkin_id`` repeated in the file (``duplicate_in_file``) — stays SQL (``sql/ingest/
checkin_duplicate.sql``, one hash aggregate).

:func:`row_codes` is the SQL it replaced, test for test (``checkin_row_problem.sql``,
``checkin_time_window.sql`` and ``checkin_text.sql``): the same codes on the same column (the first at
fault in the contract's column order when one code fires on several), with SQL's three-valued logic (a null
test is no code). Venues are looked up per batch (its distinct codes, one query on ``core.venue``'s key),
provinces once per file (:class:`Context`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

import polars as pl

from covidsync.ingest.frame_rules import first_per_code


@dataclass(frozen=True)
class Context:
    """What the rules of one file need besides its rows (read once per file)."""

    received_at: dt.datetime
    provinces: frozenset[str]
    window_start: dt.datetime
    window_skew_minutes: int
    formula_pattern: str
    mojibake_pattern: str
    venues: pl.Series | None = None  # the batch's venue codes that core.venue holds (:func:`with_venues`)


def context(conn, received_at: dt.datetime) -> Context:
    from covidsync.ingest.plausible import rule_params

    params = rule_params()
    with conn.cursor() as cur:
        cur.execute("select province_code from core.province")
        provinces = frozenset(r[0] for r in cur.fetchall())
    return Context(
        received_at,
        provinces,
        params["window_start"],
        params["window_skew_minutes"],
        params["formula_pattern"],
        params["mojibake_pattern"],
    )


def with_venues(cur, ctx: Context, codes: pl.Series, seen: set[str] | None = None) -> Context:
    """``ctx`` for one batch: the codes among ``codes`` that ``core.venue`` holds (one query per batch on
    its primary key; a national venue list is not read into memory).

    ``seen``: the codes earlier batches of the file found in ``core.venue`` (filled here); only the others
    are looked up again (a day's scans come back to the same venues batch after batch: the lookups were
    2.4 s of a 500k file's stage under load). A code not found is looked up again in each batch."""
    distinct = codes.drop_nulls().unique()
    if seen:
        new = distinct.filter(~distinct.is_in(pl.Series(list(seen), dtype=pl.String).implode())).to_list()
    else:
        new = distinct.to_list()
    found: list = []
    if new:
        cur.execute("select venue_code from core.venue where venue_code = any(%s)", (new,))
        found = [r[0] for r in cur.fetchall()]
    if seen is None:
        return replace(ctx, venues=pl.Series("venue_code", found, dtype=pl.String))
    seen.update(found)
    known = distinct.filter(distinct.is_in(pl.Series(list(seen), dtype=pl.String).implode()))
    return replace(ctx, venues=known.rename("venue_code"))


def _utc(value: dt.datetime) -> pl.Expr:
    return pl.lit(value.astimezone(dt.UTC)).cast(pl.Datetime("us", "UTC"))


def _instants(series: pl.Series) -> pl.Series:
    """Staged ``scanned_at`` (ISO 8601 with its offset) as instants in UTC: the common shape by column
    expression, any other by Python's ISO reader once per distinct value (what PostgreSQL reads)."""
    fast = series.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", time_unit="us", time_zone="UTC", strict=False)
    slow = series.filter(fast.is_null() & series.is_not_null()).unique()
    if slow.is_empty():
        return fast
    read = pl.Series(
        [dt.datetime.fromisoformat(v).astimezone(dt.UTC) for v in slow.to_list()],
        dtype=pl.Datetime("us", "UTC"),
    )
    return fast.fill_null(series.replace_strict(slow, read, default=None, return_dtype=read.dtype))


def row_codes(sent: pl.DataFrame | None, staged: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """The codes of one batch of staged check-ins (``row_number``, ``column_name``, ``code``): the spec's
    ``frame_rules`` (``sent`` unused: staging keeps the values as sent where they differ from the values
    read); ``ctx`` from :func:`with_venues`."""
    c = pl.col
    venues = ctx.venues if ctx.venues is not None else pl.Series("venue_code", [], dtype=pl.String)
    frame = staged.with_columns(
        scanned=_instants(staged["scanned_at"]),
        venue_known=c("venue_code").is_in(venues.implode()),
        id_length=c("citizen_id").str.len_chars(),
        name=pl.when(c("qr_kind") == "cccd")
        .then(c("qr_payload").str.split("|").list.get(2, null_on_oob=True).fill_null(""))
        .when(c("qr_kind") == "personal")
        .then(c("qr_payload").str.split("|").list.get(1, null_on_oob=True).fill_null("")),
    )
    province_known = (c("citizen_id").str.slice(0, 1) == "0") & c("citizen_id").str.slice(1, 2).is_in(
        sorted(ctx.provinces)
    )
    received = _utc(ctx.received_at)
    latest = _utc(ctx.received_at + dt.timedelta(minutes=ctx.window_skew_minutes))
    scanned = c("scanned")
    checks = [
        (0, "checkin_id", "missing_required", c("checkin_id").is_null()),
        (1, "venue_code", "missing_required", c("venue_code").is_null()),
        (1, "venue_code", "unknown_venue", c("venue_code").is_not_null() & ~c("venue_known")),
        (2, "scanned_at", "missing_required", c("scanned_at_text").is_null() & c("scanned_at").is_null()),
        (2, "scanned_at", "invalid_date", c("scanned_at_text").is_not_null() & c("scanned_at").is_null()),
        (2, "scanned_at", "future_date", scanned > received),
        (2, "scanned_at", "time_out_of_window", (scanned < _utc(ctx.window_start)) | (scanned > latest)),
        (5, "qr_payload", "invalid_qr_payload", c("qr_kind") == "invalid"),
        (
            5,
            "qr_payload",
            "invalid_text",
            c("name").str.contains(ctx.formula_pattern) | c("name").str.contains(ctx.mojibake_pattern),
        ),
        (
            6,
            "citizen_id",
            "invalid_citizen_id",
            (c("citizen_id_text").is_not_null() | c("citizen_id").is_not_null())
            & (c("citizen_id").is_null() | ~c("id_length").is_in([9, 12])),
        ),
        (6, "citizen_id", "legacy_cmnd", c("id_length") == 9),
        (
            6,
            "citizen_id",
            "unknown_province_in_id",
            (c("id_length") == 12) & ~province_known.fill_null(False),
        ),
        (7, "phone", "invalid_phone", c("phone_text").is_not_null() & c("phone").is_null()),
        (8, "", "missing_person_key", c("person_kind").is_null()),
    ]
    # the few rows with any code first (one pass over the batch), then each test over those only
    suspect = frame.filter(pl.any_horizontal([test.fill_null(False) for *_, test in checks]))
    return first_per_code(suspect, checks)
