-- mart.arrival_day: arrivals into the province per local day up to as_of_day, by origin level, origin
-- province ('unknown' for an arrival seen only at a checkpoint), destination district and commune, measure
-- and how they were seen (arrivals contract §3). Counts only: no person. Rebuilt whole.
-- Parameters: as_of_day, rule_set.
delete from mart.arrival_day;

insert into mart.arrival_day (
    day, origin_level, origin_province_code, destination_district_code, destination_commune_code, measure,
    seen_by, arrivals
)
select
    a.arrival_day,
    a.origin_level,
    coalesce(a.origin_province_code, 'unknown'),
    coalesce(a.destination_district_code, 'unknown'),
    coalesce(a.destination_commune_code, 'unknown'),
    a.measure,
    a.seen_by,
    count(*)
from derived.arrival as a
where a.rule_set = %(rule_set)s and a.arrival_day <= %(as_of_day)s
group by 1, 2, 3, 4, 5, 6, 7;
