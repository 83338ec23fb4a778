-- core.app_user_count from one file: one row per (day, area). A (day, area) already there with other counts
-- is replaced and its earlier counts move to core.app_user_count_history (latest file wins, history kept),
-- unless they came from a file received after this one (a file processed late never overwrites newer
-- counts). The same counts again change nothing. Parameters: file_id, received_at.
insert into core.app_user_count_history (
    day, area_code, registered_users, active_users_7d, source_file_id, loaded_at, replaced_by_file_id
)
select
    a.day,
    a.area_code,
    a.registered_users,
    a.active_users_7d,
    a.source_file_id,
    a.loaded_at,
    l.file_id as replaced_by_file_id
from staging.app_user_count_loadable as l
inner join core.app_user_count as a on l.day = a.day and l.area_code = a.area_code
left join ops.landing_file as f on a.source_file_id = f.file_id
where
    l.file_id = %(file_id)s
    and (a.registered_users, a.active_users_7d) is distinct from (l.registered_users, l.active_users_7d)
    and coalesce(f.received_at <= %(received_at)s::timestamptz, true);

insert into core.app_user_count as a (day, area_code, registered_users, active_users_7d, source_file_id)
select
    l.day,
    l.area_code,
    l.registered_users,
    l.active_users_7d,
    l.file_id as source_file_id
from staging.app_user_count_loadable as l
where l.file_id = %(file_id)s
on conflict (day, area_code) do update set
    registered_users = excluded.registered_users,
    active_users_7d = excluded.active_users_7d,
    source_file_id = excluded.source_file_id,
    loaded_at = now()
-- a is the row in conflict (sqlfluff cannot see the alias of the insert's target)
where
(a.registered_users, a.active_users_7d)  -- noqa: RF01
is distinct from (excluded.registered_users, excluded.active_users_7d)
and coalesce((
    select f.received_at from ops.landing_file as f
    where f.file_id = a.source_file_id  -- noqa: RF01
) <= %(received_at)s::timestamptz, true)
