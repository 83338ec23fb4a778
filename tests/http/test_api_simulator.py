"""The facility/lab API simulator over real HTTP on 127.0.0.1 (contract §8): paging, ``updated_since``,
the bearer token, and every failure mode, at start and at run time. No mocked HTTP."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time

import pytest
import requests

from covidsync.sample.simulator import running

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
VACCINATION_FIELDS = {
    "record_id",
    "full_name",
    "date_of_birth",
    "gender",
    "citizen_id",
    "phone",
    "health_insurance_no",
    "province_code",
    "district_code",
    "commune_code",
    "address",
    "vaccine",
    "lot_number",
    "dose_number",
    "vaccinated_on",
    "facility_code",
    "updated_at",
}
TEST_FIELDS = {
    "record_id",
    "sample_id",
    "full_name",
    "date_of_birth",
    "gender",
    "citizen_id",
    "phone",
    "province_code",
    "district_code",
    "commune_code",
    "test_type",
    "pooled",
    "sampled_at",
    "result",
    "ct_value",
    "resulted_at",
    "updated_at",
}


def _get(sim, facility, dataset, timeout=5, headers=AUTH, **params):
    return requests.get(
        f"{sim.base_url(facility)}/{dataset}", params=params, headers=headers, timeout=timeout
    )


def _pull(sim, facility, dataset, **params) -> tuple[list[dict], int]:
    items, page, pages = [], 1, 0
    while page is not None:
        response = _get(sim, facility, dataset, page=page, **params)
        assert response.status_code == 200, response.text
        body = response.json()
        items.extend(body["items"])
        pages += 1
        assert body["next_page"] in (None, page + 1)
        page = body["next_page"]
    return items, pages


def _key(item):
    return (dt.datetime.fromisoformat(item["updated_at"]), item["record_id"])


def test_paging_returns_every_record_once_in_order(api_simulator):
    facility = api_simulator.facilities("vaccinations")[0]
    truth = api_simulator.items(facility, "vaccinations")
    assert len(truth) > 50
    items, pages = _pull(api_simulator, facility, "vaccinations", page_size=7)
    assert pages == -(-len(truth) // 7) and pages > 5
    assert [i["record_id"] for i in items] == [i["record_id"] for i in truth]
    assert len({i["record_id"] for i in items}) == len(items)
    assert [_key(i) for i in items] == sorted(_key(i) for i in items)
    assert set(items[0]) == VACCINATION_FIELDS
    stamps = [i["updated_at"] for i in items]
    assert len(set(stamps)) < len(stamps)  # ties on updated_at, broken by record_id


def test_test_results_carry_the_contract_fields(api_simulator):
    facility = api_simulator.facilities("test_results")[0]
    items, _pages = _pull(api_simulator, facility, "test_results", page_size=1000)
    assert items and set(items[0]) == TEST_FIELDS


def test_default_page_size_and_past_the_end(api_simulator):
    facility = api_simulator.facilities("vaccinations")[0]
    body = _get(api_simulator, facility, "vaccinations").json()
    assert len(body["items"]) == 100 and body["next_page"] == 2
    last = _get(api_simulator, facility, "vaccinations", page=10_000).json()
    assert last == {"items": [], "next_page": None}


def test_updated_since_is_exclusive(api_simulator):
    facility = api_simulator.facilities("vaccinations")[0]
    truth = api_simulator.items(facility, "vaccinations")
    stamps = [i["updated_at"] for i in truth]
    tied = max(set(stamps), key=stamps.count)  # the stamp most records share
    since = dt.datetime.fromisoformat(tied)
    items, _ = _pull(api_simulator, facility, "vaccinations", updated_since=tied, page_size=50)
    assert items == [i for i in truth if dt.datetime.fromisoformat(i["updated_at"]) > since]
    assert all(dt.datetime.fromisoformat(i["updated_at"]) > since for i in items)
    # the same instant in UTC, and without an offset (+07:00 is implied), give the same answer
    utc = since.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert _pull(api_simulator, facility, "vaccinations", updated_since=utc, page_size=50)[0] == items
    naive = since.astimezone(dt.timezone(dt.timedelta(hours=7))).replace(tzinfo=None).isoformat()
    assert _pull(api_simulator, facility, "vaccinations", updated_since=naive, page_size=50)[0] == items
    just_before = (since - dt.timedelta(seconds=1)).isoformat()
    with_tied, _ = _pull(api_simulator, facility, "vaccinations", updated_since=just_before, page_size=50)
    assert len(with_tied) - len(items) == stamps.count(tied)


def test_bearer_token_is_required(api_simulator):
    facility = api_simulator.facilities("vaccinations")[0]
    missing = _get(api_simulator, facility, "vaccinations", headers={})
    assert missing.status_code == 401 and "Bearer" in missing.headers["WWW-Authenticate"]
    wrong = _get(api_simulator, facility, "vaccinations", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert _get(api_simulator, facility, "vaccinations").status_code == 200


def test_unknown_paths_and_bad_queries(api_simulator):
    facility = api_simulator.facilities("vaccinations")[0]
    assert _get(api_simulator, "99999", "vaccinations").status_code == 404
    assert _get(api_simulator, facility, "checkins").status_code == 404
    assert _get(api_simulator, facility, "vaccinations", page=0).status_code == 400
    assert _get(api_simulator, facility, "vaccinations", page_size=5000).status_code == 400
    assert _get(api_simulator, facility, "vaccinations", updated_since="yesterday").status_code == 400


def _control(sim, body):
    response = requests.post(f"{sim.url}/_control", json=body, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(
    ("failure", "status"), [({"mode": "unauthorized"}, 401), ({"mode": "forbidden"}, 403)]
)
def test_token_rejected_on_demand(api_simulator, failure, status):
    facility = api_simulator.facilities("test_results")[0]
    _control(api_simulator, {"fail": failure})
    assert _get(api_simulator, facility, "test_results").status_code == status
    assert _get(api_simulator, facility, "test_results").status_code == 200


def test_rate_limit_with_retry_after(api_simulator):
    facility = api_simulator.facilities("test_results")[0]
    _control(api_simulator, {"fail": {"mode": "rate_limit", "count": 2, "retry_after": 3}})
    for _ in range(2):
        response = _get(api_simulator, facility, "test_results")
        assert response.status_code == 429 and response.headers["Retry-After"] == "3"
    assert _get(api_simulator, facility, "test_results").status_code == 200


def test_server_errors_for_the_next_n_requests(api_simulator):
    facility = api_simulator.facilities("test_results")[0]
    api_simulator.fail("server_error", count=3, status=502)
    _control(api_simulator, {"fail": {"mode": "server_error", "count": 1}})
    statuses = [_get(api_simulator, facility, "test_results").status_code for _ in range(5)]
    assert statuses == [502, 502, 502, 503, 200]
    log = requests.get(f"{api_simulator.url}/_control", timeout=5).json()
    assert [r["status"] for r in log["requests"] if r["path"].endswith("/test_results")] == statuses
    assert log["failures"] == []


def test_failures_can_target_one_dataset(api_simulator):
    vacc = api_simulator.facilities("vaccinations")[0]
    tests = api_simulator.facilities("test_results")[0]
    api_simulator.fail("server_error", count=None, dataset="test_results")
    assert _get(api_simulator, vacc, "vaccinations").status_code == 200
    assert _get(api_simulator, tests, "test_results").status_code == 503
    assert _get(api_simulator, tests, "test_results").status_code == 503
    _control(api_simulator, {"reset": True})
    assert _get(api_simulator, tests, "test_results").status_code == 200


def test_delay_longer_than_the_client_timeout(api_simulator):
    facility = api_simulator.facilities("vaccinations")[0]
    _control(api_simulator, {"fail": {"mode": "delay", "delay": 2}})
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        _get(api_simulator, facility, "vaccinations", timeout=0.5)
    assert time.monotonic() - started < 1.5
    assert _get(api_simulator, facility, "vaccinations", timeout=5).status_code == 200  # served meanwhile


def test_renamed_field(api_simulator):
    facility = api_simulator.facilities("vaccinations")[0]
    api_simulator.fail("rename_field", field="citizen_id", to="so_cccd")
    items = _get(api_simulator, facility, "vaccinations").json()["items"]
    assert items and all("so_cccd" in i and "citizen_id" not in i for i in items)
    assert "citizen_id" in _get(api_simulator, facility, "vaccinations").json()["items"][0]


def test_malformed_json(api_simulator):
    facility = api_simulator.facilities("vaccinations")[0]
    _control(api_simulator, {"fail": {"mode": "malformed_json"}})
    response = _get(api_simulator, facility, "vaccinations")
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)
    assert _get(api_simulator, facility, "vaccinations").json()["items"]


def test_control_rejects_unknown_modes(api_simulator):
    response = requests.post(f"{api_simulator.url}/_control", json={"fail": {"mode": "explode"}}, timeout=5)
    assert response.status_code == 400


def test_failures_set_at_start(api_simulator_data):
    with running(api_simulator_data, token="t0", failures=[{"mode": "rate_limit", "retry_after": 7}]) as sim:
        facility = sim.facilities("vaccinations")[0]
        url = f"{sim.base_url(facility)}/vaccinations"
        first = requests.get(url, headers={"Authorization": "Bearer t0"}, timeout=5)
        assert first.status_code == 429 and first.headers["Retry-After"] == "7"
        assert requests.get(url, headers={"Authorization": "Bearer t0"}, timeout=5).status_code == 200


def test_cli_simulator(api_simulator_data):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    code = "import sys; from covidsync.cli import main; sys.exit(main(sys.argv[1:]))"
    args = [
        "simulator",
        "--data",
        str(api_simulator_data),
        "--port",
        "0",
        "--token",
        "cli-token",
        "--fail",
        '{"mode": "server_error", "status": 500}',
    ]
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert "http://127.0.0.1:" in line, line
        base = line.split(" on ")[1].split()[0]
        facility_url = proc.stdout.readline().strip()
        assert facility_url.startswith(base)
        headers = {"Authorization": "Bearer cli-token"}
        assert requests.get(facility_url, headers=headers, timeout=5).status_code == 500
        body = requests.get(facility_url, headers=headers, params={"page_size": 3}, timeout=5).json()
        assert len(body["items"]) == 3 and body["next_page"] == 2
    finally:
        proc.terminate()
        proc.wait(10)
