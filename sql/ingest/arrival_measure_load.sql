-- A validated arrival-measures file into ref.arrival_measure as version %(version_id)s (contract arrivals.md
-- 1.4); it is in force from now on (the latest loaded version).
insert into ref.arrival_measure (version_id, effective_from, origin_level, category, measure, days, test_days)
select
    %(version_id)s,
    r.effective_from,
    r.origin_level_text::integer,
    r.category,
    r.measure,
    r.days_text::integer,
    coalesce(
        array(
            select d.day::integer
            from unnest(string_to_array(regexp_replace(r.test_days_text, '\s', '', 'g'), ';')) as d (day)
            where d.day <> ''
            order by 1
        ),
        '{}'
    )
from registry_row as r
