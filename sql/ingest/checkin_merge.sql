-- core.checkin from one file: one row per loadable check-in whose (local day, checkin_id) is not in core
-- yet (a check-in sent again in a later file keeps its first version). The file's own earlier rows were
-- deleted first (a reprocessed file). The rows are a temporary view handed to core.load_checkins
-- (migration 0016), which writes them day by day: a day whose partition is still empty (and core.checkin
-- free at once) is built aside in key order, its indexes built by sort, and attached; any other day goes
-- through core.checkin with ON CONFLICT DO NOTHING, so that two files with the same check-in merged at the
-- same moment (the DAG maps two at a time) wait for each other instead of one failing on the primary key.
-- Parameters: file_id, days (the local days of the file's loadable rows, which the merge hook reads once),
-- hmac_ikey, hmac_okey.
--
-- Issue 16 (branch e11-checkins): the person key is the one the stage wrote with the row
-- (staging.checkin.person_key, migration 0046), not a join of every row to the merge's table of keys (which
-- hashed the day's 490k staged rows); a row staged without one gets covidsync.privacy.SQL_PSEUDONYM here. The
-- rows' check-in ids are unique (every repeat is a duplicate_in_file error), so a day built aside is filled
-- without a sort (core.load_checkins' third argument).
create temporary view checkin_merge_rows as
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
    -- adoption.md §2: the kind of QR behind the scan (no payload: an operator typed the citizen_id or phone)
    case l.qr_kind when 'cccd' then 'cccd_qr' when 'personal' then 'personal_qr' else 'typed' end as qr_kind
from staging.checkin_loadable as l
where l.file_id = %(file_id)s and l.person_kind is not null and l.identifier is not null;

select core.load_checkins('pg_temp.checkin_merge_rows', %(days)s::date[], true);

drop view checkin_merge_rows;
