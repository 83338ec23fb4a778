-- touched (temporary), for an incremental build: the persons whose status can change only because as_of
-- moved from lo to hi (either way): a dose that becomes visible or 14 days old; a test that becomes visible,
-- or whose 72 hours, 14-day recovery, or 180-day recovery window ends; a candidate scan that becomes visible
-- or 14 days old. Dose dates compare with the as_of date (health_status.sql) and need no slack; event times
-- get one day of slack each side: the set may be a little larger than needed, never smaller. Each clock is
-- a range of event times (the span shifted back by the clock's length), read through the index on that
-- time: one day's move reads one or two days of records per clock.
insert into touched (person_id)
select r.person_id
from core.vaccination as v
inner join derived.person_record as r on r.source = 'vaccination' and v.vaccination_id = r.record_id
cross join unnest(array[0, %(yellow_dose_days)s, %(fully_vaccinated_days)s]) as s (shift)
where
    v.vaccinated_on
    between (%(lo)s::timestamptz at time zone 'Asia/Ho_Chi_Minh')::date - s.shift
    and (%(hi)s::timestamptz at time zone 'Asia/Ho_Chi_Minh')::date - s.shift
union
select r.person_id
from core.test_result as t
inner join derived.person_record as r on r.source = 'test_result' and t.test_result_id = r.record_id
cross join
    unnest(array[
        interval '0 days',
        make_interval(hours => %(yellow_rt_pcr_hours)s),
        make_interval(days => %(recovery_days)s),
        make_interval(days => %(green_recovery_days)s),
        make_interval(days => %(green_recovery_days)s + %(recovery_days)s)
    ]) as s (shift)
where
    t.sampled_at >= %(lo)s::timestamptz - interval '1 day' - s.shift
    and t.sampled_at <= %(hi)s::timestamptz + interval '1 day' - s.shift
union
select c.candidate_person_id
from derived.contact_candidate as c
cross join unnest(array[interval '0 days', make_interval(days => %(candidate_flag_days)s)]) as s (shift)
where
    c.rule_set = %(rule_set)s and c.candidate_person_id is not null
    and c.candidate_scanned_at >= %(lo)s::timestamptz - interval '1 day' - s.shift
    and c.candidate_scanned_at <= %(hi)s::timestamptz + interval '1 day' - s.shift
on conflict do nothing;
