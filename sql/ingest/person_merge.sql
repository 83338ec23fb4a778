-- core.checkin_person from a check-ins file or a declarations file (issue 24: keyed as check-ins are, so
-- identity resolution reads one place): one row per (person_kind, person_key) seen on a loaded row, with the
-- identifier in clear and what the QR payloads and the row said about the person (a card QR's name, with its
-- accents, first; then a declared name; then a personal QR's upper-case name without them). Seen times widen;
-- a known value is replaced only by a known one. Parameters: file_id. Tables (covidsync.sqlfiles.with_tables,
-- filled in by the dataset's merge hook): identity_table (staging.checkin_identity or
-- staging.declaration_identity), person_key_table (the merge's temporary table of person keys).
insert into core.checkin_person as p (
    person_kind, person_key, identifier, full_name, date_of_birth, birth_year, gender, phone,
    first_seen_at, last_seen_at
)
with facts as (
    select
        i.person_kind,
        i.identifier,
        (array_agg(i.full_name order by i.source, i.full_name) filter (where i.full_name is not null))[1]
            as full_name,
        max(i.date_of_birth) as date_of_birth,
        max(i.birth_year) as birth_year,
        max(i.gender) as gender,
        max(i.phone) as phone
    from %(identity_table)s as i
    where i.file_id = %(file_id)s
    group by i.person_kind, i.identifier
)

select
    k.person_kind,
    k.person_key,
    k.identifier,
    f.full_name,
    f.date_of_birth,
    f.birth_year,
    f.gender,
    f.phone,
    k.first_seen_at,
    k.last_seen_at
from %(person_key_table)s as k
left join facts as f on k.person_kind = f.person_kind and k.identifier = f.identifier
on conflict (person_kind, person_key) do update set
    full_name = case
        when excluded.full_name is null then p.full_name
        when p.full_name is null then excluded.full_name
        -- keep a name written with accents over one written without
        when
            octet_length(p.full_name) > char_length(p.full_name)
            and octet_length(excluded.full_name) = char_length(excluded.full_name)
            then p.full_name
        else excluded.full_name
    end,
    date_of_birth = coalesce(excluded.date_of_birth, p.date_of_birth),
    birth_year = coalesce(excluded.birth_year, p.birth_year),
    gender = coalesce(excluded.gender, p.gender),
    phone = coalesce(excluded.phone, p.phone),
    first_seen_at = least(p.first_seen_at, excluded.first_seen_at),
    last_seen_at = greatest(p.last_seen_at, excluded.last_seen_at)
