"""The population registry (adoption.md §1, ``landing/registry/population.csv``): the engine's declaration of
the dataset. One row per area and year (population, smartphone owners when estimated, the source); the row
codes are ``sql/ingest/area_population_row_problem.sql``; an (area, year) sent again with other figures
replaces the earlier ones, which are kept in ``core.area_population_history``. Its reports go to
``<outbox>/registry/`` (arrivals.md §1.4: registry files)."""

from __future__ import annotations

from covidsync.ingest.datasets.app_users import AREA_CODE
from covidsync.ingest.spec import DatasetSpec, Typed, col

SPEC = DatasetSpec(
    name="population",
    table="area_population",
    columns=(
        AREA_CODE,
        col("year", True, "Năm", "Năm thống kê", "Year"),
        col("population", True, "Dân số", "Số dân", "Tổng dân số", "Population"),
        col(
            "smartphone_owners",
            False,
            "Số người có điện thoại thông minh",
            "Người có điện thoại thông minh",
            "Số điện thoại thông minh",
            "Smartphone owners",
            "Smartphones",
        ),
        col("source", True, "Nguồn", "Nguồn số liệu", "Source"),
    ),
    staging=(
        Typed("area_code_sent", source="area_code"),  # staging.area_code repairs a lost leading zero
        Typed("year", "int"),
        Typed("population", "int"),
        Typed("smartphone_owners", "int"),
        Typed("source"),
    ),
    rules=("area_population_row_problem",),
    profile="area_feed_profile",  # shared with the other feed keyed by area and period
    sql_names=(
        ("staging_table", "staging.area_population"),
        ("loadable_table", "staging.area_population_loadable"),
        ("period_column", "year"),
    ),
    merge=("area_population_merge",),
    outbox="registry",
    analyze_min_rows=0,
)
