-- identity_birth_date (temporary): one row per CCCD or CMND whose records give more than one full birth date
-- (year-only dates aside) that no operator decision settles: its dates, for the review queue. A date an
-- operator decided is not this person's is excluded already; one decided as the same person's counts once.
create temp table identity_birth_date on commit drop as
with dated as (
    select distinct
        o.kind,
        o.value,
        o.date_of_birth
    from identity_obs as o
    where o.kind in ('cccd', 'cmnd') and not o.excluded and not o.birth_year_only and o.date_of_birth is not null
),

counted as (
    select
        d.kind,
        d.value,
        array_agg(d.date_of_birth::text order by d.date_of_birth) as dates,
        count(*) filter (
            where not exists (
                select 1 from derived.identity_decision as x
                where
                    x.kind = d.kind and x.value = d.value and x.other_kind = 'dob'
                    and x.other_value = d.date_of_birth::text and x.decision = 'merge'
            )
        ) as undecided
    from dated as d
    group by d.kind, d.value
    having count(*) > 1
)

select
    c.kind,
    c.value,
    c.dates
from counted as c
where c.undecided > 1;
