"""Sample data for arrivals into the province (issue 24, contract arrivals.md), with its ground truth.

``ArrivalsSample(...).write(landing, truth)`` lays out, next to the generator's landing zone:

* ``pccovid/venues/chot_kiem_dich.csv``: the district checkpoints (``venue_type`` ``checkpoint``);
* ``pccovid/checkins/chot_kiem_dich_<day>.csv``: their arrival scans (some travellers scanned twice at two
  checkpoints within a few hours: one journey);
* ``pccovid/declarations/``: movement and health declarations of PC-Covid (CSV) and Sổ SKĐT (JSONL), proxy
  declarations (khai hộ), symptoms and contacts; travellers who scan and declare, scan only, declare only;
  a Hòa Bình origin, a destination outside the province, and (unless ``clean``) rows with the new codes;
* ``<facility>/vaccinations/`` and ``<facility>/test_results/``: the travellers' doses, an F0 episode of some
  (recovered ~90 days before arrival, or ~250), and their follow-up tests around the due days;
* ``registry/risk_levels/``: a level history for a few dozen origin areas (provinces, districts, communes)
  with a change mid-period, and (unless ``clean``) a file rejected whole (``invalid_risk_level``,
  ``overlapping_risk_level``) before its corrected version; ``registry/arrival_measures.csv``: the default.

Ground truth in ``truth/``: ``arrivals.csv`` (each arrival with its origin level, category, measure, days,
ends_on and due dates; the format is in ``docs/arrivals-inputs.md``), ``arrivals_files.csv``,
``arrivals_manifest.csv`` (every expected row problem of these files), ``risk_levels.csv`` and
``declaration_flags.csv``. Travellers are people of their own (CCCDs in a number range the population never
uses), so the doses and tests that decide their category are all here. Same seed → same bytes.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

from covidsync.sample import knowledge as K
from covidsync.sample.render import TEST_COLUMNS

HOA_BINH = "17"
NOON = dt.time(12, 0)
DEFAULT_MATRIX = {
    4: (
        ("home_quarantine", 7, (7,)),
        ("home_quarantine", 7, (1, 7)),
        ("concentrated_quarantine", 14, (1, 7, 14)),
    ),
    3: (("self_monitoring", 14, (7,)), ("home_quarantine", 7, (1, 7)), ("home_quarantine", 14, (1, 7, 14))),
    2: (("self_monitoring", 14, ()), ("self_monitoring", 14, ()), ("self_monitoring", 14, (1,))),
    1: (("self_monitoring", 14, ()), ("self_monitoring", 14, ()), ("self_monitoring", 14, ())),
}
CATEGORIES = ("recovered", "fully_vaccinated", "not_fully_vaccinated")
ARRIVAL_COLUMNS = (
    "person_kind",
    "person_identifier",
    "arrived_at",
    "seen",
    "venue_code",
    "declaration_app",
    "declaration_id",
    "origin_province_code",
    "origin_district_code",
    "origin_commune_code",
    "origin_known",
    "origin_level",
    "destination_commune_code",
    "category",
    "measure",
    "days",
    "ends_on",
    "due_dates",
    "tests_sampled_on",
)
DECLARATION_COLUMNS = (
    "declaration_id",
    "kind",
    "app",
    "submitted_at",
    "citizen_id",
    "phone",
    "full_name",
    "date_of_birth",
    "gender",
    "declared_by",
    "origin_province_code",
    "origin_district_code",
    "origin_commune_code",
    "destination_commune_code",
    "travel_date",
    "means",
    "fever",
    "cough",
    "shortness_of_breath",
    "sore_throat",
    "loss_of_taste_or_smell",
    "contact_with_f0",
    "visited_outbreak_area",
)


def _local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=K.VN)


def _national():
    from covidsync.domain import national

    return national.provinces(), national.districts(), national.communes()


@dataclass
class Traveller:
    index: int
    cccd: str | None
    phone: str
    full_name: str
    gender: str
    dob: dt.date
    home_commune: str  # a Hòa Bình commune: the destination
    doses: list[dt.date] = field(default_factory=list)  # AstraZeneca, 2 doses make the primary series
    f0_on: dt.date | None = None  # a positive RT-PCR (no test after it: recovered 14 days later)
    tests: list[dt.datetime] = field(default_factory=list)  # follow-up samples (negative)

    @property
    def key(self) -> tuple[str, str]:
        return ("cccd", self.cccd) if self.cccd else ("phone", self.phone)


@dataclass
class ArrivalsSample:
    seed: int
    start: dt.date
    days: int
    facility_code: str  # a registered facility that sends the travellers' vaccinations and tests
    travellers: int = 40
    clean: bool = False
    files: list[tuple] = field(default_factory=list)
    manifest: list[tuple] = field(default_factory=list)

    # -- the plan ----------------------------------------------------------------------------------------
    def _rng(self, label: str) -> random.Random:
        return random.Random(f"{self.seed}:arrivals:{label}")

    @property
    def change_day(self) -> dt.date:
        """The day the second risk-level file takes effect (mid-period)."""
        return self.start + dt.timedelta(days=max(1, self.days // 2))

    def risk_levels(self) -> list[list[tuple]]:
        """The accepted files' rows (area_code, level, effective_from, effective_to, source), in order."""
        rng = self._rng("levels")
        provinces, districts, communes = _national()
        others = sorted(p for p in provinces if p != HOA_BINH)
        chosen = rng.sample(others, 30)
        first_from = self.start - dt.timedelta(days=7)
        week1 = [(p, rng.choice((1, 1, 2, 2, 3, 4)), first_from, None, "Bộ Y tế, tuần 1") for p in chosen]
        week1[0] = (chosen[0], 4, first_from, None, "Bộ Y tế, tuần 1")  # red, then green mid-period
        # a few districts and communes more specific than their province
        for p in chosen[:3]:
            d = sorted(code for code, (prov, _n) in districts.items() if prov == p)[0]
            week1.append((d, 4, first_from, None, "BCĐ tỉnh, tuần 1"))
            c = sorted(code for code, (dist, _n) in communes.items() if dist == d)
            if c:
                week1.append((c[0], 3, first_from, None, "BCĐ tỉnh, tuần 1"))
        # mid-period: eight provinces change level (at least one up from 1 to 4: a clear change of measure)
        week2 = [(chosen[0], 1, self.change_day, None, "Bộ Y tế, tuần 2")]
        for p in chosen[1:8]:
            old = next(r[1] for r in week1 if r[0] == p)
            week2.append((p, 4 if old < 3 else 1, self.change_day, None, "Bộ Y tế, tuần 2"))
        return [week1, week2]

    def level_on(
        self, province: str, district: str | None, commune: str | None, day: dt.date
    ) -> tuple[int, bool]:
        """(level, origin_known) as contract §1.3 says, from the accepted files (later files win)."""
        provinces, districts, communes = _national()
        known = province in provinces
        if district:
            known = known and districts.get(district, ("", ""))[0] == province
        if commune:
            known = known and commune in communes and districts[communes[commune][0]][0] == province
            if district:
                known = known and communes[commune][0] == district
        if not known:
            return 2, False
        files = self.risk_levels()
        for area in (commune, district, province):
            found = [
                (version, level)
                for version, rows in enumerate(files)
                for code, level, start, end, _source in rows
                if area and code == area and start <= day and (end is None or day <= end)
            ]
            if found:
                return max(found)[1], True  # the latest file covering the day
        return 1, True

    # -- writing -----------------------------------------------------------------------------------------
    def write(self, landing: Path, truth: Path) -> dict:
        rng = self._rng("people")
        _districts, hb_communes = K.admin_units()
        hb = sorted(hb_communes)
        checkpoints = [(f"CK{i:05d}", f"Chốt kiểm dịch số {i}", hb[(i * 37) % len(hb)]) for i in range(1, 5)]
        provinces, districts, communes = _national()
        levels = self.risk_levels()
        origins = sorted({r[0] for r in levels[0] if len(r[0]) == 2})
        people = [self._traveller(rng, i, hb) for i in range(self.travellers)]
        scans: list[tuple] = []  # (day, checkin_id, venue, time, key-values)
        declarations: list[dict] = []
        arrivals: list[dict] = []
        flags: list[tuple] = []
        end = self.start + dt.timedelta(days=self.days - 1)
        for t in people:
            mode = ("both", "both", "scan", "declaration")[t.index % 4]
            # travels twice, before and after the level change (days apart: two journeys)
            journeys = 2 if t.index % 10 == 3 and self.days >= 2 else 1
            for j in range(journeys):
                if journeys == 2:
                    day = self.start if j == 0 else end
                    province = levels[1][0][0]  # the province whose level changes
                else:
                    day = self.start + dt.timedelta(days=rng.randrange(self.days))
                    province = rng.choice(origins)
                district = commune = None
                if journeys == 1 and rng.random() < 0.4:
                    district = rng.choice(sorted(d for d, (p, _n) in districts.items() if p == province))
                    in_district = sorted(c for c, (d, _n) in communes.items() if d == district)
                    if in_district and rng.random() < 0.5:
                        commune = rng.choice(in_district)
                arrival = {"traveller": t, "mode": mode, "day": day}
                scanned_at = None
                if mode in ("both", "scan"):
                    venue = checkpoints[rng.randrange(len(checkpoints))]
                    scanned_at = _local(day, rng.randrange(6, 21), rng.randrange(60))
                    scans.append((day, f"CK{t.index:04d}{j}", venue[0], scanned_at, t))
                    if t.index % 7 == 0:  # scanned again at a second checkpoint two hours later: one journey
                        scans.append(
                            (
                                day,
                                f"CK{t.index:04d}{j}b",
                                checkpoints[-1][0],
                                scanned_at + dt.timedelta(hours=2),
                                t,
                            )
                        )
                    arrival.update(venue=venue[0], at=scanned_at, destination=venue[2])
                if mode in ("both", "declaration"):
                    travel = day - dt.timedelta(days=1) if (mode == "both" and t.index % 3 == 0) else day
                    app = "sskdt" if t.index % 5 == 0 else "pccovid"
                    decl_id = f"{'SK' if app == 'sskdt' else 'PC'}{t.index:05d}{j}"
                    declarations.append(
                        self._declaration(
                            rng,
                            t,
                            decl_id,
                            "movement",
                            app,
                            _local(travel, 7),
                            province,
                            district,
                            commune,
                            t.home_commune,
                            travel,
                        )
                    )
                    arrival.update(app=app, declaration_id=decl_id, destination=t.home_commune)
                    if scanned_at is None:
                        arrival["at"] = dt.datetime.combine(travel, NOON, tzinfo=K.VN)
                        arrival["venue"] = ""
                    level, known = self.level_on(province, district, commune, travel)
                    arrival.update(origin=(province, district or "", commune or ""), level=level, known=known)
                else:
                    arrival.update(app="", declaration_id="", origin=("", "", ""), level=2, known=False)
                arrivals.append(arrival)
            if t.index % 3 == 1:  # a health declaration on arrival, some with symptoms or a contact
                fever = t.index % 6 == 1
                contact = t.index % 9 == 4
                decl_id = f"HD{t.index:05d}"
                row = self._declaration(
                    rng, t, decl_id, "health", "pccovid", _local(self.start, 9), None, None, None, None, None
                )
                row.update(fever="Có" if fever else "Không", contact_with_f0="Có" if contact else "Không")
                if t.index % 4 == 1:
                    row["declared_by"] = "proxy"
                declarations.append(row)
                flags.append((*t.key, self.start.isoformat(), int(fever), int(contact)))
        # not arrivals: a Hòa Bình origin, a destination outside the province (warning)
        extra = self._traveller(rng, self.travellers, hb)  # people of their own: nothing else of theirs joins
        odd = self._traveller(rng, self.travellers + 1, hb)
        odd.doses = []
        odd.f0_on = None
        declarations.append(
            self._declaration(
                rng,
                extra,
                "PCX0001",
                "movement",
                "pccovid",
                _local(self.start, 8),
                HOA_BINH,
                None,
                None,
                extra.home_commune,
                self.start,
            )
        )
        declarations.append(
            self._declaration(
                rng,
                extra,
                "PCX0002",
                "movement",
                "pccovid",
                _local(self.start, 8),
                "01",
                None,
                None,
                "00004",
                self.start,
            )
        )
        defects: list[tuple[dict, str, str]] = [
            (declarations[-1], "destination_commune_code", "destination_outside_province")
        ]
        if not self.clean:
            bad = self._declaration(
                rng,
                extra,
                "PCX0003",
                "travel",
                "pccovid",
                _local(self.start, 8),
                "01",
                None,
                None,
                extra.home_commune,
                self.start,
            )
            declarations.append(bad)
            defects.append((bad, "kind", "invalid_declaration_kind"))
            unknown = self._declaration(
                rng,
                odd,
                "PCX0004",
                "movement",
                "pccovid",
                _local(self.start, 8),
                "01",
                "148",
                None,
                odd.home_commune,
                self.start,
            )
            declarations.append(unknown)
            defects.append((unknown, "origin_province_code", "unknown_origin_area"))
            arrivals.append(
                {
                    "traveller": odd,
                    "mode": "declaration",
                    "day": self.start,
                    "venue": "",
                    "at": dt.datetime.combine(self.start, NOON, tzinfo=K.VN),
                    "app": "pccovid",
                    "declaration_id": "PCX0004",
                    "origin": ("01", "148", ""),
                    "level": 2,
                    "known": False,
                    "destination": odd.home_commune,
                }
            )
        arrivals = self._merge_journeys(arrivals)
        self._plan_tests(rng, arrivals, end)
        self._write_registry(landing, levels)
        self._write_pccovid(landing, checkpoints, scans, declarations, defects)
        self._write_facility(landing, [*people, extra, odd])
        self._write_truth(truth, arrivals, levels, flags)
        return {
            "travellers": len(people),
            "arrivals": len(arrivals),
            "declarations": len(declarations),
            "scans": len(scans),
            "files": len(self.files),
        }

    def _traveller(self, rng: random.Random, i: int, hb: list[str]) -> Traveller:
        gender = rng.choice(("male", "female"))
        year = rng.randrange(1950, 2004)
        dob = dt.date(year, rng.randrange(1, 13), rng.randrange(1, 29))
        given = rng.choice(K.GIVEN_MALE if gender == "male" else K.GIVEN_FEMALE)
        middle = rng.choice(K.MIDDLE_MALE if gender == "male" else K.MIDDLE_FEMALE)
        family = rng.choice([n for n, _w in K.FAMILY_NAMES])
        digit = 2 * ((year - 1900) // 100) + (gender == "female")
        province = rng.choice(K.PROVINCE_CODES)
        cccd = None if i % 11 == 10 else f"0{province}{digit}{year % 100:02d}99{i:04d}"
        t = Traveller(
            i,
            cccd,
            f"09{(self.seed * 7919 + i * 104729) % 10**8:08d}",
            f"{family} {middle} {given}",
            gender,
            dob,
            hb[rng.randrange(len(hb))],
        )
        if cccd:
            kind = (
                i // 4
            ) % 4  # 0: two doses long ago, 1: two, the second 5 days before, 2: one dose, 3: none
            if kind in (0, 1, 2):
                second = self.start - dt.timedelta(days=60 if kind != 1 else 5)
                t.doses = [second - dt.timedelta(days=56), second] if kind != 2 else [second]
            if i % 6 == 5:
                t.f0_on = self.start - dt.timedelta(days=104 if i % 12 == 5 else 264)
        return t

    def _declaration(
        self, rng, t: Traveller, decl_id, kind, app, submitted, province, district, commune, dest, travel
    ) -> dict:
        row = {
            "declaration_id": decl_id,
            "kind": kind,
            "app": app,
            "submitted_at": submitted,
            "citizen_id": t.cccd or "",
            "phone": t.phone,
            "full_name": t.full_name,
            "date_of_birth": t.dob.strftime("%d/%m/%Y"),
            "gender": "Nam" if t.gender == "male" else "Nữ",
            "declared_by": "self",
            "origin_province_code": province or "",
            "origin_district_code": district or "",
            "origin_commune_code": commune or "",
            "destination_commune_code": dest or "",
            "travel_date": travel.strftime("%d/%m/%Y") if travel else "",
            "means": rng.choice(("đường bộ", "road", "rail", "đường sắt", "khác"))
            if kind == "movement"
            else "",
            "fever": "Không",
            "cough": "Không",
            "shortness_of_breath": "Không",
            "sore_throat": "Không",
            "loss_of_taste_or_smell": "Không",
            "contact_with_f0": "Không",
            "visited_outbreak_area": "Có" if kind == "movement" and rng.random() < 0.2 else "Không",
        }
        return row

    @staticmethod
    def _merge_journeys(arrivals: list[dict]) -> list[dict]:
        """Arrivals in time order. Each was planned as one journey already: a second scan two hours after the
        first is written as a scan only (the first times the arrival), a declaration of the day before joins."""
        return sorted(arrivals, key=lambda a: (a["at"], a["traveller"].index))

    def _category(self, t: Traveller, at: dt.datetime) -> str:
        if t.f0_on is not None:
            recovered = t.f0_on + dt.timedelta(days=14)
            if (at.date() - recovered).days <= 180:
                return "recovered"
        if len(t.doses) >= 2 and (at - _local(t.doses[1], 0)) >= dt.timedelta(days=14):
            return "fully_vaccinated"
        return "not_fully_vaccinated"

    def _plan_tests(self, rng: random.Random, arrivals: list[dict], end: dt.date) -> None:
        """Measure, due dates and the follow-up samples (on the due day, the day after, or none)."""
        for a in arrivals:
            t = a["traveller"]
            a["category"] = self._category(t, a["at"])
            measure, days, test_days = DEFAULT_MATRIX[a["level"]][CATEGORIES.index(a["category"])]
            day = a["at"].date()
            a.update(measure=measure, days=days, ends_on=day + dt.timedelta(days=days - 1))
            a["due"] = [day + dt.timedelta(days=d - 1) for d in test_days]
            a["sampled"] = []
            for due in a["due"]:
                offset = rng.choice((0, 0, 0, 1, 2))
                sampled = due + dt.timedelta(days=offset)
                if offset < 2 and sampled <= end:
                    when = _local(sampled, 9, rng.randrange(60))
                    if sampled == day:
                        when = max(when, a["at"] + dt.timedelta(hours=1))
                    t.tests.append(when)
                    a["sampled"].append(sampled)

    # -- files ---------------------------------------------------------------------------------------------
    def _record(
        self, landing: Path, path: Path, dataset: str, rows: int, when: dt.datetime, status="loaded", code=""
    ) -> None:
        stamp = when.timestamp()
        os.utime(path, (stamp, stamp))
        self.files.append(
            (path.relative_to(landing).as_posix(), dataset, rows, when.isoformat(), status, code)
        )

    @staticmethod
    def _csv(path: Path, columns, rows) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(columns)
            writer.writerows(rows)

    def _write_registry(self, landing: Path, levels: list[list[tuple]]) -> None:
        folder = landing / "registry" / "risk_levels"
        columns = ("area_code", "level", "effective_from", "effective_to", "source")

        def rows(items):
            return [(a, lv, f.isoformat(), e.isoformat() if e else "", s) for a, lv, f, e, s in items]

        first = folder / f"cap_do_{self.start - dt.timedelta(days=7):%Y-%m-%d}.csv"
        self._csv(first, columns, rows(levels[0]))
        self._record(
            landing, first, "risk_levels", len(levels[0]), _local(self.start - dt.timedelta(days=8), 9)
        )
        second = folder / f"cap_do_{self.change_day:%Y-%m-%d}.csv"
        published = _local(self.change_day - dt.timedelta(days=1), 9)
        if not self.clean:
            steady = levels[0][10][0]  # a province the second file does not name: two rows of it overlap
            bad_items = rows(levels[1]) + [
                ("17999", 2, self.change_day.isoformat(), "", "lỗi: mã không tồn tại"),
                (
                    steady,
                    2,
                    self.change_day.isoformat(),
                    (self.change_day + dt.timedelta(days=3)).isoformat(),
                    "lỗi",
                ),
                (
                    steady,
                    3,
                    (self.change_day + dt.timedelta(days=1)).isoformat(),
                    (self.change_day + dt.timedelta(days=5)).isoformat(),
                    "lỗi",
                ),
            ]
            bad = folder / f"cap_do_{self.change_day:%Y-%m-%d}_loi.csv"
            self._csv(bad, columns, bad_items)
            n = len(levels[1])
            rel = bad.relative_to(landing).as_posix()
            self.manifest += [
                (rel, n + 1, "area_code", "invalid_risk_level", "error"),
                (rel, n + 2, "level", "overlapping_risk_level", "error"),
                (rel, n + 3, "level", "overlapping_risk_level", "error"),
            ]
            self._record(
                landing,
                bad,
                "risk_levels",
                len(bad_items),
                published - dt.timedelta(hours=1),
                "rejected",
                "registry_rejected",
            )
        self._csv(second, columns, rows(levels[1]))
        self._record(landing, second, "risk_levels", len(levels[1]), published)
        measures = landing / "registry" / "arrival_measures.csv"
        matrix = [
            ("2021-10-11", level, category, *(m[0], m[1], ";".join(map(str, m[2]))))
            for level in (4, 3, 2, 1)
            for category, m in zip(CATEGORIES, DEFAULT_MATRIX[level], strict=True)
        ]
        self._csv(
            measures, ("effective_from", "origin_level", "category", "measure", "days", "test_days"), matrix
        )
        self._record(
            landing, measures, "arrival_measures", len(matrix), _local(self.start - dt.timedelta(days=10), 9)
        )

    def _write_pccovid(self, landing, checkpoints, scans, declarations, defects) -> None:
        venues = landing / "pccovid" / "venues" / "chot_kiem_dich.csv"
        hb_districts, hb_communes = K.admin_units()
        self._csv(
            venues,
            ("venue_code", "name", "province_code", "district_code", "commune_code", "address", "venue_type"),
            [
                (code, name, HOA_BINH, hb_communes[c][0], c, f"Quốc lộ 6, {hb_communes[c][1]}", "checkpoint")
                for code, name, c in checkpoints
            ],
        )
        self._record(
            landing, venues, "venues", len(checkpoints), _local(self.start - dt.timedelta(days=1), 6)
        )
        for offset in range(self.days):
            day = self.start + dt.timedelta(days=offset)
            todays = [s for s in scans if s[0] == day]
            if not todays:
                continue
            path = landing / "pccovid" / "checkins" / f"chot_kiem_dich_{day:%Y-%m-%d}.csv"
            self._csv(
                path,
                ("checkin_id", "venue_code", "scanned_at", "direction", "mode", "citizen_id", "phone"),
                [
                    (
                        cid,
                        venue,
                        at.isoformat(),
                        "in",
                        "operator_scan",
                        t.cccd or "",
                        "" if t.cccd else t.phone,
                    )
                    for _d, cid, venue, at, t in todays
                ],
            )
            self._record(landing, path, "checkins", len(todays), _local(day, 23, 30))
        by_file: dict[tuple[str, dt.date], list[dict]] = {}
        for row in declarations:
            by_file.setdefault((row["app"], row["submitted_at"].date()), []).append(row)
        defect_codes = {id(row): (column, code) for row, column, code in defects}
        for (app, day), rows in sorted(by_file.items()):
            submitted = [{**r, "submitted_at": r["submitted_at"].isoformat()} for r in rows]
            if app == "sskdt":
                path = landing / "pccovid" / "declarations" / f"khai_bao_sskdt_{day:%Y-%m-%d}.jsonl"
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path, "w", encoding="utf-8") as fh:
                    for r in submitted:
                        fh.write(
                            json.dumps({k: v for k, v in r.items() if v != ""}, ensure_ascii=False) + "\n"
                        )
            else:
                path = landing / "pccovid" / "declarations" / f"khai_bao_{day:%Y-%m-%d}.csv"
                self._csv(path, DECLARATION_COLUMNS, [[r[c] for c in DECLARATION_COLUMNS] for r in submitted])
            rel = path.relative_to(landing).as_posix()
            errors = 0
            for number, row in enumerate(rows, 1):
                if id(row) in defect_codes:
                    column, code = defect_codes[id(row)]
                    severity = "error" if code == "invalid_declaration_kind" else "warning"
                    errors += severity == "error"
                    self.manifest.append((rel, number, column, code, severity))
            status = "loaded_with_errors" if errors else "loaded"
            self._record(
                landing, path, "declarations", len(rows), _local(day + dt.timedelta(days=1), 1), status
            )

    def _write_facility(self, landing: Path, people: list[Traveller]) -> None:
        folder = landing / self.facility_code
        hb_districts, hb_communes = K.admin_units()

        def person(t: Traveller) -> list:
            commune = t.home_commune
            return [
                t.full_name,
                t.dob.strftime("%d/%m/%Y"),
                "Nam" if t.gender == "male" else "Nữ",
                t.cccd,
                t.phone,
                HOA_BINH,
                hb_communes[commune][0],
                commune,
            ]

        doses = [
            [
                f"ND{self.facility_code}-{t.index:04d}-{n}",
                *person(t),
                "",
                f"Thôn 1, {hb_communes[t.home_commune][1]}",
                "AstraZeneca",
                f"ABV{t.index:04d}",
                n,
                on.strftime("%d/%m/%Y"),
                self.facility_code,
            ]
            for t in people
            for n, on in enumerate(t.doses, 1)
        ]
        vaccination_columns = (
            "record_id",
            "full_name",
            "date_of_birth",
            "gender",
            "citizen_id",
            "phone",
            "province_code",
            "district_code",
            "commune_code",
            "health_insurance_no",
            "address",
            "vaccine",
            "lot_number",
            "dose_number",
            "vaccinated_on",
            "facility_code",
        )
        path = folder / "vaccinations" / f"tiem_chung_nguoi_den_{self.facility_code}.csv"
        self._csv(path, vaccination_columns, doses)
        self._record(landing, path, "vaccinations", len(doses), _local(self.start - dt.timedelta(days=1), 8))
        # the generator's test-result columns (sample/render.py), with the facility of the arrivals' files
        test_columns = (*TEST_COLUMNS, "facility_code")

        def test(t: Traveller, n: int, at: dt.datetime, result: str) -> list:
            return [
                f"NDX{self.facility_code}-{t.index:04d}-{n}",
                f"S{t.index:04d}{n:02d}",
                *person(t),
                "RT-PCR",
                "Không",
                at.isoformat(),
                result,
                "22" if result == "Dương tính" else "",
                (at + dt.timedelta(hours=1)).isoformat(),
                self.facility_code,
            ]

        history = [test(t, 0, _local(t.f0_on, 9), "Dương tính") for t in people if t.f0_on]
        path = folder / "test_results" / f"xet_nghiem_nguoi_den_truoc_{self.facility_code}.csv"
        self._csv(path, test_columns, history)
        self._record(
            landing, path, "test_results", len(history), _local(self.start - dt.timedelta(days=1), 8)
        )
        for offset in range(self.days):
            day = self.start + dt.timedelta(days=offset)
            rows = [
                test(t, n, at, "Âm tính")
                for t in people
                for n, at in enumerate(t.tests, 1)
                if at.date() == day
            ]
            if rows:
                path = folder / "test_results" / f"xet_nghiem_nguoi_den_{day:%Y-%m-%d}.csv"
                self._csv(path, test_columns, rows)
                self._record(landing, path, "test_results", len(rows), _local(day, 23, 30))

    def _write_truth(self, truth: Path, arrivals: list[dict], levels, flags) -> None:
        truth.mkdir(parents=True, exist_ok=True)
        rows = []
        for a in arrivals:
            t = a["traveller"]
            seen = {"both": "both", "scan": "scan", "declaration": "declaration"}[a["mode"]]
            rows.append(
                (
                    *t.key,
                    a["at"].isoformat(),
                    seen,
                    a.get("venue", ""),
                    a["app"],
                    a["declaration_id"],
                    *a["origin"],
                    int(a["known"]),
                    a["level"],
                    a["destination"],
                    a["category"],
                    a["measure"],
                    a["days"],
                    a["ends_on"].isoformat(),
                    ";".join(d.isoformat() for d in a["due"]),
                    ";".join(d.isoformat() for d in a["sampled"]),
                )
            )
        self._csv(truth / "arrivals.csv", ARRIVAL_COLUMNS, rows)
        self._csv(
            truth / "arrivals_files.csv",
            ("file", "dataset", "rows", "delivered_at", "expected_status", "expected_file_code"),
            sorted(self.files, key=lambda f: f[3]),
        )
        self._csv(
            truth / "arrivals_manifest.csv",
            ("file", "row_number", "column", "code", "severity"),
            sorted(self.manifest),
        )
        self._csv(
            truth / "risk_levels.csv",
            ("version", "area_code", "level", "effective_from", "effective_to"),
            [
                (v, a, lv, f.isoformat(), e.isoformat() if e else "")
                for v, rows_ in enumerate(levels, 1)
                for a, lv, f, e, _s in rows_
            ],
        )
        self._csv(
            truth / "declaration_flags.csv",
            (
                "person_kind",
                "person_identifier",
                "submitted_on",
                "symptoms_reported",
                "reported_contact_with_f0",
            ),
            flags,
        )
