"""Row rules as column expressions on a file's typed batches (issue 16, throughput).

A dataset's spec may name a ``frame_rules`` function: while the file is staged, for each batch, it gets the
values as sent (text columns, null where the row sent nothing: what ``raw ? 'column'`` asked in SQL) and
the typed staging columns (as :func:`covidsync.ingest.columnar.typed` writes them: ISO dates, ``t``/``f``,
integers as text), and returns the row codes of the contract's §6 that a single row decides
(``row_number``, ``column_name``, ``code``). The engine writes them to ``staging.row_check`` with the
batch, and the rules step copies them to ``quarantine.row_problem`` with their severity. What needs the
whole file or the database — duplicates across the file, short dose intervals against core, later issues'
rules files — stays SQL over staging (the spec's ``rules``). ``invalid_text`` of names and addresses is here too
(:func:`text_codes`; ``sql/ingest/vaccination_text.sql``/``test_result_text.sql`` before).

Each function here is the SQL file it replaced, test for test (``sql/ingest/vaccination_row_problem.sql``
and ``test_result_row_problem.sql``, removed with migration 0021): the same codes, on the same column (the first at fault in the contract's column
order when one code fires on several), with SQL's three-valued logic (a null test is no code).
References (provinces, districts, communes) are read once per file (:class:`Context`), not per row.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import polars as pl

LOCAL = ZoneInfo("Asia/Ho_Chi_Minh")
CAMPAIGN_START = dt.date(2021, 3, 8)
HOA_BINH = "17"  # the province whose districts and communes are shipped as reference data
FORMER_KY_SON = "151"  # a district code that belongs to Hòa Bình even though it no longer exists

CODES = pl.Schema({"row_number": pl.Int64, "column_name": pl.String, "code": pl.String})


@dataclass(frozen=True)
class Context:
    """What the rules of one file need besides its rows: the folder's facility, when the file arrived, and
    the reference lists (read once per file)."""

    facility_code: str
    received_at: dt.datetime
    provinces: tuple[str, ...]
    districts: tuple[tuple[str, str], ...]  # (district_code, province_code)
    communes: tuple[tuple[str, str], ...]  # (commune_code, district_code)
    # the file has a record_id column: duplicate_in_file compares record ids, else persons (e6-stage: the
    # duplicate candidates found while staging use the same key as the rule)
    has_record_id: bool = True

    @property
    def local_day(self) -> dt.date:
        return self.received_at.astimezone(LOCAL).date()


def context(conn, facility_code: str, received_at: dt.datetime, *, has_record_id: bool = True) -> Context:
    with conn.cursor() as cur:
        cur.execute("select province_code from core.province")
        provinces = tuple(r[0] for r in cur.fetchall())
        cur.execute("select district_code, province_code from core.district")
        districts = tuple(cur.fetchall())
        cur.execute("select commune_code, district_code from core.commune")
        communes = tuple(cur.fetchall())
    return Context(facility_code, received_at, provinces, districts, communes, has_record_id)


def first_per_code(
    frame: pl.DataFrame | pl.LazyFrame,
    checks: list[tuple[int, str, str, pl.Expr]],
    text_columns: tuple[str, ...] = (),
) -> pl.DataFrame:
    """The codes whose test is true (null: no code), one per (row, code): on the first column at fault in
    the contract's order (``distinct on (row_number, code) … order by column_order`` in the SQL); then, with
    ``text_columns``, :func:`text_codes` of those columns.

    One query for every check (issue 16, e22-typing; one filter a check before, about 30 polars calls a
    batch): a column per code holding the first column at fault (a ``when`` chain in column order, so a
    null test is no code, as the filter's), the rows without any code dropped, and the few left unpivoted
    to one row per (row, code)."""
    from covidsync.textsafe import FORMULA_PATTERN, MOJIBAKE_PATTERN

    by_code: dict[str, list[tuple[int, str, pl.Expr]]] = {}
    for order, column, code, test in checks:
        by_code.setdefault(code, []).append((order, column, test))
    wide = []
    for code, tests in by_code.items():
        tests.sort(key=lambda t: t[0])  # stable: checks of one order keep their order
        chain = pl.when(tests[0][2]).then(pl.lit(tests[0][1]))
        for _, column, test in tests[1:]:
            chain = chain.when(test).then(pl.lit(column))
        wide.append(chain.otherwise(pl.lit(None, pl.String)).alias(code))
    text_names = [f"\x00{column}" for column in text_columns]  # no code is named so
    for column, name in zip(text_columns, text_names, strict=True):
        test = pl.col(column).str.contains(FORMULA_PATTERN) | pl.col(column).str.contains(MOJIBAKE_PATTERN)
        wide.append(pl.when(test).then(pl.lit(column)).otherwise(pl.lit(None, pl.String)).alias(name))
    if not wide:
        return pl.DataFrame(schema=CODES)
    found = (
        frame.lazy()
        .select(pl.col("row_number").cast(pl.Int64), *wide)
        .filter(pl.any_horizontal(pl.all().exclude("row_number").is_not_null()))
        .collect()
    )
    long = found.unpivot(index="row_number", variable_name="code", value_name="column_name").drop_nulls(
        "column_name"
    )
    per_code = (
        long.filter(~pl.col("code").is_in(text_names))
        .sort("row_number", "code")
        .select("row_number", "column_name", "code")
    )
    if not text_columns:
        return per_code
    # text_codes' order: column by column, each in row order (unpivot's order)
    texts = long.filter(pl.col("code").is_in(text_names)).select(
        "row_number", "column_name", pl.lit("invalid_text").alias("code")
    )
    return pl.concat([per_code, texts])


def person_frame(raw: pl.DataFrame, typed: pl.DataFrame, ctx: Context) -> pl.LazyFrame:
    """The typed batch with what the person and place rules test: ``sent_<column>`` (the row sent a value),
    the citizen id's length and digits, the dates as dates, the administrative fault (as the SQL's
    ``admin_fault``: which of the three codes is wrong). A query, run with the checks (:func:`first_per_code`)."""
    sent = raw.lazy().select(
        pl.col(c).is_not_null().alias(f"sent_{c}") for c in raw.columns if c != "row_number"
    )
    frame = pl.concat([typed.lazy(), sent], how="horizontal")
    cid = pl.col("citizen_id")
    prov, dist, comm = pl.col("province_code"), pl.col("district_code"), pl.col("commune_code")
    districts_17 = [d for d, p in ctx.districts if p == HOA_BINH]
    all_districts = [d for d, _ in ctx.districts]
    pairs = [f"{d}|{c}" for c, d in ctx.communes]
    all_communes = [c for c, _ in ctx.communes]
    has_admin = pl.col("sent_province_code") & pl.col("sent_district_code") & pl.col("sent_commune_code")
    admin_fault = (
        pl.when(~has_admin)
        .then(pl.lit(None, pl.String))
        .when(prov.is_null() | ~prov.is_in(list(ctx.provinces)))
        .then(pl.lit("province_code"))
        .when((prov == HOA_BINH) & (dist.is_null() | ~dist.is_in(districts_17)))
        .then(pl.lit("district_code"))
        .when((prov == HOA_BINH) & (comm.is_null() | ~(dist + "|" + comm).is_in(pairs).fill_null(False)))
        .then(pl.lit("commune_code"))
        .when((prov != HOA_BINH) & (dist.is_null() | (dist == FORMER_KY_SON) | dist.is_in(all_districts)))
        .then(pl.lit("commune_code"))
        .when((prov != HOA_BINH) & (comm.is_null() | comm.is_in(all_communes)))
        .then(pl.lit("commune_code"))
    )
    id_length = cid.str.len_chars()
    return frame.with_columns(
        id_length.alias("id_length"),
        cid.str.slice(3, 1).cast(pl.Int32, strict=False).alias("id_century"),
        cid.str.slice(4, 2).cast(pl.Int32, strict=False).alias("id_year"),
        (
            (id_length == 12) & (cid.str.slice(0, 1) == "0") & cid.str.slice(1, 2).is_in(list(ctx.provinces))
        ).alias("id_province_known"),
        pl.col("date_of_birth").str.to_date("%Y-%m-%d", strict=False).alias("dob"),
        admin_fault.alias("admin_fault"),
    )


def person_checks(offset: int) -> list[tuple[int, str, str, pl.Expr]]:
    """The person and place tests shared by the facility datasets (contract §6); ``offset`` shifts the
    column order (test results have ``sample_id`` first)."""
    c = pl.col
    full_name = c("full_name")
    ascii_letters = (full_name.str.len_bytes() == full_name.str.len_chars()) & full_name.str.contains(
        "[A-Za-z]"
    )
    id12 = c("id_length") == 12
    o = offset
    return [
        (o + 1, "full_name", "missing_required", ~c("sent_full_name")),
        (o + 1, "full_name", "name_without_diacritics", ascii_letters),
        (o + 2, "date_of_birth", "missing_required", ~c("sent_date_of_birth")),
        (o + 2, "date_of_birth", "invalid_date", c("sent_date_of_birth") & c("dob").is_null()),
        (o + 3, "gender", "missing_required", ~c("sent_gender")),
        (o + 4, "citizen_id", "missing_required", ~c("sent_citizen_id")),
        (
            o + 4,
            "citizen_id",
            "invalid_citizen_id",
            c("sent_citizen_id") & (c("citizen_id").is_null() | ~c("id_length").is_in([9, 12])),
        ),
        (o + 4, "citizen_id", "legacy_cmnd", c("id_length") == 9),
        (o + 4, "citizen_id", "unknown_province_in_id", id12 & ~c("id_province_known")),
        (
            o + 4,
            "citizen_id",
            "id_birth_year_mismatch",
            id12
            & c("dob").is_not_null()
            & (1900 + 100 * (c("id_century") // 2) + c("id_year") != c("dob").dt.year()),
        ),
        (
            o + 4,
            "citizen_id",
            "id_gender_mismatch",
            id12 & c("gender").is_not_null() & ((c("id_century") % 2 == 0) != (c("gender") == "male")),
        ),
        (o + 5, "phone", "invalid_phone", c("sent_phone") & c("phone").is_null()),
        (7, "province_code", "missing_required", ~c("sent_province_code")),
        (8, "district_code", "missing_required", ~c("sent_district_code")),
        (9, "commune_code", "missing_required", ~c("sent_commune_code")),
        (7, "province_code", "invalid_admin_code", c("admin_fault") == "province_code"),
        (8, "district_code", "invalid_admin_code", c("admin_fault") == "district_code"),
        (9, "commune_code", "invalid_admin_code", c("admin_fault") == "commune_code"),
    ]


def text_codes(typed: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
    """``invalid_text`` (contract §6, issue 17 item 6; ``sql/ingest/<table>_text.sql`` before): a free-text
    value that starts like a spreadsheet formula or holds mis-decoded text, one code per (row, column). The
    patterns are :mod:`covidsync.textsafe`'s, which read the same in Rust's regex as in PostgreSQL's (a
    first character of six; two bracketed sets of non-ASCII characters)."""
    from covidsync.textsafe import FORMULA_PATTERN, MOJIBAKE_PATTERN

    return pl.concat(
        [
            typed.filter(
                pl.col(column).str.contains(FORMULA_PATTERN) | pl.col(column).str.contains(MOJIBAKE_PATTERN)
            ).select(
                pl.col("row_number").cast(pl.Int64),
                pl.lit(column).alias("column_name"),
                pl.lit("invalid_text").alias("code"),
            )
            for column in columns
        ]
    )


def vaccinations(raw: pl.DataFrame, typed: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """The per-row codes of a vaccinations batch (contract §3, §6); ``duplicate_in_file`` and
    ``short_dose_interval`` are the SQL rules' (they need the whole file, or core)."""
    frame = person_frame(raw, typed, ctx).with_columns(
        pl.col("dose_number").cast(pl.Int64, strict=False).alias("dose"),
        pl.col("vaccinated_on").str.to_date("%Y-%m-%d", strict=False).alias("vdate"),
    )
    c = pl.col
    checks = person_checks(0) + [
        (11, "vaccine", "missing_required", ~c("sent_vaccine")),
        (11, "vaccine", "unknown_vaccine", c("sent_vaccine") & c("vaccine_code").is_null()),
        (12, "lot_number", "missing_required", ~c("sent_lot_number")),
        (13, "dose_number", "missing_required", ~c("sent_dose_number")),
        (
            13,
            "dose_number",
            "invalid_dose_number",
            c("sent_dose_number") & (c("dose").is_null() | ~c("dose").is_between(1, 4)),
        ),
        (14, "vaccinated_on", "missing_required", ~c("sent_vaccinated_on")),
        (14, "vaccinated_on", "invalid_date", c("sent_vaccinated_on") & c("vdate").is_null()),
        (14, "vaccinated_on", "future_date", c("vdate") > pl.lit(ctx.local_day)),
        (14, "vaccinated_on", "before_campaign", c("vdate") < pl.lit(CAMPAIGN_START)),
        (14, "vaccinated_on", "event_before_birth", c("vdate") < c("dob")),
        (
            15,
            "facility_code",
            "facility_mismatch",
            c("sent_facility_code") & c("facility_code").ne_missing(pl.lit(ctx.facility_code)),
        ),
    ]
    return first_per_code(frame, checks, ("full_name", "address"))


