-- The profiles of several staged vaccinations files of one group (issue 16, many small files): for each file
-- the same jsonb as sql/ingest/vaccination_profile.sql gives it, one row a file, in one statement instead of
-- one statement a file (a 500-row file's profile was mostly the statement's own fixed cost). Each file's
-- counts are of its own rows; its history is its facility's last 28 days of merged files before its own
-- arrival, without itself (the group's files are staged, not merged, so none is in another's history).
-- Parameters: file_ids. Returns (file_id, profile).
with files as (
    select
        f.file_id,
        f.facility_code,
        f.received_at,
        f.rows_total
    from ops.landing_file as f
    where f.file_id = any(%(file_ids)s)
),

loadable as materialized (
    select
        l.file_id,
        l.record_key,
        l.vaccine_code,
        l.dose_number,
        l.gender
    from staging.vaccination_loadable as l
    where l.file_id = any(%(file_ids)s)
),

counts as (
    select
        l.file_id,
        grouping(l.vaccine_code) as by_vaccine,
        grouping(l.dose_number) as by_dose,
        grouping(l.gender) as by_gender,
        l.vaccine_code,
        l.dose_number,
        l.gender,
        count(*) as n,
        count(*) filter (where l.record_key is null) as null_keys
    from loadable as l
    group by l.file_id, grouping sets ((l.vaccine_code), (l.dose_number), (l.gender), ())
),

by_file as (
    select
        c.file_id,
        coalesce(sum(c.null_keys) filter (where c.by_vaccine = 1 and c.by_dose = 1 and c.by_gender = 1), 0)::bigint
            as null_keys,
        coalesce(
            jsonb_object_agg(c.vaccine_code, c.n) filter (where c.by_vaccine = 0 and c.vaccine_code is not null),
            '{}'
        ) as vaccine_code,
        coalesce(
            jsonb_object_agg(c.dose_number::text, c.n) filter (where c.by_dose = 0 and c.dose_number is not null),
            '{}'
        ) as dose_number,
        coalesce(
            jsonb_object_agg(c.gender, c.n) filter (where c.by_gender = 0 and c.gender is not null), '{}'
        ) as gender
    from counts as c
    group by c.file_id
),

duplicates as (
    select
        d.file_id,
        count(*) as duplicate_keys
    from (
        select
            l.file_id,
            l.record_key
        from loadable as l
        where l.record_key is not null
        group by l.file_id, l.record_key
        having count(*) > 1
    ) as d
    group by d.file_id
),

rejected as (
    select
        q.file_id,
        count(distinct q.row_number) as rows_rejected
    from quarantine.row_problem as q
    where q.file_id = any(%(file_ids)s) and q.severity = 'error'
    group by q.file_id
),

history as (
    select
        fi.file_id,
        jsonb_build_object(
            'days', count(d.day),
            'rows_mean', avg(d.rows_total)::float,
            'rows_std', coalesce(stddev_samp(d.rows_total), 0)::float
        ) as history
    from files as fi
    left join lateral (
        select
            (f.received_at at time zone 'Asia/Ho_Chi_Minh')::date as day,
            sum(f.rows_total) as rows_total
        from ops.landing_file as f
        where
            f.facility_code = fi.facility_code
            and f.dataset = 'vaccinations'
            and f.status = 'merged'
            and f.file_id <> fi.file_id
            and f.received_at >= fi.received_at - interval '28 days'
            and f.received_at < fi.received_at
        group by 1
    ) as d on true
    group by fi.file_id
)

select
    fi.file_id,
    jsonb_build_object(
        'rows_total', fi.rows_total::bigint,
        'rows_rejected', coalesce(r.rows_rejected, 0),
        'duplicate_keys', coalesce(u.duplicate_keys, 0),
        'null_keys', coalesce(b.null_keys, 0),
        'value_counts', jsonb_build_object(
            'vaccine_code', coalesce(b.vaccine_code, '{}'),
            'dose_number', coalesce(b.dose_number, '{}'),
            'gender', coalesce(b.gender, '{}')
        ),
        'history', h.history
    ) as profile
from files as fi
left join by_file as b on fi.file_id = b.file_id
left join duplicates as u on fi.file_id = u.file_id
left join rejected as r on fi.file_id = r.file_id
inner join history as h on fi.file_id = h.file_id
