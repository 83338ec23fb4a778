"""API pulls end to end: the simulator over real HTTP on 127.0.0.1, a real warehouse, real data areas.

Each pull is a batch through the file pipeline (``process_file``); these tests prove the watermark, the
refusals, idempotency and the CLI, by what lands in ``core``, ``ops`` and the outbox.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time

import psycopg2
import pytest

from covidsync.cli import main
from covidsync.hooks.facility_api import ApiAuthError, ApiUnavailable, FacilityApiHook
from covidsync.ingest import api_pull, landing
from covidsync.sample.simulator import running

FACILITY = "17012"  # the private hospital: serves vaccinations and test results by API
CONN = "fac_17012"


@pytest.fixture
def setup(warehouse_url, areas, api_simulator_data, monkeypatch):
    """A warehouse knowing the facilities, the token in an Airflow connection, fast back-off."""
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN.upper()}", json.dumps({"conn_type": "http", "password": "test-token"})
    )
    monkeypatch.setenv("COVIDSYNC_HTTP_BACKOFF_BASE", "0.01")
    monkeypatch.setenv("COVIDSYNC_HTTP_RETRIES", "2")
    monkeypatch.setenv("COVIDSYNC_GX_DOCS", "0")
    conn = psycopg2.connect(warehouse_url)
    with conn:
        landing.load_registry(conn, api_simulator_data / "landing")
    yield conn
    conn.close()


def _source(conn, sim, dataset="vaccinations", page_size=10):
    return api_pull.add_source(conn, FACILITY, dataset, sim.base_url(FACILITY), CONN, page_size=page_size)


def _one(conn, sql, *params):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        row = cur.fetchone()
    conn.rollback()
    return row[0] if row and len(row) == 1 else row


def _core(conn, table="vaccination"):
    return _one(conn, f"select count(*) from core.{table} where facility_code = %s", FACILITY)  # noqa: S608


def _logged(sim, expected: int) -> list[dict]:
    """The simulator's request log (it logs a request before answering it, so every answered request is
    there; ``expected`` is only for the reader)."""
    return list(sim.requests)


def _stamp(item) -> dt.datetime:
    return dt.datetime.fromisoformat(item["updated_at"])


def test_a_pull_is_a_batch_through_the_file_pipeline(setup, api_simulator, areas):
    conn = setup
    source = _source(conn, api_simulator)
    truth = api_simulator.items(FACILITY, "vaccinations")
    summary = api_pull.pull_source(conn, source.source_id)

    assert summary["pages"] == -(-len(truth) // 10) > 10 and summary["items"] == len(truth)
    assert summary["status"] == "loaded_with_errors"  # the sample API data carries a few row defects
    file_id = summary["file_id"]
    sha, kind, name, total, loaded, rejected, final = _one(
        conn,
        "select sha256, source, original_name, rows_total, rows_loaded, rows_rejected, final_path "
        "from ops.landing_file where file_id = %s",
        file_id,
    )
    assert kind == "api" and name == f"api-vaccinations-{file_id}"
    assert total == len(truth) and loaded == _core(conn) and loaded + rejected == total and 0 < rejected < 10
    # the archived batch is the canonical JSON Lines of what was served, and its SHA-256 is the batch key
    archived = open(final, "rb").read()
    assert hashlib.sha256(archived).hexdigest() == sha
    canonical = [json.dumps(i, ensure_ascii=False, sort_keys=True, separators=(",", ":")) for i in truth]
    assert archived.decode().splitlines() == canonical
    # the facility's report, named as contract §8 says
    report = json.loads((areas["outbox"] / FACILITY / f"api-vaccinations-{file_id}.result.json").read_text())
    assert report["status"] == "loaded_with_errors" and report["rows_total"] == len(truth)
    assert report["sha256"] == sha and report["file"] == name
    assert (areas["outbox"] / FACILITY / f"api-vaccinations-{file_id}.errors.csv").exists()
    # the watermark is the newest updated_at merged
    assert _one(conn, "select watermark from ops.api_source where source_id = %s", source.source_id) == max(
        _stamp(i) for i in truth
    )
    assert not list((areas["landing"] / ".api").rglob("*.jsonl*")), "nothing left in the landing zone"


def test_the_next_pull_asks_from_the_watermark_and_finds_nothing(setup, api_simulator):
    conn = setup
    source = _source(conn, api_simulator, dataset="test_results", page_size=1000)
    first = api_pull.pull_source(conn, source.source_id)
    assert first["status"] in ("loaded", "loaded_with_errors")
    second = api_pull.pull_source(conn, source.source_id)
    assert second["status"] == "no_new_records" and second["items"] == 0
    assert "updated_since=" in _logged(api_simulator, 2)[-1]["query"]
    assert _one(conn, "select count(*) from ops.landing_file where source = 'api'") == 1


def test_resume_from_the_watermark_after_a_failed_run(setup, api_simulator_data, tmp_path):
    """Day 1 loads half the records; day 2's pull dies half-way (nothing registered, watermark kept); the
    rerun asks from day 1's watermark and loads only the rest, each record once."""
    conn = setup
    truth = [json.loads(line) for line in open(api_simulator_data / "api" / FACILITY / "vaccinations.jsonl")]
    truth.sort(key=lambda i: (_stamp(i), i["record_id"]))
    cut = next(n for n in range(len(truth) // 2, len(truth)) if _stamp(truth[n]) != _stamp(truth[n - 1]))

    def serve(items):
        folder = tmp_path / f"day{len(items)}" / "api" / FACILITY
        folder.mkdir(parents=True)
        (folder / "vaccinations.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
        return running(folder.parents[1], token="test-token")

    with serve(truth[:cut]) as day1:
        source = _source(conn, day1, page_size=10)
        api_pull.pull_source(conn, source.source_id)
    watermark = _one(conn, "select watermark from ops.api_source")
    assert watermark == _stamp(truth[cut - 1])
    loaded_day1 = _core(conn)

    class DiesOnPage2(FacilityApiHook):
        def request(self, url, params=None):
            if (params or {}).get("page") == 2:
                day2.fail("server_error", count=None)  # the server goes down mid-pull
            return super().request(url, params)

    with serve(truth) as day2:
        source = _source(conn, day2, page_size=10)  # same source, new URL: the watermark is kept
        hook = DiesOnPage2(CONN, source.base_url, page_size=10)
        with pytest.raises(ApiUnavailable):
            api_pull.pull_source(conn, source.source_id, hook=hook)
        assert hook.attempts == 1 + 3, "page 1, then page 2 tried three times"
        assert _one(conn, "select count(*) from ops.landing_file where source = 'api'") == 1
        assert _one(conn, "select watermark from ops.api_source") == watermark
        assert _core(conn) == loaded_day1
        assert not list(source.folder.glob("*")), "a failed pull leaves no partial batch"

        day2.reset()
        rerun = api_pull.pull_source(conn, source.source_id)
        asked = [r["query"] for r in _logged(day2, 2) if r["path"].endswith("/vaccinations")]
    assert all("updated_since=" in q for q in asked)
    assert rerun["items"] == len(truth) - cut
    assert _one(conn, "select watermark from ops.api_source") == _stamp(truth[-1])
    loaded = _one(conn, "select sum(rows_loaded) from ops.landing_file where source = 'api'")
    assert _core(conn) == loaded and _core(conn) > loaded_day1
    assert _one(conn, "select count(*) from core.vaccination_history") == 0, "no record loaded twice"


def test_a_field_renamed_by_the_source_refuses_the_batch_with_a_report(setup, api_simulator, areas):
    conn = setup
    source = _source(conn, api_simulator)
    api_simulator.fail("rename_field", field="citizen_id", to="cccd")  # the parser would even read 'cccd'
    summary = api_pull.pull_source(conn, source.source_id)
    assert summary["status"] == "rejected" and summary["problem"] == "missing_columns"
    assert summary["pages"] == 1, "the pull stops at the first page that breaks the contract"
    file_id = summary["file_id"]
    report = json.loads((areas["outbox"] / FACILITY / f"api-vaccinations-{file_id}.result.json").read_text())
    assert report["status"] == "rejected" and report["file_errors"] == ["missing_columns"]
    reason = _one(
        conn, "select reason from ops.file_event where file_id = %s and to_status = 'rejected'", file_id
    )
    assert "missing_columns" in reason and "cccd" in reason  # names the field, never a value
    assert _core(conn) == 0 and _one(conn, "select watermark from ops.api_source") is None
    assert list((areas["rejected"] / FACILITY / "vaccinations").rglob(f"api-vaccinations-{file_id}"))
    # the source fixes its API: the next pull asks the same window again and loads
    again = api_pull.pull_source(conn, source.source_id)
    assert again["status"] == "loaded_with_errors" and _core(conn) > 0


def test_an_operator_can_reprocess_a_refused_batch_the_parser_can_read(setup, api_simulator):
    """runbook: a renamed field the file parser knows ('cccd') loads after `files reprocess`."""
    from covidsync.ingest import pipeline

    conn = setup
    source = _source(conn, api_simulator, dataset="test_results", page_size=1000)
    api_simulator.fail("rename_field", count=None, field="citizen_id", to="cccd")
    refused = api_pull.pull_source(conn, source.source_id)
    assert refused["status"] == "rejected"
    pipeline.reprocess(conn, refused["file_id"], "cccd is their name for citizen_id", "tester")
    again = api_pull.pull_source(conn, source.source_id)  # resumes the batch, then asks from the watermark
    assert [r["status"] for r in again["resumed"]] in (["loaded"], ["loaded_with_errors"])
    assert again["status"] == "no_new_records" and _core(conn, "test_result") > 0
    assert again["watermark"] is not None


def test_malformed_json_refuses_the_batch_and_keeps_the_evidence(setup, api_simulator, areas):
    conn = setup
    source = _source(conn, api_simulator)
    first_page = api_simulator.items(FACILITY, "vaccinations")[:10]

    class MalformedOnPage2(FacilityApiHook):
        def request(self, url, params=None):
            if (params or {}).get("page") == 2:
                api_simulator.fail("malformed_json")
            return super().request(url, params)

    hook = MalformedOnPage2(CONN, source.base_url, page_size=10)
    summary = api_pull.pull_source(conn, source.source_id, hook=hook)
    assert summary["status"] == "rejected" and summary["problem"] == "unsupported_format"
    final = _one(conn, "select final_path from ops.landing_file where file_id = %s", summary["file_id"])
    lines = open(final, encoding="utf-8").read().splitlines()
    assert len(lines) == 11 and json.loads(lines[0]) == first_page[0] and lines[10].startswith('{"items"')
    assert _core(conn) == 0 and _one(conn, "select watermark from ops.api_source") is None


def test_the_same_records_pulled_twice_load_once(setup, api_simulator):
    conn = setup
    source = _source(conn, api_simulator, dataset="test_results", page_size=50)
    truth = api_simulator.items(FACILITY, "test_results")
    first = api_pull.pull_source(conn, source.source_id)
    loaded = _core(conn, "test_result")
    mark = _one(conn, "select watermark from ops.api_source")

    # a crash between the merge and the watermark update: the next pull moves it first, asks nothing twice
    with conn, conn.cursor() as cur:
        cur.execute("update ops.api_source set watermark = null, watermark_file_id = null")
    again = api_pull.pull_source(conn, source.source_id)
    assert again["status"] == "no_new_records" and _one(conn, "select watermark from ops.api_source") == mark

    # the same window pulled again (a retried task): the same bytes, the same batch, nothing loaded again
    with FacilityApiHook(CONN, source.base_url, page_size=50) as hook:
        pulled = api_pull.fetch(source, hook, None)
    assert api_pull.register_batch(conn, source, pulled, None) == (first["file_id"], False)
    assert api_pull.pull_source(conn, source.source_id)["status"] == "no_new_records"
    assert _one(conn, "select count(*) from ops.landing_file where source = 'api'") == 1
    assert _core(conn, "test_result") == loaded and not list(source.folder.glob("*"))

    # a watermark an operator sets back: the later half comes again as a new batch and replaces, never doubles
    half = _stamp(truth[len(truth) // 2])
    with conn, conn.cursor() as cur:
        cur.execute("update ops.api_source set watermark = %s", (half,))
    third = api_pull.pull_source(conn, source.source_id)
    assert third["file_id"] != first["file_id"] and third["items"] < len(truth)
    assert _core(conn, "test_result") == loaded
    assert (
        _one(
            conn,
            "select count(*) from (select record_key from core.test_result group by facility_code, record_key "
            "having count(*) > 1) d",
        )
        == 0
    )


def test_bad_credentials_register_nothing(setup, api_simulator, monkeypatch):
    conn = setup
    source = _source(conn, api_simulator)
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN.upper()}", json.dumps({"conn_type": "http", "password": "expired"})
    )
    with pytest.raises(ApiAuthError, match=f"connection '{CONN}'"):
        api_pull.pull_source(conn, source.source_id)
    assert [r["status"] for r in _logged(api_simulator, 1)] == [401], "no retry storm"
    assert _one(conn, "select count(*) from ops.landing_file") == 0
    assert not list(source.folder.glob("*"))


def test_a_batch_left_by_a_crash_is_resumed_and_never_taken_by_the_file_registration(setup, api_simulator):
    conn = setup
    source = _source(conn, api_simulator, dataset="test_results", page_size=1000)
    with FacilityApiHook(CONN, source.base_url, page_size=1000) as hook:
        pulled = api_pull.fetch(source, hook, None)
    file_id, new = api_pull.register_batch(conn, source, pulled, None)  # then the worker died
    assert new and (source.folder / f"api-test_results-{file_id}.jsonl").exists()

    registration = landing.register(conn, scope="facility")  # the facility-file DAG runs meanwhile
    assert registration.pending == [] and registration.rejected == 0
    assert _one(conn, "select count(*) from ops.landing_file") == 1
    assert (source.folder / f"api-test_results-{file_id}.jsonl").exists()

    summary = api_pull.pull_source(conn, source.source_id)
    assert [r["file_id"] for r in summary["resumed"]] == [file_id]
    assert summary["resumed"][0]["status"] in ("loaded", "loaded_with_errors")
    assert summary["status"] == "no_new_records", "the watermark moved before the next pull"


def test_cli_sources_add_and_list(setup, api_simulator, capsys):
    assert (
        main(
            [
                "sources",
                "add",
                "--facility",
                FACILITY,
                "--dataset",
                "vaccinations",
                "--url",
                api_simulator.base_url(FACILITY) + "/",
                "--conn-id",
                CONN,
                "--page-size",
                "25",
            ]
        )
        == 0
    )
    assert f"{FACILITY} vaccinations" in capsys.readouterr().out
    # adding again changes the connection, keeps one source
    assert (
        main(
            [
                "sources",
                "add",
                "--facility",
                FACILITY,
                "--dataset",
                "vaccinations",
                "--url",
                api_simulator.base_url(FACILITY),
                "--conn-id",
                "fac_17012_v2",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["sources", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and "fac_17012_v2" in out[1] and " 25 " in out[1]
    assert api_simulator.base_url(FACILITY) in out[1] and out[1].rstrip().endswith(FACILITY)
    assert (
        main(
            [
                "sources",
                "add",
                "--facility",
                "99999",
                "--dataset",
                "vaccinations",
                "--url",
                "http://x",
                "--conn-id",
                CONN,
            ]
        )
        == 2
    )
    assert "not registered" in capsys.readouterr().err
    # pull it now from the CLI
    assert (
        main(
            [
                "sources",
                "add",
                "--facility",
                FACILITY,
                "--dataset",
                "vaccinations",
                "--url",
                api_simulator.base_url(FACILITY),
                "--conn-id",
                CONN,
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["sources", "pull", "1"]) == 0
    pulled = json.loads(capsys.readouterr().out)
    assert pulled["status"] == "loaded_with_errors" and pulled["pages"] == -(-pulled["items"] // 25)


def test_one_pull_per_source_at_a_time(setup, api_simulator, warehouse_url):
    conn = setup
    source = _source(conn, api_simulator)
    other = psycopg2.connect(
        warehouse_url
    )  # an operator's `covidsync sources pull` in the middle of its pull
    try:
        with other.cursor() as cur:
            cur.execute("select pg_advisory_lock(%s, %s)", (api_pull._LOCK_NAMESPACE, source.source_id))
        assert api_pull.pull_source(conn, source.source_id)["status"] == "busy"
        assert api_simulator.requests == [] and not list(source.folder.glob("*"))
    finally:
        other.close()
    # close() returns before the server has ended that session and freed its lock: wait for it
    deadline = time.monotonic() + 10
    held = (
        "select count(*) from pg_locks where locktype = 'advisory' and classid = %s and objid = %s"
        " and database = (select oid from pg_database where datname = current_database())"
    )
    while _one(conn, held, api_pull._LOCK_NAMESPACE, source.source_id):
        assert time.monotonic() < deadline, "the closed session kept its lock"
        time.sleep(0.05)
    assert api_pull.pull_source(conn, source.source_id)["status"] == "loaded_with_errors"
