"""Rows of each dataset, built from the population: vaccinations, test results, venues and check-ins.

Rows carry canonical values (dates, aware date-times, product codes, ``male``/``female``…) and the *natural*
codes a correct validator must report on them (``legacy_cmnd``, ``invalid_phone``, ``short_dose_interval``,
``name_without_diacritics``); the renderer picks the written form, :mod:`covidsync.sample.defects` adds
injected problems. Every generator here is lazy.
"""

from __future__ import annotations

import bisect
import datetime as dt
import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass

from covidsync.sample import knowledge as K
from covidsync.sample.population import Dose, Facility, Person
from covidsync.sample.render import BirthYear, Row


def local(day: dt.date, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=K.VN)


def person_values(person: Person, id_kind: str = "cccd", ascii_name: bool = False) -> tuple[dict, list]:
    """Identity columns of a row for ``person`` and their natural codes."""
    codes = []
    cid = person.cccd if (id_kind == "cccd" and person.cccd) else person.cmnd
    if cid is not None and len(cid) == 9:
        codes.append(("citizen_id", "legacy_cmnd"))
    name = person.full_name
    if ascii_name:
        name = K.strip_accents(name)
        codes.append(("full_name", "name_without_diacritics"))
    if person.landline:
        codes.append(("phone", "invalid_phone"))
    values = {
        "full_name": name,
        "date_of_birth": BirthYear(person.dob.year) if person.dob_year_only else person.dob,
        "gender": person.gender,
        "citizen_id": cid,
        "phone": person.phone,
        "province_code": person.province_code,
        "district_code": person.district_code,
        "commune_code": person.commune_code,
    }
    return values, codes


def vaccination_row(person: Person, dose: Dose, ascii_name: bool = False) -> Row:
    values, codes = person_values(person, dose.id_kind, ascii_name)
    values.update(
        record_id=dose.record_id,
        health_insurance_no=person.bhyt,
        address=person.address,
        vaccine=dose.product,
        lot_number=dose.lot,
        dose_number=dose.dose_number,
        vaccinated_on=dose.on,
        facility_code=dose.facility_code,
    )
    if dose.short:
        codes.append(("vaccinated_on", "short_dose_interval"))
    return Row(values, codes, protect=dose.protect, person_id=person.person_id)


@dataclass
class TestPlan:
    """Where people get tested, and how often (per day, as a share of the population)."""

    facilities: list[Facility]
    weights: list[float]
    daily_share: float = 0.08


def test_weights(facilities: list[Facility]) -> TestPlan:
    weights = {
        "provincial_hospital": 3.0,
        "district_health_centre": 2.0,
        "commune_health_station": 0.6,
        "private_lab": 2.0,
        "private_hospital": 1.2,
    }
    chosen = [f for f in facilities if "test_results" in f.datasets]
    return TestPlan(chosen, [weights[f.facility_type] for f in chosen])


