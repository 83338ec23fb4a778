-- core.checkin_person from a declarations file (issue 24): one row per (person_kind, person_key) of a loaded
-- declaration, keyed as check-ins are (identity resolution reads one place), with the identifier in clear
-- and what the QR payloads and the row said about the person (a card QR's name first, then the declared
-- one, then a personal QR's upper-case name without accents). Seen times widen; a known
-- value is replaced only by a known one. Parameters: file_id.
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
    from staging.declaration_identity as i
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
from declaration_person_key as k
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
