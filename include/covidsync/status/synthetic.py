"""Generated core data for the health-status build: the sample generator's population and vaccination
histories (:mod:`covidsync.sample.population`), with test results, check-ins and QR links made here, loaded
straight into ``core`` a day at a time, as the ingest DAGs would leave it after each day's files.

For the incremental-equals-full proof and the benchmark (``bench/health_status.py``); not for the demo.
Deterministic: the same arguments give the same rows. Besides each day's records it loads what real feeds
do: doses reported twice by two facilities, records sent late (sampled days before their delivery), a
resent record that corrects a date, a record taken back, people scanned by a phone their family shares.
"""

from __future__ import annotations

import datetime as dt
import io
import random
from dataclasses import dataclass, field

from covidsync import privacy
from covidsync.sample.population import Person, make_facilities, make_population, vaccinate

VN = dt.timezone(dt.timedelta(hours=7))


@dataclass
class Synthetic:
    seed: int = 2021
    persons: int = 1500
    start: dt.date = dt.date(2021, 11, 1)
    days: int = 6
    venues: int = 25
    checkins_per_day: int = 2500
    late_share: float = 0.1  # share of a day's scans that belong to a day 2-3 days earlier (files sent late)
    people: list[Person] = field(init=False)

    def __post_init__(self):
        self.people = make_population(self.seed, self.persons, self.start)
        self.facilities = make_facilities(self.seed, 8)
        vaccinate(self.seed, self.people, self.facilities, self.start + dt.timedelta(days=self.days))
        self.rng = random.Random(f"{self.seed}:status-synthetic")
        self._file = 0

    @property
    def dates(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range(self.days)]

    # -- loading -------------------------------------------------------------------------------------------

    def setup(self, conn) -> None:
        with conn, conn.cursor() as cur:
            for f in self.facilities:
                cur.execute(
                    "insert into ops.facility (facility_code, name, facility_type, province_code, district_code,"
                    " commune_code, registry_sha256) values (%s, %s, %s, %s, %s, %s, %s) on conflict do nothing",
                    (
                        f.code,
                        f.name,
                        f.facility_type,
                        f.province_code,
                        f.district_code,
                        f.commune_code,
                        "0" * 64,
                    ),
                )

    def _new_file(self, cur, day: dt.date, dataset: str) -> int:
        self._file += 1
        cur.execute(
            "insert into ops.landing_file (sha256, relative_path, original_name, size_bytes, received_at, status,"
            " dataset) values (%s, %s, %s, 1, %s, 'merged', %s) returning file_id",
            (
                f"{self.seed:08x}{self._file:056x}",
                f"synthetic/{dataset}-{day}.csv",
                f"{dataset}-{day}.csv",
                dt.datetime.combine(day, dt.time(23), tzinfo=VN),
                dataset,
            ),
        )
        return cur.fetchone()[0]

    def load_day(self, conn, day: dt.date) -> dict:
        """Everything delivered for ``day`` (the first day also brings the history before it)."""
        rng = random.Random(f"{self.seed}:{day}")
        with conn, conn.cursor() as cur:
            counts = {
                "vaccination": self._vaccinations(cur, rng, day),
                "test_result": self._tests(cur, rng, day),
                "checkin": self._checkins(cur, rng, day),
            }
            self._corrections(cur, rng, day)
        return counts

    def _person_row(self, p: Person, kind: str) -> tuple:
        cid = p.cmnd if (kind == "cmnd" and p.cmnd) or not p.cccd else p.cccd
        return (
            p.full_name,
            p.dob,
            p.dob_year_only,
            p.gender,
            cid,
            p.phone,
            p.province_code,
            p.district_code,
            p.commune_code,
        )

    def _vaccinations(self, cur, rng, day) -> int:
        file_id = self._new_file(cur, day, "vaccinations")
        rows = []
        for p in self.people:
            for d in p.doses:
                if d.on == day or (day == self.start and d.on < day):
                    rows.append((d.facility_code, d, p))
                    if rng.random() < 0.02:  # the same dose reported again by another facility, days later
                        other = self.facilities[(int(d.facility_code) + 1) % len(self.facilities)].code
                        rows.append((other, Dose2(d, 2), p))
        buf = io.StringIO()
        for n, (facility, d, p) in enumerate(rows, start=1):
            name, dob, yo, gender, cid, phone, prov, dist, comm = self._person_row(p, d.id_kind)
            buf.write(
                "\t".join(
                    _tsv(x)
                    for x in (
                        facility,
                        f"v{file_id}-{n}",
                        name,
                        dob,
                        yo,
                        gender,
                        cid,
                        phone,
                        prov,
                        dist,
                        comm,
                        d.product,
                        d.lot,
                        d.dose_number,
                        d.on,
                        file_id,
                        n,
                    )
                )
                + "\n"
            )
        buf.seek(0)
        cur.copy_expert(
            "copy core.vaccination (facility_code, record_key, full_name, date_of_birth, birth_year_only, gender,"
            " citizen_id, phone, province_code, district_code, commune_code, vaccine_code, lot_number,"
            " dose_number, vaccinated_on, source_file_id, source_row) from stdin",
            buf,
        )
        return len(rows)

    def _tests(self, cur, rng, day) -> int:
        file_id = self._new_file(cur, day, "test_results")
        testers = [f for f in self.facilities if "test_results" in f.datasets] or self.facilities
        rows = []
        n_people = len(self.people)
        chosen = rng.sample(range(n_people), k=max(1, n_people // 12))
        pool: list[Person] = []
        for i in chosen:
            p = self.people[i]
            lag = rng.choice([0, 0, 0, 1, 3])  # some results arrive days late
            sampled = dt.datetime.combine(
                day - dt.timedelta(days=lag), dt.time(rng.randrange(6, 20)), tzinfo=VN
            )
            sampled += dt.timedelta(minutes=rng.randrange(60))
            kind = rng.random()
            if kind < 0.25:
                pool.append(p)
                continue
            test_type = "RT-PCR" if kind < 0.45 else "antigen"
            result = "positive" if rng.random() < 0.08 else ("invalid" if rng.random() < 0.02 else "negative")
            rows.append((p, test_type, False, sampled, result, f"s{file_id}-{len(rows)}"))
            if test_type == "antigen" and result == "positive" and rng.random() < 0.5:
                rows.append(
                    (
                        p,
                        "antigen",
                        False,
                        sampled + dt.timedelta(hours=rng.choice([2, 7, 9])),
                        "positive",
                        f"s{file_id}-{len(rows)}",
                    )
                )
        for k in range(0, len(pool), 5):  # pooled tubes of up to 5
            tube = pool[k : k + 5]
            result = "positive" if rng.random() < 0.1 else "negative"
            sampled = dt.datetime.combine(day, dt.time(8), tzinfo=VN)
            for p in tube:
                rows.append((p, "RT-PCR", True, sampled, result, f"pool{file_id}-{k}"))
        buf = io.StringIO()
        for n, (p, test_type, pooled, sampled, result, sample) in enumerate(rows, start=1):
            facility = testers[n % len(testers)].code
            name, dob, yo, gender, cid, phone, prov, dist, comm = self._person_row(p, "cccd")
            resulted = sampled + dt.timedelta(hours=2 if test_type == "antigen" else 20)
            buf.write(
                "\t".join(
                    _tsv(x)
                    for x in (
                        facility,
                        f"t{file_id}-{n}",
                        sample,
                        name,
                        dob,
                        yo,
                        gender,
                        cid,
                        phone,
                        prov,
                        dist,
                        comm,
                        test_type,
                        pooled,
                        sampled.isoformat(),
                        result,
                        resulted.isoformat(),
                        file_id,
                        n,
                    )
                )
                + "\n"
            )
        buf.seek(0)
        cur.copy_expert(
            "copy core.test_result (facility_code, record_key, sample_id, full_name, date_of_birth, birth_year_only,"
            " gender, citizen_id, phone, province_code, district_code, commune_code, test_type, pooled, sampled_at,"
            " result, resulted_at, source_file_id, source_row) from stdin",
            buf,
        )
        return len(rows)

    def _checkins(self, cur, rng, day) -> int:
        file_id = self._new_file(cur, day, "checkins")
        seen: dict[tuple[str, str], tuple] = {}
        buf = io.StringIO()
        n = 0
        partitions: set[dt.date] = set()
        for _ in range(self.checkins_per_day):
            p = self.people[rng.randrange(len(self.people))]
            kind, value = self._scan_identity(rng, p)
            if value is None:
                continue
            n += 1
            scan_day = day
            if (
                day > self.start + dt.timedelta(days=1) and rng.random() < self.late_share
            ):  # a venue's scans sent late
                scan_day = day - dt.timedelta(days=rng.choice([2, 3]))
            partitions.add(scan_day)
            at = dt.datetime.combine(scan_day, dt.time(rng.randrange(6, 22), rng.randrange(60)), tzinfo=VN)
            at += dt.timedelta(seconds=rng.randrange(60))
            venue = f"HB{rng.randrange(self.venues):04d}"
            key = privacy.pseudonym(kind, value)
            buf.write(
                "\t".join(
                    (f"c{file_id}-{n}", str(scan_day), venue, at.isoformat(), kind, key, str(file_id), str(n))
                )
            )
            buf.write("\n")
            ascii_name = kind == "qid"
            name = _ascii_upper(p.full_name) if ascii_name else p.full_name
            dob = None if (kind == "phone" and rng.random() < 0.5) else p.dob
            seen[(kind, key)] = (value, name, dob, p.gender, p.phone if kind != "phone" else value, at)
            if kind == "cccd" and p.cmnd and p.cmnd_in_card_qr:
                cur.execute(
                    "insert into core.identity_link values (%s, 'cmnd', %s, 'cccd_qr', %s) on conflict do nothing",
                    (p.cccd, p.cmnd, file_id),
                )
            if kind == "qid" and p.cccd:
                cur.execute(
                    "insert into core.identity_link values (%s, 'qid', %s, 'personal_qr', %s) on conflict do nothing",
                    (p.cccd, p.qid, file_id),
                )
        for part in sorted(partitions):
            cur.execute("select core.ensure_checkin_partition(%s)", (part,))
        buf.seek(0)
        cur.copy_expert(
            "copy core.checkin (checkin_id, local_day, venue_code, scanned_at, person_kind, person_key,"
            " source_file_id, source_row) from stdin",
            buf,
        )
        for (kind, key), (value, name, dob, gender, phone, at) in sorted(seen.items()):
            cur.execute(
                """
                insert into core.checkin_person (person_kind, person_key, identifier, full_name, date_of_birth,
                    gender, phone, first_seen_at, last_seen_at) values (%s, %s, %s, %s, %s, %s, %s, %s, %s)
                on conflict (person_kind, person_key) do update set
                    last_seen_at = greatest(core.checkin_person.last_seen_at, excluded.last_seen_at)
                """,
                (kind, key, value, name, dob, gender, phone, at, at),
            )
        return n

    @staticmethod
    def _scan_identity(rng, p: Person) -> tuple[str, str | None]:
        r = rng.random()
        if p.app_user and p.qid and r < 0.6:
            return "qid", p.qid
        if r < 0.8 and p.cccd:
            return "cccd", p.cccd
        if r < 0.85 and p.cmnd:
            return "cmnd", p.cmnd
        if p.phone and not p.phone.startswith("02"):
            return "phone", p.phone
        return ("cccd", p.cccd) if p.cccd else ("cmnd", p.cmnd)

    def _corrections(self, cur, rng, day) -> None:
        """A resend that corrects a dose date (the record replaced), and a test result taken back."""
        if day == self.start:
            return
        cur.execute(
            "update core.vaccination set vaccinated_on = vaccinated_on - 1, loaded_at = now()"
            " where vaccination_id = (select min(vaccination_id) + %s from core.vaccination)",
            (rng.randrange(50),),
        )
        cur.execute(
            "delete from core.test_result where test_result_id = (select max(test_result_id) - %s"
            " from core.test_result)",
            (rng.randrange(50),),
        )


@dataclass
class Dose2:
    """A second report of a dose by another facility, ``lag`` days after the first."""

    dose: object
    lag: int

    def __getattr__(self, name):
        value = getattr(self.dose, name)
        return value + dt.timedelta(days=self.lag) if name == "on" else value


def _ascii_upper(name: str) -> str:
    from covidsync.domain.text import name_key

    return name_key(name).upper()


def _tsv(value) -> str:
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value).replace("\\", "\\\\").replace("\t", " ").replace("\n", " ")
