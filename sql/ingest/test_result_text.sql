-- invalid_text (contract section 6, issue 17 item 6) for one staged test_result file: a name, address or other
-- free text that starts like a spreadsheet formula (=, +, -, @, tab, carriage return) or holds
-- mis-decoded text (UTF-8 read as Windows-1258/1252: á», Ä‘, Ă²). One row per (row, column).
-- Parameters: file_id, formula_pattern, mojibake_pattern (covidsync.textsafe).
insert into quarantine.row_problem (file_id, row_number, column_name, code, severity)
select
    s.file_id,
    s.row_number,
    c.column_name,
    'invalid_text' as code,
    'error' as severity
from staging.test_result as s
cross join lateral (values ('full_name', s.full_name)) as c (column_name, value)
where
    s.file_id = %(file_id)s
    and (c.value ~ %(formula_pattern)s or c.value ~ %(mojibake_pattern)s)