def _instants(column: str) -> pl.Expr:
    """A typed date-time column (ISO 8601 with its offset, as staging holds it) as an instant in UTC, for
    the shape the typing's column expressions write (``YYYY-MM-DDTHH:MM:SS+07:00``): its local time read
    without the offset (a fixed-width format), less seven hours; any other value null (issue 16, e22-typing:
    the parse with ``%:z`` took 40 ms a column of 200k rows, this one 8)."""
    v = pl.col(column)
    local = v.str.slice(0, 19).str.to_datetime("%Y-%m-%dT%H:%M:%S", time_unit="us", strict=False)
    shaped = (v.str.len_bytes() == 25) & v.str.ends_with("+07:00")
    utc = (local - pl.duration(hours=7)).dt.replace_time_zone("UTC")
    return pl.when(shaped).then(utc).alias(f"{column}_t")


def _instants_exact(frame: pl.DataFrame, column: str) -> pl.DataFrame:
    """:func:`_instants`, and any value of another ISO shape (another offset, a fraction of a second) read by
    Python once per distinct value (the SQL cast's answer: every value staging holds is one PostgreSQL reads)."""
    frame = frame.with_columns(_instants(column))
    slow = frame.filter(pl.col(f"{column}_t").is_null() & pl.col(column).is_not_null())[column].unique()
    if slow.is_empty():
        return frame
    values = slow.to_list()
    read = pl.Series(
        [dt.datetime.fromisoformat(v).astimezone(dt.UTC) for v in values],
        dtype=pl.Datetime("us", "UTC"),
    )
    lookup = pl.DataFrame({column: slow, f"{column}_slow": read})
    return (
        frame.join(lookup, on=column, how="left", maintain_order="left")
        .with_columns(pl.coalesce(f"{column}_t", f"{column}_slow").alias(f"{column}_t"))
        .drop(f"{column}_slow")
    )


