-- A validated risk-level file into ref.risk_level as version %(version_id)s (contract arrivals.md 1.3):
-- in_force_to is effective_to, else the day before the next start of the same area in this file, else open.
insert into ref.risk_level (
    version_id, row_number, area_code, area_kind, level, effective_from, effective_to, in_force_to, source
)
select
    %(version_id)s,
    r.row_number,
    r.area_code,
    a.area_kind,
    r.level_text::integer,
    r.effective_from,
    r.effective_to,
    coalesce(
        r.effective_to,
        (
            select min(n.effective_from) - 1 from registry_row as n
            where n.area_code = r.area_code and n.effective_from > r.effective_from
        )
    ),
    r.source
from registry_row as r
inner join ref.area as a on r.area_code = a.area_code
