-- mart.venue_compliance_day: per local day (from the first day with check-ins to as_of_day), venue district,
-- commune and type: the registered venues (core.venue), those with at least one scan (direction in) that day,
-- the share, and scans per active venue; with the district (commune 'all') and every type ('all') rolled up.
-- Rebuilt whole. Parameters: as_of_day.
delete from mart.venue_compliance_day;

insert into mart.venue_compliance_day (
    day, district_code, commune_code, venue_type, registered_venues, active_venues, compliance_share, scans,
    scans_per_active_venue
)
with days as (
    select g::date as day
    from generate_series(
        (
            select min(c.local_day) from core.checkin as c
            where c.local_day <= %(as_of_day)s
        ),
        %(as_of_day)s::date,
        interval '1 day'
    ) as g
),

venue as (
    select
        v.venue_code,
        coalesce(v.district_code, 'unknown') as district_code,
        coalesce(v.commune_code, 'unknown') as commune_code,
        coalesce(v.venue_type, 'other') as venue_type
    from core.venue as v
),

scanned as (
    select
        c.local_day as day,
        c.venue_code,
        count(*) as scans
    from core.checkin as c
    where c.direction = 'in' and c.local_day <= %(as_of_day)s
    group by c.local_day, c.venue_code
),

cell as (
    select
        d.day,
        v.district_code,
        v.commune_code,
        v.venue_type,
        v.venue_code,
        coalesce(s.scans, 0) as scans
    from days as d
    cross join venue as v
    left join scanned as s on d.day = s.day and v.venue_code = s.venue_code
)

select
    day,
    district_code,
    coalesce(commune_code, 'all'),
    coalesce(venue_type, 'all'),
    count(*) as registered_venues,
    count(*) filter (where scans > 0) as active_venues,
    round(count(*) filter (where scans > 0)::numeric / count(*), 4),
    sum(scans)::integer,
    round(sum(scans)::numeric / nullif(count(*) filter (where scans > 0), 0), 2)
from cell
group by grouping sets (
    (day, district_code, commune_code, venue_type),
    (day, district_code, commune_code),
    (day, district_code, venue_type),
    (day, district_code)
);
