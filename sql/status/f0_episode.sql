-- derived.f0_episode for the persons in pending: one row per F0 episode as of as_of (contract §3). A test
-- makes an F0 when it is a positive individual RT-PCR; or a positive individual antigen test with another
-- positive individual antigen test sampled at most antigen_pair_hours before it (so a pair's f0_since is
-- its later test); or a positive individual antigen test sampled at t supported by candidacy: the person is
-- a contact candidate of another person's F0 episode whose f0_since is before t, through a check-in of the
-- person in the contact_lookback_days (14) days before t, [t - 14 days, t). Support runs forward in time
-- only, so the episodes are the unique result of deciding them in order of f0_since; the build reaches it
-- in rounds (build.py), each reading the candidates of the episodes the round before left. The first such
-- test starts an episode; it ends (recovery) at the earlier of the next negative test sampled after
-- f0_since (pooled negatives count: a negative tube is each member's result) and f0_since + recovery_days;
-- the first such test at or after the recovery starts the next episode.
-- f0_test (temporary, indexed): the tests of the pending persons, looked up per person and time below (a
-- CTE has no index: its lookups read it whole, once per test).
delete from derived.f0_episode
where rule_set = %(rule_set)s and person_id in (select p.person_id from pending as p);

drop table if exists f0_test;

create temp table f0_test on commit drop as
select
    r.person_id,
    t.test_result_id,
    t.test_type,
    t.pooled,
    t.result,
    t.sampled_at,
    t.resulted_at
from pending as p
inner join derived.person_record as r on p.person_id = r.person_id and r.source = 'test_result'
inner join core.test_result as t on r.record_id = t.test_result_id
where t.sampled_at < %(as_of)s::timestamptz;

create index on f0_test (person_id, sampled_at);

analyze f0_test;

insert into derived.f0_episode (
    rule_set, person_id, f0_since, f0_test_id, path, window_end, recovered_at, recovery_test_id
)
with recursive qualifying as (
    select distinct on (q.person_id, q.test_result_id)
        q.person_id,
        q.test_result_id,
        q.sampled_at,
        q.resulted_at,
        q.path
    from (
        select
            t.*,
            1 as path_rank,
            'rt_pcr' as path
        from f0_test as t
        where t.test_type = 'RT-PCR' and not t.pooled and t.result = 'positive'
        union all
        select
            t.*,
            2,
            'antigen_pair'
        from f0_test as t
        where
            t.test_type = 'antigen' and not t.pooled and t.result = 'positive'
            and exists (
                select 1 from f0_test as e
                where
                    e.person_id = t.person_id and e.test_result_id <> t.test_result_id
                    and e.test_type = 'antigen' and not e.pooled and e.result = 'positive'
                    and e.sampled_at <= t.sampled_at
                    and e.sampled_at >= t.sampled_at - make_interval(hours => %(antigen_pair_hours)s)
                    and (e.sampled_at, e.test_result_id) < (t.sampled_at, t.test_result_id)
            )
        union all
        select
            t.*,
            3,
            'antigen_contact'
        from f0_test as t
        where
            t.test_type = 'antigen' and not t.pooled and t.result = 'positive'
            and exists (
                select 1 from derived.contact_candidate as c
                where
                    c.rule_set = %(rule_set)s and c.candidate_person_id = t.person_id
                    and c.f0_person_id <> t.person_id
                    and c.f0_since < t.sampled_at
                    and c.candidate_scanned_at < t.sampled_at
                    and c.candidate_scanned_at >= t.sampled_at - make_interval(days => %(contact_lookback_days)s)
            )
    ) as q
    order by q.person_id, q.test_result_id, q.path_rank
),

episode as (
    select
        f.person_id,
        f.test_result_id,
        f.sampled_at,
        f.resulted_at,
        f.path,
        coalesce(n.sampled_at, f.sampled_at + make_interval(days => %(recovery_days)s)) as recovered_at,
        n.test_result_id as recovery_test_id
    from (
        select distinct on (q.person_id) q.*
        from qualifying as q
        order by q.person_id, q.sampled_at, q.test_result_id
    ) as f
    left join lateral (
        select
            t.sampled_at,
            t.test_result_id
        from f0_test as t
        where
            t.person_id = f.person_id and t.result = 'negative' and t.sampled_at > f.sampled_at
            and t.sampled_at < f.sampled_at + make_interval(days => %(recovery_days)s)
        order by t.sampled_at, t.test_result_id
        limit 1
    ) as n on true
    union all
    select
        nx.person_id,
        nx.test_result_id,
        nx.sampled_at,
        nx.resulted_at,
        nx.path,
        coalesce(n.sampled_at, nx.sampled_at + make_interval(days => %(recovery_days)s)) as recovered_at,
        n.test_result_id as recovery_test_id
    from episode as e
    cross join
        lateral (
            select q.*
            from qualifying as q
            where q.person_id = e.person_id and q.sampled_at >= e.recovered_at
            order by q.sampled_at, q.test_result_id
            limit 1
        ) as nx
    left join lateral (
        select
            t.sampled_at,
            t.test_result_id
        from f0_test as t
        where
            t.person_id = nx.person_id and t.result = 'negative' and t.sampled_at > nx.sampled_at
            and t.sampled_at < nx.sampled_at + make_interval(days => %(recovery_days)s)
        order by t.sampled_at, t.test_result_id
        limit 1
    ) as n on true
)

select
    %(rule_set)s,
    e.person_id,
    e.sampled_at,
    e.test_result_id,
    e.path,
    e.resulted_at,
    e.recovered_at,
    e.recovery_test_id
from episode as e;
