"""Generated PC-Covid adoption and QR-compliance data for Hòa Bình (contract docs/contract/adoption.md), with
the ground truth of the marts' key figures.

- **App-user counts**: one row per commune and day from 27 September 2021 (the province's PC-Covid push)
  to the last day, on a logistic ramp to roughly the province's 183,000 users (about 21 % of its people,
  35 % of smartphone owners), active users about 60 % of registered; the other 62 provinces at province
  level (the province lands near 35th); one later file re-sends a day with corrected counts (latest file wins).
- **Population**: ``population.csv`` for the province, its districts and communes (about 854,000 people;
  smartphone owners about 61 %, unknown for a few communes).
- **Venues of every type** (agency, business, school, market, health_facility, transport, checkpoint, other)
  in every commune, and check-ins over ``days`` days (pseudonymous person keys, QR kind per scan). Districts
  differ in diligence (some fall under the 60 % compliance threshold), and some agencies go silent: one
  exactly ``silent_days`` days before the last day and one a day less (the boundary), others longer.
- **Ground truth** (:meth:`AdoptionSample.truth`): computed here from the generated events, in Python, with
  no SQL: the figures the marts must equal as of the last day.

:meth:`AdoptionSample.write` writes ``landing/pccovid/app_users/*.csv`` (each day's file received the next
morning, the correction later), ``landing/registry/population.csv`` and ``truth/adoption.json``;
:meth:`AdoptionSample.load` loads venues and check-ins straight into ``core`` (so that the test controls every
scan and its QR kind) and takes the two feeds through the ingest engine like any landing file
(:meth:`AdoptionSample.ingest_feeds`).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import math
import random
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from covidsync.sample import knowledge as K

VN = dt.timezone(dt.timedelta(hours=7))
HOME = "17"
VENUE_TYPES = (
    "agency",
    "business",
    "school",
    "market",
    "health_facility",
    "transport",
    "checkpoint",
    "other",
)
MUST_SCAN = ("agency", "business", "school", "market", "transport")
QR_KINDS = (("cccd_qr", 0.55), ("personal_qr", 0.30), ("typed", 0.15))
RAMP_START = dt.date(2021, 9, 27)
PROVINCE_POPULATION = 854_131
TARGET_USERS = 183_000


@dataclass
class Venue:
    code: str
    name: str
    district_code: str
    commune_code: str
    address: str
    venue_type: str
    last_active: int | None = None  # the last day index it scans (None: random daily activity only)


@dataclass
class AdoptionSample:
    seed: int = 2021
    start: dt.date = dt.date(2021, 11, 1)  # the first day of check-ins
    days: int = 10
    silent_days: int = 3
    threshold: float = 0.6
    communes_limit: int | None = None  # fewer communes for quick tests (None: all 151)
    venues: list[Venue] = field(init=False)
    checkins: list[tuple] = field(
        init=False
    )  # (checkin_id, day, venue_code, scanned_at, person_key, kind, qr_kind)
    counts: list[list[tuple]] = field(
        init=False
    )  # app-user files in order: [(day, area_code, registered, active)]
    population: list[tuple] = field(init=False)  # (area_code, year, population, smartphone_owners, source)

    def __post_init__(self):
        self.rng = random.Random(f"{self.seed}:adoption")
        self.districts, communes = K.admin_units()
        codes = sorted(communes)
        if self.communes_limit:
            by_district: dict[str, list[str]] = {}
            for c in codes:
                by_district.setdefault(communes[c][0], []).append(c)
            codes = sorted(c for cs in by_district.values() for c in cs[: max(1, self.communes_limit // 10)])
        self.communes = {c: communes[c] for c in codes}
        self._population()
        self._counts()
        self._venues()
        self._checkins()

    @property
    def end(self) -> dt.date:
        return self.start + dt.timedelta(days=self.days - 1)

    # -- population and app users ---------------------------------------------------------------------------

    def _population(self) -> None:
        rng = random.Random(f"{self.seed}:adoption:population")
        weights = {
            c: K.DISTRICT_WEIGHTS.get(d, 8) * rng.uniform(0.5, 1.5) for c, (d, _) in self.communes.items()
        }
        total = sum(weights.values())
        self.commune_pop = {c: max(800, round(PROVINCE_POPULATION * w / total)) for c, w in weights.items()}
        self.commune_phones = {
            c: (None if rng.random() < 0.05 else round(p * rng.uniform(0.52, 0.70)))
            for c, p in self.commune_pop.items()
        }
        rows = []
        source = "Sample: GSO 2019 census scaled to 2021 (generated)"
        for c, p in sorted(self.commune_pop.items()):
            rows.append((c, 2021, p, self.commune_phones[c], source))

        # districts and the province: the statistics office's estimate covers the communes it lacks (61 %)
        def phones(communes) -> int:
            return sum(self.commune_phones[c] or round(self.commune_pop[c] * 0.61) for c in communes)

        for d in sorted({d for d, _ in self.communes.values()}):
            mine = [c for c, (dd, _) in self.communes.items() if dd == d]
            rows.append((d, 2021, sum(self.commune_pop[c] for c in mine), phones(mine), source))
        rows.append((HOME, 2021, sum(self.commune_pop.values()), phones(self.communes), source))
        self.population = rows
        self.area_population = {r[0]: (r[2], r[3]) for r in rows}

    def _ramp(self, day: dt.date) -> float:
        """Share of the final adoption reached on ``day``: a logistic from late September to mid November."""
        t = (day - RAMP_START).days
        return 1 / (1 + math.exp(-(t - 22) / 6))

    def _counts(self) -> None:
        rng = random.Random(f"{self.seed}:adoption:counts")
        scale = TARGET_USERS / PROVINCE_POPULATION
        target = {c: p * scale * rng.uniform(0.6, 1.4) for c, p in self.commune_pop.items()}
        active_share = {c: rng.uniform(0.5, 0.7) for c in self.commune_pop}
        others = [p for p in sorted(K_PROVINCES()) if p != HOME]
        # the other provinces' final users: about 34 above the province's, the rest below
        home_final = sum(target.values())
        other_final = {
            p: home_final * (rng.uniform(1.05, 6.0) if i < 34 else rng.uniform(0.2, 0.95))
            for i, p in enumerate(others)
        }
        files: list[list[tuple]] = []
        day = RAMP_START
        while day <= self.end:
            r = self._ramp(day)
            rows = []
            for c in sorted(self.commune_pop):
                registered = round(target[c] * r)
                rows.append((day, c, registered, round(registered * active_share[c])))
            for p in others:
                registered = round(other_final[p] * r)
                rows.append((day, p, registered, round(registered * 0.6)))
            files.append(rows)
            day += dt.timedelta(days=1)
        # a correction: the last day but one re-sent later with other counts for a few communes
        corrected_day = self.end - dt.timedelta(days=1)
        first = [row for row in files[-2] if len(row[1]) == 5][:5]
        files.append([(d, a, reg + 17, act + 3) for d, a, reg, act in first])
        assert all(row[0] == corrected_day for row in files[-1])
        self.counts = files

    # -- venues and check-ins --------------------------------------------------------------------------------

    def _venues(self) -> None:
        rng = random.Random(f"{self.seed}:adoption:venues")
        venues = []
        for c, (d, name) in sorted(self.communes.items()):
            for i, kind in enumerate(VENUE_TYPES):
                code = f"V{c}{i:02d}"
                venues.append(Venue(code, f"{kind} {i} - {name}", d, c, f"{name}, {self.districts[d]}", kind))
        agencies = [v for v in venues if v.venue_type == "agency"]
        rng.shuffle(agencies)
        last = self.days - 1
        # the boundary: silent exactly silent_days days (listed), and one day less (not listed)
        agencies[0].last_active = last - self.silent_days
        agencies[1].last_active = last - self.silent_days + 1
        for v in agencies[2:8]:  # some agencies went silent earlier, or never scanned
            v.last_active = rng.choice([-1, last - self.silent_days - 2, last - 6])  # -1: never
        self.boundary = (agencies[0].code, agencies[1].code)
        self.venues = venues

    def _checkins(self) -> None:
        rng = random.Random(f"{self.seed}:adoption:checkins")
        district_codes = sorted({d for d, _ in self.communes.values()})
        # diligence per district: two districts lag under the threshold
        diligence = {
            d: (0.35 if i in (1, 4) else 0.85 + 0.1 * rng.random()) for i, d in enumerate(district_codes)
        }
        persons = {
            d: [hashlib.sha256(f"adoption-person:{d}:{n}".encode()).hexdigest() for n in range(400)]
            for d in district_codes
        }
        kinds, weights = zip(*QR_KINDS, strict=True)
        rows = []
        for day_index in range(self.days):
            day = self.start + dt.timedelta(days=day_index)
            for v in self.venues:
                if v.last_active is not None:
                    active = day_index <= v.last_active
                else:
                    active = rng.random() < diligence[v.district_code]
                if not active:
                    continue
                for k in range(rng.randint(1, 4)):
                    qr = rng.choices(kinds, weights)[0]
                    when = dt.datetime.combine(
                        day, dt.time(rng.randrange(6, 21), rng.randrange(60)), tzinfo=VN
                    )
                    rows.append(
                        (
                            f"A{day:%Y%m%d}{v.code}{k}",
                            day,
                            v.code,
                            when,
                            rng.choice(persons[v.district_code]),
                            "qid" if qr == "personal_qr" else "cccd",
                            qr,
                        )
                    )
        self.checkins = rows

    # -- ground truth ----------------------------------------------------------------------------------------

    def truth(self) -> dict:
        """The marts' key figures as of the last day, computed from the generated events (no SQL)."""
        end = self.end
        latest: dict[tuple, tuple] = {}
        for rows in self.counts:  # latest file wins
            for day, area, reg, act in rows:
                latest[(day, area)] = (reg, act)

        def area_users(day: dt.date, area: str) -> tuple[int, int]:
            if (day, area) in latest:
                return latest[(day, area)]
            if len(area) == 3:
                mine = [c for c, (d, _) in self.communes.items() if d == area]
            else:
                mine = list(self.communes)
            return tuple(sum(latest[(day, c)][i] for c in mine) for i in (0, 1))

        def share(a, b):  # as SQL's round(numeric, 4): halves away from zero
            if not b:
                return None
            return float((Decimal(a) / Decimal(b)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))

        province = {}
        reg, act = area_users(end, HOME)
        pop, phones = self.area_population[HOME]
        others = [v[0] for (d, a), v in latest.items() if d == end and len(a) == 2]
        province = {
            "registered_users": reg,
            "active_users_7d": act,
            "population": pop,
            "registered_share_population": share(reg, pop),
            "registered_share_smartphone": share(reg, phones),
            "registered_change_7d": reg - area_users(end - dt.timedelta(days=7), HOME)[0],
            "national_rank": 1 + sum(1 for o in others if o > reg),
            "provinces_ranked": len(others) + 1,
        }
        districts = {}
        for d in sorted({d for d, _ in self.communes.values()}):
            reg, act = area_users(end, d)
            pop, phones = self.area_population[d]
            mine = [v for v in self.venues if v.district_code == d]
            codes = {v.code for v in mine}
            scans = [c for c in self.checkins if c[1] == end and c[2] in codes]
            active = {c[2] for c in scans}
            silent = sorted(
                v.code for v in mine if v.venue_type in MUST_SCAN and self._silent_days(v) >= self.silent_days
            )
            known = [c for c in scans if c[6] is not None]
            districts[d] = {
                "registered_users": reg,
                "registered_share_population": share(reg, pop),
                "registered_share_smartphone": share(reg, phones),
                "registered_venues": len(mine),
                "active_venues": len(active),
                "compliance_share": share(len(active), len(mine)),
                "below_threshold": len(active) / len(mine) < self.threshold,
                "silent_venues": silent,
                "persons_scanned": len({c[4] for c in scans}),
                "persons_share_population": share(len({c[4] for c in scans}), pop),
                "scans": len(scans),
                "share_card_qr": share(sum(1 for c in known if c[6] == "cccd_qr"), len(known)),
                "share_personal_qr": share(sum(1 for c in known if c[6] == "personal_qr"), len(known)),
                "share_typed": share(sum(1 for c in known if c[6] == "typed"), len(known)),
            }
        by_type = {}
        for kind in VENUE_TYPES:
            mine = [v for v in self.venues if v.venue_type == kind]
            active = {c[2] for c in self.checkins if c[1] == end} & {v.code for v in mine}
            by_type[kind] = {"registered_venues": len(mine), "active_venues": len(active)}
        return {
            "as_of_day": end.isoformat(),
            "silent_days": self.silent_days,
            "min_venue_compliance": self.threshold,
            "province": province,
            "districts": districts,
            "venue_types": by_type,
            "boundary": {"listed": self.boundary[0], "not_listed": self.boundary[1]},
        }

    def _silent_days(self, v: Venue) -> int:
        if not hasattr(self, "_last_scan"):
            self._last_scan: dict[str, dt.date] = {}
            for c in self.checkins:
                self._last_scan[c[2]] = max(c[1], self._last_scan.get(c[2], c[1]))
        last = self._last_scan.get(v.code)
        return self.days if last is None else (self.end - last).days

    # -- output ----------------------------------------------------------------------------------------------

    def app_user_files(self) -> list[list[tuple]]:
        """The app-user files as the operator sends them: one extract of every day before the first day of
        check-ins (the ramp so far), then one file a day, then the correction; in the order sent."""
        before = [row for rows in self.counts[:-1] for row in rows if row[0] < self.start]
        daily = [rows for rows in self.counts[:-1] if rows[0][0] >= self.start]
        return [before, *daily, self.counts[-1]] if before else [*daily, self.counts[-1]]

    def write_feeds(self, landing: Path) -> list[Path]:
        """The operator's files and the population file in the landing zone, each with the time it is
        received as its modification time: a file's counts the morning after its last day (06:00 local), the
        correction at noon after the last day, the population file the day before the ramp."""
        folder = landing / "pccovid" / "app_users"
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        registry = landing / "registry"
        registry.mkdir(parents=True, exist_ok=True)
        path = registry / "population.csv"
        with open(path, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(("area_code", "year", "population", "smartphone_owners", "source"))
            writer.writerows(("" if v is None else v for v in row) for row in self.population)
        _received(path, RAMP_START - dt.timedelta(days=1), 12)
        paths.append(path)
        files = self.app_user_files()
        for n, rows in enumerate(files):
            correction = n == len(files) - 1
            first, last = rows[0][0], rows[-1][0]
            span = f"{first:%Y-%m-%d}" + (f"_{last:%Y-%m-%d}" if last != first else "")
            stem = f"app_users_{span}" + ("_correction" if correction else "")
            path = folder / f"{stem}.csv"
            with open(path, "w", encoding="utf-8", newline="") as fh:
                writer = csv.writer(fh, lineterminator="\n")
                writer.writerow(("day", "area_code", "registered_users", "active_users_7d"))
                writer.writerows((d.isoformat(), a, r, x) for d, a, r, x in rows)
            _received(
                path, (self.end if correction else last) + dt.timedelta(days=1), 12 if correction else 6
            )
            paths.append(path)
        return paths

    def write(self, landing: Path, truth_dir: Path) -> dict:
        """The operator's files and the population file in the landing zone, and the ground truth."""
        self.write_feeds(landing)
        truth_dir.mkdir(parents=True, exist_ok=True)
        truth = self.truth()
        (truth_dir / "adoption.json").write_text(
            json.dumps(truth, ensure_ascii=False, indent=2) + "\n", "utf-8"
        )
        return {"app_user_files": len(self.app_user_files()), "population_rows": len(self.population)}

    def load(self, conn) -> list[dict]:
        """Venues and check-ins straight into ``core``; the app-user counts and the population through the
        ingest engine (:meth:`ingest_feeds`, into the configured landing zone). Returns the feeds' file
        summaries."""
        with conn, conn.cursor() as cur:
            cur.execute(
                "insert into ops.landing_file (sha256, relative_path, original_name, size_bytes, received_at,"
                " status, dataset) values (%s, 'sample/adoption-venues.csv', 'adoption-venues.csv', 0, now(),"
                " 'merged', 'venues') returning file_id",
                (hashlib.sha256(f"adoption-venues:{self.seed}".encode()).hexdigest(),),
            )
            file_id = cur.fetchone()[0]
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\n")
            for n, v in enumerate(self.venues, start=1):
                writer.writerow(
                    (
                        v.code,
                        v.name,
                        HOME,
                        v.district_code,
                        v.commune_code,
                        v.address,
                        v.venue_type,
                        file_id,
                        n,
                    )
                )
            buf.seek(0)
            cur.copy_expert(
                "copy core.venue (venue_code, name, province_code, district_code, commune_code, address, venue_type,"
                " source_file_id, source_row) from stdin with (format csv)",
                buf,
            )
            for n in range(self.days):
                cur.execute("select core.ensure_checkin_partition(%s)", (self.start + dt.timedelta(days=n),))
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\n")
            for n, (cid, day, venue, when, key, kind, qr) in enumerate(self.checkins, start=1):
                writer.writerow(
                    (cid, day.isoformat(), venue, when.isoformat(), "in", kind, key, qr, file_id, n)
                )
            buf.seek(0)
            cur.copy_expert(
                "copy core.checkin (checkin_id, local_day, venue_code, scanned_at, direction, person_kind, person_key,"
                " qr_kind, source_file_id, source_row) from stdin with (format csv)",
                buf,
            )
        return self.ingest_feeds(conn)

    def ingest_feeds(self, conn) -> list[dict]:
        """Write the two feeds into the landing zone (``COVIDSYNC_LANDING_DIR`` or the data directory's) and
        take them through the ingest engine as the DAGs do: registered, then each file in the order received
        (reports in the outbox, files to the archive). Returns each file's summary (counts only)."""
        from covidsync import settings
        from covidsync.ingest import engine, landing

        self.write_feeds(settings.landing_dir())
        pending = (
            landing.register(conn, scope="facility").pending + landing.register(conn, scope="pccovid").pending
        )
        return [
            engine.process_file(conn, file_id, docs="off")
            for file_id in engine.pending_in_order(conn, pending)
        ]


def _received(path: Path, day: dt.date, hour: int) -> None:
    """The file's modification time (what the landing zone reads as received): ``day`` at ``hour`` local."""
    import os

    stamp = dt.datetime.combine(day, dt.time(hour), tzinfo=VN).timestamp()
    os.utime(path, (stamp, stamp))


def K_PROVINCES() -> list[str]:  # noqa: N802 - a constant's accessor
    """The 63 province codes (GSO 2021), as the reference data the migrations render."""
    from covidsync.domain.cccd import PROVINCES

    return sorted(PROVINCES)
