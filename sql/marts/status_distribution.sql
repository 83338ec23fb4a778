-- mart.status_distribution: one row per rule set, as_of, card colour, F0 flag and full vaccination. Built from
-- derived.health_status until publish.release exists; it should then count per release. Rebuilt whole. The
-- as_of is the build's (derived.build_state; a status row keeps the as_of it was computed as of until it falls
-- due): statuses written with no build have their own.
delete from mart.status_distribution;

insert into mart.status_distribution (rule_set, as_of, card_colour, f0, fully_vaccinated, persons)
select
    h.rule_set,
    coalesce(b.as_of, h.as_of) as as_of,
    h.card_colour,
    h.f0,
    h.fully_vaccinated,
    count(*) as persons
from derived.health_status as h
left join derived.build_state as b on h.rule_set = b.rule_set
group by h.rule_set, coalesce(b.as_of, h.as_of), h.card_colour, h.f0, h.fully_vaccinated;
