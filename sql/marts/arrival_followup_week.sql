-- mart.arrival_followup_week: per destination commune and week (Monday of the due date), the due tests whose
-- window (the due day and the day after) has closed by as_of_day or that were sampled, those sampled, those
-- overdue, and compliance = sampled / due (arrivals contract §3). Rebuilt whole.
-- Parameters: as_of_day, rule_set.
delete from mart.arrival_followup_week;

insert into mart.arrival_followup_week (commune_code, district_code, week, due_tests, sampled, overdue, compliance)
select
    a.destination_commune_code,
    max(a.destination_district_code),
    date_trunc('week', f.due_on)::date,
    count(*),
    count(*) filter (where f.sampled),
    count(*) filter (where f.overdue),
    round(count(*) filter (where f.sampled)::numeric / count(*), 4)
from derived.arrival_followup as f
inner join derived.arrival as a on f.rule_set = a.rule_set and f.arrival_key = a.arrival_key
where
    f.rule_set = %(rule_set)s
    and a.destination_commune_code is not null
    and (f.sampled or f.due_on + 1 < %(as_of_day)s)
group by a.destination_commune_code, date_trunc('week', f.due_on);
