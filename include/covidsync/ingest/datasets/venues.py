"""PC-Covid venues (contract §5): the engine's declaration of the dataset. ``venue_type`` is read from its
English or Vietnamese words (adoption.md §1: ``cơ quan`` → ``agency``, ``chợ`` → ``market``, ...;
:data:`covidsync.ingest.normalize.VENUE_TYPES`); a word it does not know is merged as ``other``."""

from __future__ import annotations

from covidsync.ingest.datasets._common import ADDRESS, COMMUNE, DISTRICT, PROVINCE
from covidsync.ingest.spec import DatasetSpec, Typed, col, optional

SPEC = DatasetSpec(
    name="venues",
    table="venue",
    columns=(
        col("venue_code", True, "Mã địa điểm", "Mã điểm", "Venue code", "Venue ID", "Code"),
        col("name", False, "Tên địa điểm", "Tên", "Tên điểm", "Name", "Venue name"),
        optional(PROVINCE),
        optional(DISTRICT),
        optional(COMMUNE),
        ADDRESS,
        col("venue_type", False, "Loại địa điểm", "Loại hình", "Loại", "Venue type", "Type"),
    ),
    staging=(
        Typed("venue_code"),
        Typed("name"),
        Typed("province_code", "pad", args=(2,)),
        Typed("district_code", "pad", args=(3,)),
        Typed("commune_code", "pad", args=(5,)),
        Typed("address"),
        Typed("venue_type", "word", args=("venue_types",)),  # adoption.md: English or Vietnamese words
    ),
    rules=("venue_row_problem", "venue_text"),
    profile="venue_profile",
    merge=("venue_merge",),
    identity_columns=frozenset({"citizen_id", "phone", "qr_payload"}),
    outbox="pccovid",
    analyze_min_rows=0,
    run_order=0,
)
