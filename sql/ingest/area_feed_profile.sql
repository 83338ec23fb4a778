-- The profile of one staged file of a feed keyed by area and period (adoption.md: the app-user counts, key
-- (day, area); the population registry, key (area, year)) that the Great Expectations gate validates (one row,
-- one jsonb): counts, (area, period) uniqueness among the loadable rows, and the last 28 days of the sender's
-- merged files of this dataset. Parameters: file_id, facility_code, dataset, received_at. Names, from the
-- dataset's spec (sql_names): staging_table, loadable_table, period_column.
with loadable as (
    select
        l.%(period_column)s as period,
        l.area_code
    from %(loadable_table)s as l
    where l.file_id = %(file_id)s
),

daily as (
    select
        (f.received_at at time zone 'Asia/Ho_Chi_Minh')::date as day,
        sum(f.rows_total) as rows_total
    from ops.landing_file as f
    where
        f.facility_code = %(facility_code)s
        and f.dataset = %(dataset)s
        and f.status = 'merged'
        and f.file_id <> %(file_id)s
        and f.received_at >= %(received_at)s::timestamptz - interval '28 days'
        and f.received_at < %(received_at)s::timestamptz
    group by 1
)

select jsonb_build_object(
    'rows_total', (
        select count(*) from %(staging_table)s as s
        where s.file_id = %(file_id)s
    ),
    'rows_rejected', (
        select count(distinct q.row_number) from quarantine.row_problem as q
        where q.file_id = %(file_id)s and q.severity = 'error'
    ),
    'duplicate_keys', (
        select count(*) from (
            select
                l.period,
                l.area_code
            from loadable as l
            where l.period is not null and l.area_code is not null
            group by l.period, l.area_code
            having count(*) > 1
        ) as d
    ),
    'null_keys', (
        select count(*) from loadable as l
        where l.period is null or l.area_code is null
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
