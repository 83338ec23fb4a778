-- The problems of one risk-level file (contract arrivals.md sections 1.3 and 4), as sets over the temporary
-- table registry_row (one row per data row, dates read, codes with their leading zeros repaired) into
-- registry_problem. Any problem rejects the whole file. Area codes are checked against the national list
-- (ref.area). A row's period ends at effective_to, else the day before the next start of its area in the
-- file (until replaced); two rows of one area whose periods overlap with different levels both get
-- overlapping_risk_level.
insert into registry_problem (row_number, column_name, code)
with typed as (
    select
        r.*,
        case when r.level_text ~ '^[1-4]$' then r.level_text::integer end as level,
        a.area_code is not null as area_known
    from registry_row as r
    left join ref.area as a on r.area_code = a.area_code
),

periods as (
    select
        t.*,
        coalesce(
            t.effective_to,
            (
                select min(n.effective_from) - 1 from typed as n
                where
                    n.area_code = t.area_code
                    and n.effective_from > t.effective_from
                    and n.row_number <> t.row_number
            )
        ) as in_force_to
    from typed as t
    where
        t.effective_from is not null and t.level is not null and t.area_known
        and (t.effective_to is null or t.effective_to >= t.effective_from)
),

overlapping as (
    select distinct a.row_number
    from periods as a
    inner join periods as b
        on
            a.area_code = b.area_code
            and a.row_number <> b.row_number
            and a.level <> b.level
            and daterange(a.effective_from, a.in_force_to, '[]') && daterange(b.effective_from, b.in_force_to, '[]')
)

select distinct on (t.row_number, f.code)
    t.row_number,
    f.column_name,
    f.code
from typed as t
left join overlapping as o on t.row_number = o.row_number
cross join
    lateral (
        values
        (1, 'area_code', 'missing_required', t.area_code is null),
        (1, 'area_code', 'invalid_risk_level', t.area_code is not null and not t.area_known),
        (2, 'level', 'missing_required', t.level_text is null),
        (2, 'level', 'invalid_risk_level', t.level_text is not null and t.level is null),
        (3, 'effective_from', 'missing_required', t.effective_from_text is null),
        (3, 'effective_from', 'invalid_date', t.effective_from_text is not null and t.effective_from is null),
        (4, 'effective_to', 'invalid_date', t.effective_to_text is not null and t.effective_to is null),
        (4, 'effective_to', 'invalid_risk_level', t.effective_to < t.effective_from),
        (2, 'level', 'overlapping_risk_level', o.row_number is not null)
    ) as f (column_order, column_name, code, hit)
where f.hit
order by t.row_number asc, f.code asc, f.column_order asc
