-- time_out_of_window (contract section 6, issue 17 item 4) for one staged check-ins file: a scan time before
-- PC-Covid's launch or later than the allowed clock skew after the file was received. The model of every
-- dataset's time window rule (a declarations file names its own time column the same way). One pass over
-- the file's staged rows; a row without a readable time is invalid_date's, not this rule's.
-- Parameters: file_id, received_at, window_start, window_skew_minutes (covidsync.ingest.plausible).
insert into quarantine.row_problem (file_id, row_number, column_name, code, severity)
select
    s.file_id,
    s.row_number,
    'scanned_at' as column_name,
    'time_out_of_window' as code,
    'error' as severity
from staging.checkin as s
where
    s.file_id = %(file_id)s
    and (
        s.scanned_at < %(window_start)s::timestamptz
        or s.scanned_at
        > %(received_at)s::timestamptz + make_interval(mins => %(window_skew_minutes)s)
    )
