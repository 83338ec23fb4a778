-- quarantine.row_problem for one staged app-user counts file (adoption.md §3): one row per (data row, code),
-- on the first column at fault. Counts that are negative, unreadable, or an active_users_7d above
-- registered_users: invalid_count; an area code that is no province, or no district or commune of the
-- reference lists: unknown_area; a day after the file was received: future_date; a (day, area) twice in
-- the file: duplicate_in_file on every row after the first. Parameters: file_id, received_at.
insert into quarantine.row_problem (file_id, row_number, column_name, code, severity)
with batch as (
    select
        s.*,
        s.row_number > min(s.row_number) over (partition by s.day, s.area_code) as is_duplicate,
        case length(s.area_code)
            when 2
                then
                    exists (
                        select 1 from core.province as p
                        where p.province_code = s.area_code
                    )
            when 3
                then
                    exists (
                        select 1 from core.district as d
                        where d.district_code = s.area_code
                    )
            when 5
                then
                    exists (
                        select 1 from core.commune as c
                        where c.commune_code = s.area_code
                    )
            else false
        end as area_known
    from staging.app_user_count as s
    where s.file_id = %(file_id)s
),

found as (
    select
        b.row_number,
        f.column_order,
        f.column_name,
        f.code
    from batch as b
    cross join
        lateral (
            values
            (1, 'day', 'missing_required', not b.raw ? 'day'),
            (1, 'day', 'invalid_date', b.raw ? 'day' and b.day is null),
            (
                1, 'day', 'future_date',
                b.day > (%(received_at)s::timestamptz at time zone 'Asia/Ho_Chi_Minh')::date
            ),
            (2, 'area_code', 'missing_required', not b.raw ? 'area_code'),
            (2, 'area_code', 'unknown_area', b.raw ? 'area_code' and not b.area_known),
            (
                2, 'area_code', 'duplicate_in_file',
                b.day is not null and b.area_code is not null and b.is_duplicate
            ),
            (3, 'registered_users', 'missing_required', not b.raw ? 'registered_users'),
            (
                3, 'registered_users', 'invalid_count',
                b.raw ? 'registered_users' and coalesce(b.registered_users < 0, true)
            ),
            (4, 'active_users_7d', 'missing_required', not b.raw ? 'active_users_7d'),
            (
                4, 'active_users_7d', 'invalid_count',
                b.raw ? 'active_users_7d' and (
                    coalesce(b.active_users_7d < 0, true) or b.active_users_7d > b.registered_users
                )
            )
        ) as f (column_order, column_name, code, failed)
    where f.failed
)

select distinct on (fd.row_number, fd.code)
    %(file_id)s,
    fd.row_number,
    fd.column_name,
    fd.code,
    rc.severity
from found as fd
inner join ops.row_code as rc on fd.code = rc.code
order by fd.row_number, fd.code, fd.column_order
