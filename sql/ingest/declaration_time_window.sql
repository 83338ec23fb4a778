-- time_out_of_window (contract section 6, issue 17 item 4; arrivals.md section 4) for one staged declarations
-- file: a submission time before PC-Covid's launch or later than the allowed clock skew after the file was
-- received (check-ins test the same window as a frame rule, covidsync.ingest.checkin_frame_rules); a row without a
-- readable time is invalid_date's, not this rule's.
-- Parameters: file_id, received_at, window_start, window_skew_minutes (covidsync.ingest.plausible).
insert into quarantine.row_problem (file_id, row_number, column_name, code, severity)
select
    s.file_id,
    s.row_number,
    'submitted_at' as column_name,
    'time_out_of_window' as code,
    'error' as severity
from staging.declaration as s
where
    s.file_id = %(file_id)s
    and (
        s.submitted_at < %(window_start)s::timestamptz
        or s.submitted_at
        > %(received_at)s::timestamptz + make_interval(mins => %(window_skew_minutes)s)
    )
