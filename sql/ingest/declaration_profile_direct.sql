-- The profile of one declarations file read straight into core (issue 16, e18-decl-direct): as
-- declaration_profile.sql, over its loadable rows in staging and the counts of its rows in core by their
-- profile columns' values (pg_temp.direct_profile: kind and app as sent, person_kind; summed in polars as the
-- batches were read). The rows in core have an (app, declaration_id) of their own, none null, a person key
-- and a kind (a row with a key seen earlier in the file, with a row code or without a person key is staged,
-- and a key repeated after a row in core sends the file down the staging path), so the duplicate and null
-- keys are counted among the staged rows. No personal data. Parameters: file_id, received_at.
with staged as materialized (
    select
        l.declaration_id,
        l.person_kind,
        lower(l.kind) as kind,
        core.declaration_app(l.app) as app
    from staging.declaration_loadable as l
    where l.file_id = %(file_id)s
),

-- the loadable rows: the staged ones, and those written straight into core counted by their values (n)
loadable as (
    select
        s.person_kind,
        s.kind,
        s.app,
        1::bigint as n
    from staged as s
    union all
    select
        d.person_kind,
        lower(d.kind) as kind,
        core.declaration_app(d.app) as app,
        d.n
    from pg_temp.direct_profile as d
),

daily as (
    select
        (f.received_at at time zone 'Asia/Ho_Chi_Minh')::date as day,
        sum(f.rows_total) as rows_total
    from ops.landing_file as f
    where
        f.facility_code = 'pccovid'
        and f.dataset = 'declarations'
        and f.status = 'merged'
        and f.file_id <> %(file_id)s
        and f.received_at >= %(received_at)s::timestamptz - interval '28 days'
        and f.received_at < %(received_at)s::timestamptz
    group by 1
),

repeated as (
    select distinct
        s.declaration_id,
        core.declaration_app(s.app) as app
    from quarantine.row_problem as q
    inner join staging.declaration as s on q.file_id = s.file_id and q.row_number = s.row_number
    where q.file_id = %(file_id)s and q.code = 'duplicate_in_file'
)

select jsonb_build_object(
    'rows_total', (
        select count(*) from staging.declaration as s
        where s.file_id = %(file_id)s
    ) + (select coalesce(sum(d.n), 0) from pg_temp.direct_profile as d)::bigint,
    'rows_rejected', (
        select count(distinct q.row_number) from quarantine.row_problem as q
        where q.file_id = %(file_id)s and q.severity = 'error'
    ),
    'duplicate_keys', (
        select count(*) from (
            select 1 from staged as l
            inner join repeated as r on l.app = r.app and l.declaration_id = r.declaration_id
            group by l.app, l.declaration_id
            having count(*) > 1
        ) as d
    ),
    'null_keys', (
        select count(*) from staged as l
        where l.declaration_id is null or l.person_kind is null or l.kind is null
    ),
    'value_counts', jsonb_build_object(
        'kind', (
            select coalesce(jsonb_object_agg(v.k, v.n), '{}') from (
                select
                    l.kind as k,
                    sum(l.n)::bigint as n
                from loadable as l
                where l.kind is not null
                group by 1
            ) as v
        ),
        'app', (
            select coalesce(jsonb_object_agg(v.k, v.n), '{}') from (
                select
                    l.app as k,
                    sum(l.n)::bigint as n
                from loadable as l
                group by 1
            ) as v
        ),
        'person_kind', (
            select coalesce(jsonb_object_agg(v.k, v.n), '{}') from (
                select
                    l.person_kind as k,
                    sum(l.n)::bigint as n
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
