-- mart.silent_venue: the venues of a type that must scan daily (agency, business, school, market, transport)
-- without a scan (direction in) for at least silent_days days in a row up to as_of_day. silent_days of a
-- venue = as_of_day - its last scan day, or, never scanned, the days since the first day with check-ins.
-- Rebuilt whole (the as_of_day's list). Parameters: as_of_day, silent_days.
delete from mart.silent_venue;

insert into mart.silent_venue (
    as_of_day, district_code, commune_code, venue_code, venue_type, name, location, last_scan_day, silent_days
)
with first_day as (
    select min(c.local_day) as day from core.checkin as c
    where c.local_day <= %(as_of_day)s
),

last_scan as (
    select
        c.venue_code,
        max(c.local_day) as day
    from core.checkin as c
    where c.direction = 'in' and c.local_day <= %(as_of_day)s
    group by c.venue_code
),

venue as (
    select
        v.venue_code,
        coalesce(v.district_code, 'unknown') as district_code,
        v.commune_code,
        v.venue_type,
        v.name,
        v.address as location,
        l.day as last_scan_day,
        coalesce(%(as_of_day)s::date - l.day, %(as_of_day)s::date - f.day + 1) as silent_days
    from core.venue as v
    cross join first_day as f
    left join last_scan as l on v.venue_code = l.venue_code
    where v.venue_type in ('agency', 'business', 'school', 'market', 'transport') and f.day is not null
)

select
    %(as_of_day)s,
    district_code,
    commune_code,
    venue_code,
    venue_type,
    name,
    location,
    last_scan_day,
    silent_days
from venue
where silent_days >= %(silent_days)s;
