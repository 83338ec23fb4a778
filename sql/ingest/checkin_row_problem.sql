-- quarantine.row_problem for one staged check-ins file: one row per (data row, code), on the first column
-- at fault in the contract's column order (contract sections 5 and 6). Clean rows are dropped before the
-- codes are listed, so the cost is one pass over the batch plus a hash lookup of venues and of repeated
-- check-in ids. A *_text column holds the value as sent only where it differs from the value read.
-- Parameters: file_id, received_at.
insert into quarantine.row_problem (file_id, row_number, column_name, code, severity)
with repeated as (
    select
        s.checkin_id,
        min(s.row_number) as first_row
    from staging.checkin as s
    where s.file_id = %(file_id)s and s.checkin_id is not null
    group by s.checkin_id
    having count(*) > 1
),

suspect as (
    select
        s.row_number,
        s.checkin_id,
        s.venue_code,
        s.scanned_at_text,
        s.scanned_at,
        s.qr_kind,
        s.citizen_id_text,
        s.citizen_id,
        s.phone_text,
        s.phone,
        s.person_kind,
        v.venue_code is not null as venue_known,
        r.first_row is not null and s.row_number > r.first_row as is_duplicate
    from staging.checkin as s
    left join core.venue as v on s.venue_code = v.venue_code
    left join repeated as r on s.checkin_id = r.checkin_id
    where
        s.file_id = %(file_id)s
        and (
            s.checkin_id is null
            or s.venue_code is null
            or v.venue_code is null
            or s.scanned_at is null
            or s.scanned_at > %(received_at)s::timestamptz
            or s.qr_kind = 'invalid'
            or s.citizen_id_text is not null
            or s.citizen_id is not null
            or (s.phone_text is not null and s.phone is null)
            or s.person_kind is null
            or r.first_row is not null
        )
),

checked as (
    select
        s.*,
        length(s.citizen_id) as id_length,
        p.province_code is not null as id_province_known
    from suspect as s
    left join core.province as p
        on
            length(s.citizen_id) = 12
            and left(s.citizen_id, 1) = '0'
            and substr(s.citizen_id, 2, 2) = p.province_code
),

found as (
    select
        c.row_number,
        f.column_order,
        f.column_name,
        f.code
    from checked as c
    cross join
        lateral (
            values
            (0, 'checkin_id', 'missing_required', c.checkin_id is null),
            (0, 'checkin_id', 'duplicate_in_file', c.is_duplicate),
            (1, 'venue_code', 'missing_required', c.venue_code is null),
            (1, 'venue_code', 'unknown_venue', c.venue_code is not null and not c.venue_known),
            (2, 'scanned_at', 'missing_required', c.scanned_at_text is null and c.scanned_at is null),
            (2, 'scanned_at', 'invalid_date', c.scanned_at_text is not null and c.scanned_at is null),
            (2, 'scanned_at', 'future_date', c.scanned_at > %(received_at)s::timestamptz),
            (5, 'qr_payload', 'invalid_qr_payload', c.qr_kind = 'invalid'),
            (
                6, 'citizen_id', 'invalid_citizen_id',
                (c.citizen_id_text is not null or c.citizen_id is not null)
                and (c.citizen_id is null or c.id_length not in (9, 12))
            ),
            (6, 'citizen_id', 'legacy_cmnd', c.id_length = 9),
            (6, 'citizen_id', 'unknown_province_in_id', c.id_length = 12 and not c.id_province_known),
            (7, 'phone', 'invalid_phone', c.phone_text is not null and c.phone is null),
            (8, '', 'missing_person_key', c.person_kind is null)
        ) as f (column_order, column_name, code, hit)
    where f.hit
)

select distinct on (fo.row_number, fo.code)
    %(file_id)s as file_id,
    fo.row_number,
    fo.column_name,
    fo.code,
    rc.severity
from found as fo
inner join ops.row_code as rc on fo.code = rc.code
order by fo.row_number asc, fo.code asc, fo.column_order asc
