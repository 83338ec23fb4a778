-- staging.checkin from a check-ins file read by COPY (covidsync.ingest.checkins.stage_checkins_copy): the
-- temporary table checkin_raw holds every cell as sent (NFC) with its data row number, and the temporary
-- lookup tables what Python read once per distinct value (the QR payload, the citizen_id and phone
-- repairs, scanned_at). The same rows as the Python reader's staging (covidsync.ingest.checkins.checkin_rows):
-- a value as sent is kept only where it differs from what was read, and the person key is the best one the
-- row carried (cccd > cmnd > qid > phone; a citizen_id column beats a weaker key from the payload).
-- Rows whose every cell is blank are skipped (their numbers are kept by the others). Cells are trimmed of
-- what Python's str.strip() removes from ASCII text (covidsync.ingest.parse.COPY_TRIM). Parameters:
-- file_id. The marker nonblank_row is replaced by the caller with "one of the cells is not blank" over
-- every column of the file (known or not).
insert into staging.checkin (
    file_id, row_number, checkin_id, venue_code, scanned_at_text, scanned_at, direction_text, mode_text,
    qr_payload, qr_kind, citizen_id_text, citizen_id, phone_text, phone, person_kind, identifier
)
select
    %(file_id)s::bigint as file_id,
    r.row_number,
    nullif(btrim(r.checkin_id, e' \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f'), '') as checkin_id,
    nullif(btrim(r.venue_code, e' \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f'), '') as venue_code,
    case when t.scanned_at is null then t.cell end as scanned_at_text,
    t.scanned_at,
    nullif(btrim(r.direction, e' \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f'), '') as direction_text,
    nullif(btrim(r.mode, e' \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f'), '') as mode_text,
    p.payload as qr_payload,
    p.qr_kind,
    case when c.cell = c.citizen_id then null else c.cell end as citizen_id_text,
    c.citizen_id,
    case when h.phone is null then h.cell end as phone_text,
    h.phone,
    case
        when
            c.person_kind is not null
            and (
                p.person_kind is null
                or array_position(array['cccd', 'cmnd', 'qid', 'phone'], c.person_kind)
                < array_position(array['cccd', 'cmnd', 'qid', 'phone'], p.person_kind)
            )
            then c.person_kind
        when p.person_kind is not null then p.person_kind
        when h.phone is not null then 'phone'
    end as person_kind,
    case
        when
            c.person_kind is not null
            and (
                p.person_kind is null
                or array_position(array['cccd', 'cmnd', 'qid', 'phone'], c.person_kind)
                < array_position(array['cccd', 'cmnd', 'qid', 'phone'], p.person_kind)
            )
            then c.citizen_id
        when p.person_kind is not null then p.identifier
        when h.phone is not null then h.phone
    end as identifier
from checkin_raw as r
left join checkin_lookup_time as t on r.scanned_at = t.raw
left join checkin_lookup_payload as p on r.qr_payload = p.raw
left join checkin_lookup_citizen_id as c on r.citizen_id = c.raw
left join checkin_lookup_phone as h on r.phone = h.raw
where /* nonblank_row */ true
