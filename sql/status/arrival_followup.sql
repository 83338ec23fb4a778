-- derived.arrival_followup for the arrivals in scope (their persons' group keys in arr_map): one row per due
-- test day D (arrival day + test_day - 1), sampled when a test of the person was sampled on D or D + 1
-- (local; any facility, any type) before as_of, the earliest such; overdue once as_of is past the end of
-- D + 1 with no sample (contract arrivals.md §2).
insert into derived.arrival_followup (
    rule_set, arrival_key, test_day, due_on, sampled, sampled_at, test_result_id, result, overdue
)
select
    a.rule_set,
    a.arrival_key,
    td.test_day,
    a.arrival_day + td.test_day - 1 as due_on,
    s.test_result_id is not null,
    s.sampled_at,
    s.test_result_id,
    s.result,
    s.test_result_id is null
    and %(as_of)s::timestamptz >= ((a.arrival_day + td.test_day + 1) + time '00:00') at time zone 'Asia/Ho_Chi_Minh'
from derived.arrival as a
cross join lateral unnest(a.test_days) as td (test_day)
left join lateral (
    select
        t.test_result_id,
        t.sampled_at,
        case when t.pooled and t.result = 'positive' then 'pooled_positive' else t.result end as result
    from derived.person_record as r
    inner join core.test_result as t on r.record_id = t.test_result_id
    where
        r.source = 'test_result'
        and r.person_id = a.person_id
        and t.sampled_at < %(as_of)s
        and (t.sampled_at at time zone 'Asia/Ho_Chi_Minh')::date
        between a.arrival_day + td.test_day - 1 and a.arrival_day + td.test_day
    order by t.sampled_at, t.test_result_id
    limit 1
) as s on true
where
    a.rule_set = %(rule_set)s
    and a.person_key in (select m.group_key from arr_map as m);
