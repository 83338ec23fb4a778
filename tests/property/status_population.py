"""A random population for the health-status property test: persons known by one CCCD each, with random
doses (some reported twice, some missing a dose, some given after the build's day), tests (RT-PCR, antigen,
antigen pairs a few hours apart, pooled tubes, negatives after positives, results delivered late, tests
sampled after the day they are delivered on) and check-ins clustered in groups at venues (friends scanning
together, so that F0s have candidates and candidates test positive in chains). Each record has a delivery
day: the day's build sees what was delivered up to it. Deterministic for a seed; core rows are COPYed."""

from __future__ import annotations

import datetime as dt
import io
import random
from dataclasses import dataclass, field

from status_oracle import PRIMARY, VN, Dose, Scan, Test

from covidsync import privacy

START = dt.date(2021, 11, 1)
FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Hồ"]
GIVEN = ["An", "Bình", "Cường", "Dung", "Hà", "Hải", "Hùng", "Lan", "Linh", "Minh", "Nam", "Phúc", "Thảo"]


@dataclass
class Population:
    seed: int
    persons: int
    days: int
    venues: int = 40
    people: dict[str, tuple[str, dt.date]] = field(default_factory=dict)  # cccd -> (name, dob)
    doses: list[tuple[int, Dose]] = field(default_factory=list)  # (delivery day index, dose)
    tests: list[tuple[int, Test]] = field(default_factory=list)
    scans: list[tuple[int, Scan]] = field(default_factory=list)

    def __post_init__(self):
        rng = random.Random(f"status-property:{self.seed}")
        cccds = [f"0179{self.seed % 1000:03d}{i:05d}" for i in range(self.persons)]
        for c in cccds:
            self.people[c] = (
                f"{rng.choice(FAMILY)} Văn {rng.choice(GIVEN)}",
                dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(20000)),
            )
        self._ids = iter(range(1, 10**9))
        for c in cccds:
            self._vaccinate(rng, c)
        for c in cccds:
            for _ in range(rng.choice([0, 0, 0, 1, 1, 2, 3])):
                self._test(rng, c)
        for _ in range(self.persons // 40 * self.days // 4):  # pooled tubes of 2-5 neighbours
            first = rng.randrange(self.persons)
            members = {
                cccds[(first + rng.randrange(-10, 10)) % self.persons] for _ in range(rng.randint(2, 5))
            }
            sampled = self._moment(rng)
            result = "positive" if rng.random() < 0.1 else "negative"
            for c in sorted(members):
                self._add_test(rng, c, "RT-PCR", True, result, sampled)
        self._checkins(rng, cccds)

    def day(self, index: int) -> dt.date:
        return START + dt.timedelta(days=index)

    def _moment(self, rng, lo: int = 0, hi: int | None = None) -> dt.datetime:
        index = rng.randrange(lo, self.days if hi is None else hi)
        return dt.datetime.combine(
            self.day(index), dt.time(rng.randrange(6, 22), rng.randrange(60)), tzinfo=VN
        )

    def _delivery(self, rng, event_day: int) -> int:
        r = rng.random()
        if r < 0.03:  # delivered before its event: not counted until as_of passes it
            return max(0, event_day - rng.randint(1, 3))
        lag = 0 if r < 0.75 else rng.randint(1, 3)
        return max(0, event_day + lag)

    def _vaccinate(self, rng, cccd: str) -> None:
        doses = rng.choice([0, 1, 1, 2, 2, 2, 3, 3, 4])
        product = rng.choice(sorted(PRIMARY))
        on = START - dt.timedelta(days=rng.randrange(-self.days, 220))
        for n in range(1, doses + 1):
            if n == 2 and rng.random() < 0.05:
                continue  # a dose missing from the records
            if n > 1 and rng.random() < 0.2:
                product = rng.choice(sorted(PRIMARY))  # mixed products
            day = (on - START).days
            self.doses.append((self._delivery(rng, max(0, day)), Dose(0, cccd, n, on, product)))
            if rng.random() < 0.04:  # reported again by another facility, a few days later
                twin = on + dt.timedelta(days=rng.randint(0, 4))
                self.doses.append((max(0, (twin - START).days), Dose(0, cccd, n, twin, product)))
            on += dt.timedelta(days=rng.randint(10, 90))

    def _add_test(self, rng, cccd, test_type, pooled, result, sampled) -> None:
        hours = rng.uniform(0.25, 3) if test_type == "antigen" else rng.uniform(4, 30)
        resulted = sampled + dt.timedelta(hours=hours)
        event_day = (sampled.astimezone(VN).date() - START).days
        self.tests.append(
            (self._delivery(rng, event_day), Test(0, cccd, test_type, pooled, result, sampled, resulted))
        )

    def _test(self, rng, cccd: str) -> None:
        sampled = self._moment(rng)
        test_type = "RT-PCR" if rng.random() < 0.4 else "antigen"
        r = rng.random()
        result = (
            "positive"
            if r < (0.07 if test_type == "RT-PCR" else 0.16)
            else "invalid"
            if r > 0.98
            else "negative"
        )
        self._add_test(rng, cccd, test_type, False, result, sampled)
        if result != "positive":
            return
        if test_type == "antigen" and rng.random() < 0.4:  # a second antigen test hours later
            later = sampled + dt.timedelta(hours=rng.choice([1, 5, 7.5, 8, 9, 12]))
            self._add_test(
                rng, cccd, "antigen", False, "positive" if rng.random() < 0.8 else "negative", later
            )
        if rng.random() < 0.5:  # a negative after the positive
            later = sampled + dt.timedelta(days=rng.uniform(1, 16))
            self._add_test(rng, cccd, rng.choice(["RT-PCR", "antigen"]), False, "negative", later)
        if rng.random() < 0.15:  # positive again later
            later = sampled + dt.timedelta(days=rng.uniform(2, 20))
            self._add_test(rng, cccd, rng.choice(["RT-PCR", "antigen"]), False, "positive", later)

    def _checkins(self, rng, cccds: list[str]) -> None:
        for index in range(-3, self.days + 2):
            for _ in range(self.persons // 3):  # groups of friends (neighbouring indexes) scanning together
                first = rng.randrange(self.persons)
                venue = f"V{rng.randrange(self.venues):03d}"
                moment = dt.datetime.combine(
                    START + dt.timedelta(days=index),
                    dt.time(rng.randrange(6, 22), rng.randrange(60)),
                    tzinfo=VN,
                )
                for _ in range(rng.randint(2, 6)):
                    c = cccds[(first + rng.randrange(-15, 15)) % self.persons]
                    at = moment + dt.timedelta(minutes=rng.uniform(-40, 40), seconds=rng.randrange(60))
                    key = privacy.pseudonym("cccd", c)
                    self.scans.append((self._delivery(rng, max(0, index)), Scan(c, key, venue, at)))

    # -- loading -------------------------------------------------------------------------------------------

    def delivered(self, upto: int) -> tuple[list[Dose], list[Test], list[Scan]]:
        return (
            [d for day, d in self.doses if day <= upto],
            [t for day, t in self.tests if day <= upto],
            [s for day, s in self.scans if day <= upto],
        )

    def load(self, conn, file_id: int, index: int) -> None:
        """COPY the records delivered on day ``index``, one transaction; numbers each row's id as core did."""
        with conn, conn.cursor() as cur:
            self._load_doses(cur, file_id, [(k, d) for k, (day, d) in enumerate(self.doses) if day == index])
            self._load_tests(cur, file_id, [(k, t) for k, (day, t) in enumerate(self.tests) if day == index])
            self._load_scans(cur, file_id, index, [s for day, s in self.scans if day == index])

    def _load_doses(self, cur, file_id, rows) -> None:
        buf = io.StringIO()
        for k, d in rows:
            name, dob = self.people[d.cccd]
            buf.write(
                "\t".join(
                    map(
                        str,
                        (
                            f"170{k % 2 + 1:02d}",
                            f"v{k}",
                            name,
                            dob,
                            d.cccd,
                            "17",
                            "148",
                            "04687",
                            d.product,
                            "LOT1",
                            d.dose_number,
                            d.on,
                            file_id,
                            k + 1,
                        ),
                    )
                )
                + "\n"
            )
        buf.seek(0)
        cur.copy_expert(
            "copy core.vaccination (facility_code, record_key, full_name, date_of_birth, citizen_id, province_code,"
            " district_code, commune_code, vaccine_code, lot_number, dose_number, vaccinated_on, source_file_id,"
            " source_row) from stdin",
            buf,
        )
        cur.execute(
            "select vaccination_id, record_key from core.vaccination where record_key = any(%s)",
            ([f"v{k}" for k, _ in rows],),
        )
        ids = {key: vid for vid, key in cur.fetchall()}
        for k, d in rows:
            self.doses[k] = (self.doses[k][0], Dose(ids[f"v{k}"], d.cccd, d.dose_number, d.on, d.product))

    def _load_tests(self, cur, file_id, rows) -> None:
        buf = io.StringIO()
        for k, t in rows:
            name, dob = self.people[t.cccd]
            buf.write(
                "\t".join(
                    map(
                        str,
                        (
                            "17001",
                            f"t{k}",
                            f"S{k}",
                            name,
                            dob,
                            t.cccd,
                            "17",
                            "148",
                            "04687",
                            t.test_type,
                            "t" if t.pooled else "f",
                            t.sampled_at.isoformat(),
                            t.result,
                            t.resulted_at.isoformat(),
                            file_id,
                            k + 1,
                        ),
                    )
                )
                + "\n"
            )
        buf.seek(0)
        cur.copy_expert(
            "copy core.test_result (facility_code, record_key, sample_id, full_name, date_of_birth, citizen_id,"
            " province_code, district_code, commune_code, test_type, pooled, sampled_at, result, resulted_at,"
            " source_file_id, source_row) from stdin",
            buf,
        )
        cur.execute(
            "select test_result_id, record_key from core.test_result where record_key = any(%s)",
            ([f"t{k}" for k, _ in rows],),
        )
        ids = {key: tid for tid, key in cur.fetchall()}
        for k, t in rows:
            self.tests[k] = (
                self.tests[k][0],
                Test(ids[f"t{k}"], t.cccd, t.test_type, t.pooled, t.result, t.sampled_at, t.resulted_at),
            )

    def _load_scans(self, cur, file_id, index, scans) -> None:
        days = sorted({s.at.astimezone(VN).date() for s in scans})
        for d in days:
            cur.execute("select core.ensure_checkin_partition(%s)", (d,))
        buf = io.StringIO()
        for n, s in enumerate(scans):
            day = s.at.astimezone(VN).date()
            buf.write(
                f"c{index}-{n}\t{day}\t{s.venue}\t{s.at.isoformat()}\tcccd\t{s.key}\t{file_id}\t{n + 1}\n"
            )
        buf.seek(0)
        cur.copy_expert(
            "copy core.checkin (checkin_id, local_day, venue_code, scanned_at, person_kind, person_key,"
            " source_file_id, source_row) from stdin",
            buf,
        )
        first: dict[str, tuple] = {}
        for s in scans:
            lo, hi = first.get(s.key, (s.at, s.at, s.cccd))[:2]
            first[s.key] = (min(lo, s.at), max(hi, s.at), s.cccd)
        for key, (lo, hi, c) in sorted(first.items()):
            name, dob = self.people[c]
            cur.execute(
                """
                insert into core.checkin_person (person_kind, person_key, identifier, full_name, date_of_birth,
                    first_seen_at, last_seen_at) values ('cccd', %s, %s, %s, %s, %s, %s)
                on conflict (person_kind, person_key) do update set
                    first_seen_at = least(core.checkin_person.first_seen_at, excluded.first_seen_at),
                    last_seen_at = greatest(core.checkin_person.last_seen_at, excluded.last_seen_at)
                """,
                (key, c, name, dob, lo, hi),
            )
