-- One row per distinct person key (person_kind, identifier) among the loadable rows of one check-ins or
-- declarations file, with its pseudonym, the first and last time it was seen in the file (scan or
-- submission) and its loadable rows (their sum is the file's rows loaded). The pseudonym is the one the stage
-- computed once per distinct person of a batch (staging.checkin.person_key, migration 0046;
-- staging.declaration.person_key, 0060; covidsync.privacy.pseudonym), and only where a row has none (an older
-- stage) is it computed here, as covidsync.privacy.SQL_PSEUDONYM (HMAC-SHA256) once per person. A temporary
-- table of the merge's transaction. Parameters: file_id, hmac_ikey, hmac_okey. Names
-- (covidsync.sqlfiles.with_tables, filled in by the dataset's merge hook): person_key_table (the temporary
-- table made here), loadable_table (staging.checkin_loadable or staging.declaration_loadable), seen_at (its
-- time column: scanned_at or submitted_at).
create temporary table %(person_key_table)s on commit drop as
select
    k.person_kind,
    k.identifier,
    coalesce(
        k.staged_key,
        encode(
            sha256(
                %(hmac_okey)s || sha256(%(hmac_ikey)s || convert_to(k.person_kind || ':' || k.identifier, 'UTF8'))
            ),
            'hex'
        )
    ) as person_key,
    k.first_seen_at,
    k.last_seen_at,
    k.loadable_rows
from (
    select
        l.person_kind,
        l.identifier,
        -- one value per person (null only for rows an older stage wrote); byte order: no strcoll per row
        min(l.person_key collate "C") as staged_key,  -- noqa: RF03
        min(l.%(seen_at)s) as first_seen_at,
        max(l.%(seen_at)s) as last_seen_at,
        count(*) as loadable_rows
    from %(loadable_table)s as l
    where l.file_id = %(file_id)s
    group by l.person_kind, l.identifier
) as k
