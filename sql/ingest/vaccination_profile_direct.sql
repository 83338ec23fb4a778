-- The profile of one vaccinations file read straight into core (issue 16, e10-direct): as
-- vaccination_profile.sql, over its loadable rows in staging and the counts of its rows in core by their
-- profile columns' values (pg_temp.direct_profile, summed in polars as the batches were read). The rows in
-- core have merge keys of their own (distinct from each other and from the staged rows': a key that repeats
-- is staged), so the duplicate keys are counted among the staged rows. It holds no personal data.
-- Parameters: file_id, facility_code, received_at.
with staged as materialized (
    select
        l.record_key,
        l.vaccine_code,
        l.dose_number,
        l.gender
    from staging.vaccination_loadable as l
    where l.file_id = %(file_id)s
),

-- the loadable rows: the staged ones, and those written straight into core counted by their values (n)
loadable as (
    select
        s.record_key is null as no_key,
        s.vaccine_code,
        s.dose_number,
        s.gender,
        1::bigint as n
    from staged as s
    union all
    select
        false as no_key,
        d.vaccine_code,
        d.dose_number,
        d.gender,
        d.n
    from pg_temp.direct_profile as d
),

counts as (
    select
        grouping(l.vaccine_code) as by_vaccine,
        grouping(l.dose_number) as by_dose,
        grouping(l.gender) as by_gender,
        l.vaccine_code,
        l.dose_number,
        l.gender,
        coalesce(sum(l.n), 0)::bigint as n,
        coalesce(sum(l.n) filter (where l.no_key), 0)::bigint as null_keys
    from loadable as l
    group by grouping sets ((l.vaccine_code), (l.dose_number), (l.gender), ())
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
    'null_keys', (
        select coalesce(sum(c.null_keys), 0)::bigint from counts as c
        where c.by_vaccine = 1 and c.by_dose = 1 and c.by_gender = 1
    ),
    'value_counts', jsonb_build_object(
        'vaccine_code', (
            select coalesce(jsonb_object_agg(c.vaccine_code, c.n), '{}') from counts as c
            where c.by_vaccine = 0 and c.vaccine_code is not null
        ),
        'dose_number', (
            select coalesce(jsonb_object_agg(c.dose_number::text, c.n), '{}') from counts as c
            where c.by_dose = 0 and c.dose_number is not null
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
                'rows_std', coalesce(stddev_samp(d.rows_total), 0)::float
            )
        from daily as d
    )
) as profile
