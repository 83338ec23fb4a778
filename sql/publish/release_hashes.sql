-- The lines of each app's view hash of release release_id, recipe 2 (docs/sync-api.md, "Hashes": the sum modulo
-- 2^256 of the SHA-256 of each row's canonical line: the view's columns but release_id and as_of, tab-separated,
-- null as \N, the lists as their canonical texts, ending in a newline): one row per line with its sign and the
-- SHA-256 of the PC-Covid, VNeID and Sổ SKĐT lines (32 zero bytes without the Sổ SKĐT view), fixed-width, that the
-- caller reads in binary COPY and adds up as numbers (covidsync.publish.release.release_hashes: numpy, no loop).
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

line as (
    select
        v.sign::smallint as sign,
        sha256(convert_to(concat_ws(
            E'\t', v.citizen_id, coalesce(v.phone, '\N'), c.common, v.contact_candidate::text
        ) || E'\n', 'UTF8')) as pccovid,
        sha256(convert_to(concat_ws(
            E'\t', v.citizen_id, c.common, c.person, coalesce(v.certificate_text, '')
        ) || E'\n', 'UTF8')) as vneid,
        case when %(with_sskdt)s then sha256(convert_to(concat_ws(  -- noqa: RF02
            E'\t',
            v.citizen_id,
            c.common,
            c.person,
            coalesce(v.sskdt_certificate_text, ''),
            coalesce(v.test_history_text, ''),
            coalesce(to_char(v.recovered_on, 'YYYY-MM-DD'), '\N'),
            coalesce(v.arrival_measure, '\N'),
            coalesce(to_char(v.arrival_measure_ends_on, 'YYYY-MM-DD'), '\N')
        ) || E'\n', 'UTF8')) else '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea end as sskdt
    from version as v
    cross join
        lateral (  -- noqa: ST05
            select
                concat_ws(
                    E'\t',
                    v.doses::text,
                    coalesce(to_char(v.last_dose_on, 'YYYY-MM-DD'), '\N'),
                    coalesce(v.last_dose_product, '\N'),
                    v.fully_vaccinated::text,
                    v.card_colour,
                    coalesce(v.latest_test_type, '\N'),
                    coalesce(v.latest_test_result, '\N'),
                    coalesce(
                        to_char(v.latest_test_sampled_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), '\N'
                    ),
                    v.f0::text
                ) as common,
                concat_ws(
                    E'\t', coalesce(v.full_name, '\N'), coalesce(to_char(v.date_of_birth, 'YYYY-MM-DD'), '\N')
                ) as person
        ) as c
)

select
    l.sign,
    l.pccovid,
    l.vneid,
    l.sskdt
from line as l;
