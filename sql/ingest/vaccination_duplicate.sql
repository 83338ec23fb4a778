-- quarantine.row_problem: duplicate_in_file for one staged vaccinations file (contract section 6), the one
-- row rule of vaccination_row_problem that needs the whole file (the others are column expressions on the
-- typed batches: covidsync.ingest.frame_rules.vaccinations). A row repeats an earlier row's record_id when
-- the file has that column, else its citizen id and dose number (doses 1 to 4). Parameters: file_id,
-- has_record_id.
insert into quarantine.row_problem (file_id, row_number, column_name, code, severity)
select
    %(file_id)s,
    k.row_number,
    case when %(has_record_id)s then 'record_id' else 'citizen_id' end,
    rc.code,
    rc.severity
from (
    select
        s.row_number,
        s.row_number > min(s.row_number) over (
            partition by
                case
                    when %(has_record_id)s then s.record_id
                    when s.dose_number between 1 and 4 then s.citizen_id || ':' || s.dose_number::text
                end
        ) as is_duplicate,
        case
            when %(has_record_id)s then s.record_id
            when s.dose_number between 1 and 4 then s.citizen_id || ':' || s.dose_number::text
        end as duplicate_key
    from staging.vaccination as s
    where s.file_id = %(file_id)s
) as k
inner join ops.row_code as rc on rc.code = 'duplicate_in_file'
where k.duplicate_key is not null and k.is_duplicate
