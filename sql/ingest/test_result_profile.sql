-- The profile of one staged test-results file that the Great Expectations gate validates (one row, one
-- jsonb): counts, merge-key uniqueness, the canonical values of the loadable rows, and the facility's
-- last 28 days of merged files, with their positivity. It holds no personal data. Parameters: file_id,
-- facility_code, received_at.
with loadable as (
    select
        l.record_key,
        l.test_type,
        l.result,
        l.pooled,
        l.gender
    from staging.test_result_loadable as l
    where l.file_id = %(file_id)s
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
    'rows_total', (
        select count(*) from staging.test_result as s
        where s.file_id = %(file_id)s
    ),
    'rows_rejected', (
        select count(distinct q.row_number) from quarantine.row_problem as q
        where q.file_id = %(file_id)s and q.severity = 'error'
    ),
    'duplicate_keys', (
        select count(*) from (
            select l.record_key from loadable as l
            where l.record_key is not null
            group by l.record_key
            having count(*) > 1
        ) as d
    ),
    'null_keys', (
        select count(*) from loadable as l
        where l.record_key is null
    ),
    'positivity', (
        select count(*) filter (where l.result = 'positive')::float / nullif(count(*), 0) from loadable as l
    ),
    'value_counts', jsonb_build_object(
        'test_type', (
            select coalesce(jsonb_object_agg(v.k, v.n), '{}') from (
                select
                    l.test_type as k,
                    count(*) as n
                from loadable as l
                where l.test_type is not null
                group by 1
            ) as v
        ),
        'result', (
            select coalesce(jsonb_object_agg(v.k, v.n), '{}') from (
                select
                    l.result as k,
                    count(*) as n
                from loadable as l
                where l.result is not null
                group by 1
            ) as v
        ),
        'pooled', (
            select coalesce(jsonb_object_agg(v.k, v.n), '{}') from (
                select
                    l.pooled::text as k,
                    count(*) as n
                from loadable as l
                where l.pooled is not null
                group by 1
            ) as v
        ),
        'gender', (
            select coalesce(jsonb_object_agg(v.k, v.n), '{}') from (
                select
                    l.gender as k,
                    count(*) as n
                from loadable as l
                where l.gender is not null
                group by 1
            ) as v
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
