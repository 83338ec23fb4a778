-- touched (temporary), for an incremental build whose as_of moved back from hi to lo (a rerun of an earlier
-- day; a move forward reads the stored due dates instead: touched_by_due.sql): the persons with a clock c of
-- health_status.sql (the instants where a time rule's comparison with as_of turns) in [lo, hi], both ends
-- included: an untouched row then has no clock between the two as_of, so its values and its due_at (the
-- first clock at or after its as_of) are those a full rebuild as of lo gives. Each clock is a range of event
-- times (the span shifted back by the clock's length), read through the index on that time:
-- - a vaccination record on day D has clocks at the local midnights starting D + 1, D + yellow_dose_days and
--   D + fully_vaccinated_days: D in [lo date - n, hi date - n] for each (a superset when as_of is not a
--   midnight);
-- - a test sampled at t: t (visible; a negative test's recovery; an episode's f0_since), t + 72 hours,
--   t + recovery_days (recovered_at when no negative test ends the episode); the green recovery window ends at
--   the local midnight after recovered_at + green_recovery_days: one day of slack each side;
-- - a candidate scan at s: s (visible) and s + candidate_flag_days.
insert into touched (person_id)
select r.person_id
from core.vaccination as v
inner join derived.person_record as r on r.source = 'vaccination' and v.vaccination_id = r.record_id
cross join (values (1), (%(yellow_dose_days)s), (%(fully_vaccinated_days)s)) as s (shift)
where
    v.vaccinated_on
    between (%(lo)s::timestamptz at time zone 'Asia/Ho_Chi_Minh')::date - s.shift
    and (%(hi)s::timestamptz at time zone 'Asia/Ho_Chi_Minh')::date - s.shift
union
select r.person_id
from core.test_result as t
inner join derived.person_record as r on r.source = 'test_result' and t.test_result_id = r.record_id
cross join (
    values
    (interval '0 days', interval '0 days'),
    (make_interval(hours => %(yellow_rt_pcr_hours)s), interval '0 days'),
    (make_interval(days => %(recovery_days)s), interval '0 days'),
    (make_interval(days => %(green_recovery_days)s), interval '1 day'),
    (make_interval(days => %(green_recovery_days)s + %(recovery_days)s), interval '1 day')
) as s (shift, slack)
where
    t.sampled_at >= %(lo)s::timestamptz - s.slack - s.shift
    and t.sampled_at <= %(hi)s::timestamptz + s.slack - s.shift
union
select c.candidate_person_id
from derived.contact_candidate as c
cross join (values (interval '0 days'), (make_interval(days => %(candidate_flag_days)s))) as s (shift)
where
    c.rule_set = %(rule_set)s and c.candidate_person_id is not null
    and c.candidate_scanned_at >= %(lo)s::timestamptz - s.shift
    and c.candidate_scanned_at <= %(hi)s::timestamptz - s.shift
on conflict do nothing;
