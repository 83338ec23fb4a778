"""A synthetic population of Hòa Bình: people, households, identity documents, phones, vaccination histories."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from covidsync.sample import knowledge as K


@dataclass(frozen=True)
class Facility:
    code: str
    name: str
    facility_type: str
    district_code: str
    commune_code: str
    datasets: tuple[str, ...]  # "vaccinations", "test_results"
    api: bool  # serves an API instead of files
    province_code: str = K.HOA_BINH


@dataclass
class Dose:
    person_id: int
    dose_number: int
    product: str  # vaccine code
    on: dt.date
    facility_code: str
    lot: str
    id_kind: str  # "cccd" | "cmnd": the document the facility recorded
    short: bool = False  # sooner than the product allows after the previous dose
    protect: bool = False  # the previous dose of a short dose: must be delivered clean
    record_id: str = ""


@dataclass
class Person:
    person_id: int
    full_name: str
    gender: str  # "male" | "female"
    dob: dt.date
    dob_year_only: bool
    cccd: str | None
    cmnd: str | None
    phone: str | None  # 10-digit mobile, an 11-digit Hòa Bình landline, or None
    phone_owner: int  # person_id of the phone's owner (families share one)
    bhyt: str | None
    district_code: str
    commune_code: str
    address: str
    birth_province: str
    household_id: int
    app_user: bool
    qid: str | None
    cccd_issued: dt.date | None
    cmnd_in_card_qr: bool
    doses: list[Dose] = field(default_factory=list)
    province_code: str = K.HOA_BINH

    @property
    def landline(self) -> bool:
        return bool(self.phone) and self.phone.startswith("02")

    def age_on(self, day: dt.date) -> int:
        return day.year - self.dob.year - ((day.month, day.day) < (self.dob.month, self.dob.day))


# Age bands (low, high, weight) for Hòa Bình, roughly the 2019 census pyramid.
AGE_BANDS = (
    (1, 4, 7),
    (5, 11, 12),
    (12, 17, 9),
    (18, 29, 17),
    (30, 44, 23),
    (45, 59, 19),
    (60, 74, 10),
    (75, 95, 3),
)


def _weighted(rng: random.Random, items):
    total = sum(w for *_, w in items)
    pick = rng.random() * total
    for item in items:
        pick -= item[-1]
        if pick < 0:
            return item
    return items[-1]


class IdAllocator:
    """Unique 12-digit CCCD and 9-digit CMND numbers."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.used: set[str] = set()

    def cccd(self, province: str, gender: str, year: int) -> str:
        century = (year - 1900) // 100
        digit = 2 * century + (1 if gender == "female" else 0)
        while True:
            value = f"0{province}{digit}{year % 100:02d}{self.rng.randrange(1_000_000):06d}"
            if value not in self.used:
                self.used.add(value)
                return value

    def cmnd(self) -> str:
        while True:
            value = f"113{self.rng.randrange(1_000_000):06d}"  # Hòa Bình CMND numbers begin 113
            if value not in self.used:
                self.used.add(value)
                return value


_FAMILIES = [name for name, _w in K.FAMILY_NAMES]
_FAMILY_CUM = list(itertools.accumulate(w for _n, w in K.FAMILY_NAMES))


def make_name(rng: random.Random, gender: str, family: str | None = None) -> str:
    family = family or rng.choices(_FAMILIES, cum_weights=_FAMILY_CUM)[0]
    middle = rng.choice(K.MIDDLE_MALE if gender == "male" else K.MIDDLE_FEMALE)
    given_pool = K.GIVEN_MALE if gender == "male" else K.GIVEN_FEMALE
    for _ in range(20):
        given = rng.choice(given_pool)
        parts = [family, middle, given]
        if rng.random() < 0.08:  # a few four-word names
            parts.insert(2, rng.choice(K.MIDDLE_MALE[3:] if gender == "male" else K.MIDDLE_FEMALE[3:]))
        name = " ".join(parts)
        if K.has_non_ascii_letter(name):
            return name
    return f"{family} {'Văn' if gender == 'male' else 'Thị'} {given}"


def _phone(rng: random.Random) -> str:
    return rng.choice(K.MOBILE_PREFIXES) + f"{rng.randrange(10_000_000):07d}"


def _bhyt(rng: random.Random, age: int) -> str:
    group = "HS" if 6 <= age <= 18 else ("TE" if age < 6 else rng.choice(("GD", "DN", "HC", "HT", "CN")))
    return f"{group}{rng.randint(1, 5)}17{rng.randrange(10**10):010d}"


