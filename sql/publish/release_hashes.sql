-- One row for the release release_id, from its stored versions: its row count, its content hash (SHA-256 of
-- `citizen_id<TAB>row_sha256` lines) and the hash of each app's view as the app's copy holds it (contract
-- docs/sync-api.md, "Hashes": the view's columns but release_id and as_of, tab-separated, null as \N, the lists
-- as their canonical texts, in citizen_id order, each line ending in a newline). One pass over the snapshot:
-- the rows come sorted by citizen_id from the subquery and each string_agg takes them in that order (a sorted
-- subquery feeding an aggregate; the hashes are checked against the apps' own recipe by the tests).
-- Parameters: release_id, with_sskdt (false: no Sổ SKĐT hash).
select
    count(*) as row_count,
    encode(sha256(convert_to(coalesce(string_agg(s.content_line, ''), ''), 'UTF8')), 'hex') as content_sha256,
    encode(sha256(convert_to(coalesce(string_agg(s.pccovid_line, ''), ''), 'UTF8')), 'hex') as pccovid_sha256,
    encode(sha256(convert_to(coalesce(string_agg(s.vneid_line, ''), ''), 'UTF8')), 'hex') as vneid_sha256,
    encode(
        sha256(convert_to(coalesce(string_agg(s.sskdt_line, '') filter (where %(with_sskdt)s), ''), 'UTF8')), 'hex'
    ) as sskdt_sha256
from (
    select
        v.citizen_id,
        v.citizen_id || E'\t' || v.row_sha256 || E'\n' as content_line,
        concat_ws(
            E'\t', v.citizen_id, coalesce(v.phone, '\N'), c.common, v.contact_candidate::text
        ) || E'\n' as pccovid_line,
        concat_ws(
            E'\t', v.citizen_id, c.common, c.person, coalesce(v.certificate_text, '')
        ) || E'\n' as vneid_line,
        concat_ws(
            E'\t',
            v.citizen_id,
            c.common,
            c.person,
            coalesce(v.sskdt_certificate_text, ''),
            coalesce(v.test_history_text, ''),
            coalesce(to_char(v.recovered_on, 'YYYY-MM-DD'), '\N'),
            coalesce(v.arrival_measure, '\N'),
            coalesce(to_char(v.arrival_measure_ends_on, 'YYYY-MM-DD'), '\N')
        ) || E'\n' as sskdt_line
    from publish.release_version as v
    cross join
        lateral (
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
    where
        v.valid_from <= %(release_id)s
        and (v.valid_to is null or v.valid_to > %(release_id)s)
    order by v.citizen_id
) as s;