def iter_test_rows(
    rng: random.Random,
    people: list[Person],
    facility: Facility,
    day: dt.date,
    count: int,
    record_prefix: str,
    ascii_share: float = 0.0,
    deadline: dt.datetime | None = None,
) -> Iterator[Row]:
    """About ``count`` test rows of ``facility`` sampled around ``day``, all resulted before ``deadline``.

    RT-PCR samples are pooled 3–10 to a tube about half the time (the tube's ``sample_id`` is shared, pooled =
    yes); antigen tests are individual; a positive antigen test is followed by an RT-PCR on the same person.
    """
    deadline = deadline or local(day, 15, 30)
    antigen_only = facility.facility_type == "commune_health_station"
    seq = 0
    made = 0
    n_people = len(people)
    while made < count:
        pcr = not antigen_only and rng.random() < 0.45
        pooled = pcr and rng.random() < 0.5
        size = rng.randint(3, 10) if pooled else 1
        seq += 1
        if pcr:
            sampled = local(day, 7) - dt.timedelta(hours=rng.randint(6, 20), minutes=rng.randrange(60))
            resulted = sampled + dt.timedelta(hours=rng.randint(4, 16), minutes=rng.randrange(60))
        else:
            sampled = local(day, 6, 30) + dt.timedelta(minutes=rng.randrange(8 * 60))
            resulted = sampled + dt.timedelta(minutes=rng.randint(15, 50))
        if resulted > deadline:
            shift = resulted - deadline + dt.timedelta(minutes=rng.randint(5, 60))
            sampled -= shift
            resulted -= shift
        roll = rng.random()
        if pooled:
            result = "positive" if roll < 0.03 else ("invalid" if roll < 0.035 else "negative")
        else:
            result = "positive" if roll < 0.025 else ("invalid" if roll < 0.03 else "negative")
        ct = None
        if pcr and result == "positive":
            ct = round(rng.uniform(14.0, 35.0), 1)
        elif pcr and result == "negative" and rng.random() < 0.2:
            ct = round(rng.uniform(38.0, 45.0), 1)
        sample_id = f"{record_prefix[-5:]}{day:%y%m%d}{seq:05d}"
        sample_day = sampled.astimezone(K.VN).date()
        members: list[Person] = []
        size = min(size, n_people)  # a pool cannot hold more distinct people than there are
        tries = 0
        while len(members) < size and tries < 10_000:  # bounded: too few people born before the day
            tries += 1
            person = people[rng.randrange(n_people)]
            if person.dob < sample_day and all(m is not person for m in members):
                members.append(person)
        if not members:
            raise ValueError(f"no person to test: nobody in the list was born before {sample_day}")
        for member, person in enumerate(members):
            id_kind = "cmnd" if (person.cmnd and (not person.cccd or rng.random() < 0.2)) else "cccd"
            values, codes = person_values(person, id_kind, rng.random() < ascii_share)
            made += 1
            values.update(
                record_id=f"{record_prefix}-{day:%y%m%d}-{seq:05d}-{member + 1}",
                sample_id=sample_id,
                test_type="RT-PCR" if pcr else "antigen",
                pooled=pooled,
                sampled_at=sampled,
                result=result,
                ct_value=ct,
                resulted_at=resulted,
            )
            yield Row(values, codes, person_id=person.person_id)
            if not pcr and result == "positive" and not antigen_only:
                seq += 1  # confirm a positive rapid test with an individual RT-PCR
                values2, codes2 = person_values(person, id_kind, False)
                confirm_sampled = sampled + dt.timedelta(minutes=rng.randint(20, 60))
                values2.update(
                    record_id=f"{record_prefix}-{day:%y%m%d}-{seq:05d}-1",
                    sample_id=f"{record_prefix[-5:]}{day:%y%m%d}{seq:05d}",
                    test_type="RT-PCR",
                    pooled=False,
                    sampled_at=confirm_sampled,
                    result="positive" if rng.random() < 0.8 else "negative",
                    ct_value=None,
                    resulted_at=min(deadline, confirm_sampled + dt.timedelta(hours=rng.randint(3, 6))),
                )
                if values2["result"] == "positive":
                    values2["ct_value"] = round(rng.uniform(15.0, 32.0), 1)
                made += 1
                yield Row(values2, codes2, person_id=person.person_id)


# --- venues and check-ins ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Venue:
    code: str
    name: str
    district_code: str
    commune_code: str
    address: str
    venue_type: str
    weight: float
    day: int  # index of the simulated day its registration is delivered (0 = before the first day)


def make_venues(seed: int, count: int, days: int) -> list[Venue]:
    rng = random.Random(f"{seed}:venues")
    districts, communes = K.admin_units()
    commune_codes = sorted(communes)
    venues = []
    used = set()
    for i in range(count):
        commune = rng.choice(commune_codes)
        district, commune_name = communes[commune]
        kind, prefix, weight = (
            K.VENUE_TYPES[i % len(K.VENUE_TYPES)] if i < len(K.VENUE_TYPES) else rng.choice(K.VENUE_TYPES)
        )
        short = commune_name.split(" ", 1)[1]
        name = f"{prefix} {short}"
        if name in used:
            name = f"{name} {rng.randint(2, 9)}"
        used.add(name)
        code = f"17{commune}{i + 1:04d}"
        day = 0 if (i < count * 0.9 or days < 2) else rng.randint(1, days - 1)
        address = f"Số {rng.randint(1, 300)}, {commune_name}, {districts[district]}"
        venues.append(
            Venue(code, name, district, commune, address, kind, weight * rng.uniform(0.3, 3.0), day)
        )
    return venues


def venue_row(venue: Venue) -> Row:
    return Row(
        {
            "venue_code": venue.code,
            "name": venue.name,
            "province_code": K.HOA_BINH,
            "district_code": venue.district_code,
            "commune_code": venue.commune_code,
            "address": venue.address,
            "venue_type": venue.venue_type,
        }
    )


# Check-ins per hour of the day (local): morning, lunch and evening peaks, a trickle at night.
HOURLY = (1, 0.5, 0.3, 0.3, 0.6, 2, 6, 12, 11, 7, 6, 9, 10, 6, 5, 5, 7, 11, 12, 9, 6, 4, 2.5, 1.5)


