"""The sample-data generator: its data obey the domain rules and the contract, checked by code independent of the
generator's (``covidsync.domain`` and ``sample_contract_checker``); its ground truth is exact; it is deterministic
and streams."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import inspect
import itertools
import json
import os
import time
import zipfile
from pathlib import Path

import pytest
from sample_contract_checker import check_landing, problems_as_manifest

from covidsync.domain import admin, cccd, codes, dates, qr, text, vaccines
from covidsync.sample.generator import Options, generate

XLSX_LIMIT = 4 * 1024 * 1024  # the bomb below expands to 6 MiB; every real file is far smaller
VN = dates.VN_TZ


def _generate(path: Path, **kwargs) -> Path:
    options = {"seed": 7, "persons": 300, "days": 3, "defect_rate": 0.1, "bomb_mb": 6} | kwargs
    generate(Options(out=path, **options))
    return path


@pytest.fixture(scope="module")
def defective(tmp_path_factory) -> Path:
    return _generate(tmp_path_factory.mktemp("defective"))


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    return _generate(tmp_path_factory.mktemp("clean"), seed=8, clean=True)


@pytest.fixture(scope="module")
def checked(defective) -> dict:
    return check_landing(defective / "landing", defective / "api", XLSX_LIMIT)


def _csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _manifest(root: Path) -> set:
    return {
        (r["file"], int(r["row_number"]), r["column"], r["code"], r["severity"])
        for r in _csv(root / "truth" / "manifest.csv")
    }


def _diff(expected: set, got: set) -> str:
    lines = [f"missing {x}" for x in sorted(expected - got)[:20]] + [
        f"extra {x}" for x in sorted(got - expected)[:20]
    ]
    return "\n".join(lines)


# --- identities -------------------------------------------------------------------------------------------


def test_population_identities_obey_the_domain_rules(defective):
    people = _csv(defective / "truth" / "population.csv")
    assert len(people) == 300
    cmnd_only = 0
    born_elsewhere = 0
    for p in people:
        dob = dt.date.fromisoformat(p["date_of_birth"])
        if p["cccd"]:
            info = cccd.cccd_info(p["cccd"])
            assert info is not None, p
            assert cccd.check_citizen_id(p["cccd"], birth_year=dob.year, gender=p["gender"]) == [], p
            assert info.province_code == p["birth_province_code"]
            born_elsewhere += info.province_code != "17"
        else:
            cmnd_only += 1
            assert cccd.check_citizen_id(p["cmnd"]) == ["legacy_cmnd"]
        if p["cmnd"]:
            assert len(p["cmnd"]) == 9 and p["cmnd"].isdigit()
        assert not text.name_without_diacritics(p["full_name"]), p["full_name"]
        assert text.has_vietnamese_diacritics(p["full_name"])
        assert admin.check_admin(p["province_code"], p["district_code"], p["commune_code"])
        if p["phone"] and not p["phone"].startswith("02"):
            assert p["phone"] == __import__("covidsync.domain.phone", fromlist=["x"]).normalize_phone(
                p["phone"]
            )
    assert 0 < cmnd_only < 30  # ≈ 3 %
    assert 0 < born_elsewhere < 80
    assert len({p["cccd"] for p in people if p["cccd"]}) == sum(1 for p in people if p["cccd"])
    families = {p["full_name"].split()[0] for p in people}
    assert {"Nguyễn", "Bùi", "Đinh"} <= families
    phones = [p["phone"] for p in people if p["phone"]]
    assert len(set(phones)) < len(phones)  # some families share one phone


def test_vaccination_histories_follow_schedules(defective):
    doses = _csv(defective / "truth" / "doses.csv")
    by_person: dict[str, list[dict]] = {}
    for d in doses:
        by_person.setdefault(d["person_id"], []).append(d)
        assert dt.date.fromisoformat(d["vaccinated_on"]) >= dt.date(2021, 3, 8)
        assert vaccines.canonical_vaccine(d["vaccine"]) == d["vaccine_code"]
    shorts = 0
    for items in by_person.values():
        items.sort(key=lambda d: int(d["dose_number"]))
        assert [int(d["dose_number"]) for d in items] == list(range(1, len(items) + 1))
        for prev, cur in itertools.pairwise(items):
            gap = (
                dt.date.fromisoformat(cur["vaccinated_on"]) - dt.date.fromisoformat(prev["vaccinated_on"])
            ).days
            minimum = vaccines.min_interval_days(prev["vaccine_code"], int(cur["dose_number"]))
            assert (gap < minimum) == (cur["short_interval"] == "1"), (prev, cur)
            shorts += gap < minimum
    months = [dt.date.fromisoformat(d["vaccinated_on"]).month for d in doses]
    assert sum(8 <= m <= 11 for m in months) > 0.6 * len(months)
    assert any(d["vaccine"] == "AstraZeneca" for d in doses) and any(
        d["vaccine"] == "Vero Cell" for d in doses
    )


# --- the contract, checked independently -------------------------------------------------------------------


def test_manifest_is_exactly_what_a_contract_checker_finds(defective, checked):
    expected = _manifest(defective)
    got = problems_as_manifest(checked["files"])
    assert expected == got, _diff(expected, got)


def test_api_manifest_is_exactly_what_a_contract_checker_finds(defective, checked):
    expected = {
        (r["facility_code"], r["dataset"], r["record_id"], r["column"], r["code"])
        for r in _csv(defective / "truth" / "api_manifest.csv")
    }
    assert expected == checked["api"], _diff(expected, checked["api"])


def test_file_codes_and_statuses_are_right(defective, checked):
    files = {r["file"]: r for r in _csv(defective / "truth" / "files.csv")}
    results = checked["files"]
    assert set(files) - {"registry/facilities.csv"} == set(results)
    for rel, result in results.items():
        assert (files[rel]["expected_file_code"], files[rel]["expected_status"]) == (
            result.file_code,
            result.status,
        ), rel
    file_codes = {r["expected_file_code"] for r in files.values()} - {""}
    # file_replaced needs a sender racing the pipeline: tests/integration/test_landing_hardening.py makes it;
    # registry_rejected is the arrivals sample's (tests/unit/sample/test_arrivals_sample.py); merge_failed a
    # database failing in a merge: tests/integration/test_ingest_rules_hardening.py
    assert file_codes == set(codes.FILE_CODES) - {"file_replaced", "registry_rejected", "merge_failed"}
    ignored = [r["file"] for r in files.values() if r["expected_status"] == "ignored"]
    assert any(f.endswith(".part") for f in ignored) and any(f.endswith(".tmp") for f in ignored)
    assert any(Path(f).name.startswith(".") for f in ignored)
    bomb = next(r for r in files.values() if r["expected_file_code"] == "file_too_large")
    assert (
        int(bomb["uncompressed_bytes"])
        > XLSX_LIMIT
        > os.path.getsize(defective / "landing" / bomb["file"]) * 10
    )


def test_every_row_code_is_injected(defective):
    found = {code for *_x, code, _s in _manifest(defective)}
    # codes proved by samples or tiny files of their own: arrivals (migration 0025; the arrivals sample,
    # tests/unit/sample/test_arrivals_sample_generator.py), the adoption feeds (0027;
    # tests/integration/test_adoption_feeds.py); invalid_text (issue 17) is not injected: the sample's names stay
    # as they were (the engine fixtures); tests/integration/test_ingest_rules_hardening.py and
    # tests/unit/test_textsafe.py make it
    expected = {c for c in codes.ROW_CODES if codes.ROW_CODES_ADDED.get(c) not in ("0025", "0027")} - {
        "invalid_text"
    }
    assert found == expected, expected - found
    summary = json.loads((defective / "truth" / "summary.json").read_text("utf-8"))
    assert summary["uncovered_codes"] == {}


def test_files_have_their_delivery_time_as_mtime(defective):
    for r in _csv(defective / "truth" / "files.csv"):
        delivered = dt.datetime.fromisoformat(r["delivered_at"])
        assert os.stat(defective / "landing" / r["file"]).st_mtime == delivered.timestamp(), r["file"]
    daily = [
        dt.datetime.fromisoformat(r["delivered_at"]).astimezone(VN)
        for r in _csv(defective / "truth" / "files.csv")
        if r["dataset"] in ("vaccinations", "test_results")
        and r["expected_status"].startswith("loaded")
        and "lich_su" not in r["file"]
        and "truoc" not in r["file"]
    ]
    assert all(16 <= d.hour <= 23 for d in daily)
    assert any(d.hour >= 20 for d in daily)


def test_clean_data_has_no_errors_and_only_natural_warnings(clean):
    manifest = _manifest(clean)
    assert {severity for *_x, severity in manifest} == {"warning"}
    assert {code for *_x, code, _s in manifest} <= {
        "legacy_cmnd",
        "short_dose_interval",
        "invalid_phone",
        "name_without_diacritics",
    }
    checked = check_landing(clean / "landing", clean / "api", XLSX_LIMIT)
    assert problems_as_manifest(checked["files"]) == manifest
    assert {r.status for r in checked["files"].values()} == {"loaded"}
    assert not any(r["code"] for r in _csv(clean / "truth" / "api_manifest.csv") if r["severity"] == "error")


# --- forms of contract §2 -----------------------------------------------------------------------------------


def test_every_accepted_form_appears(defective):
    files = [r for r in _csv(defective / "truth" / "files.csv") if r["expected_status"].startswith("loaded")]
    encodings = {r["encoding"] for r in files if r["format"] == "csv"}
    assert {"utf-8", "utf-8-sig", "cp1258", "utf-16"} <= encodings
    assert {"csv", "xlsx", "json", "jsonl"} <= {r["format"] for r in files}
    landing = defective / "landing"
    raw = {r["file"]: (landing / r["file"]).read_bytes() for r in files}
    assert any(b.startswith(b"\xef\xbb\xbf") for b in raw.values())
    assert any(b.startswith(b"\xff\xfe") for b in raw.values())
    cp1258 = [raw[r["file"]] for r in files if r["encoding"] == "cp1258"]
    assert cp1258 and all(
        b"\xcc" in b or b"\xec" in b or b"\xd2" in b or b"\xde" in b or b"\xf2" in b for b in cp1258
    )
    first_lines = [b.split(b"\n", 1)[0] for f, b in raw.items() if f.lower().endswith(".csv")]
    assert any(b";" in line for line in first_lines)
    assert any("Họ và tên".encode() in line for line in first_lines) and any(
        b"full_name" in line for line in first_lines
    )
    xlsx = [landing / f for f in raw if f.lower().endswith(".xlsx") and "/pccovid/" not in f]
    numeric_ids = date_cells = False
    from openpyxl import load_workbook

    for path in xlsx:
        rows = list(load_workbook(path, read_only=True).worksheets[0].iter_rows(values_only=True))
        for row in rows[1:]:
            numeric_ids |= any(isinstance(v, int) and 10**9 <= v < 10**11 for v in row)
            date_cells |= any(isinstance(v, dt.datetime) for v in row)
    assert numeric_ids and date_cells


def test_checkins_carry_both_qr_formats_and_night_scans(defective):
    path = defective / "landing" / "pccovid" / "checkins" / "checkins_2021-11-01.csv"
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    kinds, masked, night, offsets = set(), 0, 0, set()
    for r in rows:
        if r["qr_payload"]:
            try:
                info = qr.parse_qr(r["qr_payload"])
            except qr.QrError:
                continue
            kinds.add(info.kind)
            masked += info.masked
        if r["scanned_at"]:
            try:
                when = dates.parse_datetime(r["scanned_at"])
            except ValueError:
                continue
            night += when.astimezone(VN).hour < 7
            offsets.add(r["scanned_at"][19:])
    assert kinds == {"cccd", "personal"}
    assert masked > 0 and night > 0
    assert {r["mode"] for r in rows} == {"self_scan", "operator_scan"}
    assert any(r["citizen_id"] and not r["qr_payload"] for r in rows)
    assert any(r["phone"] and not r["qr_payload"] and not r["citizen_id"] for r in rows)
    assert "+07:00" in offsets


def test_pooled_tests_share_a_sample_id(defective):
    tubes: dict[str, set] = {}
    for path in (defective / "api").glob("*/test_results.jsonl"):
        for line in path.read_text("utf-8").splitlines():
            item = json.loads(line)
            if item["pooled"] == "yes" and item["sample_id"]:
                tubes.setdefault(item["sample_id"], set()).add(item["citizen_id"])
            if item["test_type"] == "antigen":
                assert item["ct_value"] is None or isinstance(item["ct_value"], str)
    assert tubes and all(len(members) >= 2 for members in tubes.values())


# --- determinism and streaming -------------------------------------------------------------------------------


def _fingerprint(root: Path) -> dict:
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            out[path.relative_to(root).as_posix()] = (
                hashlib.sha256(path.read_bytes()).hexdigest(),
                os.stat(path).st_mtime if path.parts[len(root.parts)] == "landing" else None,
            )
    return out


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    small = {"persons": 120, "days": 2, "bomb_mb": 1}
    a = _fingerprint(_generate(tmp_path / "a", **small))
    b = _fingerprint(_generate(tmp_path / "b", **small))
    assert a == b
    assert any(k.endswith(".xlsx") for k in a)
    c = _fingerprint(_generate(tmp_path / "c", seed=99, **small))
    assert a != c
    differing = [k for k in set(a) & set(c) if a[k][0] != c[k][0]]
    assert "truth/population.csv" in differing


def test_xlsx_times_are_fixed(defective):
    path = next((defective / "landing").rglob("*.xlsx"))
    with zipfile.ZipFile(path) as z:
        stamps = {i.date_time for i in z.infolist()}
        core = z.read("docProps/core.xml").decode()
    assert len(stamps) == 1 and next(iter(stamps))[0] == 2021
    assert "2021-" in core and str(dt.date.today().year) + "-" not in core.replace("2021-", "")


def test_checkin_stream_is_lazy():
    from covidsync.sample.events import Identities, iter_checkins, make_venues
    from covidsync.sample.population import make_population

    people = make_population(1, 50, dt.date(2021, 11, 1))
    venues = make_venues(1, 20, 1)
    stream = iter_checkins(
        __import__("random").Random(1),
        dt.date(2021, 11, 1),
        10**9,
        venues,
        people,
        people,
        Identities(people),
    )
    assert inspect.isgenerator(stream)
    started = time.perf_counter()
    first = list(itertools.islice(stream, 2000))
    assert len(first) == 2000 and time.perf_counter() - started < 5  # a billion were asked for


def test_only_mode_writes_one_big_file(tmp_path):
    summary = generate(
        Options(out=tmp_path, seed=3, persons=200, only="checkins", rows=5000, defect_rate=0.02)
    )
    assert summary["rows"]["checkins"] == 5000
    checked = check_landing(tmp_path / "landing", None, XLSX_LIMIT)
    assert problems_as_manifest(checked["files"]) == _manifest(tmp_path)
    generate(Options(out=tmp_path / "v", seed=3, only="vaccinations", rows=2000, defect_rate=0.02))
    checked = check_landing(tmp_path / "v" / "landing", None, XLSX_LIMIT)
    assert problems_as_manifest(checked["files"]) == _manifest(tmp_path / "v")


def test_only_mode_checkin_files_of_two_seeds_share_no_checkin_id(tmp_path):
    """The pieces of a national day are files of one day made with other seeds: their scans are other
    scans, so their ids differ (a repeated id is a resent scan, which the merge keeps once)."""
    ids = []
    for seed in (1, 2):
        out = tmp_path / f"seed{seed}"
        generate(Options(out=out, seed=seed, persons=200, only="checkins", rows=2000, defect_rate=0.0))
        (path,) = (out / "landing" / "pccovid" / "checkins").glob("*.csv")
        with path.open(encoding="utf-8", newline="") as fh:
            ids.append({row["checkin_id"] for row in csv.DictReader(fh)})
    assert len(ids[0]) == len(ids[1]) == 2000
    assert not ids[0] & ids[1]


def test_cli_generate(tmp_path):
    from covidsync.cli import main

    assert (
        main(["generate", "--seed", "2", "--persons", "80", "--days", "1", "--out", str(tmp_path), "--clean"])
        == 0
    )
    assert (tmp_path / "landing" / "registry" / "facilities.csv").exists()
    assert json.loads((tmp_path / "truth" / "summary.json").read_text("utf-8"))["persons"] == 80


def test_one_big_test_results_file_is_written(tmp_path):
    """--only test_results builds each row from one synthetic person: a pooled tube must not wait forever
    for ten distinct people out of one."""
    from covidsync.sample.generator import Options, generate

    summary = generate(
        Options(out=tmp_path, seed=3, persons=50, only="test_results", rows=300, defect_rate=0.0)
    )
    assert summary["rows"]["test_results"] == 300, summary["rows"]
    written = next((tmp_path / "landing").glob("*/test_results/bench.csv"))
    assert sum(1 for _ in written.open(encoding="utf-8")) == 301
