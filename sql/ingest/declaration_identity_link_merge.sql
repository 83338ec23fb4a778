-- core.identity_link from a declarations file (issue 24): one row per (CCCD, other identifier) pair that one
-- QR payload of a loaded declaration carried together (what a row typed by hand never links): a card QR's CCCD and old CMND; a personal QR's unmasked CCCD with its QID and its
-- phone. Masked document numbers never get here (the parser drops them). Parameters: file_id.
insert into core.identity_link (citizen_id, other_kind, other_value, source, first_seen_file_id)
select distinct
    i.citizen_id,
    o.other_kind,
    o.other_value,
    i.source,
    %(file_id)s::bigint as first_seen_file_id
from staging.declaration_identity as i
inner join declaration_person_key as k on i.person_kind = k.person_kind and i.identifier = k.identifier
cross join
    lateral (
        values ('cmnd', i.cmnd), ('qid', i.qid), ('phone', i.phone)
    ) as o (other_kind, other_value)
where
    i.file_id = %(file_id)s
    and i.source in ('cccd_qr', 'personal_qr')
    and i.citizen_id is not null
    and o.other_value is not null
on conflict (citizen_id, other_kind, other_value) do nothing