def make_population(seed: int, n: int, start: dt.date) -> list[Person]:
    """``n`` people living in Hòa Bình on ``start``, in households."""
    rng = random.Random(f"{seed}:population")
    ids = IdAllocator(random.Random(f"{seed}:ids"))
    districts, communes = K.admin_units()
    by_district: dict[str, list[str]] = {}
    for code, (district, _name) in communes.items():
        by_district.setdefault(district, []).append(code)
    district_items = [(d, w) for d, w in K.DISTRICT_WEIGHTS.items()]
    people: list[Person] = []
    household = 0
    babies_wanted = max(2, n // 200)
    while len(people) < n:
        household += 1
        district = _weighted(rng, district_items)[0]
        commune = rng.choice(by_district[district])
        commune_name = communes[commune][1]
        if commune_name.startswith(("Phường", "Thị trấn")):
            street = f"Tổ {rng.randint(1, 25)}"
        else:
            street = (
                f"Xóm {rng.choice(('Mít', 'Bưởi', 'Chiềng', 'Đồng', 'Mường', 'Khú', 'Nội', 'Trên', 'Dưới'))}"
            )
            street += f" {rng.randint(1, 6)}" if rng.random() < 0.5 else ""
        address = f"{street}, {commune_name}, {districts[district]}, Tỉnh Hòa Bình"
        family = _weighted(rng, K.FAMILY_NAMES)[0]
        size = min(n - len(people), _weighted(rng, ((1, 12), (2, 20), (3, 22), (4, 26), (5, 13), (6, 7)))[0])
        head_phone: str | None = None
        head_id = len(people)
        shares = rng.random() < 0.35
        for member in range(size):
            pid = len(people)
            if member == 0:
                age = rng.randint(25, 70)
                gender = "male" if rng.random() < 0.7 else "female"
            elif member == 1:
                age = max(20, min(85, people[head_id].age_on(start) + rng.randint(-6, 4)))
                gender = "female" if people[head_id].gender == "male" else "male"
            elif babies_wanted > 0 and rng.random() < 0.25:
                age = 0
                gender = rng.choice(("male", "female"))
            else:
                low, high, _w = _weighted(rng, AGE_BANDS)
                age = rng.randint(low, high)
                gender = rng.choice(("male", "female"))
            if age == 0:
                babies_wanted -= 1
                dob = dt.date(2021, 3, 12) + dt.timedelta(
                    days=rng.randrange(max(1, (start - dt.date(2021, 3, 12)).days - 3))
                )
            else:
                dob = start - dt.timedelta(days=int(age * 365.25) + rng.randrange(1, 364))
            year_only = age >= 65 and rng.random() < 0.12
            if year_only:
                dob = dt.date(dob.year, 1, 1)
            name_family = family if member != 1 else _weighted(rng, K.FAMILY_NAMES)[0]
            full_name = make_name(rng, gender, name_family)
            birth_province = K.HOA_BINH if rng.random() < 0.9 else rng.choice(K.OTHER_BIRTH_PROVINCES)
            adult = age >= 18
            cmnd_only = adult and age >= 35 and rng.random() < 0.06  # ≈ 3 % of everyone
            cccd = None if cmnd_only else ids.cccd(birth_province, gender, dob.year)
            cmnd = ids.cmnd() if (cmnd_only or (age >= 30 and rng.random() < 0.4)) else None
            # Phones: adults mostly own one; children and some elderly use the head's.
            own = (15 <= age <= 75 and rng.random() < 0.9) or (age > 75 and rng.random() < 0.3)
            if member == 0:
                own = True
            if own and not (shares and member > 0 and rng.random() < 0.5):
                phone = _phone(rng)
                if rng.random() < 0.012:
                    phone = K.HOA_BINH_LANDLINE + f"{rng.randrange(3_000_000, 4_000_000):07d}"
                owner = pid
            elif head_phone is not None and (age < 15 or rng.random() < 0.7):
                phone, owner = head_phone, head_id
            else:
                phone, owner = None, pid
            if member == 0:
                head_phone = phone
            app_user = (
                phone is not None and not phone.startswith("02") and 14 <= age <= 70 and rng.random() < 0.6
            )
            issued = None
            if cccd and age >= 14 and rng.random() < 0.75:
                issued = dt.date(2021, 1, 5) + dt.timedelta(
                    days=rng.randrange(max(1, (start - dt.date(2021, 1, 20)).days))
                )
            people.append(
                Person(
                    person_id=pid,
                    full_name=full_name,
                    gender=gender,
                    dob=dob,
                    dob_year_only=year_only,
                    cccd=cccd,
                    cmnd=cmnd,
                    phone=phone,
                    phone_owner=owner,
                    bhyt=_bhyt(rng, age) if rng.random() < 0.9 else None,
                    district_code=district,
                    commune_code=commune,
                    address=address,
                    birth_province=birth_province,
                    household_id=household,
                    app_user=app_user,
                    qid=f"{rng.randrange(10**17, 10**18)}" if app_user or rng.random() < 0.3 else None,
                    cccd_issued=issued,
                    cmnd_in_card_qr=bool(cmnd and issued and rng.random() < 0.4),
                )
            )
    return people


# --- facilities --------------------------------------------------------------------------------------


def make_facilities(seed: int, count: int) -> list[Facility]:
    """``count`` (≥ 6) facilities with codes 17001…: hospitals, district centres, stations, private labs."""
    count = max(6, count)
    rng = random.Random(f"{seed}:facilities")
    districts, communes = K.admin_units()
    district_codes = sorted(districts)
    centre_of = {
        d: next(
            c for c, (dd, n) in sorted(communes.items()) if dd == d and n.startswith(("Thị trấn", "Phường"))
        )
        for d in district_codes
    }
    labs = max(3, count // 4)
    rest = count - 2 - labs
    centres = min(10, (rest + 1) // 2)
    stations = rest - centres
    facilities: list[Facility] = []
    seq = iter(range(1, 1000))

    def code() -> str:
        return f"17{next(seq):03d}"

    facilities.append(
        Facility(
            code(),
            "Bệnh viện Đa khoa tỉnh Hòa Bình",
            "provincial_hospital",
            "148",
            "04798",
            ("vaccinations", "test_results"),
            False,
        )
    )
    order = ["148", "152", "157", "153", "155", "159", "158", "150", "156", "154"]
    for d in order[:centres]:
        kind = "thành phố" if d == "148" else "huyện"
        dname = districts[d].split(" ", 2)[-1] if d != "148" else "Hòa Bình"
        facilities.append(
            Facility(
                code(),
                f"Trung tâm Y tế {kind} {dname}",
                "district_health_centre",
                d,
                centre_of[d],
                ("vaccinations", "test_results"),
                False,
            )
        )
    commune_list = sorted(communes)
    rng.shuffle(commune_list)
    for c in commune_list[:stations]:
        d, cname = communes[c]
        facilities.append(
            Facility(
                code(),
                f"Trạm Y tế {cname.lower().split(' ', 1)[0]} {cname.split(' ', 1)[1]}",
                "commune_health_station",
                d,
                c,
                ("vaccinations", "test_results"),
                False,
            )
        )
    lab_names = [
        "Phòng xét nghiệm Medlatec Hòa Bình",
        "Công ty TNHH Xét nghiệm Y khoa Sông Đà",
        "Phòng khám Đa khoa Hòa Bình Xanh",
        "Phòng xét nghiệm Minh Phúc",
        "Phòng khám Đa khoa Việt Mường",
        "Phòng xét nghiệm An Lạc",
    ]
    for i in range(labs):
        d = rng.choice(("148", "148", "152", "157"))
        facilities.append(
            Facility(
                code(),
                lab_names[i % len(lab_names)] + ("" if i < len(lab_names) else f" {i}"),
                "private_lab",
                d,
                centre_of[d],
                ("test_results",),
                i < 2,
            )
        )
    facilities.append(
        Facility(
            code(),
            "Bệnh viện Đa khoa tư nhân Hòa Bình An Phú",
            "private_hospital",
            "148",
            "04804",
            ("vaccinations", "test_results"),
            True,
        )
    )
    return facilities


# --- vaccination histories --------------------------------------------------------------------------

# Share of first doses per month of 2021 (most in Aug–Nov).
FIRST_DOSE_MONTHS = ((3, 1), (4, 2), (5, 2), (6, 3), (7, 6), (8, 18), (9, 26), (10, 24), (11, 18))


def _product_for(rng: random.Random, on: dt.date, age: int) -> str:
    if age < 18:
        return K.PFIZER
    choices = []
    for code, weight in (
        (K.AZ, 30),
        (K.VERO, 30),
        (K.PFIZER, 18),
        (K.MODERNA, 10),
        (K.SPUTNIK, 2),
        (K.HAYAT, 3),
        (K.ABDALA, 1),
        (K.JANSSEN, 1),
    ):
        if K.VACCINES[code].available_from <= on:
            choices.append((code, weight))
    return _weighted(rng, choices)[0]


def _lot(rng: random.Random, product: str, on: dt.date) -> str:
    prefix = K.VACCINES[product].lot_prefix
    if product == K.VERO:
        return f"{prefix}{on.month:02d}{rng.randint(10, 99)}B{rng.randint(1000, 9999)}"
    return f"{prefix}{rng.randint(1000, 99999)}"


def vaccinate(seed: int, people: list[Person], facilities: list[Facility], end: dt.date) -> None:
    """Give each person the doses they had received by ``end`` (inclusive), following each schedule."""
    rng = random.Random(f"{seed}:doses")
    vaccinating = [f for f in facilities if "vaccinations" in f.datasets]
    by_commune = {f.commune_code: f for f in vaccinating if f.facility_type == "commune_health_station"}
    by_district = {f.district_code: f for f in vaccinating if f.facility_type == "district_health_centre"}
    provincial = next(f for f in vaccinating if f.facility_type == "provincial_hospital")
    private = [f for f in vaccinating if f.facility_type == "private_hospital"]
    months = [(m, w) for m, w in FIRST_DOSE_MONTHS if dt.date(2021, m, 1) <= end]

    def where(person: Person) -> Facility:
        if person.commune_code in by_commune and rng.random() < 0.7:
            return by_commune[person.commune_code]
        roll = rng.random()
        if private and roll < 0.08:
            return rng.choice(private)
        if person.district_code in by_district and roll < 0.9:
            return by_district[person.district_code]
        return provincial

    for person in people:
        age = person.age_on(end)
        if age < 12 or (age < 18 and end < dt.date(2021, 10, 25)):
            continue
        if age < 18:
            if rng.random() > 0.45:
                continue
            first = dt.date(2021, 10, 25) + dt.timedelta(
                days=rng.randrange(max(1, (end - dt.date(2021, 10, 25)).days + 1))
            )
        else:
            if rng.random() > 0.9:
                continue
            month = _weighted(rng, months)[0]
            month_start = dt.date(2021, month, 8 if month == 3 else 1)
            month_end = (dt.date(2021, month + 1, 1) if month < 12 else dt.date(2022, 1, 1)) - dt.timedelta(
                days=1
            )
            month_end = min(month_end, end)
            first = month_start + dt.timedelta(days=rng.randrange((month_end - month_start).days + 1))
        product = _product_for(rng, first, age)
        id_kind = "cccd" if person.cccd else "cmnd"
        if person.cccd and person.cmnd and rng.random() < 0.25:
            id_kind = "cmnd"
        place = where(person)
        doses = [Dose(person.person_id, 1, product, first, place.code, _lot(rng, product, first), id_kind)]
        vaccine = K.VACCINES[product]
        on = first
        for number in range(2, vaccine.primary_doses + 1):
            next_product = product
            if product == K.AZ and on >= dt.date(2021, 7, 1) and rng.random() < 0.2:
                next_product = K.PFIZER  # mixed AZ → Pfizer (8–12 weeks)
                gap = rng.randint(56, 84)
            else:
                gap = rng.randint(*vaccine.interval)
            next_place = where(person)
            # A dose given too early (≈ 3 %), only where the earlier dose is certain to reach the pipeline
            # first or in the same file: at the same facility, which sends files. (Two facilities' history
            # files arrive the same morning in any order, and a report cannot know of a dose sent later.)
            short = (
                rng.random() < 0.03 and not place.api and not next_place.api and next_place.code == place.code
            )
            if short:
                gap = vaccine.min_interval - rng.randint(2, 7)
            on = on + dt.timedelta(days=gap)
            if on > end:
                break
            if short:
                doses[-1].protect = True
            place = next_place
            doses.append(
                Dose(
                    person.person_id,
                    number,
                    next_product,
                    on,
                    place.code,
                    _lot(rng, next_product, on),
                    doses[-1].id_kind,
                    short,
                )
            )
        if len(doses) == vaccine.primary_doses and age >= 18 and rng.random() < 0.03:
            on = on + dt.timedelta(days=rng.randint(90, 150))  # additional dose: rare in Nov 2021
            if on <= end:
                boost = rng.choice((K.PFIZER, K.MODERNA, K.AZ))
                doses.append(
                    Dose(
                        person.person_id,
                        len(doses) + 1,
                        boost,
                        on,
                        where(person).code,
                        _lot(rng, boost, on),
                        doses[-1].id_kind,
                    )
                )
        person.doses = doses


def iter_doses(people: list[Person]) -> Iterator[Dose]:
    for person in people:
        yield from person.doses
