-- duplicate_in_file (contract sections 5 and 6) for one staged check-ins file: every row whose checkin_id
-- an earlier row of the file already sent, on checkin_id. The one check-in rule that needs the whole file;
-- the codes a single row decides are computed while the file is staged (covidsync.ingest.
-- checkin_frame_rules) and copied from staging.row_check by the engine. One hash aggregate of the file's
-- check-in ids, then the rows after the first of each repeated id. Parameters: file_id.
insert into quarantine.row_problem (file_id, row_number, column_name, code, severity)
with repeated as (
    select
        d.checkin_id,
        min(d.row_number) as first_row
    from staging.checkin as d
    where d.file_id = %(file_id)s and d.checkin_id is not null
    group by d.checkin_id
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
