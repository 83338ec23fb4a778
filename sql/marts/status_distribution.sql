-- mart.status_distribution: one row per rule set, as_of, card colour, F0 flag and full vaccination. Built from
-- derived.health_status until publish.release exists; it should then count per release. Rebuilt whole.
delete from mart.status_distribution;

insert into mart.status_distribution (rule_set, as_of, card_colour, f0, fully_vaccinated, persons)
select
    h.rule_set,
    h.as_of,
    h.card_colour,
    h.f0,
    h.fully_vaccinated,
    count(*) as persons
from derived.health_status as h
group by h.rule_set, h.as_of, h.card_colour, h.f0, h.fully_vaccinated;
