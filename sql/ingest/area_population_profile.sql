-- The profile of one staged population registry file that the Great Expectations gate validates (one row, one
-- jsonb): counts, (area, year) uniqueness among the loadable rows, and the last 28 days of the sender's merged
-- files of this dataset. Parameters: file_id, facility_code, received_at.
with loadable as (
    select
        l.area_code,
        l.year
    from staging.area_population_loadable as l
    where l.file_id = %(file_id)s
),

daily as (
    select
        (f.received_at at time zone 'Asia/Ho_Chi_Minh')::date as day,
        sum(f.rows_total) as rows_total
    from ops.landing_file as f
    where
        f.facility_code = %(facility_code)s
        and f.dataset = 'population'
        and f.status = 'merged'
        and f.file_id <> %(file_id)s
        and f.received_at >= %(received_at)s::timestamptz - interval '28 days'
        and f.received_at < %(received_at)s::timestamptz
    group by 1
)

select jsonb_build_object(
    'rows_total', (
        select count(*) from staging.area_population as s
        where s.file_id = %(file_id)s
    ),
    'rows_rejected', (
        select count(distinct q.row_number) from quarantine.row_problem as q
        where q.file_id = %(file_id)s and q.severity = 'error'
    ),
    'duplicate_keys', (
        select count(*) from (
            select
                l.area_code,
                l.year
            from loadable as l
            where l.area_code is not null and l.year is not null
            group by l.area_code, l.year
            having count(*) > 1
        ) as d
    ),
    'null_keys', (
        select count(*) from loadable as l
        where l.area_code is null or l.year is null
    ),
    'value_counts', '{}'::jsonb,
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
