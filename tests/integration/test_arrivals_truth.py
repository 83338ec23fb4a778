"""The generator's ground truth against the pipeline (issue 24): the arrivals sample's files through the
ingest (registries, facility files, check-ins, declarations), one status build, and every arrival of
truth/arrivals.csv found with its way of being seen, checkpoint, origin and level, destination, category,
measure, days, end and due dates, and the follow-up samples taken; no arrival that the truth does not list."""

from __future__ import annotations

import csv
import datetime as dt

import psycopg2

from covidsync import db, privacy
from covidsync.ingest import checkins, landing, pipeline, registry_arrivals
from covidsync.sample.arrivals import ArrivalsSample
from covidsync.status import build

REGISTRY = (
    "facility_code,name,facility_type,province_code,district_code,commune_code\n"
    "17001,Bệnh viện Đa khoa tỉnh Hòa Bình,provincial_hospital,17,148,04789\n"
)
START, DAYS = dt.date(2021, 11, 1), 2

_ARRIVALS = """
select
    coalesce(p.person_key, k.key) as person_key,
    a.arrived_at, a.seen_by, coalesce(a.checkpoint_venue_code, ''), a.declaration_id,
    a.origin_known, a.origin_level, a.destination_commune_code, a.category, a.measure, a.days, a.ends_on::text,
    coalesce((select string_agg(f.due_on::text, ';' order by f.due_on) from derived.arrival_followup f
              where f.arrival_key = a.arrival_key), ''),
    coalesce((select string_agg(distinct (f.sampled_at at time zone 'Asia/Ho_Chi_Minh')::date::text, ';')
              from derived.arrival_followup f where f.arrival_key = a.arrival_key and f.sampled), '')
from derived.arrival a
cross join lateral (select a.person_key as key) k
left join derived.person p on p.person_key = a.person_key
"""


def _csv(path):
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_every_arrival_of_the_ground_truth_is_found_with_its_measure_and_due_days(
    warehouse_url, areas, monkeypatch
):
    monkeypatch.setenv("COVIDSYNC_GX_DOCS", "0")
    root = areas["landing"].parent
    ArrivalsSample(seed=5, start=START, days=DAYS, facility_code="17001", travellers=16).write(
        areas["landing"], root / "truth"
    )
    (areas["landing"] / "registry" / "facilities.csv").write_text(REGISTRY, encoding="utf-8")
    conn = db.connect(warehouse_url)
    try:
        with conn:
            landing.load_registry(conn)
        registry_arrivals.load_registries(conn)
        for file_id in sorted(landing.register(conn).pending):
            pipeline.process_file(conn, file_id)
        checkins.ingest_landing(conn)
        build.build(conn, build.as_of_for(START + dt.timedelta(days=DAYS - 1)), full=True)
    finally:
        conn.close()
    truth = _csv(root / "truth" / "arrivals.csv")
    assert len(truth) >= 16
    with psycopg2.connect(warehouse_url) as pg, pg.cursor() as cur:
        # the truth's person: its key in clear -> the pseudonym -> the resolved person's key, if any
        cur.execute(
            "select i.identity_key, p.person_key from derived.person_identifier i"
            " join derived.person p using (person_id)"
        )
        resolved = dict(cur.fetchall())
        cur.execute(_ARRIVALS)
        found = {(r[0], r[1]): r[2:] for r in cur.fetchall()}
    expected = {}
    for t in truth:
        key = privacy.pseudonym(t["person_kind"], t["person_identifier"])
        expected[(resolved.get(key, key), dt.datetime.fromisoformat(t["arrived_at"]))] = (
            t["seen"],
            t["venue_code"],
            t["declaration_id"] or None,
            t["origin_known"] == "1",
            int(t["origin_level"]),
            t["destination_commune_code"],
            t["category"],
            t["measure"],
            int(t["days"]),
            t["ends_on"],
            t["due_dates"],
            t["tests_sampled_on"],
        )
    assert set(found) == set(expected)
    wrong = {k: (found[k], v) for k, v in expected.items() if found[k] != v}
    assert not wrong, wrong
