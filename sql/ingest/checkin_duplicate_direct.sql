-- duplicate_in_file (checkin_duplicate.sql) for a check-ins file read straight into core (issue 16,
-- e23-checkins): the file's check-in ids are those of its staged rows and those of its rows written aside
-- (pg_temp.checkin_direct_ids, a view over the file's tables built aside, made by
-- covidsync.ingest.checkins.stage_direct). A row aside is never a repeat (its id had not been seen in the file),
-- so every row flagged is a staged one; the first row of a repeated id may be aside. Parameters: file_id.
--
-- Issue 16 (e36-checkins): every repeated id has a staged row (all its rows but the first are staged), so only
-- the rows aside whose id a staged row has are read into the groups (a semi-join probing the few staged ids),
-- not all of them: the same groups, counts and first rows, without a hash aggregate of every id of the file.
insert into quarantine.row_problem (file_id, row_number, column_name, code, severity)
with staged_ids as (
    select
        d.checkin_id,
        d.row_number
    from staging.checkin as d
    where d.file_id = %(file_id)s and d.checkin_id is not null
),

ids as (
    select
        s.checkin_id,
        s.row_number
    from staged_ids as s
    union all
    select
        a.checkin_id,
        a.row_number
    from pg_temp.checkin_direct_ids as a
    where a.checkin_id in (select s.checkin_id from staged_ids as s)
),

repeated as (
    select
        i.checkin_id,
        min(i.row_number) as first_row
    from ids as i
    group by i.checkin_id
    having count(*) > 1
)

select
    s.file_id,
    s.row_number,
    'checkin_id' as column_name,
    rc.code,
    rc.severity
from staging.checkin as s
inner join repeated as r on s.checkin_id = r.checkin_id
inner join ops.row_code as rc on rc.code = 'duplicate_in_file'
where s.file_id = %(file_id)s and s.row_number > r.first_row
