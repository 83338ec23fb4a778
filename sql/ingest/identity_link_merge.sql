-- core.identity_link from a check-ins file or a declarations file (issue 24): one row per (CCCD, other
-- identifier) pair that one QR payload of a loaded row carried together: a card QR's CCCD and old CMND; a
-- personal QR's unmasked CCCD with its QID and its phone. A row typed by hand (a declaration's own fields,
-- source 'declaration') never links; every check-in fact comes from a QR. Masked document numbers never get
-- here (the parser drops them). Parameters: file_id. Tables (covidsync.sqlfiles.with_tables, filled in by the
-- dataset's merge hook): identity_table (staging.checkin_identity or staging.declaration_identity),
-- person_key_table (the merge's temporary table of person keys).
--
-- Issue 16 (throughput): only the pairs not linked yet are written (an anti-join on the primary key), in key
-- order, under SHARE ROW EXCLUSIVE (readers go on; a second writer waits for this transaction), so no pair
-- can appear meanwhile and no speculative insertion is paid; a pair already linked keeps its first file, as
-- ON CONFLICT DO NOTHING kept it. A card QR's pairs are CMNDs and a personal QR's QIDs and phones, so one
-- pair never comes from both sources; should it, the card's is taken.
lock table core.identity_link in share row exclusive mode;

insert into core.identity_link (citizen_id, other_kind, other_value, source, first_seen_file_id)
-- the pairs in byte order (issue 16, e11-checkins): sorted with abbreviated keys instead of strcoll; the same
-- pairs kept as in the database's C.UTF-8 order (equality is byte equality in both)
-- (sqlfluff reads the collation's quoted name as a column: RF02 silenced on those lines)
select distinct on (
    i.citizen_id collate "C",  -- noqa: RF02
    o.other_kind collate "C",  -- noqa: RF02
    o.other_value collate "C"  -- noqa: RF02
)
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
    and not exists (
        select 1 from core.identity_link as l
        where l.citizen_id = i.citizen_id and l.other_kind = o.other_kind and l.other_value = o.other_value
    )
order by
    i.citizen_id collate "C" asc,  -- noqa: RF02
    o.other_kind collate "C" asc,  -- noqa: RF02
    o.other_value collate "C" asc,  -- noqa: RF02
    i.source asc
