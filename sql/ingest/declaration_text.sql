-- invalid_text (contract section 6, issue 17 item 6) for one staged declarations file: the declared name that
-- starts like a spreadsheet formula (=, +, -, @, tab, carriage return) or holds mis-decoded text (UTF-8 read
-- as Windows-1258/1252: á», Ä‘, Ă²), as vaccination_text.sql.
-- Parameters: file_id, formula_pattern, mojibake_pattern (covidsync.textsafe).
insert into quarantine.row_problem (file_id, row_number, column_name, code, severity)
select
    s.file_id,
    s.row_number,
    'full_name' as column_name,
    'invalid_text' as code,
    'error' as severity
from staging.declaration as s
where
    s.file_id = %(file_id)s
    and (s.full_name ~ %(formula_pattern)s or s.full_name ~ %(mojibake_pattern)s)
