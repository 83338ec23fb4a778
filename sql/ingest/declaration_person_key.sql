-- One row per distinct person key (person_kind, identifier) among the loadable declarations of one file,
-- with its pseudonym (covidsync.privacy.SQL_PSEUDONYM, HMAC-SHA256, once per person; the same value as
-- core.checkin.person_key) and the first and last submission of it in the file. A temporary table of the
-- merge's transaction. Parameters: file_id, hmac_ikey, hmac_okey.
create temporary table declaration_person_key on commit drop as
select
    k.person_kind,
    k.identifier,
    encode(
        sha256(%(hmac_okey)s || sha256(%(hmac_ikey)s || convert_to(k.person_kind || ':' || k.identifier, 'UTF8'))),
        'hex'
    ) as person_key,
    k.first_seen_at,
    k.last_seen_at
from (
    select
        l.person_kind,
        l.identifier,
        min(l.submitted_at) as first_seen_at,
        max(l.submitted_at) as last_seen_at
    from staging.declaration_loadable as l
    where l.file_id = %(file_id)s
    group by l.person_kind, l.identifier
) as k
