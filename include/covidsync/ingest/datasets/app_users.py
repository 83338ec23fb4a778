"""PC-Covid app-user counts (adoption.md §1, ``landing/pccovid/app_users/``): the engine's declaration of the
dataset. One row per area and day from the app operator; the row codes of adoption.md §3 are
``sql/ingest/app_user_count_row_problem.sql``; a (day, area) sent again with other counts replaces the
earlier ones, which are kept in ``core.app_user_count_history`` (``app_user_count_merge.sql``)."""

from __future__ import annotations

from covidsync.ingest.spec import DatasetSpec, Typed, col

AREA_CODE = col(
    "area_code",
    True,
    "Mã địa bàn",
    "Mã khu vực",
    "Mã đơn vị hành chính",
    "Mã ĐVHC",
    "Mã vùng",
    "Area code",
    "Area",
    "Admin code",
)

SPEC = DatasetSpec(
    name="app_users",
    table="app_user_count",
    columns=(
        col("day", True, "Ngày", "Ngày thống kê", "Ngày báo cáo", "Day", "Date"),
        AREA_CODE,
        col(
            "registered_users",
            True,
            "Số người dùng",
            "Số người dùng đăng ký",
            "Số tài khoản",
            "Số tài khoản đăng ký",
            "Người dùng đăng ký",
            "Registered users",
            "Users",
        ),
        col(
            "active_users_7d",
            True,
            "Số người dùng hoạt động 7 ngày",
            "Người dùng hoạt động 7 ngày",
            "Số người dùng hoạt động",
            "Active users 7d",
            "Active users (7 days)",
            "Active users",
        ),
    ),
    staging=(
        Typed("day", "date"),
        Typed("area_code_sent", source="area_code"),  # staging.area_code repairs a lost leading zero
        Typed("registered_users", "int"),
        Typed("active_users_7d", "int"),
    ),
    rules=("app_user_count_row_problem",),
    profile="area_feed_profile",  # shared with the other feed keyed by area and period
    sql_names=(
        ("staging_table", "staging.app_user_count"),
        ("loadable_table", "staging.app_user_count_loadable"),
        ("period_column", "day"),
    ),
    merge=("app_user_count_merge",),
    outbox="pccovid",
    analyze_min_rows=0,
    run_order=2,
)
