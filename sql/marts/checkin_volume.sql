-- mart.checkin_volume: one row per venue type, venue district, local day and local hour of check-ins
-- (direction in). persons counts distinct pseudonymous keys. Rebuilt whole.
delete from mart.checkin_volume;

insert into mart.checkin_volume (venue_type, district_code, day, hour, checkins, persons)
select
    coalesce(v.venue_type, 'unknown') as venue_type,
    coalesce(v.district_code, 'unknown') as district_code,
    c.local_day as day,
    extract(hour from c.scanned_at at time zone 'Asia/Ho_Chi_Minh')::integer as hour,
    count(*) as checkins,
    count(distinct c.person_key) as persons
from core.checkin as c
left join core.venue as v on c.venue_code = v.venue_code
where c.direction = 'in'
group by
    coalesce(v.venue_type, 'unknown'),
    coalesce(v.district_code, 'unknown'),
    c.local_day,
    extract(hour from c.scanned_at at time zone 'Asia/Ho_Chi_Minh')::integer;
