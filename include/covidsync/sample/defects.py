"""Injected row defects, one contract code each (§6), with the exact ground truth of what was injected.

An injected row carries exactly one code; it is chosen among rows that carry no natural code (and are not the
earlier dose of a short interval), so the manifest stays exact. Errors are capped per file (15 % of rows) so
that an ordinary file never trips the batch gate (20 %); the file meant to trip it is built separately.
The catalogue, per code: how the row is altered (see ``docs/sample-data.md``).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from covidsync.ingest import plausible
from covidsync.sample import knowledge as K
from covidsync.sample.events import person_values
from covidsync.sample.population import Person
from covidsync.sample.render import Raw, Row

WARNINGS = frozenset({"invalid_phone", "legacy_cmnd", "short_dose_interval", "name_without_diacritics"})
ERROR_CAP = 0.15

CODES = {
    "vaccinations": (
        "missing_required",
        "invalid_citizen_id",
        "unknown_province_in_id",
        "id_birth_year_mismatch",
        "id_gender_mismatch",
        "invalid_date",
        "future_date",
        "before_campaign",
        "event_before_birth",
        "unknown_vaccine",
        "invalid_dose_number",
        "invalid_admin_code",
        "facility_mismatch",
        "duplicate_in_file",
        "invalid_phone",
        "name_without_diacritics",
    ),
    "test_results": (
        "missing_required",
        "invalid_citizen_id",
        "unknown_province_in_id",
        "id_birth_year_mismatch",
        "id_gender_mismatch",
        "invalid_date",
        "future_date",
        "event_before_birth",
        "invalid_admin_code",
        "invalid_test_type",
        "invalid_result",
        "invalid_ct_value",
        "result_before_sample",
        "duplicate_in_file",
        "invalid_phone",
        "name_without_diacritics",
    ),
    "checkins": (
        "missing_required",
        "invalid_date",
        "future_date",
        "invalid_qr_payload",
        "unknown_venue",
        "missing_person_key",
        "duplicate_in_file",
        "invalid_phone",
    ),
}
# Codes natural to real data (not injected): legacy_cmnd, short_dose_interval (and some invalid_phone,
# name_without_diacritics), reported wherever they occur.
NATURAL = ("legacy_cmnd", "short_dose_interval", "invalid_phone", "name_without_diacritics")

REQUIRED = {
    "vaccinations": (
        "full_name",
        "date_of_birth",
        "gender",
        "citizen_id",
        "vaccine",
        "lot_number",
        "dose_number",
        "vaccinated_on",
    ),
    "test_results": (
        "sample_id",
        "full_name",
        "date_of_birth",
        "gender",
        "citizen_id",
        "sampled_at",
        "result",
        "resulted_at",
    ),
    "checkins": ("checkin_id", "venue_code", "scanned_at"),
}

BAD_IDS = ("01712345", "0171234567", "01709012345678", "0170901234S6", "17-090-123456", "0170901234")
BAD_DATES = (
    "31/02/2021",
    "32/10/2021",
    "2021-13-05",
    "10/31/2021",
    "29/02/2021",
    "N/A",
    "ngày 5/11",
    "00/00/2021",
)
BAD_BIRTH_DATES = ("31/02/1985", "1985-00-12", "00/00/1979", "12/25/1980", "30/02/1990", "19/19/1961")
BAD_DATETIMES = (
    "25/10/2021 25:10",
    "2021-11-02T08:61:00",
    "hôm qua 9h",
    "02/11/2021 8h30",
    "2021-02-30 09:00",
)
BAD_PHONES = ("12345", "0912 345", "0218 3852 447", "0000000000", "+1 202 555 0134", "091234567")
BAD_TEST_TYPES = ("Elisa", "Kháng thể", "LAMP", "Sàng lọc", "Test kháng thể nhanh")
BAD_RESULTS = ("Đang chờ", "N/A", "+", "Nghi ngờ", "Chờ kết quả")
BAD_QR = (
    "https://qr.tokhaiyte.vn/venue/1704789",
    "017090123456|NGUYEN VAN A|01011990|Nam|Hòa Bình|15042021",
    "HS4017012087882",
    "017090123456|||",
    "VNEID:7f3e9a1c",
)
UNREGISTERED_VENUES = ("1799999001", "1704789999", "HB-QR-000123", "1705266888")


@dataclass
class FileContext:
    """What the injector needs to know about the file being written."""

    dataset: str
    columns: tuple[str, ...]
    facility_code: str
    delivered_at: dt.datetime
    other_facilities: tuple[str, ...] = ()
    allow_future: bool = True
    allow_duplicates: bool = True
    used_babies: set = field(default_factory=set)
    used_values: set = field(default_factory=set)
    blank_key_used: bool = False

    @property
    def key_column(self) -> str:
        if self.dataset == "checkins":
            return "checkin_id"
        return "record_id" if "record_id" in self.columns else "citizen_id"


class Injector:
    """Injects defects at ``rate`` into the rows of one dataset, remembering which codes were used."""

    def __init__(self, dataset: str, rng: random.Random, rate: float, babies: list[Person], communes: dict):
        self.dataset = dataset
        self.rng = rng
        self.rate = rate
        self.babies = babies
        self.communes = communes
        self.uncovered = list(CODES.get(dataset, ()))
        self.counts: dict[str, int] = {}

    # -- the per-file stream ----------------------------------------------------------------------------

    def run(
        self, rows: Iterable[Row], ctx: FileContext, error_share: float = ERROR_CAP, force: bool = False
    ) -> Iterator[Row]:
        """Rows with defects injected; ``force`` makes every eligible row defective up to ``error_share``."""
        errors = 0
        emitted = 0
        delayed: list[tuple[int, Row]] = []
        rng = self.rng
        for row in rows:
            if self.rate > 0 and not row.codes and not row.protect and (force or rng.random() < self.rate):
                can_error = errors + 1 <= error_share * (emitted + 1)
                code = self._choose(row, ctx, can_error)
                if code == "duplicate_in_file":
                    copy = Row(
                        dict(row.values), [(ctx.key_column, "duplicate_in_file")], person_id=row.person_id
                    )
                    delayed.append((emitted + 1 + rng.randint(1, 4), copy))
                    errors += 1
                elif code is not None and self._apply(code, row, ctx):
                    self._count(code)
                    if code not in WARNINGS:
                        errors += 1
            emitted += 1
            yield row
            while delayed and delayed[0][0] <= emitted and errors <= error_share * (emitted + 1):
                _, copy = delayed.pop(0)
                emitted += 1
                self._count("duplicate_in_file")
                yield copy
        for _, copy in delayed:
            if errors <= error_share * (emitted + 1) or force:
                emitted += 1
                self._count("duplicate_in_file")
                yield copy

    def _count(self, code: str) -> None:
        self.counts[code] = self.counts.get(code, 0) + 1
        if code in self.uncovered:
            self.uncovered.remove(code)

    def _choose(self, row: Row, ctx: FileContext, can_error: bool) -> str | None:
        candidates = [c for c in CODES[ctx.dataset] if self._applicable(c, row, ctx)]
        if not can_error:
            candidates = [c for c in candidates if c in WARNINGS]
        if not candidates:
            return None
        wanted = [c for c in self.uncovered if c in candidates]
        if wanted:
            return wanted[0]
        return self.rng.choice(candidates)

    def _applicable(self, code: str, row: Row, ctx: FileContext) -> bool:
        v = row.values
        cid = v.get("citizen_id")
        cccd = isinstance(cid, str) and len(cid) == 12
        if code == "duplicate_in_file":
            return ctx.allow_duplicates
        if code == "missing_required":
            return True
        if code in ("invalid_citizen_id",):
            return cid is not None
        if code in ("unknown_province_in_id", "id_birth_year_mismatch", "id_gender_mismatch"):
            return cccd
        if code == "future_date":
            return ctx.allow_future
        if code == "before_campaign":
            return v.get("dose_number") == 1
        if code == "event_before_birth":
            return any(b.person_id not in ctx.used_babies for b in self.babies)
        if code == "facility_mismatch":
            return "facility_code" in ctx.columns and bool(ctx.other_facilities)
        if code == "invalid_phone":
            if "phone" not in ctx.columns:
                return False
            if ctx.dataset == "checkins":
                return bool(v.get("qr_payload") or v.get("citizen_id"))
            return True
        if code == "name_without_diacritics":
            return True
        return True

    # -- the defects ------------------------------------------------------------------------------------

    def _apply(self, code: str, row: Row, ctx: FileContext) -> bool:
        rng = self.rng
        v = row.values
        column = None
        if code == "missing_required":
            choices = list(REQUIRED[ctx.dataset])
            if ctx.key_column in choices and ctx.blank_key_used:
                choices.remove(ctx.key_column)
            column = rng.choice(choices)
            if column == ctx.key_column:
                ctx.blank_key_used = True
            v[column] = Raw("  ") if rng.random() < 0.2 else None
        elif code == "invalid_citizen_id":
            column = "citizen_id"
            v[column] = Raw(self._bad_id(ctx))
        elif code == "unknown_province_in_id":
            column = "citizen_id"
            v[column] = Raw(rng.choice(K.NON_PROVINCE_PREFIXES) + v["citizen_id"][3:])
        elif code == "id_birth_year_mismatch":
            column = "citizen_id"
            cid = v["citizen_id"]
            yy = (int(cid[4:6]) + rng.randint(1, 9)) % 100
            v[column] = Raw(f"{cid[:4]}{yy:02d}{cid[6:]}")
        elif code == "id_gender_mismatch":
            column = "citizen_id"
            cid = v["citizen_id"]
            v[column] = Raw(f"{cid[:3]}{int(cid[3]) ^ 1}{cid[4:]}")
        elif code == "invalid_date":
            if ctx.dataset == "checkins":
                column = "scanned_at"
                v[column] = Raw(rng.choice(BAD_DATETIMES))
            else:
                events = (
                    ("vaccinated_on",) if ctx.dataset == "vaccinations" else ("sampled_at", "resulted_at")
                )
                column = rng.choice(("date_of_birth", *events))
                if column == "date_of_birth":
                    v[column] = Raw(rng.choice(BAD_BIRTH_DATES))
                elif column == "vaccinated_on":
                    v[column] = Raw(rng.choice(BAD_DATES))
                else:
                    v[column] = Raw(rng.choice(BAD_DATETIMES))
        elif code == "future_date":
            if ctx.dataset == "vaccinations":
                column = "vaccinated_on"
                v[column] = ctx.delivered_at.astimezone(K.VN).date() + dt.timedelta(days=rng.randint(2, 40))
            elif ctx.dataset == "test_results":
                column = "resulted_at"
                v[column] = ctx.delivered_at + dt.timedelta(hours=rng.randint(2, 72))
            else:
                column = "scanned_at"
                v[column] = ctx.delivered_at + dt.timedelta(hours=rng.randint(2, 24 * 60))
                if v[column] > ctx.delivered_at + dt.timedelta(minutes=plausible.DEFAULT_SKEW_MINUTES):
                    row.codes.append((column, "time_out_of_window"))  # issue 17: beyond the default skew too
        elif code == "before_campaign":
            column = "vaccinated_on"
            v[column] = dt.date(2020, 12, 1) + dt.timedelta(days=rng.randrange(96))
        elif code == "event_before_birth":
            free = [b for b in self.babies if b.person_id not in ctx.used_babies]
            baby = rng.choice(free)
            ctx.used_babies.add(baby.person_id)
            identity, _codes = person_values(baby)
            identity["phone"] = baby.phone if (baby.phone and not baby.landline) else None
            v.update(identity)
            row.person_id = baby.person_id
            if "health_insurance_no" in v:
                v["health_insurance_no"] = baby.bhyt
                v["address"] = baby.address
            if ctx.dataset == "vaccinations":
                column = "vaccinated_on"
                span = (baby.dob - K.CAMPAIGN_START).days
                v["dose_number"] = 1
                v[column] = K.CAMPAIGN_START + dt.timedelta(days=rng.randrange(max(1, span - 1)))
            else:
                column = "sampled_at"
                v[column] = dt.datetime.combine(
                    baby.dob - dt.timedelta(days=rng.randint(3, 60)), dt.time(9, 30), K.VN
                )
                v["sample_id"] = (
                    f"{v['sample_id']}B"  # a tube of its own: no other row shares person + sample
                )
                v["pooled"] = False
        elif code == "unknown_vaccine":
            column = "vaccine"
            v[column] = Raw(rng.choice(K.UNKNOWN_VACCINES))
        elif code == "invalid_dose_number":
            column = "dose_number"
            v[column] = Raw(rng.choice(("0", "5", "6", "10", "7")))
        elif code == "invalid_admin_code":
            column = self._bad_admin(v)
        elif code == "facility_mismatch":
            column = "facility_code"
            v[column] = rng.choice(ctx.other_facilities)
        elif code == "invalid_test_type":
            column = "test_type"
            v[column] = Raw(rng.choice(BAD_TEST_TYPES))
            if v.get("ct_value") is not None:
                v["ct_value"] = None  # a ct value with an unknown test type would be a second doubt
        elif code == "invalid_result":
            column = "result"
            v[column] = Raw(rng.choice(BAD_RESULTS))
        elif code == "invalid_ct_value":
            column = "ct_value"
            if v["test_type"] == "antigen":
                v[column] = round(rng.uniform(18, 30), 1)
            else:
                v[column] = Raw(rng.choice(("47.5", "-3", "99", "50")))
        elif code == "result_before_sample":
            column = "resulted_at"
            v[column] = v["sampled_at"] - dt.timedelta(minutes=rng.randint(30, 300))
        elif code == "invalid_qr_payload":
            column = "qr_payload"
            v[column] = Raw(rng.choice(BAD_QR))
            if not v.get("citizen_id") and not v.get("phone"):
                # keep a usable key, so that the row carries this code alone (see docs/sample-data.md)
                v["phone"] = rng.choice(K.MOBILE_PREFIXES) + f"{rng.randrange(10**7):07d}"
        elif code == "unknown_venue":
            column = "venue_code"
            v[column] = Raw(rng.choice(UNREGISTERED_VENUES))
        elif code == "missing_person_key":
            column = ""
            v["qr_payload"] = v["citizen_id"] = v["phone"] = None
        elif code == "invalid_phone":
            column = "phone"
            v[column] = Raw(rng.choice(BAD_PHONES))
        elif code == "name_without_diacritics":
            column = "full_name"
            plain = K.strip_accents(v["full_name"])
            v[column] = plain.upper() if rng.random() < 0.5 else plain
        else:  # pragma: no cover
            raise ValueError(code)
        row.codes.append((column, code))
        return True

    def _bad_id(self, ctx: FileContext) -> str:
        """A malformed ID, never twice in one file (rows without record_id are keyed by ID + dose)."""
        rng = self.rng
        while True:
            form = rng.choice(BAD_IDS)
            value = "".join(
                str(rng.randrange(10)) if ch.isdigit() and i > 3 else ch for i, ch in enumerate(form)
            )
            if value not in ctx.used_values:
                ctx.used_values.add(value)
                return value

    def _bad_admin(self, v: dict) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.4:  # a real commune of another district
            district = v["district_code"]
            others = [c for c, (d, _n) in self.communes.items() if d != district]
            v["commune_code"] = rng.choice(sorted(others))
            return "commune_code"
        if roll < 0.6:
            v["commune_code"] = Raw(rng.choice(("04790", "05999", "99999", "04788")))
            return "commune_code"
        if roll < 0.85:  # the former Kỳ Sơn district (merged into Hòa Bình city in 2019)
            v["district_code"] = Raw(rng.choice(("151", "160", "999")))
            return "district_code"
        v["province_code"] = Raw(rng.choice(("18", "71", "00")))
        return "province_code"
