-- checkin_person_key.sql's table of person keys for a check-ins file read straight into core (issue 16,
-- e23-checkins): one row per distinct person key among its loadable rows, the staged ones
-- (staging.checkin_loadable) and those written aside by their batches, which come here counted per person as
-- the batches were read (pg_temp.checkin_direct_person: the staged pseudonym, the first and last scan, the
-- rows). The pseudonym is computed here, as covidsync.privacy.SQL_PSEUDONYM, only where no row has one (a
-- staged row without a person key). Parameters: file_id, hmac_ikey, hmac_okey. Names
-- (covidsync.sqlfiles.with_tables): person_key_table, loadable_table, seen_at.
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
        u.person_kind,
        u.identifier,
        min(u.person_key collate "C") as staged_key,  -- noqa: RF03
        min(u.first_seen_at) as first_seen_at,
        max(u.last_seen_at) as last_seen_at,
        sum(u.loadable_rows)::bigint as loadable_rows
    from (
        select
            l.person_kind,
            l.identifier,
            l.person_key,
            l.%(seen_at)s as first_seen_at,
            l.%(seen_at)s as last_seen_at,
            1::bigint as loadable_rows
        from %(loadable_table)s as l
        where l.file_id = %(file_id)s
        union all
        select
            d.person_kind,
            d.identifier,
            d.person_key,
            d.first_seen_at,
            d.last_seen_at,
            d.loadable_rows
        from pg_temp.checkin_direct_person as d
    ) as u
    group by u.person_kind, u.identifier
) as k
