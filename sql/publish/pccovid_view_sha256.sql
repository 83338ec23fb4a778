-- One value: the SHA-256 of publish.pccovid_health_status as a PC-Covid copy holds it (the current release):
-- its canonical lines (every column but release_id and as_of, tab-separated, null as \N) in citizen_id
-- order, each ending in a newline. The app computes the same over its copy and acknowledges it.
select
    encode(
        sha256(
            convert_to(
                coalesce(
                    string_agg(
                        concat_ws(
                            E'\t',
                            v.citizen_id,
                            coalesce(v.phone, '\N'),
                            v.doses::text,
                            coalesce(to_char(v.last_dose_on, 'YYYY-MM-DD'), '\N'),
                            coalesce(v.last_dose_product, '\N'),
                            v.fully_vaccinated::text,
                            v.card_colour,
                            coalesce(v.latest_test_type, '\N'),
                            coalesce(v.latest_test_result, '\N'),
                            coalesce(
                                to_char(v.latest_test_sampled_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                                '\N'
                            ),
                            v.f0::text,
                            v.contact_candidate::text
                        ) || E'\n',
                        '' order by v.citizen_id
                    ),
                    ''
                ),
                'UTF8'
            )
        ),
        'hex'
    ) as view_sha256
from publish.pccovid_health_status as v;
