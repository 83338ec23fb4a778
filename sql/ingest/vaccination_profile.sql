-- The profile of one staged vaccinations file that the Great Expectations gate validates (one row, one
-- jsonb): counts, merge-key uniqueness, the canonical values of the loadable rows, and the facility's
-- last 28 days of merged files. It holds no personal data. Parameters: file_id, facility_code, received_at.
with loadable as (
    select
        l.record_key,
        l.vaccine_code,
        l.dose_number,
        l.gender
    from staging.vaccination_loadable as l
    where l.file_id = %(file_id)s
),

daily as (
    select
        (f.received_at at time zone 'Asia/Ho_Chi_Minh')::date as day,
        sum(f.rows_total) as rows_total
    from ops.landing_file as f
    where
        f.facility_code = %(facility_code)s
        and f.dataset = 'vaccinations'
        and f.status = 'merged'
        and f.file_id <> %(file_id)s
        and f.received_at >= %(received_at)s::timestamptz - interval '28 days'
        and f.received_at < %(received_at)s::timestamptz
    group by 1
)

select jsonb_build_object(
    'rows_total', (
        select count(*) from staging.vaccination as s
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
    'value_counts', jsonb_build_object(
        'vaccine_code', (
            select coalesce(jsonb_object_agg(v.k, v.n), '{}') from (
                select
                    l.vaccine_code as k,
                    count(*) as n
                from loadable as l
                where l.vaccine_code is not null
                group by 1
            ) as v
        ),
        'dose_number', (
            select coalesce(jsonb_object_agg(v.k, v.n), '{}') from (
                select
                    l.dose_number::text as k,
                    count(*) as n
                from loadable as l
                where l.dose_number is not null
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
                'rows_std', coalesce(stddev_samp(d.rows_total), 0)::float
            )
        from daily as d
    )
) as profile
