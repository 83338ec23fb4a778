-- The lines of each app's view hash of release release_id, recipe 2 (docs/sync-api.md, "Hashes": the sum modulo
-- 2^256 of the SHA-256 of each row's canonical line: the view's columns but release_id and as_of, tab-separated,
-- null as \N, the lists as their canonical texts, ending in a newline): one row per line with its sign and the
-- SHA-256 of the PC-Covid, VNeID and Sổ SKĐT lines (32 zero bytes without the Sổ SKĐT view), fixed-width, that the
-- caller reads in binary COPY and adds up as numbers (covidsync.publish.release.release_hashes: numpy, no loop).
-- The lines' hashes are those stored with each version (migration 0035: publish.view_line_sha256), so that no
-- line is built or hashed here but for versions stored without them.
-- When all_rows, the lines are those of every row of the release (a first release, or no hash of the previous one
-- to start from); else the lines the release opens (its versions but tombstones) count positive and the lines it
-- closes (the previous versions of the same CCCDs) negative: what it changed, nothing else.
-- Parameters: release_id, all_rows, with_sskdt (false: no Sổ SKĐT hash).
with version as (
    select
        v.*,
        1 as sign
    from publish.release_version as v
    where
        %(all_rows)s
        and v.valid_from <= %(release_id)s
        and (v.valid_to is null or v.valid_to > %(release_id)s)
    union all
    select
        v.*,
        1 as sign
    from publish.release_version as v
    where not %(all_rows)s and v.valid_from = %(release_id)s and v.change <> 'removed'
    union all
    -- the version each changed CCCD had before (none for an added one): by its key, one index probe per CCCD
    select
        o.*,
        -1 as sign
    from publish.release_version as n
    cross join
        lateral (
            select p.*
            from publish.release_version as p
            where p.citizen_id = n.citizen_id and p.valid_from < n.valid_from and p.valid_to = n.valid_from
            order by p.valid_from desc
            limit 1
        ) as o
    where not %(all_rows)s and n.valid_from = %(release_id)s  -- noqa: RF02
),

-- each version's stored line hashes (publish.release_version.line_sha256, from the status build's
-- derived.person_line or computed by the release that stored the version), computed here only where none are
-- stored (a version stored before migration 0035, or without the Sổ SKĐT line when it is wanted)
line as (
    select
        v.sign::smallint as sign,
        case
            when length(v.line_sha256) = 96 or (length(v.line_sha256) = 64 and not %(with_sskdt)s)
                then v.line_sha256
            else publish.view_line_sha256(
                %(with_sskdt)s,
                v.citizen_id,
                v.phone,
                v.doses,
                v.last_dose_on,
                v.last_dose_product,
                v.fully_vaccinated,
                v.card_colour,
                v.latest_test_type,
                v.latest_test_result,
                v.latest_test_sampled_at,
                v.f0,
                v.contact_candidate,
                v.full_name,
                v.date_of_birth,
                v.certificate_text,
                v.sskdt_certificate_text,
                v.test_history_text,
                v.recovered_on,
                v.arrival_measure,
                v.arrival_measure_ends_on
            )
        end as line_hashes
    from version as v
)

select
    l.sign,
    substring(l.line_hashes from 1 for 32) as pccovid,
    substring(l.line_hashes from 33 for 32) as vneid,
    case
        when %(with_sskdt)s then substring(l.line_hashes from 65 for 32)
        else '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea
    end as sskdt
from line as l;
