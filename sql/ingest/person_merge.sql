-- core.checkin_person from a check-ins file or a declarations file (issue 24: keyed as check-ins are, so
-- identity resolution reads one place): one row per (person_kind, person_key) seen on a loaded row, with the
-- identifier in clear and what the QR payloads and the row said about the person (a card QR's name, with its
-- accents, first; then a declared name; then a personal QR's upper-case name without them). Seen times widen;
-- a known value is replaced only by a known one. Parameters: file_id. Tables (covidsync.sqlfiles.with_tables,
-- filled in by the dataset's merge hook): identity_table (staging.checkin_identity or
-- staging.declaration_identity), person_key_table (the merge's temporary table of person keys).
--
-- Issue 16 (throughput): written as an anti-join, not an upsert of every person the file names. Writers of
-- core.checkin_person take it in SHARE ROW EXCLUSIVE mode (readers go on; a second writer waits for this
-- transaction), so the persons not in the table are known for certain: they are inserted in key order, with
-- no speculative insertion; a known person is updated only when something changes (a later scan, a new
-- fact), so a file sent again writes nothing. The values are exactly those of the upsert this replaced.
lock table core.checkin_person in share row exclusive mode;

create temporary table person_merge_rows on commit drop as
with facts as (
    select
        i.person_kind,
        i.identifier,
        -- the first name in (source, full_name) order, as the least of the pairs (arrays compare element by
        -- element, a null after any value, as ORDER BY does): no sort per person (issue 24: 0.8 s against
        -- 1.2-1.6 s for the facts of 50k persons under load)
        (min(array[i.source, i.full_name]) filter (where i.full_name is not null))[2] as full_name,
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
    k.last_seen_at,
    p.person_key is not null as known
from %(person_key_table)s as k
left join facts as f on k.person_kind = f.person_kind and k.identifier = f.identifier
left join core.checkin_person as p on k.person_kind = p.person_kind and k.person_key = p.person_key;

update core.checkin_person as p set
    full_name = n.full_name,
    date_of_birth = n.date_of_birth,
    birth_year = n.birth_year,
    gender = n.gender,
    phone = n.phone,
    first_seen_at = n.first_seen_at,
    last_seen_at = n.last_seen_at
from (
    select
        o.person_kind,
        o.person_key,
        case
            when e.full_name is null then o.full_name
            when o.full_name is null then e.full_name
            -- keep a name written with accents over one written without
            when
                octet_length(o.full_name) > char_length(o.full_name)
                and octet_length(e.full_name) = char_length(e.full_name)
                then o.full_name
            else e.full_name
        end as full_name,
        coalesce(e.date_of_birth, o.date_of_birth) as date_of_birth,
        coalesce(e.birth_year, o.birth_year) as birth_year,
        coalesce(e.gender, o.gender) as gender,
        coalesce(e.phone, o.phone) as phone,
        least(o.first_seen_at, e.first_seen_at) as first_seen_at,
        greatest(o.last_seen_at, e.last_seen_at) as last_seen_at
    from person_merge_rows as e
    inner join core.checkin_person as o on e.person_kind = o.person_kind and e.person_key = o.person_key
    where e.known
) as n
where
    p.person_kind = n.person_kind
    and p.person_key = n.person_key
    and (p.full_name, p.date_of_birth, p.birth_year, p.gender, p.phone, p.first_seen_at, p.last_seen_at)
    is distinct from
    (n.full_name, n.date_of_birth, n.birth_year, n.gender, n.phone, n.first_seen_at, n.last_seen_at);

insert into core.checkin_person (
    person_kind, person_key, identifier, full_name, date_of_birth, birth_year, gender, phone,
    first_seen_at, last_seen_at
)
select
    e.person_kind,
    e.person_key,
    e.identifier,
    e.full_name,
    e.date_of_birth,
    e.birth_year,
    e.gender,
    e.phone,
    e.first_seen_at,
    e.last_seen_at
from person_merge_rows as e
where not e.known
-- byte order (issue 16, e11-checkins): the same order for these ASCII kinds and hex keys as the database's
-- C.UTF-8, sorted with abbreviated keys instead of strcoll (2 s of a first file's 235k persons under load)
order by e.person_kind collate "C", e.person_key collate "C";  -- noqa: RF03

drop table person_merge_rows
