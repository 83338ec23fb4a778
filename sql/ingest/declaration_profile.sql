-- The profile of one staged declarations file that the Great Expectations gate validates (one row, one
-- jsonb): counts, (app, declaration_id) uniqueness, the canonical values of the loadable rows (kind, app,
-- person_kind) and the last 28 days of merged declaration files. No personal data. Parameters: file_id,
-- received_at.
with loadable as (
    select
        l.declaration_id,
        l.person_kind,
        lower(l.kind) as kind,
        core.declaration_app(l.app) as app
    from staging.declaration_loadable as l
    where l.file_id = %(file_id)s
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

-- an (app, declaration_id) repeated among the loadable rows is repeated in the file, so every one of its rows
-- after the first is flagged duplicate_in_file (declaration_duplicate.sql, one of the file's rules, run before
-- the profile, with the app read as here): the repeated keys are counted among those few, not by grouping
-- every loadable row by its key (issue 24, as check-ins do)
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
    ),
    'rows_rejected', (
        select count(distinct q.row_number) from quarantine.row_problem as q
        where q.file_id = %(file_id)s and q.severity = 'error'
    ),
    'duplicate_keys', (
        select count(*) from (
            select 1 from loadable as l
            inner join repeated as r on l.app = r.app and l.declaration_id = r.declaration_id
            group by l.app, l.declaration_id
            having count(*) > 1
        ) as d
    ),
    'null_keys', (
        select count(*) from loadable as l
        where l.declaration_id is null or l.person_kind is null or l.kind is null
    ),
    'value_counts', jsonb_build_object(
        'kind', (
            select coalesce(jsonb_object_agg(v.k, v.n), '{}') from (
                select
                    l.kind as k,
                    count(*) as n
                from loadable as l
                where l.kind is not null
                group by 1
            ) as v
        ),
        'app', (
            select coalesce(jsonb_object_agg(v.k, v.n), '{}') from (
                select
                    l.app as k,
                    count(*) as n
                from loadable as l
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
