-- retrace (temporary): the F0s whose contact candidates may change because scans in [lo, hi] became
-- visible (as_of moved) or arrived (new check-ins): those whose transmission window meets that span.
insert into retrace (person_id)
select e.person_id
from derived.f0_episode as e
where
    e.rule_set = %(rule_set)s
    and e.window_end >= %(lo)s::timestamptz - interval '1 day'
    and e.f0_since - make_interval(days => %(window_before_days)s) <= %(hi)s::timestamptz + interval '1 day'
on conflict do nothing;
