"""The ingest statements rendered from shared templates (``sql/ingest/*.sql.j2`` calling ``sql/ingest/shared/``;
issue 16, d1-dedupe) are the statements each path sent before they were folded: every vaccination,
test-result, venue and adoption-feed statement, as loaded by the engine (:func:`covidsync.sqlfiles.load`),
equals its text of ``tests/fixtures/ingest_sql/statements_before_d1.json`` (recorded from the files before the
change) once comments are dropped and white space folded. A statement changed on purpose since is named in
``CHANGED_ON_PURPOSE`` with why, and pinned to its new text in ``statements_changed_after_d1.json``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from covidsync import settings, sqlfiles

BEFORE = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "ingest_sql" / "statements_before_d1.json").read_text(
        encoding="utf-8"
    )
)

#: statements changed on purpose after d1-dedupe, and why; each is compared with its text recorded after the change
CHANGED_ON_PURPOSE = {
    "vaccination_merge_group": (
        "e37-small: each file's folder and place joined to the group's rows by hash (a lookup a row and "
        "array_position a row were two thirds of the statement; docs/performance-log.md)"
    ),
}
CHANGED = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "ingest_sql" / "statements_changed_after_d1.json").read_text(
        encoding="utf-8"
    )
)

#: a string literal, a quoted name, or a comment to end of line
_TOKEN = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"|--[^\n]*")


def normalised(text: str) -> str:
    """``text`` without ``--`` comments (outside literals), white space folded to one space, none inside
    brackets: the statement PostgreSQL parses, whatever the layout of its file."""
    text = _TOKEN.sub(lambda m: "" if m.group().startswith("--") else m.group(), text)
    text = " ".join(text.split())
    return re.sub(r"\( | \)", lambda m: m.group().strip(), text).strip()


def test_the_normalised_form_drops_comments_and_layout_only():
    assert normalised("select a, -- the key\n  '--x' as b\nfrom ( t )\n") == "select a, '--x' as b from (t)"
    assert normalised("select 1") != normalised("select 2")


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_every_statement_is_the_one_sent_before(name):
    expected = CHANGED[name] if name in CHANGED_ON_PURPOSE else BEFORE[name]
    assert normalised(sqlfiles.load("ingest", name)) == normalised(expected)


def test_each_change_on_purpose_is_recorded_and_differs():
    assert set(CHANGED) == set(CHANGED_ON_PURPOSE)
    for name in CHANGED_ON_PURPOSE:
        assert normalised(CHANGED[name]) != normalised(BEFORE[name]), (
            f"{name} is unchanged: drop it from the list"
        )


def test_the_folded_statements_are_templates_and_render_once():
    templates = sorted(
        p.name.removesuffix(".sql.j2") for p in (settings.sql_dir() / "ingest").glob("*.sql.j2")
    )
    assert set(templates) <= set(BEFORE), "a template outside the fixture is not proved"
    assert not [n for n in templates if sqlfiles.path("ingest", n).exists()], "a .sql beside its template"
    for name in templates:
        assert sqlfiles.load("ingest", name) is sqlfiles.load("ingest", name), "rendered once per process"
        assert "{{" not in sqlfiles.load("ingest", name) and "{%" not in sqlfiles.load("ingest", name)


def test_render_all_writes_each_statement_for_the_linter(tmp_path):
    written = sqlfiles.render_all(tmp_path)
    assert written, "no template rendered"
    for file in written:
        assert file.read_text(encoding="utf-8") == sqlfiles.load(
            file.parent.name, file.name.removesuffix(".sql")
        )
