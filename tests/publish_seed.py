"""Hand-made derived data for the publish layer's tests and benchmark (no personal data of anyone real).

:func:`seed` writes ``persons`` synthetic persons into ``derived.person`` (every tenth without a CCCD, so not
published), their doses into ``derived.vaccination_dose`` and their statuses into ``derived.health_status``,
set-based (a province's 850,000 persons in seconds). With ``records=True`` it also writes the core records
behind them, as ingest and identity resolution would leave them: a ``core.vaccination`` row (with its lot
number) per dose and, for every fifth person, the RT-PCR behind the latest test and an older antigen test in
``core.test_result`` with their ``derived.person_record`` rows; what the Sổ SKĐT columns are built from (the
benchmark uses it). :func:`flip_cards` changes some statuses.
"""

from __future__ import annotations

DEFAULT_AS_OF = "2021-11-20T24:00:00+07:00"


def seed(
    conn, persons: int, *, rule_set: str = "hb-2021-11", as_of: str = DEFAULT_AS_OF, records: bool = False
) -> int:
    """Insert ``persons`` persons with doses and statuses; returns how many have a CCCD. Commits."""
    with conn, conn.cursor() as cur:
        cur.execute("select coalesce(max(person_id), 0) from derived.person")
        start = cur.fetchone()[0]
        cur.execute(
            """
            insert into derived.person (person_key, citizen_id, phone, full_name, date_of_birth)
            select
                encode(sha256(convert_to('synthetic-' || g, 'UTF8')), 'hex'),
                case when g %% 10 <> 0 then '0170' || lpad(g::text, 8, '0') end,
                case when g %% 4 <> 0 then '09' || lpad(g::text, 8, '0') end,
                (array['Nguyễn Văn An', 'Trần Thị Bình', 'Lê Hoàng Cường', 'Phạm Thị Dung'])[1 + g %% 4],
                date '1950-01-01' + ((g * 37) %% 20000)::int
            from generate_series(%(start)s + 1, %(start)s + %(n)s) as g
            """,
            {"start": start, "n": persons},
        )
        cur.execute(
            """
            insert into derived.vaccination_dose
                (person_id, dose_number, vaccinated_on, product_code, facility_code, vaccination_id)
            select p.person_id, d, date '2021-08-01' + (p.person_id %% 30)::int + (d - 1) * 28,
                   (array['EU/1/21/1529', 'EU/1/20/1528', 'BBIBP-CorV'])[1 + p.person_id %% 3],
                   '1700' || (p.person_id %% 9 + 1), p.person_id * 10 + d
            from derived.person as p
            cross join generate_series(1, 2) as d
            where p.person_id > %(start)s and (p.person_id %% 3 = 1 or (p.person_id %% 3 = 2 and d = 1))
            """,
            {"start": start},
        )
        cur.execute(
            """
            insert into derived.health_status (
                rule_set, person_id, as_of, doses, last_dose_on, last_dose_product, fully_vaccinated,
                latest_test_type, latest_test_result, latest_test_sampled_at, f0, contact_candidate,
                card_colour
            )
            select %(rule_set)s, p.person_id, %(as_of)s, coalesce(v.doses, 0), v.last_on, vp.name,
                   coalesce(v.doses, 0) >= 2,
                   case when p.person_id %% 5 = 0 then 'RT-PCR' end,
                   case when p.person_id %% 5 = 0 then 'negative' end,
                   case when p.person_id %% 5 = 0 then timestamptz '2021-11-19 08:30:00.25+07' end,
                   false, p.person_id %% 11 = 0,
                   case when coalesce(v.doses, 0) >= 2 then 'green' when v.doses = 1 then 'yellow' else 'red' end
            from derived.person as p
            left join lateral (
                select count(*) as doses, max(vaccinated_on) as last_on,
                       (array_agg(product_code order by dose_number desc))[1] as product
                from derived.vaccination_dose as d where d.person_id = p.person_id
            ) as v on true
            left join core.vaccine_product as vp on v.product = vp.product_code
            where p.person_id > %(start)s
            """,
            {"start": start, "rule_set": rule_set, "as_of": as_of},
        )
        if records:
            _records(cur, start)
        cur.execute(
            "select count(*) from derived.person where person_id > %s and citizen_id is not null", (start,)
        )
        return cur.fetchone()[0]


