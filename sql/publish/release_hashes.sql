-- Each app's view hash of release release_id, recipe 2 (docs/sync-api.md, "Hashes"): the sum modulo 2^256 of the
-- SHA-256 of each row's canonical line (the view's columns but release_id and as_of, tab-separated, null as \N,
-- the lists as their canonical texts, ending in a newline), returned as the 32 sums of each byte of the lines'
-- hashes (most significant first; bytes: get_byte is the cheapest way from a hash to numbers in SQL) that the
-- caller adds up (covidsync.publish.release.release_hashes), and the change in row count. When all_rows, the
-- lines are those of every row of the release (a first release, or no hash of the previous one to start from); else the lines the release opens (its versions but tombstones) count positive and
-- the lines it closes (the previous versions of the same CCCDs) negative: what it changed, nothing else.
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

line as materialized (  -- each line hashed once, not once per byte below
    select
        v.sign,
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
        ) || E'\n', 'UTF8')) end as sskdt
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

-- a byte's sum is exact (bigint); the caller adds the 32 sums with their carries
select
    coalesce(sum(sign), 0) as row_count,
    array[
        sum(sign * get_byte(pccovid, 0)), sum(sign * get_byte(pccovid, 1)), sum(sign * get_byte(pccovid, 2)), sum(sign * get_byte(pccovid, 3)),
        sum(sign * get_byte(pccovid, 4)), sum(sign * get_byte(pccovid, 5)), sum(sign * get_byte(pccovid, 6)), sum(sign * get_byte(pccovid, 7)),
        sum(sign * get_byte(pccovid, 8)), sum(sign * get_byte(pccovid, 9)), sum(sign * get_byte(pccovid, 10)), sum(sign * get_byte(pccovid, 11)),
        sum(sign * get_byte(pccovid, 12)), sum(sign * get_byte(pccovid, 13)), sum(sign * get_byte(pccovid, 14)), sum(sign * get_byte(pccovid, 15)),
        sum(sign * get_byte(pccovid, 16)), sum(sign * get_byte(pccovid, 17)), sum(sign * get_byte(pccovid, 18)), sum(sign * get_byte(pccovid, 19)),
        sum(sign * get_byte(pccovid, 20)), sum(sign * get_byte(pccovid, 21)), sum(sign * get_byte(pccovid, 22)), sum(sign * get_byte(pccovid, 23)),
        sum(sign * get_byte(pccovid, 24)), sum(sign * get_byte(pccovid, 25)), sum(sign * get_byte(pccovid, 26)), sum(sign * get_byte(pccovid, 27)),
        sum(sign * get_byte(pccovid, 28)), sum(sign * get_byte(pccovid, 29)), sum(sign * get_byte(pccovid, 30)), sum(sign * get_byte(pccovid, 31))
    ] as pccovid,
    array[
        sum(sign * get_byte(vneid, 0)), sum(sign * get_byte(vneid, 1)), sum(sign * get_byte(vneid, 2)), sum(sign * get_byte(vneid, 3)),
        sum(sign * get_byte(vneid, 4)), sum(sign * get_byte(vneid, 5)), sum(sign * get_byte(vneid, 6)), sum(sign * get_byte(vneid, 7)),
        sum(sign * get_byte(vneid, 8)), sum(sign * get_byte(vneid, 9)), sum(sign * get_byte(vneid, 10)), sum(sign * get_byte(vneid, 11)),
        sum(sign * get_byte(vneid, 12)), sum(sign * get_byte(vneid, 13)), sum(sign * get_byte(vneid, 14)), sum(sign * get_byte(vneid, 15)),
        sum(sign * get_byte(vneid, 16)), sum(sign * get_byte(vneid, 17)), sum(sign * get_byte(vneid, 18)), sum(sign * get_byte(vneid, 19)),
        sum(sign * get_byte(vneid, 20)), sum(sign * get_byte(vneid, 21)), sum(sign * get_byte(vneid, 22)), sum(sign * get_byte(vneid, 23)),
        sum(sign * get_byte(vneid, 24)), sum(sign * get_byte(vneid, 25)), sum(sign * get_byte(vneid, 26)), sum(sign * get_byte(vneid, 27)),
        sum(sign * get_byte(vneid, 28)), sum(sign * get_byte(vneid, 29)), sum(sign * get_byte(vneid, 30)), sum(sign * get_byte(vneid, 31))
    ] as vneid,
    array[
        sum(sign * get_byte(sskdt, 0)), sum(sign * get_byte(sskdt, 1)), sum(sign * get_byte(sskdt, 2)), sum(sign * get_byte(sskdt, 3)),
        sum(sign * get_byte(sskdt, 4)), sum(sign * get_byte(sskdt, 5)), sum(sign * get_byte(sskdt, 6)), sum(sign * get_byte(sskdt, 7)),
        sum(sign * get_byte(sskdt, 8)), sum(sign * get_byte(sskdt, 9)), sum(sign * get_byte(sskdt, 10)), sum(sign * get_byte(sskdt, 11)),
        sum(sign * get_byte(sskdt, 12)), sum(sign * get_byte(sskdt, 13)), sum(sign * get_byte(sskdt, 14)), sum(sign * get_byte(sskdt, 15)),
        sum(sign * get_byte(sskdt, 16)), sum(sign * get_byte(sskdt, 17)), sum(sign * get_byte(sskdt, 18)), sum(sign * get_byte(sskdt, 19)),
        sum(sign * get_byte(sskdt, 20)), sum(sign * get_byte(sskdt, 21)), sum(sign * get_byte(sskdt, 22)), sum(sign * get_byte(sskdt, 23)),
        sum(sign * get_byte(sskdt, 24)), sum(sign * get_byte(sskdt, 25)), sum(sign * get_byte(sskdt, 26)), sum(sign * get_byte(sskdt, 27)),
        sum(sign * get_byte(sskdt, 28)), sum(sign * get_byte(sskdt, 29)), sum(sign * get_byte(sskdt, 30)), sum(sign * get_byte(sskdt, 31))
    ] as sskdt
from line;
