-- The release's changes: one row per person whose row differs from the current release's (the hash of the row
-- differs: changed), who is new (added), or who is no longer published (removed: a tombstone), among every
-- published person when all_persons is true, else among the CCCDs of the candidate rows (publish_candidate) and of
-- the temporary table publish_citizen_scope (the CCCDs the persons in scope held or hold).
-- Without the lists' canonical texts: the versions do not store them (release_store_versions.sql), and a day's
-- Sổ SKĐT texts made this table half as wide again for nothing.
-- Parameters: current_release_id (0 before the first release), all_persons.
with affected as (  -- in citizen_id order: the probes below walk the primary key forwards
    select n.citizen_id from publish_candidate as n
    union
    select sc.citizen_id from publish_citizen_scope as sc
    order by 1
),

previous as (
    select
        v.citizen_id,
        v.person_id,
        v.row_sha256,
        v.card_colour,
        v.f0,
        v.ctid,
        v.line_sha256
    from publish.release_version as v
    where
        %(all_persons)s
        and v.valid_from <= %(current_release_id)s
        and (v.valid_to is null or v.valid_to > %(current_release_id)s)
    union all
    -- a day's few CCCDs: one probe of the primary key each (the version valid at the current release: at most
    -- one), never a read of every version (the planner, with no statistics of a table a first release just
    -- filled, hash-joined every version of the table)
    select
        v.citizen_id,
        v.person_id,
        v.row_sha256,
        v.card_colour,
        v.f0,
        v.ctid,
        v.line_sha256
    from affected as a
    cross join
        lateral (
            select
                x.citizen_id,
                x.person_id,
                x.row_sha256,
                x.card_colour,
                x.f0,
                x.ctid,
                x.line_sha256
            from publish.release_version as x
            where
                x.citizen_id = a.citizen_id
                and x.valid_from <= %(current_release_id)s
                and (x.valid_to is null or x.valid_to > %(current_release_id)s)
            order by x.valid_from desc
            limit 1
        ) as v
    where not %(all_persons)s
)

select
    coalesce(n.citizen_id, o.citizen_id) as citizen_id,
    case when o.citizen_id is null then 'added' when n.citizen_id is null then 'removed' else 'changed' end
        as change,
    coalesce(n.card_colour <> o.card_colour or n.f0 <> o.f0, false) as status_changed,
    coalesce(n.person_id, o.person_id) as person_id,
    n.phone,
    n.doses,
    n.last_dose_on,
    n.last_dose_product,
    n.fully_vaccinated,
    n.card_colour,
    n.latest_test_type,
    n.latest_test_result,
    n.latest_test_sampled_at,
    n.f0,
    n.contact_candidate,
    n.full_name,
    n.date_of_birth,
    n.vaccination_certificate,
    n.sskdt_certificate,
    n.test_history,
    n.recovered_on,
    n.arrival_measure,
    n.arrival_measure_ends_on,
    n.row_sha256,
    n.expires_at,
    n.line_sha256,
    -- the replaced version (none for an added row): where it is, so that the store closes it without finding it
    -- again by its key, and its view lines' hashes, which the day's view hashes subtract (release.py, _day_hashes)
    o.ctid as old_ctid,
    o.line_sha256 as old_line_sha256
from publish_candidate as n
full outer join previous as o on n.citizen_id = o.citizen_id
where n.row_sha256 is distinct from o.row_sha256;
