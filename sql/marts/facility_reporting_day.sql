-- mart.facility_reporting_day: one row per registered facility and local day from its first day (registered or
-- first file, whichever is earlier) to as_of_day: one report expected, files received, on time by the cut-off,
-- rows loaded and rejected, duplicates. A file reports for the local day it arrived. Parameters: as_of_day,
-- cutoff (local time of day). Rebuilt whole.
delete from mart.facility_reporting_day;

insert into mart.facility_reporting_day (
    facility_code, day, district_code, expected, received, on_time, first_received_at, cutoff,
    files, files_rejected, files_held, duplicate_files, duplicate_rows,
    rows_total, rows_loaded, rows_rejected, rows_with_warnings, rejection_rate
)
with sent as (
    select
        f.file_id,
        f.facility_code,
        f.status,
        f.received_at,
        (f.received_at at time zone 'Asia/Ho_Chi_Minh')::date as day,
        (f.received_at at time zone 'Asia/Ho_Chi_Minh')::time as local_time,
        coalesce(f.rows_total, 0) as rows_total,
        coalesce(f.rows_loaded, 0) as rows_loaded,
        coalesce(f.rows_rejected, 0) as rows_rejected,
        coalesce(f.rows_with_warnings, 0) as rows_with_warnings
    from ops.landing_file as f
    inner join ops.facility as fa on f.facility_code = fa.facility_code
    where (f.received_at at time zone 'Asia/Ho_Chi_Minh')::date <= %(as_of_day)s::date
),

first_day as (
    select
        fa.facility_code,
        fa.district_code,
        least((fa.registered_at at time zone 'Asia/Ho_Chi_Minh')::date, min(s.day)) as first_day
    from ops.facility as fa
    left join sent as s on fa.facility_code = s.facility_code
    group by fa.facility_code, fa.district_code, fa.registered_at
),

calendar as (
    select
        fd.facility_code,
        fd.district_code,
        g.day::date as day
    from first_day as fd
    cross join lateral generate_series(fd.first_day, %(as_of_day)s::date, interval '1 day') as g (day)
),

per_day as (
    select
        s.facility_code,
        s.day,
        count(*) filter (where s.status <> 'duplicate') as files,
        count(*) filter (where s.status = 'rejected') as files_rejected,
        count(*) filter (where s.status = 'held') as files_held,
        count(*) filter (where s.status = 'duplicate') as duplicate_files,
        min(s.received_at) filter (where s.status <> 'duplicate') as first_received_at,
        coalesce(bool_or(s.status <> 'duplicate' and s.local_time <= %(cutoff)s::time), false) as on_time,
        coalesce(sum(s.rows_total) filter (where s.status <> 'duplicate'), 0) as rows_total,
        coalesce(sum(s.rows_loaded) filter (where s.status <> 'duplicate'), 0) as rows_loaded,
        coalesce(sum(s.rows_rejected) filter (where s.status <> 'duplicate'), 0) as rows_rejected,
        coalesce(sum(s.rows_with_warnings) filter (where s.status <> 'duplicate'), 0) as rows_with_warnings
    from sent as s
    group by s.facility_code, s.day
),

duplicate_rows as (
    select
        s.facility_code,
        s.day,
        count(distinct row(q.file_id, q.row_number)) as duplicate_rows
    from quarantine.row_problem as q
    inner join sent as s on q.file_id = s.file_id
    where q.code = 'duplicate_in_file'
    group by s.facility_code, s.day
)

select
    c.facility_code,
    c.day,
    c.district_code,
    1 as expected,
    (coalesce(p.files, 0) > 0)::integer as received,
    coalesce(p.on_time, false)::integer as on_time,
    p.first_received_at,
    %(cutoff)s::time as cutoff,
    coalesce(p.files, 0) as files,
    coalesce(p.files_rejected, 0) as files_rejected,
    coalesce(p.files_held, 0) as files_held,
    coalesce(p.duplicate_files, 0) as duplicate_files,
    coalesce(d.duplicate_rows, 0) as duplicate_rows,
    coalesce(p.rows_total, 0) as rows_total,
    coalesce(p.rows_loaded, 0) as rows_loaded,
    coalesce(p.rows_rejected, 0) as rows_rejected,
    coalesce(p.rows_with_warnings, 0) as rows_with_warnings,
    round(p.rows_rejected::numeric / nullif(p.rows_total, 0), 4) as rejection_rate
from calendar as c
left join per_day as p on c.facility_code = p.facility_code and c.day = p.day
left join duplicate_rows as d on c.facility_code = d.facility_code and c.day = d.day;
