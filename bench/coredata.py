"""Core data for the tracing benchmark, written set-based straight into ``core`` (seconds for millions of rows).

One local day of ``checkins`` check-ins by ``persons`` synthetic persons (each scanned by the CCCD on their
card: ``person_kind`` cccd, the pseudonym computed in SQL as the ingest computes it), at ``venues`` venues,
at uniformly random times between 06:00 and 22:00; ``core.checkin_person`` for every person scanned (as the
check-in ingest leaves it); and ``f0s`` positive individual RT-PCR results in ``core.test_result`` for as
many of those persons, sampled the next morning: with a status build as of the end of the next day they
are the F0s whose window covers the whole day of scans, and the only ones (no other test exists).

:mod:`covidsync.status.synthetic` is the realistic generator (late files, shared phones, corrections) and
the status group uses it; its check-ins are written a row at a time with per-identity statements, too slow
for the millions of check-ins of the tracing target, hence this. Names, CCCDs and phones are made up.
"""

from __future__ import annotations

import datetime as dt

from covidsync import privacy

DAY = dt.date(2021, 11, 15)
F0S = 1_000

_PERSONS = """
create temp table bench_person on commit drop as
select
    g as n,
    c.cccd,
    {pseudonym} as person_key,
    (array['Nguyễn Văn An', 'Trần Thị Bình', 'Lê Hoàng Cường', 'Phạm Thị Dung', 'Bùi Văn Em'])[1 + g %% 5]
        as full_name,
    date '1950-01-01' + ((g * 37) %% 25000)::int as date_of_birth,
    case when g %% 2 = 0 then 'male' else 'female' end as gender,
    '09' || lpad(g::text, 8, '0') as phone
from generate_series(1, %(persons)s) as g
cross join lateral (select '0170' || lpad(g::text, 8, '0') as cccd) as c;
create unique index on bench_person (n);
analyze bench_person;
"""

_CHECKINS = """
insert into core.checkin (
    checkin_id, local_day, venue_code, scanned_at, direction, mode, person_kind, person_key, source_file_id,
    source_row
)
select 'BENCH' || s.g, %(day)s::date, 'HB' || lpad(s.v::text, 6, '0'), s.at, 'in', 'operator_scan', 'cccd',
       p.person_key, %(file_id)s, s.g
from (
    select
        g,
        1 + floor(random() * %(persons)s)::bigint as n,
        floor(random() * %(venues)s)::int as v,
        (%(day)s::date + time '06:00' + random() * interval '16 hours') at time zone 'Asia/Ho_Chi_Minh' as at
    from generate_series(1, %(checkins)s) as g
) as s
inner join bench_person as p on s.n = p.n
"""

_CHECKIN_PERSONS = """
insert into core.checkin_person (
    person_kind, person_key, identifier, full_name, date_of_birth, gender, phone, first_seen_at, last_seen_at
)
select 'cccd', p.person_key, p.cccd, p.full_name, p.date_of_birth, p.gender, p.phone, c.first_at, c.last_at
from (
    select person_key, min(scanned_at) as first_at, max(scanned_at) as last_at
    from core.checkin where local_day = %(day)s::date group by person_key
) as c
inner join bench_person as p on c.person_key = p.person_key
"""

# the F0s: every (persons / f0s)-th person, so they are spread over the population; one who was not scanned
# that day (about e^-5 of them) is replaced by the next person who was
_F0_TESTS = """
insert into core.test_result (
    facility_code, record_key, sample_id, full_name, date_of_birth, gender, citizen_id, phone, province_code,
    district_code, commune_code, test_type, pooled, sampled_at, result, resulted_at, source_file_id,
    source_row
)
select %(facility)s, 'bench-f0-' || p.n, 'bench-s-' || p.n, p.full_name, p.date_of_birth, p.gender, p.cccd,
       p.phone, %(province)s, %(district)s, %(commune)s, 'RT-PCR', false,
       (%(day)s::date + 1 + time '07:00') at time zone 'Asia/Ho_Chi_Minh',
       'positive',
       (%(day)s::date + 1 + time '15:00') at time zone 'Asia/Ho_Chi_Minh',
       %(file_id)s, row_number() over (order by p.n)
from bench_person as p
where exists (select 1 from core.checkin_person as c where c.person_kind = 'cccd' and c.person_key = p.person_key)
order by p.n %% greatest(1, %(persons)s / %(f0s)s), p.n
limit %(f0s)s
"""


def _landing_file(cur, dataset: str, day: dt.date) -> int:
    cur.execute(
        "insert into ops.landing_file (sha256, relative_path, original_name, size_bytes, received_at, status,"
        " dataset) values (encode(sha256(convert_to(%s, 'UTF8')), 'hex'), %s, %s, 1, %s, 'merged', %s)"
        " returning file_id",
        (f"bench-{dataset}-{day}", f"bench/{dataset}-{day}.csv", f"{dataset}-{day}.csv", day, dataset),
    )
    return cur.fetchone()[0]


def load_checkin_day(
    conn, checkins: int, *, persons: int, venues: int, f0s: int = F0S, day: dt.date = DAY, seed: int = 1
) -> dict:
    """Write the day (one transaction, then ``analyze``); returns counts, never rows."""
    from covidsync.sample.population import make_facilities

    facility = next(f for f in make_facilities(seed, 8) if "test_results" in f.datasets)
    params = privacy.sql_params() | {
        "day": day,
        "persons": persons,
        "venues": venues,
        "checkins": checkins,
        "f0s": f0s,
        "facility": facility.code,
        "province": facility.province_code,
        "district": facility.district_code,
        "commune": facility.commune_code,
    }
    with conn, conn.cursor() as cur:
        cur.execute(
            "insert into ops.facility (facility_code, name, facility_type, province_code, district_code,"
            " commune_code, registry_sha256) values (%s, %s, %s, %s, %s, %s, %s) on conflict do nothing",
            (
                facility.code,
                facility.name,
                facility.facility_type,
                facility.province_code,
                facility.district_code,
                facility.commune_code,
                "0" * 64,
            ),
        )
        cur.execute(_PERSONS.format(pseudonym=privacy.sql_pseudonym("'cccd'", "c.cccd")), params)
        cur.execute("select core.ensure_checkin_partition(%s)", (day,))
        cur.execute("select setseed(%s)", (1 / (seed + 1),))
        cur.execute(_CHECKINS, params | {"file_id": _landing_file(cur, "checkins", day)})
        loaded = cur.rowcount
        cur.execute(_CHECKIN_PERSONS, params)
        scanned = cur.rowcount
        cur.execute(_F0_TESTS, params | {"file_id": _landing_file(cur, "test_results", day)})
        positives = cur.rowcount
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("analyze core.checkin; analyze core.checkin_person; analyze core.test_result")
    finally:
        conn.autocommit = False
    return {"checkins": loaded, "persons_scanned": scanned, "f0_tests": positives}


def export_checkins(conn, path, day: dt.date = DAY) -> int:
    """The day's rows of ``core.checkin``, every column, as CSV with a header (the COPY baseline's input)."""
    with conn.cursor() as cur, open(path, "w", encoding="utf-8", newline="") as fh:
        cur.copy_expert(
            f"copy (select * from core.checkin where local_day = date '{day.isoformat()}')"
            " to stdout with (format csv, header true)",
            fh,
        )
        rows = cur.rowcount
    conn.rollback()
    return rows
