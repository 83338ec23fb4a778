"""Hand-made arrivals content for the arrivals tests: checkpoint venues, arrival scans, declarations and
risk-level versions inserted straight into core / ref (as the ingest DAGs and registry loaders would leave
them), on top of :class:`status_world.World` (facility records, check-ins, builds)."""

from __future__ import annotations

import datetime as dt

import psycopg2.extras
from status_world import VN, World, at  # noqa: F401  (at: re-exported for the tests)

from covidsync import privacy

HB_COMMUNE = "04789"  # Phường Thái Bình, Hòa Bình city (district 148)
HB_COMMUNE_2 = "04792"  # Phường Tân Hòa (district 148)
HANOI = ("01", "001", "00001")  # Hà Nội, Ba Đình, Phúc Xá


class ArrivalWorld(World):
    def __init__(self, url: str):
        super().__init__(url)
        self._decl = 0

    def checkpoint(self, code: str = "CP01", commune: str = HB_COMMUNE, district: str = "148") -> str:
        self.sql(
            "insert into core.venue (venue_code, name, province_code, district_code, commune_code, venue_type,"
            " source_file_id, source_row) values (%s, %s, '17', %s, %s, 'checkpoint', %s, 1)"
            " on conflict do nothing",
            (code, f"Chốt {code}", district, commune, self.file_id),
        )
        return code

    def scan(self, cid: str, when: dt.datetime, venue: str = "CP01", direction: str = "in", **kw) -> str:
        key = self.checkin("cccd", cid, venue, when, **kw)
        if direction != "in":
            self.sql(
                "update core.checkin set direction = %s where person_key = %s and scanned_at = %s",
                (direction, key, when),
            )
        return key

    def declare(
        self,
        cid: str,
        kind: str = "movement",
        *,
        travel: str | None = None,
        origin: tuple = HANOI,
        destination: str = HB_COMMUNE,
        submitted: dt.datetime | None = None,
        symptoms: bool = False,
        contact: bool = False,
        app: str = "pccovid",
    ) -> str:
        self._decl += 1
        did = f"D{self._decl}"
        key = privacy.pseudonym("cccd", cid)
        prov, dist, comm = (tuple(origin) + (None, None, None))[:3]
        if kind == "health":
            prov = dist = comm = destination = travel = None
        submitted = submitted or (at(travel, "08:00") if travel else at("2021-11-10", "08:00"))
        self.sql(
            """
            insert into core.declaration (app, declaration_id, kind, submitted_at, person_kind, person_key,
                origin_province_code, origin_district_code, origin_commune_code, origin_known,
                destination_commune_code, destination_in_province, travel_date, fever, contact_with_f0,
                symptoms_reported, source_file_id, source_row)
            values (%s, %s, %s, %s, 'cccd', %s, %s, %s, %s, true, %s, %s, %s, %s, %s, %s, %s, %s)
            """,
            (
                app,
                did,
                kind,
                submitted,
                key,
                prov,
                dist,
                comm,
                destination,
                destination is not None and destination.startswith("04"),
                travel,
                symptoms,
                contact,
                symptoms,
                self.file_id,
                self._decl,
            ),
        )
        return did

    def risk_levels(self, rows: list[tuple]) -> int:
        """A loaded risk-level version: rows (area_code, level, effective_from, effective_to or None)."""
        import hashlib

        version = self.sql(
            "insert into ops.registry_version (registry, relative_path, sha256, status, rows_total)"
            " values ('risk_levels', 'registry/risk_levels/t.csv', %s, 'loaded', %s) returning version_id",
            (hashlib.sha256(repr(rows).encode()).hexdigest(), len(rows)),
        )[0][0]
        for n, (area, level, start, end) in enumerate(rows, start=1):
            kind = {2: "province", 3: "district", 5: "commune"}[len(area)]
            self.sql(
                "insert into ref.risk_level (version_id, row_number, area_code, area_kind, level, effective_from,"
                " effective_to, in_force_to) values (%s, %s, %s, %s, %s, %s, %s, %s)",
                (version, n, area, kind, level, start, end, end),
            )
        return version

    def build(self, day: str, *, full: bool = False, rule_set: str | None = None):
        """The status build (arrivals in it), then the commune work lists as their DAG rebuilds them."""
        from covidsync import communes

        result = super().build(day, full=full, rule_set=rule_set)
        communes.refresh_worklists(self.conn, rule_set)
        return result

    def arrivals(self, cid: str | None = None) -> list[dict]:
        where, params = "", ()
        if cid:
            where = (
                " and a.person_key in (select p.person_key from derived.person p where p.citizen_id = %s"
                " union select %s)"
            )
            params = (cid, privacy.pseudonym("cccd", cid))
        with self.conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(
                "select a.*, (select coalesce(json_agg(json_build_object('day', f.test_day, 'due', f.due_on,"
                " 'sampled', f.sampled, 'overdue', f.overdue) order by f.test_day), '[]') from"
                " derived.arrival_followup f where f.arrival_key = a.arrival_key) as followup"
                " from derived.arrival a where a.rule_set = 'hb-2021-11'" + where + " order by a.arrived_at",
                params,
            )
            return [dict(r) for r in cur.fetchall()]

    def snapshot(self) -> dict:
        tables = {
            "arrival": "select * from derived.arrival order by rule_set, arrival_key",
            "followup": "select * from derived.arrival_followup order by rule_set, arrival_key, test_day",
            "worklist": "select * from publish.commune_arrival_row order by rule_set, arrival_key",
        }
        return {name: self.sql(query) for name, query in tables.items()}
