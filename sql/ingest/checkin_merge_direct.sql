-- The check-ins' direct path (issue 16, branch e23-checkins): the file's loadable rows that its stage did
-- not write aside (covidsync.ingest.checkins.stage_direct stages only a row with a code of its batch, a
-- check-in id its batch repeats or an earlier batch may have sent, a direction or mode that is not ASCII), as
-- core.checkin rows: the same columns and values as checkin_merge.sql's view. A temporary table (a few
-- percent of the file's rows, read once for their days and once a day) that
-- covidsync.ingest.checkins.merge_direct writes into the day's table built aside, or through
-- core.load_checkins, and drops. Parameters: file_id, hmac_ikey, hmac_okey.
create temporary table checkin_direct_rows on commit drop as
select
    l.checkin_id,
    (l.scanned_at at time zone 'Asia/Ho_Chi_Minh')::date as local_day,
    l.venue_code,
    l.scanned_at,
    case when lower(l.direction_text) in ('out', 'ra', 'check-out', 'checkout') then 'out' else 'in' end
        as direction,
    case
        when lower(l.mode_text) in ('self_scan', 'self', 'self scan') then 'self_scan'
        when lower(l.mode_text) in ('operator_scan', 'operator', 'operator scan') then 'operator_scan'
    end as mode,
    l.person_kind,
    coalesce(
        l.person_key,
        encode(
            sha256(
                %(hmac_okey)s || sha256(%(hmac_ikey)s || convert_to(l.person_kind || ':' || l.identifier, 'UTF8'))
            ),
            'hex'
        )
    ) as person_key,
    l.file_id as source_file_id,
    l.row_number as source_row,
    case l.qr_kind when 'cccd' then 'cccd_qr' when 'personal' then 'personal_qr' else 'typed' end as qr_kind
from staging.checkin_loadable as l
where l.file_id = %(file_id)s and l.person_kind is not null and l.identifier is not null
