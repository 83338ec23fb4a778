-- touched (temporary), for an incremental build: the persons whose status can change only because as_of
-- moved from lo to hi (either way): a dose that becomes visible or 14 days old; a test that becomes visible,
-- or whose 72 hours, 14-day recovery, or 180-day recovery window ends; a candidate scan that becomes visible
-- or 14 days old. Each clock is a range of event times (the span shifted back by the clock's length), read
-- through the index on that time: one day's move reads one day of records per clock. The ranges are those
-- health_status.sql and f0_episode.sql compare with, bound for bound:
-- - doses compare dates with the as_of date: visible when vaccinated_on < as_of date, so a move flips
--   [lo date, hi date - 1]; a clock of n days holds when the dose day <= as_of date - n, so it flips
--   [lo date - n + 1, hi date - n];
-- - tests and scans compare times with as_of: sampled_at < as_of (visible), sampled_at >= as_of - 72 hours
--   (a recent negative RT-PCR), recovered_at = sampled_at + 14 days > as_of (still F0), scanned_at in
--   [as_of - 14 days, as_of) (a candidate): each flips [lo - shift, hi - shift);
-- - the green recovery window compares the local date of recovered_at with the as_of date: one day of slack
--   each side.
insert into touched (person_id)
select r.person_id
from core.vaccination as v
inner join derived.person_record as r on r.source = 'vaccination' and v.vaccination_id = r.record_id
cross join (
    values (0, 0, -1), (%(yellow_dose_days)s, 1, 0), (%(fully_vaccinated_days)s, 1, 0)
) as s (shift, from_add, to_add)
where
    v.vaccinated_on
    between (%(lo)s::timestamptz at time zone 'Asia/Ho_Chi_Minh')::date - s.shift + s.from_add
    and (%(hi)s::timestamptz at time zone 'Asia/Ho_Chi_Minh')::date - s.shift + s.to_add
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
    and t.sampled_at < %(hi)s::timestamptz + s.slack - s.shift
union
select c.candidate_person_id
from derived.contact_candidate as c
cross join (values (interval '0 days'), (make_interval(days => %(candidate_flag_days)s))) as s (shift)
where
    c.rule_set = %(rule_set)s and c.candidate_person_id is not null
    and c.candidate_scanned_at >= %(lo)s::timestamptz - s.shift
    and c.candidate_scanned_at < %(hi)s::timestamptz - s.shift
on conflict do nothing;
