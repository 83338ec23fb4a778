"""The arrivals sample (issue 24): deterministic; both kinds, both apps, proxies, symptoms; scan + declaration,
scan only, declaration only; a level change between two journeys; every new code in its manifest; its truth
follows the contract's default matrix."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

from covidsync.domain import codes
from covidsync.sample.arrivals import DEFAULT_MATRIX, ArrivalsSample

START = dt.date(2021, 11, 1)


def _write(out: Path, **kwargs) -> Path:
    options = {"seed": 3, "start": START, "days": 3, "facility_code": "17001", "travellers": 30} | kwargs
    ArrivalsSample(**options).write(out / "landing", out / "truth")
    return out


def _csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    return _write(tmp_path_factory.mktemp("arrivals"))


def test_every_arrivals_code_is_in_the_manifest(sample):
    found = {r["code"] for r in _csv(sample / "truth" / "arrivals_manifest.csv")}
    assert found == {c for c, m in codes.ROW_CODES_ADDED.items() if m == "0025"} - {"invalid_measure"}
    files = _csv(sample / "truth" / "arrivals_files.csv")
    assert {f["expected_file_code"] for f in files} == {"", "registry_rejected"}


def test_declarations_cover_kinds_apps_proxies_symptoms(sample):
    folder = sample / "landing" / "pccovid" / "declarations"
    rows = [r for p in sorted(folder.glob("*.csv")) for r in _csv(p)]
    rows += [
        json.loads(line) for p in sorted(folder.glob("*.jsonl")) for line in p.read_text("utf-8").splitlines()
    ]
    assert {r["kind"] for r in rows} >= {"movement", "health"}
    assert {r["app"] for r in rows} == {"pccovid", "sskdt"}
    assert any(r.get("declared_by") == "proxy" for r in rows)
    assert any(r.get("fever") == "Có" for r in rows) and any(r.get("contact_with_f0") == "Có" for r in rows)
    venues = _csv(sample / "landing" / "pccovid" / "venues" / "chot_kiem_dich.csv")
    assert {v["venue_type"] for v in venues} == {"checkpoint"}


def test_truth_follows_the_matrix_and_the_level_change(sample):
    arrivals = _csv(sample / "truth" / "arrivals.csv")
    assert {a["seen"] for a in arrivals} == {"both", "scan", "declaration"}
    assert {a["category"] for a in arrivals} == {"recovered", "fully_vaccinated", "not_fully_vaccinated"}
    for a in arrivals:
        measure, days, test_days = DEFAULT_MATRIX[int(a["origin_level"])][
            ("recovered", "fully_vaccinated", "not_fully_vaccinated").index(a["category"])
        ]
        day = dt.datetime.fromisoformat(a["arrived_at"]).date()
        assert (a["measure"], int(a["days"])) == (measure, days)
        assert a["ends_on"] == (day + dt.timedelta(days=days - 1)).isoformat()
        assert a["due_dates"] == ";".join((day + dt.timedelta(days=d - 1)).isoformat() for d in test_days)
        if a["seen"] == "scan":
            assert (a["origin_known"], a["origin_level"]) == ("0", "2")
    by_person: dict[str, list[dict]] = {}
    for a in arrivals:
        by_person.setdefault(a["person_identifier"], []).append(a)
    twice = [rows for rows in by_person.values() if len(rows) == 2]
    assert twice and all(
        rows[0]["measure"] != rows[1]["measure"] or rows[0]["origin_level"] != rows[1]["origin_level"]
        for rows in twice
    )
    levels = _csv(sample / "truth" / "risk_levels.csv")
    assert 30 <= len({r["area_code"] for r in levels}) <= 60 and {r["version"] for r in levels} == {"1", "2"}


def test_same_seed_same_bytes(tmp_path, sample):
    again = _write(tmp_path)

    def digest(root: Path) -> dict[str, str]:
        return {
            p.relative_to(root).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }

    assert digest(again) == digest(sample)


def test_clean_has_no_bad_rows(tmp_path):
    clean = _write(tmp_path, clean=True)
    assert {r["code"] for r in _csv(clean / "truth" / "arrivals_manifest.csv")} == {
        "destination_outside_province"
    }
