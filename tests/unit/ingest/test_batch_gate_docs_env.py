"""Data Docs pages rendered with one shared Jinja environment are byte for byte GX's own (issue 16, e28-docs).

The gate patches GX's ``DefaultJinjaView`` so that every page of a process renders with one environment per
kind of view and configuration (its templates loaded once), instead of a new one a page. Here the same
stored validation results of three datasets are rendered into a whole site (validation pages, suites'
pages, index) with the patch and with GX's own constructor; the two sites must be identical but for
GX's random element ids, and with the links' cache-busting timestamps fixed for both renders alike.
"""

from __future__ import annotations

import datetime as _datetime
import re
import shutil
from pathlib import Path

import pytest
from test_batch_gate import TEST_RESULTS
from test_batch_gate import VACCINATIONS as _GATE_VACCINATIONS

from covidsync.ingest import batch_gate

GX_DIR = Path(__file__).resolve().parents[3] / "great_expectations"

# the batch gate's own profiles (test_batch_gate.py, this folder), the vaccinations' with a duplicate key: one
# failed critical expectation
VACCINATIONS = {**_GATE_VACCINATIONS, "duplicate_keys": 2}
CHECKINS = {
    "file_id": 19,
    "dataset": "checkins",
    "facility_code": "17001",
    "rows_total": 500,
    "rows_rejected": 3,
    "rejected_share": 0.006,
    "max_rejected_share": 0.2,
    "duplicate_keys": 0,
    "null_keys": 1,
    "value_counts": {"direction": {"in": 300, "out": 197}},
    "history": {"days": 3, "rows_mean": 480.0, "rows_std": 30.0},
}


@pytest.fixture
def gx_dir(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "great_expectations"
    shutil.copytree(GX_DIR, root, ignore=shutil.ignore_patterns("uncommitted"))
    monkeypatch.setenv("COVIDSYNC_GX_DIR", str(root))
    return root


@pytest.fixture
def deterministic(monkeypatch):
    """The cache-busting timestamps GX puts in links, fixed."""
    from great_expectations.render.view import view

    class _Frozen(_datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return cls(2026, 12, 7, 12, 0, 0, tzinfo=tz)

    monkeypatch.setattr(
        view, "datetime", type("dt", (), {"datetime": _Frozen, "timezone": _datetime.timezone})
    )


# GX's one element id from ``uuid4`` (``collapse.j2`` applies the filter to a constant) is folded by Jinja
# when it compiles the template: one random id a compilation, which GX's own view draws once a page and
# the bytecode cache (e10) once for good. It is the only thing masked.
_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _site(index: Path) -> dict[str, bytes]:
    root = index.parent
    return {
        str(p.relative_to(root)): _UUID.sub(b"UUID", p.read_bytes()) for p in sorted(root.rglob("*.html"))
    }


def test_pages_with_the_shared_environment_are_gx_own(gx_dir, deterministic, monkeypatch):
    from great_expectations.render.view.view import DefaultJinjaPageView, DefaultJinjaView

    for base in (VACCINATIONS, TEST_RESULTS, CHECKINS):
        batch_gate.run_gate(base, build_docs=True)
    site = gx_dir / "gx" / "uncommitted" / "data_docs" / "local_site"

    # the patch is on: two views of one kind and configuration share one environment, other kinds do not
    assert DefaultJinjaView._covidsync_shared_code
    assert DefaultJinjaPageView().env is DefaultJinjaPageView().env
    assert DefaultJinjaPageView().env is not DefaultJinjaView().env
    assert DefaultJinjaPageView().env is not DefaultJinjaPageView(custom_views_directory=str(gx_dir)).env
    shutil.rmtree(site)
    shared = _site(batch_gate.build_data_docs(validation_pages=True))

    monkeypatch.setattr(DefaultJinjaView, "__init__", DefaultJinjaView._covidsync_original_init)
    assert DefaultJinjaPageView().env is not DefaultJinjaPageView().env
    shutil.rmtree(site)
    own = _site(batch_gate.build_data_docs(validation_pages=True))

    pages = [name for name in own if name.startswith("validations/")]
    assert {name.split("/")[1] for name in pages} == {
        "vaccinations_batch",
        "test_results_batch",
        "checkins_batch",
    }
    assert "index.html" in own
    assert sorted(shared) == sorted(own)
    for name in own:
        assert shared[name] == own[name], name
