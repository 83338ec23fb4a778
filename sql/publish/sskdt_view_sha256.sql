-- One value: the SHA-256 of publish.sskdt_health_status as a Sổ SKĐT copy holds it (the current release):
-- its canonical lines (every column but release_id and as_of, tab-separated, null as \N; the certificate as
-- dose:on:product:facility_code:lot_number and the test history as type:sampled_at:result:pooled:facility_code,
-- each joined by ';') in citizen_id order, each ending in a newline.
select
    encode(
        sha256(
            convert_to(
                coalesce(
                    string_agg(
                        concat_ws(
                            E'\t',
                            v.citizen_id,
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
                            coalesce(v.full_name, '\N'),
                            coalesce(to_char(v.date_of_birth, 'YYYY-MM-DD'), '\N'),
                            coalesce(
                                (
                                    select
                                        string_agg(
                                            concat_ws(
                                                ':', e.value ->> 'dose', e.value ->> 'on', e.value ->> 'product',
                                                e.value ->> 'facility_code', coalesce(e.value ->> 'lot_number', '\N')
                                            ),
                                            ';' order by (e.value ->> 'dose')::int
                                        )
                                    from jsonb_array_elements(v.vaccination_certificate) as e
                                ),
                                ''
                            ),
                            case
                                when v.test_history = '[]'::jsonb then ''
                                else (
                                    select
                                        string_agg(
                                            concat_ws(
                                                ':', h.value ->> 'type', h.value ->> 'sampled_at', h.value ->> 'result',
                                                h.value ->> 'pooled', h.value ->> 'facility_code'
                                            ),
                                            ';' order by h.n
                                        )
                                    from jsonb_array_elements(v.test_history) with ordinality as h (value, n)
                                )
                            end,
                            coalesce(to_char(v.recovered_on, 'YYYY-MM-DD'), '\N'),
                            coalesce(v.arrival_measure, '\N'),
                            coalesce(to_char(v.arrival_measure_ends_on, 'YYYY-MM-DD'), '\N')
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
from publish.sskdt_health_status as v;
