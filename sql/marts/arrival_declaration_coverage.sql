-- mart.arrival_declaration_coverage: per checkpoint and local day, the journeys scanned in (arrival scans,
-- one per journey), those with a movement declaration, and the share (arrivals contract §3). Rebuilt whole.
-- Parameters: as_of_day, rule_set.
delete from mart.arrival_declaration_coverage;

insert into mart.arrival_declaration_coverage (venue_code, district_code, day, arrival_scans, with_declaration, coverage)
select
    a.checkpoint_venue_code,
    max(v.district_code),
    a.arrival_day,
    count(*),
    count(*) filter (where a.seen_by = 'both'),
    round(count(*) filter (where a.seen_by = 'both')::numeric / count(*), 4)
from derived.arrival as a
left join core.venue as v on a.checkpoint_venue_code = v.venue_code
where a.rule_set = %(rule_set)s and a.checkpoint_venue_code is not null and a.arrival_day <= %(as_of_day)s
group by a.checkpoint_venue_code, a.arrival_day;
