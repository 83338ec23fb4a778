"""Reference data for set-based rules, rendered as the SQL of migration 0002.

The row rules run in SQL and join to these tables (provinces, Hòa Bình's districts and communes, vaccine
products), so the facts live once, in ``covidsync.domain``, and the migration is their rendering:
``python -m covidsync.reference > sql/migrations/0002_reference_data.sql``. A test checks that the
committed migration equals this rendering, so the two cannot drift apart unseen; when the facts change,
render a new migration rather than editing 0002.
"""

from __future__ import annotations


def _q(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _values(rows: list[tuple]) -> str:
    return ",\n".join("(" + ", ".join(_q(v) for v in row) + ")" for row in rows)


def reference_sql() -> str:
    from covidsync.domain import admin, cccd, codes, vaccines

    provinces = sorted(cccd.PROVINCES.items())
    districts = sorted((code, admin.HOA_BINH, name) for code, name in admin.districts().items())
    communes = sorted((code, district, name) for code, (district, name) in admin.communes().items())
    products = sorted(
        (p.code, p.name, p.eu_code, p.icd11, p.primary_doses, p.min_interval_days)
        for p in vaccines.PRODUCTS.values()
    )
    row_codes = sorted(  # 0002's codes: later ones are inserted by their own migrations
        (c.code, c.severity) for c in codes.ROW_CODES.values() if c.code not in codes.ROW_CODES_ADDED
    )
    return f"""-- Reference data the set-based row rules join to: one row per province (63, GSO 2021), per district and
-- commune of Hòa Bình (2021-08-01 list), per vaccine product. Rendered from covidsync.domain by
-- `python -m covidsync.reference`; never edit by hand.

create table core.province (
    province_code text primary key,
    name text not null
);
comment on table core.province is 'One row per province (GSO 2-digit code); the CCCD code is 0 + this code.';

create table core.district (
    district_code text primary key,
    province_code text not null references core.province (province_code),
    name text not null
);
comment on table core.district is 'One row per district with reference data (Hòa Bình only in 2021).';

create table core.commune (
    commune_code text primary key,
    district_code text not null references core.district (district_code),
    name text not null
);
comment on table core.commune is 'One row per commune with reference data (Hòa Bình: 151 in 2021).';

create table core.vaccine_product (
    product_code text primary key,
    name text not null,
    eu_code text,
    icd11 text,
    primary_doses integer not null check (primary_doses between 1 and 4),
    min_interval_days integer
);
comment on table core.vaccine_product is 'One row per vaccine product; product_code is the EU DCC mp code, else ICD-11.';

create table ops.row_code (
    code text primary key,
    severity text not null check (severity in ('error', 'warning'))
);
comment on table ops.row_code is 'The row codes of the data exchange contract (section 6) and their severity.';

insert into core.province (province_code, name)
values
{_values(provinces)};

insert into core.district (district_code, province_code, name)
values
{_values(districts)};

insert into core.commune (commune_code, district_code, name)
values
{_values(communes)};

insert into core.vaccine_product (product_code, name, eu_code, icd11, primary_doses, min_interval_days)
values
{_values(products)};

insert into ops.row_code (code, severity)
values
{_values(row_codes)};
"""


if __name__ == "__main__":  # pragma: no cover
    print(reference_sql(), end="")
