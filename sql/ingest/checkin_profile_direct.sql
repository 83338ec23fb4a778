-- checkin_profile.sql for a check-ins file read straight into core (issue 16, e23-checkins): the same jsonb,
-- its loadable rows being the staged ones (staging.checkin_loadable) and those written aside, counted by
-- direction, mode and person kind as their batches were read (pg_temp.direct_profile, made by
-- covidsync.ingest.engine.ingest_direct). A row aside has a check-in id and a person key, and its id is
-- repeated by no loadable row (a repeat is staged and flagged duplicate_in_file), so it adds to no null key and
-- no repeated id. rows_total: the file's rows, which the direct path records before its profile. Parameters:
-- file_id, received_at.
with repeated as (
    -- a checkin_id repeated among the loadable rows is repeated in the file, so every one of them has a row
    -- flagged duplicate_in_file (checkin_duplicate.sql, run before the profile): the repeated ids are looked for among
    -- those few, not by grouping every loadable row by checkin_id (issue 16)
    select distinct s.checkin_id
    from quarantine.row_problem as q
    inner join staging.checkin as s on q.file_id = s.file_id and q.row_number = s.row_number
    where q.file_id = %(file_id)s and q.code = 'duplicate_in_file'
),

grouped as (
    select
        case when lower(l.direction_text) in ('out', 'ra', 'check-out', 'checkout') then 'out' else 'in' end
            as direction,
        case
            when lower(l.mode_text) in ('self_scan', 'self', 'self scan') then 'self_scan'
            when lower(l.mode_text) in ('operator_scan', 'operator', 'operator scan') then 'operator_scan'
        end as mode,
        l.person_kind,
        l.null_key,
        case when l.checkin_id in (select r.checkin_id from repeated as r) then l.checkin_id end as repeated_id,
        sum(l.n) as n
    from (
        select
            s.direction_text,
            s.mode_text,
            s.person_kind,
            s.checkin_id,
            (s.checkin_id is null or s.person_kind is null) as null_key,
            1::bigint as n
        from staging.checkin_loadable as s
        where s.file_id = %(file_id)s
        union all
        -- the rows aside: a check-in id and a person key each, their id repeated by no loadable row
        select
            p.direction_text,
            p.mode_text,
            p.person_kind,
            null as checkin_id,
            false as null_key,
            p.n
        from pg_temp.direct_profile as p
    ) as l
    group by 1, 2, 3, 4, 5
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
)

select jsonb_build_object(
    'rows_total', (
        select f.rows_total from ops.landing_file as f
        where f.file_id = %(file_id)s
    ),
    'rows_rejected', (
        select count(distinct q.row_number) from quarantine.row_problem as q
        where q.file_id = %(file_id)s and q.severity = 'error'
    ),
    'duplicate_keys', (
        select count(*) from (
            select g.repeated_id from grouped as g
            where g.repeated_id is not null
            group by g.repeated_id
            having sum(g.n) > 1
        ) as d
    ),
    'null_keys', (
        select coalesce(sum(g.n), 0)::bigint from grouped as g
        where g.null_key
    ),
    'value_counts', jsonb_build_object(
        'direction', (
            select coalesce(jsonb_object_agg(v.k, v.n), '{}') from (
                select
                    g.direction as k,
                    sum(g.n)::bigint as n
                from grouped as g
                group by 1
            ) as v
        ),
        'mode', (
            select coalesce(jsonb_object_agg(v.k, v.n), '{}') from (
                select
                    g.mode as k,
                    sum(g.n)::bigint as n
                from grouped as g
                where g.mode is not null
                group by 1
            ) as v
        ),
        'person_kind', (
            select coalesce(jsonb_object_agg(v.k, v.n), '{}') from (
                select
                    g.person_kind as k,
                    sum(g.n)::bigint as n
                from grouped as g
                where g.person_kind is not null
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
