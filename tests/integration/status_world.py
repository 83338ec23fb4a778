"""Hand-made warehouse content for the health-status tests: facility records, check-ins and QR links
inserted straight into core (as the ingest DAGs would leave them), then a build, then the status read back.
"""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import psycopg2
import psycopg2.extras

from covidsync import privacy
from covidsync.status import build

VN = ZoneInfo("Asia/Ho_Chi_Minh")
PRODUCTS = {
    "AZ": "EU/1/21/1529",
    "Pfizer": "EU/1/20/1528",
    "Moderna": "EU/1/20/1507",
    "Janssen": "EU/1/20/1525",
    "Abdala": "Abdala",
    "VeroCell": "BBIBP-CorV",
}


def at(day: str, hm: str = "09:00") -> dt.datetime:
    """A local time: ``at("2021-11-10", "09:30")``."""
    return dt.datetime.fromisoformat(f"{day}T{hm}").replace(tzinfo=VN)


class World:
    def __init__(self, url: str):
        self.url = url
        self.conn = psycopg2.connect(url)
        self.conn.autocommit = True
        self._seq = itertools.count(1)
        with self.conn.cursor() as cur:
            for code in ("17001", "17002"):
                cur.execute(
                    "insert into ops.facility (facility_code, name, facility_type, province_code, registry_sha256)"
                    " values (%s, %s, 'hospital', '17', %s) on conflict do nothing",
                    (code, f"facility {code}", "0" * 64),
                )
            cur.execute(
                "insert into ops.landing_file (sha256, relative_path, original_name, size_bytes, received_at,"
                " status) values (%s, 'test/file.csv', 'file.csv', 1, now(), 'merged') returning file_id",
                ("a" * 64,),
            )
            self.file_id = cur.fetchone()[0]

    def close(self):
        self.conn.close()

    def sql(self, query: str, params=None) -> list[tuple]:
        with self.conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall() if cur.description else []

    def vacc(
        self,
        cid: str,
        dose: int,
        product: str,
        on: str,
        *,
        name: str = "Nguyễn Văn An",
        dob: str = "1980-01-01",
        phone: str | None = None,
        facility: str = "17001",
    ) -> int:
        n = next(self._seq)
        return self.sql(
            """
            insert into core.vaccination (facility_code, record_key, full_name, date_of_birth, citizen_id, phone,
                province_code, district_code, commune_code, vaccine_code, lot_number, dose_number, vaccinated_on,
                source_file_id, source_row)
            values (%s, %s, %s, %s, %s, %s, '17', '148', '04687', %s, 'LOT1', %s, %s, %s, %s)
            returning vaccination_id
            """,
            (
                facility,
                f"r{n}",
                name,
                dob,
                cid,
                phone,
                PRODUCTS.get(product, product),
                dose,
                on,
                self.file_id,
                n,
            ),
        )[0][0]

    def test(
        self,
        cid: str,
        test_type: str,
        result: str,
        sampled: dt.datetime,
        *,
        resulted: dt.datetime | None = None,
        pooled: bool = False,
        name: str = "Nguyễn Văn An",
        dob: str = "1980-01-01",
        phone: str | None = None,
        facility: str = "17001",
    ) -> int:
        n = next(self._seq)
        return self.sql(
            """
            insert into core.test_result (facility_code, record_key, sample_id, full_name, date_of_birth, citizen_id,
                phone, province_code, district_code, commune_code, test_type, pooled, sampled_at, result,
                resulted_at, source_file_id, source_row)
            values (%s, %s, %s, %s, %s, %s, %s, '17', '148', '04687', %s, %s, %s, %s, %s, %s, %s)
            returning test_result_id
            """,
            (
                facility,
                f"t{n}",
                f"S{n}",
                name,
                dob,
                cid,
                phone,
                test_type,
                pooled,
                sampled,
                result,
                resulted or sampled + dt.timedelta(hours=6),
                self.file_id,
                n,
            ),
        )[0][0]

    def checkin(
        self,
        kind: str,
        value: str,
        venue: str,
        when: dt.datetime,
        *,
        name: str | None = None,
        dob: str | None = None,
        phone: str | None = None,
    ) -> str:
        key = privacy.pseudonym(kind, value)
        n = next(self._seq)
        day = when.astimezone(VN).date()
        self.sql("select core.ensure_checkin_partition(%s)", (day,))
        self.sql(
            """
            insert into core.checkin (checkin_id, local_day, venue_code, scanned_at, person_kind, person_key,
                source_file_id, source_row) values (%s, %s, %s, %s, %s, %s, %s, %s)
            """,
            (f"c{n}", day, venue, when, kind, key, self.file_id, n),
        )
        self.sql(
            """
            insert into core.checkin_person (person_kind, person_key, identifier, full_name, date_of_birth, phone,
                first_seen_at, last_seen_at) values (%s, %s, %s, %s, %s, %s, %s, %s)
            on conflict (person_kind, person_key) do update set
                last_seen_at = greatest(core.checkin_person.last_seen_at, excluded.last_seen_at)
            """,
            (kind, key, value, name, dob, phone, when, when),
        )
        return key

    def link(self, cccd: str, kind: str, value: str, source: str = "cccd_qr") -> None:
        self.sql(
            "insert into core.identity_link (citizen_id, other_kind, other_value, source, first_seen_file_id)"
            " values (%s, %s, %s, %s, %s) on conflict do nothing",
            (cccd, kind, value, source, self.file_id),
        )

    def build(self, day: str, *, full: bool = False, rule_set: str | None = None) -> build.BuildResult:
        conn = psycopg2.connect(self.url)
        try:
            return build.build(conn, build.as_of_for(dt.date.fromisoformat(day)), rule_set, full=full)
        finally:
            conn.close()

    def person_id(self, kind: str, value: str) -> int | None:
        rows = self.sql(
            "select person_id from derived.person_identifier where kind = %s and value = %s", (kind, value)
        )
        return rows[0][0] if rows else None

    def status(self, cid: str, kind: str | None = None) -> dict:
        kind = kind or ("cccd" if len(cid) == 12 else "cmnd")
        with self.conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(
                """
                select h.* from derived.health_status h
                join derived.person_identifier i using (person_id)
                where i.kind = %s and i.value = %s and h.rule_set = 'hb-2021-11'
                """,
                (kind, cid),
            )
            rows = cur.fetchall()
        assert len(rows) == 1, f"{kind} {cid}: {len(rows)} status rows"
        return dict(rows[0])