class Identities:
    """Per-person QR payloads and keys for check-ins, built once per person on first use."""

    def __init__(self, people: list[Person]):
        self.people = people
        self.cache: dict[int, tuple] = {}

    def get(self, person: Person) -> tuple:
        found = self.cache.get(person.person_id)
        if found is not None:
            return found
        p = person
        upper = K.strip_accents(p.full_name).upper()
        sex = "1" if p.gender == "male" else "2"
        mobile = p.phone if (p.phone and not p.landline) else ""
        doc = p.cccd or p.cmnd or ""
        personal = masked = card = None
        if p.qid:
            proxy = "1" if p.age_on(dt.date(2021, 11, 1)) < 16 else "0"
            ext = f"<{sex}<{p.bhyt or ''}<{mobile}"
            if p.cccd:
                personal = f"{p.cccd}|{upper}|{p.dob.isoformat()}|{proxy}|{p.qid}|{ext}"
            masked = f"{'*' * (len(doc) - 6)}{doc[-6:]}|{upper}|{p.dob.year}-**-**|{proxy}|{p.qid}|<{sex}<<{mobile}"
        if p.cccd and p.cccd_issued:
            card_name = p.full_name.upper() if p.person_id % 2 else p.full_name
            card = (
                f"{p.cccd}|{p.cmnd if p.cmnd_in_card_qr else ''}|{card_name}|{p.dob:%d%m%Y}|"
                f"{'Nam' if p.gender == 'male' else 'Nữ'}|{p.address}|{p.cccd_issued:%d%m%Y}"
            )
        found = (personal, masked, card, mobile, doc)
        self.cache[person.person_id] = found
        return found


def iter_checkins(
    rng: random.Random,
    day: dt.date,
    count: int,
    venues: list[Venue],
    users: list[Person],
    walkers: list[Person],
    identities: Identities,
    id_prefix: str = "",
) -> Iterator[Row]:
    """About ``count`` check-ins on ``day`` (local), in time order, lazily (memory does not grow with count).

    ``users`` have the PC-Covid app (personal QR, self-scan); ``walkers`` are scanned by staff (CCCD card QR,
    or their CCCD/CMND or phone typed in). Some visits are followed by an ``out`` scan.
    """
    cumulative = []
    total = 0.0
    for venue in venues:
        total += venue.weight
        cumulative.append(total)
    hour_total = sum(HOURLY)
    pending: list[tuple[dt.datetime, int, Row]] = []  # out-scans waiting for their time
    seq = 0
    carry = 0.0
    n_users, n_walkers = len(users), len(walkers)
    prefix = id_prefix or f"PC{day:%Y%m%d}"
    for minute in range(1440):
        carry += count * HOURLY[minute // 60] / hour_total / 60
        n = int(carry)
        carry -= n
        if n:
            seconds = sorted(rng.randrange(60) for _ in range(n))
        else:
            seconds = ()
        base = dt.datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=K.VN)
        for second in seconds:
            at = base + dt.timedelta(seconds=second)
            while pending and pending[0][0] <= at:
                _at, _n, row = heapq.heappop(pending)
                yield row
            venue = venues[bisect.bisect_right(cumulative, rng.random() * total)] if total else venues[0]
            values = {
                "venue_code": venue.code,
                "scanned_at": at,
                "direction": "in",
                "mode": "self_scan",
                "qr_payload": None,
                "citizen_id": None,
                "phone": None,
            }
            codes = []
            roll = rng.random()
            person = None
            if roll < 0.5 and n_users:
                person = users[rng.randrange(n_users)]
                personal, masked, _card, mobile, _doc = identities.get(person)
                if personal is None or rng.random() < 0.25:
                    values["qr_payload"] = masked
                    values["phone"] = mobile
                else:
                    values["qr_payload"] = personal
            elif n_walkers:
                values["mode"] = "operator_scan"
                person = walkers[rng.randrange(n_walkers)]
                personal, masked, card, mobile, doc = identities.get(person)
                how = rng.random()
                if card is not None and how < 0.65:
                    values["qr_payload"] = card
                elif personal is not None and how < 0.8:
                    values["qr_payload"] = personal
                elif doc and how < 0.95:
                    values["citizen_id"] = doc
                    if len(doc) == 9:
                        codes.append(("citizen_id", "legacy_cmnd"))
                elif mobile:
                    values["phone"] = mobile
                elif doc:
                    values["citizen_id"] = doc
                    if len(doc) == 9:
                        codes.append(("citizen_id", "legacy_cmnd"))
                else:
                    values["qr_payload"] = masked
                    values["phone"] = mobile or None
            if rng.random() < 0.05:
                values["direction"] = None  # default "in"
            seq += 1
            values["checkin_id"] = f"{prefix}{seq:08d}"
            row = Row(values, codes, person_id=person.person_id if person else None)
            # the visitor scans out later: copied now, before anything alters the "in" row
            if venue.venue_type in ("office", "hospital", "agency", "bank") and rng.random() < 0.3:
                out_at = at + dt.timedelta(minutes=rng.randint(10, 150))
                if out_at.date() == day:
                    seq += 1
                    out_values = dict(
                        values, direction="out", checkin_id=f"{prefix}{seq:08d}", scanned_at=out_at
                    )
                    heapq.heappush(
                        pending, (out_at, seq, Row(out_values, list(codes), person_id=row.person_id))
                    )
            yield row
    while pending:
        yield heapq.heappop(pending)[2]
