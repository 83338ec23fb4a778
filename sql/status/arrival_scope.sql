-- arr_key (temporary), for an incremental arrivals build: the pseudonymous keys whose arrivals a change can
-- reach. Seeds: arrival scans and declarations loaded since the last build (watermark); the arrivals of the
-- persons the status build touched (their doses, tests or episodes changed: the category can change) or whose
-- identifiers changed (rekeyed: identity no longer touches them), and the keys identity moved to another person or
-- to none (changed_key); and
-- when as_of moved from lo to hi, the scans and declarations that became visible (or hidden), the tests
-- sampled in the span (a due day sampled, a positive during the measure) and the arrivals with an unsampled
-- due day D whose overdue flag flips in the span (the end of D + 1, local midnight D + 2, in (lo, hi]: D in
-- lo date - 1 .. hi date - 2).
insert into arr_key (raw_key)
select c.person_key
from core.checkin as c
inner join core.venue as v on c.venue_code = v.venue_code and v.venue_type = 'checkpoint'
where c.loaded_at >= %(watermark)s
union
-- through the index on (venue_code, scanned_at), the partitions of the span's days only
select c.person_key
from core.venue as v
inner join core.checkin as c
    on
        v.venue_code = c.venue_code
        and c.scanned_at >= %(lo)s and c.scanned_at < %(hi)s
        and c.local_day between (%(lo)s::timestamptz at time zone 'Asia/Ho_Chi_Minh')::date
        and (%(hi)s::timestamptz at time zone 'Asia/Ho_Chi_Minh')::date
where v.venue_type = 'checkpoint'
union
select d.person_key
from core.declaration as d
where d.loaded_at >= %(watermark)s
union
select d.person_key
from core.declaration as d
where d.submitted_at >= %(lo)s and d.submitted_at < %(hi)s
union
-- the keys whose person changed in this build (identity's changed_key): their scans and declarations may now be
-- another person's, or nobody's; the persons they left and joined are touched, and those persons' arrivals
-- are read by the last branch. A touched person otherwise keeps its keys, and a key with an arrival scan or
-- declaration visible at the last build has an arrival under its group (its person's key, or its own when
-- unresolved); so a touched person without an arrival has no input that could make one (issue 19: before,
-- every key of every touched person was in scope, most of the arrivals step's time on a generated day).
-- Only those with an arrival before (under the key itself, or under the person the key left) can move one.
select k.identity_key
from changed_key as k
where
    exists (
        select 1 from derived.arrival as a
        where a.rule_set = %(rule_set)s and a.person_key = k.identity_key
    )
    or exists (
        select 1
        from key_left as l
        inner join derived.arrival as a on a.rule_set = %(rule_set)s and l.person_id = a.person_id
        where l.identity_key = k.identity_key
    )
union
-- a test sampled in the span, of a person with an arrival (a test of anyone else reaches no arrival)
select a.person_key
from core.test_result as t
inner join derived.person_record as r on r.source = 'test_result' and t.test_result_id = r.record_id
inner join derived.arrival as a on a.rule_set = %(rule_set)s and r.person_id = a.person_id
where t.sampled_at >= %(lo)s and t.sampled_at < %(hi)s
union
select a.person_key
from derived.arrival as a
inner join derived.arrival_followup as f on a.rule_set = f.rule_set and a.arrival_key = f.arrival_key
where
    a.rule_set = %(rule_set)s
    and not f.sampled
    and f.due_on between (%(lo)s::timestamptz at time zone 'Asia/Ho_Chi_Minh')::date - 1
    and (%(hi)s::timestamptz at time zone 'Asia/Ho_Chi_Minh')::date - 2
    and %(lo)s::timestamptz < %(hi)s::timestamptz
union
select a.person_key
from derived.arrival as a
where
    a.rule_set = %(rule_set)s
    and (a.person_id in (select t.person_id from touched as t) or a.person_id in (select k.person_id from rekeyed as k) or (
        a.person_id is not null
        and not exists (
            select 1 from derived.person as p
            where p.person_id = a.person_id
        )
    ))
on conflict do nothing;
