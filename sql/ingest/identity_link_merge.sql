-- core.identity_link from a check-ins file or a declarations file (issue 24): one row per (CCCD, other
-- identifier) pair that one QR payload of a loaded row carried together: a card QR's CCCD and old CMND; a
-- personal QR's unmasked CCCD with its QID and its phone. A row typed by hand (a declaration's own fields,
-- source 'declaration') never links; every check-in fact comes from a QR. Masked document numbers never get
-- here (the parser drops them). Parameters: file_id. Tables (covidsync.sqlfiles.with_tables, filled in by the
-- dataset's merge hook): identity_table (staging.checkin_identity or staging.declaration_identity),
-- person_key_table (the merge's temporary table of person keys).
insert into core.identity_link (citizen_id, other_kind, other_value, source, first_seen_file_id)
select distinct
    i.citizen_id,
    o.other_kind,
    o.other_value,
    i.source,
    %(file_id)s::bigint as first_seen_file_id
from %(identity_table)s as i
inner join %(person_key_table)s as k on i.person_kind = k.person_kind and i.identifier = k.identifier
cross join
    lateral (
        values ('cmnd', i.cmnd), ('qid', i.qid), ('phone', i.phone)
    ) as o (other_kind, other_value)
where
    i.file_id = %(file_id)s
    and i.citizen_id is not null
    and o.other_value is not null
    and i.source in ('cccd_qr', 'personal_qr')
on conflict (citizen_id, other_kind, other_value) do nothing
