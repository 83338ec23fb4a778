-- invalid_text (contract section 6, issue 17 item 6) for one staged check-ins file: the name a QR payload
-- carries (a CCCD card QR's third field, a personal QR's second) that starts like a spreadsheet formula or
-- holds mis-decoded text. Reported on qr_payload (the column the sender sent).
-- Parameters: file_id, formula_pattern, mojibake_pattern (covidsync.textsafe).
insert into quarantine.row_problem (file_id, row_number, column_name, code, severity)
select
    q.file_id,
    q.row_number,
    'qr_payload' as column_name,
    'invalid_text' as code,
    'error' as severity
from (
    select
        s.file_id,
        s.row_number,
        split_part(s.qr_payload, '|', case s.qr_kind when 'cccd' then 3 else 2 end) as full_name
    from staging.checkin as s
    where s.file_id = %(file_id)s and s.qr_kind in ('cccd', 'personal')
) as q
where q.full_name ~ %(formula_pattern)s or q.full_name ~ %(mojibake_pattern)s
