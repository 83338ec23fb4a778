-- mart.facility_rejection_day: one row per facility, local day the file arrived and row error code: rows with
-- that error, and their share of the rows the facility sent that day. Parameter: as_of_day. Rebuilt whole.
delete from mart.facility_rejection_day;

insert into mart.facility_rejection_day (facility_code, day, code, rows_affected, rows_total, rate)
with sent as (
    select
        f.file_id,
        f.facility_code,
        (f.received_at at time zone 'Asia/Ho_Chi_Minh')::date as day,
        coalesce(f.rows_total, 0) as rows_total
    from ops.landing_file as f
    inner join ops.facility as fa on f.facility_code = fa.facility_code
    where
        f.status <> 'duplicate'
        and (f.received_at at time zone 'Asia/Ho_Chi_Minh')::date <= %(as_of_day)s::date
),

day_total as (
    select
        facility_code,
        day,
        sum(rows_total) as rows_total
    from sent
    group by facility_code, day
),

by_code as (
    select
        s.facility_code,
        s.day,
        q.code,
        count(distinct row(q.file_id, q.row_number)) as rows_affected
    from quarantine.row_problem as q
    inner join sent as s on q.file_id = s.file_id
    where q.severity = 'error'
    group by s.facility_code, s.day, q.code
)

select
    b.facility_code,
    b.day,
    b.code,
    b.rows_affected,
    t.rows_total,
    round(b.rows_affected::numeric / nullif(t.rows_total, 0), 4) as rate
from by_code as b
inner join day_total as t on b.facility_code = t.facility_code and b.day = t.day;
