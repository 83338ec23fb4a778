-- The profile of one staged check-ins file that the Great Expectations gate validates (one row, one
-- jsonb): counts, check-in id uniqueness, the canonical values of the loadable rows (direction, mode,
-- person_kind) and the last 28 days of merged check-in files. No personal data. Parameters: file_id,
-- received_at.
with loadable as (
    select
        l.checkin_id,
        l.person_kind,
        case when lower(l.direction_text) in ('out', 'ra', 'check-out', 'checkout') then 'out' else 'in' end
            as direction,
        case
            when lower(l.mode_text) in ('self_scan', 'self', 'self scan') then 'self_scan'
            when lower(l.mode_text) in ('operator_scan', 'operator', 'operator scan') then 'operator_scan'
        end as mode
    from staging.checkin_loadable as l
    where l.file_id = %(file_id)s
),

daily as (
    select
        (f.received_at at time zone 'Asia/Ho_Chi_Minh')::date as day,
        sum(f.rows_total) as rows_total
    from ops.landing_file as f
    where
        f.facility_code = 'pccovid'
        and f.dataset = 'checkins'
        and f.status = 'merged'
        and f.file_id <> %(file_id)s
        and f.received_at >= %(received_at)s::timestamptz - interval '28 days'
        and f.received_at < %(received_at)s::timestamptz
    group by 1
),

-- a checkin_id repeated among the loadable rows is repeated in the file, so every one of them has a row
-- flagged duplicate_in_file (checkin_duplicate.sql, one of the file's rules, run before the profile): the
-- repeated ids are counted among those few, not by grouping every loadable row by checkin_id (issue 16)
repeated as (
    select distinct s.checkin_id
    from quarantine.row_problem as q
    inner join staging.checkin as s on q.file_id = s.file_id and q.row_number = s.row_number
    where q.file_id = %(file_id)s and q.code = 'duplicate_in_file'
),

counts as (
    select
        (
            select count(*) from (
                select l.checkin_id from loadable as l
                inner join repeated as r on l.checkin_id = r.checkin_id
                group by l.checkin_id
                having count(*) > 1
            ) as d
        ) as duplicate_keys,
        (
            select count(*) from loadable as l
            where l.checkin_id is null or l.person_kind is null
        ) as null_keys
)

select jsonb_build_object(
    'rows_total', (
        select count(*) from staging.checkin as s
        where s.file_id = %(file_id)s
    ),
    'rows_rejected', (
        select count(distinct q.row_number) from quarantine.row_problem as q
        where q.file_id = %(file_id)s and q.severity = 'error'
    ),
    'duplicate_keys', (select c.duplicate_keys from counts as c),
    'null_keys', (select c.null_keys from counts as c),
    'value_counts', jsonb_build_object(
        'direction', (
            select coalesce(jsonb_object_agg(v.k, v.n), '{}') from (
                select
                    l.direction as k,
                    count(*) as n
                from loadable as l
                group by 1
            ) as v
        ),
        'mode', (
            select coalesce(jsonb_object_agg(v.k, v.n), '{}') from (
                select
                    l.mode as k,
                    count(*) as n
                from loadable as l
                where l.mode is not null
                group by 1
            ) as v
        ),
        'person_kind', (
            select coalesce(jsonb_object_agg(v.k, v.n), '{}') from (
                select
                    l.person_kind as k,
                    count(*) as n
                from loadable as l
                where l.person_kind is not null
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
