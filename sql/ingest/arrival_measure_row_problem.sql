-- The problems of one arrival-measures file (contract arrivals.md sections 1.4 and 4), as sets over the
-- temporary table registry_row into registry_problem: required values, readable dates, levels 1-4, known
-- categories and measures, whole positive days, test days within 1..days, one row per (effective_from,
-- origin level, category), and every (origin level, category) pair at each effective_from (a partial matrix
-- would leave arrivals without a measure: the first row of that date gets invalid_measure). Any problem
-- rejects the whole file.
insert into registry_problem (row_number, column_name, code)
with typed as (
    select
        r.*,
        case when r.origin_level_text ~ '^[1-4]$' then r.origin_level_text::integer end as origin_level,
        case when r.days_text ~ '^[0-9]{1,4}$' and r.days_text::integer >= 1 then r.days_text::integer end as days,
        coalesce(r.test_days_text, '') ~ '^\s*([0-9]{1,4}\s*(;\s*[0-9]{1,4}\s*)*)?$' as test_days_readable
    from registry_row as r
),

test_days as (
    select
        t.row_number,
        bool_and(d.day::integer between 1 and t.days) as within
    from typed as t
    cross join lateral unnest(string_to_array(regexp_replace(t.test_days_text, '\s', '', 'g'), ';')) as d (day)
    where t.test_days_readable and t.days is not null and d.day <> ''
    group by t.row_number
),

incomplete as (
    select min(t.row_number) as row_number
    from typed as t
    where t.effective_from is not null
    group by t.effective_from
    having
        count(distinct t.origin_level::text || ':' || t.category) filter (
            where
            t.origin_level is not null
            and t.category in ('recovered', 'fully_vaccinated', 'not_fully_vaccinated')
        ) < 12
)

select distinct on (t.row_number, f.code)
    t.row_number,
    f.column_name,
    f.code
from typed as t
left join test_days as d on t.row_number = d.row_number
left join incomplete as i on t.row_number = i.row_number
cross join
    lateral (
        values
        (1, 'effective_from', 'missing_required', t.effective_from_text is null),
        (1, 'effective_from', 'invalid_date', t.effective_from_text is not null and t.effective_from is null),
        (2, 'origin_level', 'missing_required', t.origin_level_text is null),
        (2, 'origin_level', 'invalid_measure', t.origin_level_text is not null and t.origin_level is null),
        (3, 'category', 'missing_required', t.category is null),
        (
            3, 'category', 'invalid_measure',
            t.category not in ('recovered', 'fully_vaccinated', 'not_fully_vaccinated')
        ),
        (4, 'measure', 'missing_required', t.measure is null),
        (
            4, 'measure', 'invalid_measure',
            t.measure not in ('self_monitoring', 'home_quarantine', 'concentrated_quarantine')
        ),
        (5, 'days', 'missing_required', t.days_text is null),
        (5, 'days', 'invalid_measure', t.days_text is not null and t.days is null),
        (6, 'test_days', 'invalid_measure', not t.test_days_readable or not coalesce(d.within, true)),
        (
            1, 'effective_from', 'duplicate_in_file',
            t.effective_from is not null and t.origin_level is not null and t.category is not null
            and t.row_number > (
                select min(o.row_number) from typed as o
                where
                    o.effective_from = t.effective_from
                    and o.origin_level = t.origin_level
                    and o.category = t.category
            )
        ),
        (2, 'origin_level', 'invalid_measure', i.row_number is not null)
    ) as f (column_order, column_name, code, hit)
where f.hit
order by t.row_number asc, f.code asc, f.column_order asc