def _records(cur, start: int) -> None:
    cur.execute(
        """
        insert into ops.facility (facility_code, name, facility_type, province_code, registry_sha256)
        select '1700' || g, 'Synthetic facility ' || g, 'hospital', '17', repeat('0', 64)
        from generate_series(1, 9) as g
        on conflict do nothing
        """
    )
    cur.execute(
        """
        insert into ops.landing_file (sha256, relative_path, original_name, size_bytes, received_at, status)
        values (encode(sha256(convert_to('synthetic-records-' || %s, 'UTF8')), 'hex'), 'synthetic/records.csv',
                'records.csv', 0, now(), 'merged')
        returning file_id
        """,
        (start,),
    )
    file_id = cur.fetchone()[0]
    cur.execute(
        """
        insert into core.vaccination (
            vaccination_id, facility_code, record_key, full_name, date_of_birth, citizen_id, province_code,
            district_code, commune_code, vaccine_code, lot_number, dose_number, vaccinated_on, source_file_id,
            source_row
        ) overriding system value
        select d.vaccination_id, d.facility_code, 'synthetic-' || d.vaccination_id, p.full_name, p.date_of_birth,
               coalesce(p.citizen_id, '000000000000'), '17', '148', '04378', d.product_code,
               'LOT' || (d.vaccinated_on - date '2021-01-01') || '-' || d.dose_number, d.dose_number,
               d.vaccinated_on, %(file_id)s, d.vaccination_id::int
        from derived.vaccination_dose as d inner join derived.person as p using (person_id)
        where d.person_id > %(start)s
        """,
        {"start": start, "file_id": file_id},
    )
    cur.execute(
        """
        with test as (
            insert into core.test_result (
                facility_code, record_key, sample_id, full_name, date_of_birth, citizen_id, province_code,
                district_code, commune_code, test_type, sampled_at, result, resulted_at, source_file_id, source_row
            )
            select '1700' || (p.person_id %% 9 + 1), 'synthetic-' || p.person_id || '-' || k,
                   's' || p.person_id || '-' || k, p.full_name, p.date_of_birth, coalesce(p.citizen_id, '000000000000'),
                   '17', '148', '04378', case k when 1 then 'RT-PCR' else 'antigen' end,
                   case k when 1 then timestamptz '2021-11-19 08:30:00.25+07' else timestamptz '2021-10-20 09:00+07' end,
                   'negative',
                   case k when 1 then timestamptz '2021-11-19 20:00+07' else timestamptz '2021-10-20 10:00+07' end,
                   %(file_id)s, k
            from derived.person as p cross join generate_series(1, 2) as k
            where p.person_id > %(start)s and p.person_id %% 5 = 0
            returning test_result_id, record_key
        )
        insert into derived.person_record (source, record_id, person_id)
        select 'test_result', test_result_id, split_part(record_key, '-', 2)::bigint from test
        """,
        {"start": start, "file_id": file_id},
    )


def flip_cards(conn, *, every: int, offset: int = 0, rule_set: str = "hb-2021-11") -> int:
    """Make persons with ``person_id % every == offset`` F0 with a red card (or undo it); returns the count."""
    with conn, conn.cursor() as cur:
        cur.execute(
            """
            update derived.health_status
            set f0 = not f0,
                card_colour = case when f0 then 'yellow' else 'red' end,
                computed_at = clock_timestamp()
            where rule_set = %s and person_id %% %s = %s
            """,
            (rule_set, every, offset),
        )
        return cur.rowcount


def reset_releases(conn) -> None:
    """Drop every release and stored row (benchmarks: publish a first release again on the same data). Commits."""
    with conn, conn.cursor() as cur:
        cur.execute(
            "truncate publish.release_version, publish.release_override, publish.release_meta, publish.release,"
            " publish.pending_person, publish.pending_citizen"
        )
        cur.execute("update publish.build_state set full_rebuild = true")