def test_results(raw: pl.DataFrame, typed: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    """The per-row codes of a test-results batch (contract §4, §6); ``duplicate_in_file`` is the SQL
    rules' (it needs the whole file)."""
    typed = _instants_exact(_instants_exact(typed, "sampled_at"), "resulted_at")
    frame = person_frame(raw, typed, ctx).with_columns(
        pl.col("ct_value").cast(pl.Float64, strict=False).alias("ct")
    )
    c = pl.col
    received = pl.lit(ctx.received_at.astimezone(dt.UTC)).cast(pl.Datetime("us", "UTC"))
    sampled, resulted = c("sampled_at_t"), c("resulted_at_t")
    checks = [
        (1, "sample_id", "missing_required", ~c("sent_sample_id")),
        *person_checks(1),
        (10, "test_type", "missing_required", ~c("sent_test_type")),
        (10, "test_type", "invalid_test_type", c("sent_test_type") & c("test_type").is_null()),
        (12, "sampled_at", "missing_required", ~c("sent_sampled_at")),
        (12, "sampled_at", "invalid_date", c("sent_sampled_at") & c("sampled_at").is_null()),
        (12, "sampled_at", "future_date", sampled > received),
        (
            12,
            "sampled_at",
            "event_before_birth",
            sampled.dt.convert_time_zone(str(LOCAL)).dt.date() < c("dob"),
        ),
        (13, "result", "missing_required", ~c("sent_result")),
        (13, "result", "invalid_result", c("sent_result") & c("result").is_null()),
        (
            14,
            "ct_value",
            "invalid_ct_value",
            c("sent_ct_value")
            & (c("ct").is_null() | ~c("ct").is_between(0, 45) | (c("test_type") == "antigen")),
        ),
        (15, "resulted_at", "missing_required", ~c("sent_resulted_at")),
        (15, "resulted_at", "invalid_date", c("sent_resulted_at") & c("resulted_at").is_null()),
        (15, "resulted_at", "future_date", resulted > received),
        (15, "resulted_at", "result_before_sample", resulted < sampled),
    ]
    return first_per_code(frame, checks, ("full_name",))


# -- the merge key, as staging's generated record_key computes it (migration 0003) ------------------------------
def vaccination_record_key(typed: pl.DataFrame) -> pl.Series:
    """``coalesce('r:' || record_id, 'n:' || citizen_id || ':' || dose_number::text)`` of a typed batch."""
    c = pl.col
    key = pl.coalesce(pl.lit("r:") + c("record_id"), pl.lit("n:") + c("citizen_id") + ":" + c("dose_number"))
    return typed.select(key.alias("record_key"))["record_key"]


def test_result_record_key(typed: pl.DataFrame) -> pl.Series:
    """``coalesce('r:' || record_id, 'n:' || sample_id || ':' || citizen_id)`` of a typed batch."""
    c = pl.col
    key = pl.coalesce(pl.lit("r:") + c("record_id"), pl.lit("n:") + c("sample_id") + ":" + c("citizen_id"))
    return typed.select(key.alias("record_key"))["record_key"]


# -- the duplicates rule's key, as sql/ingest/<table>_duplicate.sql computes it ------------------------------------
def vaccination_duplicate_key(typed: pl.DataFrame, has_record_id: bool) -> pl.Series:
    """``record_id`` when the file has the column, else ``citizen_id || ':' || dose_number`` for doses 1-4
    (the typed dose is an integer's text, so ``'1'``-``'4'`` are the doses between 1 and 4)."""
    c = pl.col
    if has_record_id:
        key = c("record_id")
    else:
        key = pl.when(c("dose_number").is_in(["1", "2", "3", "4"])).then(
            c("citizen_id") + ":" + c("dose_number")
        )
    return typed.select(key.alias("duplicate_key"))["duplicate_key"]


def test_result_duplicate_key(typed: pl.DataFrame, has_record_id: bool) -> pl.Series:
    """``record_id`` when the file has the column, else ``citizen_id || ':' || sample_id``."""
    c = pl.col
    key = c("record_id") if has_record_id else c("citizen_id") + ":" + c("sample_id")
    return typed.select(key.alias("duplicate_key"))["duplicate_key"]
