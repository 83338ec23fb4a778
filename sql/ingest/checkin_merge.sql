-- core.checkin from one file: one row per loadable check-in whose (local day, checkin_id) is not in core
-- yet (a check-in sent again in a later file keeps its first version). The file's own earlier rows were
-- deleted first (a reprocessed file). ON CONFLICT, not a NOT EXISTS test: two files with the same
-- check-in merged at the same moment (the DAG maps two at a time) then wait for each other instead of one
-- failing on the primary key. Rows go in key order: each partition's indexes grow at their end.
-- Parameters: file_id.
insert into core.checkin (
    checkin_id, local_day, venue_code, scanned_at, direction, mode, person_kind, person_key,
    source_file_id, source_row
)
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
    k.person_key,
    l.file_id as source_file_id,
    l.row_number as source_row
from staging.checkin_loadable as l
inner join checkin_person_key as k on l.person_kind = k.person_kind and l.identifier = k.identifier
where l.file_id = %(file_id)s
order by local_day, l.checkin_id
on conflict (local_day, checkin_id) do nothing
