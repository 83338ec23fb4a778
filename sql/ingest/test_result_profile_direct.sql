-- The profile of one test results file read straight into core (issue 16, e10-direct): as
-- test_result_profile.sql, over its loadable rows in staging and the counts of its rows in core by their
-- profile columns' values (pg_temp.direct_profile, summed in polars as the batches were read). The rows in
-- core have merge keys of their own (distinct from each other and from the staged rows': a key that repeats
-- is staged), so the duplicate keys are counted among the staged rows. It holds no personal data.
-- Parameters: file_id, facility_code, received_at.
with staged as materialized (
    select
        l.record_key,
        l.test_type,
        l.result,
        l.pooled,
        l.gender
    from staging.test_result_loadable as l
    where l.file_id = %(file_id)s
),

-- the loadable rows: the staged ones, and those written straight into core counted by their values (n)
loadable as (
    select
        s.record_key is null as no_key,
        s.test_type,
        s.result,
        s.pooled,
        s.gender,
        1::bigint as n
    from staged as s
    union all
    select
        false as no_key,
        d.test_type,
        d.result,
        d.pooled,
        d.gender,
        d.n
    from pg_temp.direct_profile as d
),

counts as (
    select
        grouping(l.test_type) as by_type,
        grouping(l.result) as by_result,
        grouping(l.pooled) as by_pooled,
        grouping(l.gender) as by_gender,
        l.test_type,
        l.result,
        l.pooled,
        l.gender,
        coalesce(sum(l.n), 0)::bigint as n,
        coalesce(sum(l.n) filter (where l.no_key), 0)::bigint as null_keys,
        coalesce(sum(l.n) filter (where l.result = 'positive'), 0)::bigint as positives
    from loadable as l
    group by grouping sets ((l.test_type), (l.result), (l.pooled), (l.gender), ())
),

total as (
    select
        c.n,
        c.null_keys,
        c.positives
    from counts as c
    where c.by_type = 1 and c.by_result = 1 and c.by_pooled = 1 and c.by_gender = 1
),

daily as (
    select
        (f.received_at at time zone 'Asia/Ho_Chi_Minh')::date as day,
        sum(f.rows_total) as rows_total,
        sum(p.positives)::float / nullif(sum(p.results), 0) as positivity
    from ops.landing_file as f
    left join lateral (
        select
            count(*) filter (where t.result = 'positive') as positives,
            count(*) as results
        from core.test_result as t
        where t.source_file_id = f.file_id
    ) as p on true
    where
        f.facility_code = %(facility_code)s
        and f.dataset = 'test_results'
        and f.status = 'merged'
        and f.file_id <> %(file_id)s
        and f.received_at >= %(received_at)s::timestamptz - interval '28 days'
        and f.received_at < %(received_at)s::timestamptz
    group by 1
)

select jsonb_build_object(
    'rows_total', (  -- the rows staged, as the stage step counted them (no scan of staging)
        select f.rows_total::bigint from ops.landing_file as f
        where f.file_id = %(file_id)s
    ),
    'rows_rejected', (
        select count(distinct q.row_number) from quarantine.row_problem as q
        where q.file_id = %(file_id)s and q.severity = 'error'
    ),
    'duplicate_keys', (
        select count(*) from (
            select s.record_key from staged as s
            where s.record_key is not null
            group by s.record_key
            having count(*) > 1
        ) as d
    ),
    'null_keys', (select t.null_keys from total as t),
    'positivity', (select t.positives::float / nullif(t.n, 0) from total as t),
    'value_counts', jsonb_build_object(
        'test_type', (
            select coalesce(jsonb_object_agg(c.test_type, c.n), '{}') from counts as c
            where c.by_type = 0 and c.test_type is not null
        ),
        'result', (
            select coalesce(jsonb_object_agg(c.result, c.n), '{}') from counts as c
            where c.by_result = 0 and c.result is not null
        ),
        'pooled', (
            select coalesce(jsonb_object_agg(c.pooled::text, c.n), '{}') from counts as c
            where c.by_pooled = 0 and c.pooled is not null
        ),
        'gender', (
            select coalesce(jsonb_object_agg(c.gender, c.n), '{}') from counts as c
            where c.by_gender = 0 and c.gender is not null
        )
    ),
    'history', (
        select
            jsonb_build_object(
                'days', count(*),
                'rows_mean', avg(d.rows_total)::float,
                'rows_std', coalesce(stddev_samp(d.rows_total), 0)::float,
                'positivity_mean', avg(d.positivity)::float,
                'positivity_std', coalesce(stddev_samp(d.positivity), 0)::float
            )
        from daily as d
    )
) as profile
