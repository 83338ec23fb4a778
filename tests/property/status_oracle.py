"""An independent, plain-Python reading of the health-status contract §2–§5 (docs/contract/health-status.md),
written for the property test: it never calls the build's SQL. Inputs are the generated records (each
person known by one CCCD, every scan by that CCCD's pseudonym); output, per CCCD, the status fields, the F0
episodes and the contact candidates as of ``as_of``.

Where the contract leaves a detail open, this reading takes what the contract's readers expect and the build
documents: ties of the latest test by RT-PCR first, then the latest ``resulted_at``, then the record id; a
dose on day D counts from the as_of whose local date is after D; ``recovered_on`` is the local date; a
negative pooled tube is each member's negative test (and can end an episode).

F0 episodes are decided in one sweep over time (Gauss–Seidel in order of ``sampled_at``): every test at
instant ``t`` is judged from the episodes that began before ``t``, then the episodes that begin at ``t`` are
added. The build instead computes rounds over everyone (Jacobi); both must reach the contract's unique result.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

VN = ZoneInfo("Asia/Ho_Chi_Minh")
PRIMARY = {
    "Abdala": 3,
    "BBIBP-CorV": 2,
    "EU/1/20/1507": 2,
    "EU/1/20/1525": 1,
    "EU/1/20/1528": 2,
    "EU/1/21/1529": 2,
    "Sputnik-V": 2,
    "XM9FQ7": 2,
}
NAMES = {
    "Abdala": "Abdala",
    "BBIBP-CorV": "Vero Cell",
    "EU/1/20/1507": "Moderna",
    "EU/1/20/1525": "Janssen",
    "EU/1/20/1528": "Pfizer-BioNTech",
    "EU/1/21/1529": "AstraZeneca",
    "Sputnik-V": "Sputnik V",
    "XM9FQ7": "Hayat-Vax",
}
HOUR, DAY = dt.timedelta(hours=1), dt.timedelta(days=1)
PAIR_HOURS, LOOKBACK, RECOVERY, WINDOW_BEFORE, DWELL = (
    8,
    14 * DAY,
    14 * DAY,
    2 * DAY,
    dt.timedelta(minutes=30),
)


@dataclass(frozen=True)
class Dose:
    id: int
    cccd: str
    dose_number: int
    on: dt.date
    product: str


@dataclass(frozen=True)
class Test:
    id: int
    cccd: str
    test_type: str  # RT-PCR | antigen
    pooled: bool
    result: str  # positive | negative | invalid
    sampled_at: dt.datetime
    resulted_at: dt.datetime


@dataclass(frozen=True)
class Scan:
    cccd: str
    key: str  # the pseudonym of the CCCD
    venue: str
    at: dt.datetime


@dataclass
class Episode:
    cccd: str
    since: dt.datetime
    test_id: int
    path: str
    window_end: dt.datetime
    recovered_at: dt.datetime
    recovery_test_id: int | None


@dataclass
class Reading:
    status: dict[str, dict] = field(default_factory=dict)
    episodes: list[Episode] = field(default_factory=list)
    # (f0 cccd, candidate key, venue, f0 scan, candidate scan) -> f0_since of the earliest episode giving it
    candidates: dict[tuple, dt.datetime] = field(default_factory=dict)


def read(
    as_of: dt.datetime, persons: set[str], doses: list[Dose], tests: list[Test], scans: list[Scan]
) -> Reading:
    as_of_date = as_of.astimezone(VN).date()
    doses = [d for d in doses if d.on < as_of_date]
    tests = [t for t in tests if t.sampled_at < as_of]
    scans = [s for s in scans if s.at < as_of]
    out = Reading()
    episodes = _f0(as_of, tests, scans, out)
    by_person_tests: dict[str, list[Test]] = defaultdict(list)
    for t in tests:
        by_person_tests[t.cccd].append(t)
    by_person_doses: dict[str, dict[int, Dose]] = defaultdict(dict)
    for d in sorted(doses, key=lambda d: (d.on, d.id)):
        by_person_doses[d.cccd].setdefault(d.dose_number, d)  # §2: the earliest record of a dose wins
    flagged = {
        cand_key for (_, cand_key, _, _, cand_at) in out.candidates if as_of - LOOKBACK <= cand_at < as_of
    }
    key_of = {s.cccd: s.key for s in scans}
    for cccd in persons:
        out.status[cccd] = _status(
            as_of,
            as_of_date,
            by_person_doses.get(cccd, {}),
            by_person_tests.get(cccd, []),
            episodes.get(cccd, []),
            key_of.get(cccd) in flagged if cccd in key_of else False,
        )
    return out


def _status(as_of, as_of_date, doses: dict[int, Dose], tests: list[Test], episodes, candidate) -> dict:
    s: dict = {"doses": len(doses)}
    primary = PRIMARY[doses[1].product] if 1 in doses else None
    if doses:
        last = max(doses.values(), key=lambda d: (d.on, d.dose_number))
        s["last_dose_on"], s["last_dose_product"] = last.on, NAMES[last.product]
    else:
        s["last_dose_on"] = s["last_dose_product"] = None
    complete = primary is not None and sum(1 for n in doses if n <= primary) == primary
    s["primary_complete"] = complete
    s["last_primary_dose_on"] = doses[primary].on if complete else None
    s["booster_doses"] = sum(1 for n in doses if primary is not None and n > primary)
    s["fully_vaccinated"] = complete and s["last_primary_dose_on"] <= as_of_date - dt.timedelta(days=14)
    latest = max(
        tests, key=lambda t: (t.sampled_at, t.test_type == "RT-PCR", t.resulted_at, t.id), default=None
    )
    if latest is None:
        s["latest_test_type"] = s["latest_test_result"] = s["latest_test_sampled_at"] = None
    else:
        s["latest_test_type"] = latest.test_type
        s["latest_test_result"] = (
            "pooled_positive" if latest.pooled and latest.result == "positive" else latest.result
        )
        s["latest_test_sampled_at"] = latest.sampled_at
    episode = max(episodes, key=lambda e: e.since, default=None)
    s["f0"] = episode is not None and episode.recovered_at > as_of
    s["f0_since"] = episode.since if episode else None
    s["recovered_on"] = episode.recovered_at.astimezone(VN).date() if episode and not s["f0"] else None
    s["contact_candidate"] = candidate
    recent_pcr = any(
        t.test_type == "RT-PCR" and t.result == "negative" and t.sampled_at >= as_of - 72 * HOUR
        for t in tests
    )
    first_dose = min((d.on for d in doses.values()), default=None)
    if s["f0"]:
        colour = "red"
    elif s["fully_vaccinated"]:
        colour = "green"
    elif s["recovered_on"] is not None and s["recovered_on"] >= as_of_date - dt.timedelta(days=180):
        colour = "green"
    elif first_dose is not None and first_dose <= as_of_date - dt.timedelta(days=14):
        colour = "yellow"
    elif recent_pcr:
        colour = "yellow"
    else:
        colour = "red"
    s["card_colour"] = colour
    return s


def _f0(as_of, tests: list[Test], scans: list[Scan], out: Reading) -> dict[str, list[Episode]]:
    """§3 and §5: F0 episodes in order of time, each from the episodes that began before it."""
    by_person: dict[str, list[Test]] = defaultdict(list)
    for t in sorted(tests, key=lambda t: (t.sampled_at, t.id)):
        by_person[t.cccd].append(t)
    scans_of: dict[str, list[Scan]] = defaultdict(list)
    at_venue: dict[str, list[Scan]] = defaultdict(list)
    for s in sorted(scans, key=lambda s: (s.at, s.key)):
        scans_of[s.cccd].append(s)
        at_venue[s.venue].append(s)
    venue_times = {v: [s.at for s in ss] for v, ss in at_venue.items()}
    person_of_key = {s.key: s.cccd for s in scans}

    def positive_antigen(t: Test) -> bool:
        return t.test_type == "antigen" and not t.pooled and t.result == "positive"

    def paired(t: Test) -> bool:
        return any(
            positive_antigen(e)
            and e.id != t.id
            and t.sampled_at - PAIR_HOURS * HOUR <= e.sampled_at <= t.sampled_at
            and (e.sampled_at, e.id) < (t.sampled_at, t.id)
            for e in by_person[t.cccd]
        )

    # support[cccd] = [(f0_since, candidate scan time)] of the candidacies of that person, from any F0
    support: dict[str, list[tuple[dt.datetime, dt.datetime]]] = defaultdict(list)

    def supported(t: Test) -> bool:
        return any(
            since < t.sampled_at and t.sampled_at - LOOKBACK <= at < t.sampled_at
            for since, at in support[t.cccd]
        )

    def trace(e: Episode) -> None:
        start, end = e.since - WINDOW_BEFORE, min(e.window_end, as_of)
        own = {s.key for s in scans_of[e.cccd]}
        for f in scans_of[e.cccd]:
            if not start <= f.at <= end:
                continue
            lo, hi = max(f.at - DWELL, start), min(f.at + DWELL, end)
            times = venue_times[f.venue]
            for c in at_venue[f.venue][bisect.bisect_left(times, lo) : bisect.bisect_right(times, hi)]:
                if c.key in own:
                    continue
                row = (e.cccd, c.key, f.venue, f.at, c.at)
                if row not in out.candidates or e.since < out.candidates[row]:
                    out.candidates[row] = e.since
                who = person_of_key.get(c.key)
                if who is not None and who != e.cccd:
                    support[who].append((e.since, c.at))

    def recovery(cccd: str, since: dt.datetime) -> tuple[dt.datetime, int | None]:
        for t in by_person[cccd]:  # in order of (sampled_at, id)
            if t.result == "negative" and since < t.sampled_at < since + RECOVERY:
                return t.sampled_at, t.id
        return since + RECOVERY, None

    episodes: dict[str, list[Episode]] = defaultdict(list)
    candidates = sorted(
        (t for t in tests if not t.pooled and t.result == "positive"), key=lambda t: (t.sampled_at, t.id)
    )
    i = 0
    while i < len(candidates):
        t0 = candidates[i].sampled_at
        group = []
        while i < len(candidates) and candidates[i].sampled_at == t0:
            group.append(candidates[i])
            i += 1
        judged = []  # judged from the episodes that began before t0, before any of this instant is added
        for t in group:
            if t.test_type == "RT-PCR":
                judged.append((t, "rt_pcr"))
            elif paired(t):
                judged.append((t, "antigen_pair"))
            elif supported(t):
                judged.append((t, "antigen_contact"))
        for t, path in judged:  # in order of id within the instant
            mine = episodes[t.cccd]
            if mine and t.sampled_at < mine[-1].recovered_at:
                continue  # inside an episode
            recovered_at, recovery_id = recovery(t.cccd, t.sampled_at)
            e = Episode(t.cccd, t.sampled_at, t.id, path, t.resulted_at, recovered_at, recovery_id)
            mine.append(e)
            out.episodes.append(e)
            trace(e)
    return episodes
