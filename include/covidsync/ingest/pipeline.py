"""Facility files (vaccinations, test results; and the population registry file) through the ingest engine:
the names callers use.

The driver and its steps are :mod:`covidsync.ingest.engine` (one for every dataset, issue 16); what is
particular to vaccinations and test results is their spec (``covidsync/ingest/datasets/``). This module
keeps the entry points that the DAGs, the CLI, the API pull and the benchmarks call.
"""

from __future__ import annotations

from covidsync.ingest.engine import (
    LOCK_NAMESPACE,
    FileRow,
    FileStateError,
    analyze_row_problems,
    apply_rules,
    clear_staging,
    finish,
    gate,
    hold,
    load_file,
    max_rejected_share,
    merge,
    problem_rows,
    profile,
    reject_file,
    release,
    report_and_move,
    reprocess,
    set_status,
    sql_text,
    stage,
)

__all__ = [
    "FileRow",
    "FileStateError",
    "analyze_row_problems",
    "apply_rules",
    "clear_staging",
    "finish",
    "gate",
    "hold",
    "load_file",
    "max_rejected_share",
    "merge",
    "problem_rows",
    "process_file",
    "profile",
    "reject_file",
    "release",
    "report_and_move",
    "reprocess",
    "set_status",
    "sql_text",
    "stage",
]

# population: landing/registry/population.csv (adoption.md), registered and processed with the facility files
FACILITY_DATASETS = ("vaccinations", "test_results", "population")
FACILITY_TABLES = {
    "vaccinations": "vaccination",
    "test_results": "test_result",
    "population": "area_population",
}
_LOCK_NAMESPACE = LOCK_NAMESPACE


def process_file(conn, file_id: int) -> dict:
    """One registered facility file through the engine (:func:`covidsync.ingest.engine.process_file`)."""
    from covidsync.ingest import engine

    # the merge and rules steps are looked up here at call time, so that a test can break them (tests of
    # faults, a file replaced while it is processed); steps of their own take the staging path (the direct
    # path, engine.ingest_direct, has no such seams)
    if merge is engine.merge and apply_rules is engine.apply_rules:
        return engine.process_file(conn, file_id, datasets=FACILITY_DATASETS)
    return engine.process_file(
        conn,
        file_id,
        datasets=FACILITY_DATASETS,
        merge_step=lambda c, f, **kw: merge(c, f, **kw),
        rules_step=lambda *a, **kw: apply_rules(*a, **kw),
    )
