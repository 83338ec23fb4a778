"""The declarations group (issue 24): PC-Covid / Sổ SKĐT declarations through the ingest engine, against the
same baselines (raw COPY, the naive pandas path) and the same ratio targets as check-ins.

Input: a contract-valid declarations CSV of N rows written by column expressions (polars), cached like the
other inputs: both kinds, both apps, N/2 persons (a CCCD each, a phone, a name, a birth date), origins from
the national list, destinations in Hòa Bình, about 3 % of rows with a defect of the contract (an unknown kind,
an origin district outside its province, a destination outside Hòa Bình, a missing person key). A national
day (2M declarations) runs in pieces of 500k rows, one file each, into the same database.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from bench.stages import CORE_FACILITY_COLUMNS, Ctx, Group, Target, group, stage

REGISTRY = (
    "facility_code,name,facility_type,province_code,district_code,commune_code\n"
    "17001,Bệnh viện Đa khoa tỉnh Hòa Bình,provincial_hospital,17,148,04789\n"
)
RELATIVE = "pccovid/declarations/khai_bao_bench.csv"
DELIVERED = dt.datetime(2021, 11, 21, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=7)))


def write_file(path: Path, rows: int, seed: int) -> int:
    """A declarations CSV of ``rows`` rows (see the module docstring); returns the rows written."""
    import polars as pl

    from covidsync.domain import national
    from covidsync.sample import knowledge as K

    provinces = sorted(p for p in national.provinces() if p != "17")
    districts = national.districts()
    _hb_districts, hb = K.admin_units()
    hb_communes = sorted(hb)
    i = pl.int_range(0, rows, eager=True).alias("i")
    frame = pl.DataFrame({"i": i}).with_columns(
        person=(pl.col("i") * 7 + seed) % max(1, rows // 2),
    )
    person = pl.col("person")
    province = pl.lit(pl.Series(provinces)).get(person % len(provinces))
    origin_district = {p: sorted(d for d, (pp, _n) in districts.items() if pp == p)[0] for p in provinces}
    movement = pl.col("i") % 3 != 0
    defect = pl.col("i") % 33
    frame = frame.select(
        declaration_id=pl.format("BD{}-{}", pl.lit(seed), pl.col("i")),
        kind=pl.when(defect == 5)
        .then(pl.lit("travel"))
        .when(movement)
        .then(pl.lit("movement"))
        .otherwise(pl.lit("health")),
        app=pl.when(pl.col("i") % 5 == 0).then(pl.lit("sskdt")).otherwise(pl.lit("pccovid")),
        submitted_at=pl.format(
            "2021-11-20T{}:{}:00+07:00",
            (pl.col("i") % 14 + 6).cast(pl.String).str.zfill(2),
            (pl.col("i") % 60).cast(pl.String).str.zfill(2),
        ),
        citizen_id=pl.when(defect == 11)
        .then(pl.lit(None))
        .otherwise(pl.format("0{}090{}", province, (person % 1_000_000).cast(pl.String).str.zfill(6))),
        phone=pl.when(defect == 11)
        .then(pl.lit(None))
        .otherwise(pl.format("09{}", (person % 100_000_000).cast(pl.String).str.zfill(8))),
        full_name=pl.lit("Nguyễn Văn An"),
        date_of_birth=pl.lit("15/03/1990"),
        gender=pl.lit("Nam"),
        declared_by=pl.when(pl.col("i") % 17 == 0).then(pl.lit("proxy")).otherwise(pl.lit("self")),
        origin_province_code=pl.when(movement).then(province),
        origin_district_code=pl.when(movement & (defect == 7))
        .then(pl.lit("148"))
        .when(movement & (pl.col("i") % 4 == 0))
        .then(province.replace_strict(origin_district, return_dtype=pl.String)),
        destination_commune_code=pl.when(movement & (defect == 9))
        .then(pl.lit("00004"))
        .when(movement)
        .then(pl.lit(pl.Series(hb_communes)).get(pl.col("i") % len(hb_communes))),
        travel_date=pl.when(movement).then(pl.lit("20/11/2021")),
        means=pl.when(movement).then(pl.lit("đường bộ")),
        fever=pl.when(pl.col("i") % 29 == 0).then(pl.lit("Có")).otherwise(pl.lit("Không")),
        cough=pl.lit("Không"),
        contact_with_f0=pl.when(pl.col("i") % 31 == 0).then(pl.lit("Có")).otherwise(pl.lit("Không")),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_csv(path)
    return frame.height


def ensure_input(cache: Path, rows: int, seed: int = 1):
    """The cached declarations input of ``rows`` rows (a :class:`bench.data.Input`)."""
    import os

    from bench import data

    folder = cache / f"declarations-{rows}-seed{seed}"
    done = folder / "done"
    path = folder / "landing" / RELATIVE
    registry = folder / "landing" / "registry" / "facilities.csv"
    took = None
    if not done.exists():
        start = time.perf_counter()
        written = write_file(path, rows, seed)
        registry.parent.mkdir(parents=True, exist_ok=True)
        registry.write_text(REGISTRY, encoding="utf-8")
        stamp = DELIVERED.timestamp()
        os.utime(path, (stamp, stamp))
        done.write_text(f"{written}\n", encoding="utf-8")
        took = time.perf_counter() - start
    return data.Input(path, registry, RELATIVE, int(done.read_text(encoding="utf-8")), took)


@stage("declaration_register", "register the declarations file")
def declaration_register(ctx: Ctx) -> dict:
    from covidsync.ingest import checkins, landing

    pending = checkins.pending_by_dataset(ctx.conn, landing.register(ctx.conn, scope=landing.PCCOVID).pending)
    if len(pending["declarations"]) != 1:
        raise RuntimeError(f"expected one declarations file registered, got {len(pending['declarations'])}")
    return {"state": {"file_id": pending["declarations"][0]}}


@stage("declaration_ingest", "declaration ingest (parse, stage, rules, gate, merge, report)")
def declaration_ingest(ctx: Ctx) -> dict:
    from covidsync.ingest import checkins

    summary = checkins.ingest_file(ctx.conn, ctx.state["file_id"])
    if summary["status"] not in ("loaded", "loaded_with_errors"):
        raise RuntimeError(f"the declarations file ended {summary['status']}")
    return {
        "rows": summary["rows_total"],
        "detail": {k: summary[k] for k in ("rows_loaded", "rows_rejected")},
    }


# the floors (bench.stages.core_export, copy_core, copy_core_indexed): the core rows the ingest wrote, COPYed
# into a bare typed table and into core.declaration as it stands (its checks, indexes and reference checks)
CORE_FACILITY_COLUMNS["declarations"] = (
    "core.declaration",
    "app, declaration_id, kind, submitted_at, person_kind, person_key, declared_by, origin_province_code, "
    "origin_district_code, origin_commune_code, origin_known, destination_commune_code, destination_in_province, "
    "travel_date, means, fever, cough, shortness_of_breath, sore_throat, loss_of_taste_or_smell, contact_with_f0, "
    "visited_outbreak_area, symptoms_reported, warnings, source_file_id, source_row",
)

group(
    Group(
        "declarations",
        "PC-Covid / Sổ SKĐT declaration ingest (file to core; issue 24)",
        "declarations",
        ("declaration_register", "declaration_ingest", "core_export"),
        ("declaration_register", "declaration_ingest"),
        baselines=("copy", "copy_unlogged", "naive", "copy_core", "copy_core_indexed"),
    )
)

# issue 24: "the same baselines and the same ratio targets as check-ins", i.e. issue 16's check-in targets
TARGETS = (
    Target(
        "declarations", "vs_copy", ">=", 0.10, "declaration ingest rows/s >= 0.10 of raw COPY (issues 24, 16)"
    ),
    Target(
        "declarations",
        "vs_naive",
        ">=",
        2.0,
        "declaration ingest rows/s >= 2x the naive path (issues 24, 16)",
    ),
    Target(
        "declarations",
        "vs_copy_core_indexed",
        ">=",
        0.6,
        "declaration ingest rows/s >= 0.6 of the floor (COPY into core.declaration as it stands; issues 24, 16)",
    ),
)
