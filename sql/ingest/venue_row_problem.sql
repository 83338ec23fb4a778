-- quarantine.row_problem for one staged venues file: one row per (data row, code) (contract sections 5
-- and 6): a venue needs its code, and a code once per file. Parameters: file_id.
insert into quarantine.row_problem (file_id, row_number, column_name, code, severity)
select
    s.file_id,
    s.row_number,
    'venue_code' as column_name,
    case when s.venue_code is null then 'missing_required' else 'duplicate_in_file' end as code,
    'error' as severity
from staging.venue as s
where
    s.file_id = %(file_id)s
    and (
        s.venue_code is null
        or exists (
            select 1 from staging.venue as e
            where e.file_id = s.file_id and e.venue_code = s.venue_code and e.row_number < s.row_number
        )
    )
