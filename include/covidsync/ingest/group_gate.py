"""One Great Expectations validation for a group of files (issue 16, many small files).

A small file's gate (:func:`covidsync.ingest.batch_gate.run_gate`) validates a frame of a few rows, and
GX's fixed cost per validation (building the validator, its metrics graph, the result objects: 0.1 s on a
quiet machine, 0.5 s under load) was the largest share of a 500-row file's time. Every expectation of the
batch suites is a per-row one (``expect_column_values_to_be_between``/``_in_set`` over the profile
frame's rows), so the profile frames of a group's files are stacked and validated once per suite and
parameter set (files whose bounds differ, e.g. by their facility's history, get a validation of their
own), with ``result_format: COMPLETE`` so that each unexpected row is known. Each file then gets its own
result, built from the rows that are its own: the same :class:`~covidsync.ingest.batch_gate.GateResult`
as its own gate would give (success, failed and warning messages, observed values), and, with
``store``, its own stored validation result (its own run id and page, named after the file) for the
group's one Data Docs update. One file's failed expectation holds that file only.

A profile that cannot be framed (``ValueError``) is that file's error; if the stacked validation itself
fails, each file of it is validated alone (:func:`run_gate`), so one file can never fail the others.
"""

from __future__ import annotations

import copy
import json
import logging
import math
from datetime import UTC, datetime
from typing import Any

from covidsync.ingest import batch_gate

log = logging.getLogger(__name__)

PARTIAL_UNEXPECTED = 20  # values listed on a file's page, as GX's BASIC result format lists them


def run_group_gate(profiles: list[dict], *, store: bool = False, deferred: list | None = None) -> list[Any]:
    """One gate result per profile, in order: a :class:`GateResult`, or the exception for that file.

    ``deferred`` (with ``store``): the stacked validations' results are not written to the GX store here;
    each ``(key, result)`` is appended to it for :func:`store_deferred` (the caller writes them on a
    thread while its merge waits for PostgreSQL). Each result's ``docs_key`` is set either way."""
    results: list[Any] = [None] * len(profiles)
    buckets: dict[tuple[str, str], list[tuple[int, Any, dict]]] = {}
    for index, profile in enumerate(profiles):
        try:  # the file's profile rows; one frame for the files validated together (_validate_stacked)
            rows, columns, parameters = batch_gate.profile_rows(profile)
        except Exception as exc:  # noqa: BLE001 (that file's error; the others go on)
            results[index] = exc
            continue
        key = (profile["dataset"], json.dumps(parameters, sort_keys=True, default=str))
        buckets.setdefault(key, []).append((index, (rows, columns), parameters))
    for (dataset, _), members in buckets.items():
        try:
            for index, result in _validate_stacked(
                dataset, members, profiles, store=store, deferred=deferred
            ):
                results[index] = result
        except Exception:  # noqa: BLE001 (each file alone instead: one file never fails the others)
            log.exception("the group's validation of %d %s files failed; each alone", len(members), dataset)
            for index, _, _ in members:
                try:
                    results[index] = batch_gate.run_gate(profiles[index], store=store)
                except Exception as exc:  # noqa: BLE001
                    results[index] = exc
    return results


def _validate_stacked(dataset: str, members: list, profiles: list[dict], *, store: bool, deferred=None):
    """Validate the members' profile rows stacked in one frame; yield each member's own result. Each file's
    values are read from its rows as lists (:func:`covidsync.ingest.batch_gate.frame_columns`): a
    DataFrame a file, its casts and its ``loc`` per expectation were most of a small file's gate."""
    name = batch_gate.suite_name(dataset)
    project = batch_gate._project()
    columns = members[0][1][1]
    if any(cols != columns for _, (_, cols), _ in members):
        raise ValueError("the profiles of one validation have different columns")
    stacked = batch_gate.typed_frame(dataset, [row for _, (rows, _), _ in members for row in rows], columns)
    parameters = members[0][2]
    batch = project.batch_definition.get_batch(batch_parameters={"dataframe": stacked})
    group = batch.validate(
        project.suites[name],
        result_format={"result_format": "COMPLETE"},
        expectation_parameters=parameters,
    )
    checkpoint = definition = None
    if store:
        checkpoint = batch_gate._checkpoint(project, name)
        (definition,) = checkpoint.validation_definitions
    # each expectation's unexpected rows of the stacked frame, by the member whose rows they are (one pass
    # over each list, not one per file: a group's value rows make these lists long)
    bounds = []
    start = 0
    for _, (rows, _), _ in members:
        bounds.append(start)
        start += len(rows)
    unexpected_by_member = [_by_member(item, bounds) for item in group.results]
    for position, (index, (rows, _), _) in enumerate(members):
        profile = profiles[index]
        values = batch_gate.frame_columns(rows, columns)
        own = _file_result(
            group, values, bounds[position], [u.get(position, []) for u in unexpected_by_member]
        )
        result = batch_gate._summarise(
            own, None, profile, batch_gate._history_checks(profile), observed=_observer(values)
        )
        if store:
            result.docs_key = _store(project, checkpoint, definition, own, profile, deferred)
        yield index, result


def _by_member(item, bounds: list[int]) -> dict[int, list[int]]:
    """An expectation's unexpected rows of the stacked frame (``unexpected_index_list``), by member: the
    members' rows start at ``bounds`` (ascending)."""
    import bisect

    out: dict[int, list[int]] = {}
    for i in (item.result or {}).get("unexpected_index_list") or []:
        out.setdefault(bisect.bisect_right(bounds, i) - 1, []).append(i)
    return out


def _observer(columns: dict[str, list]):
    """:func:`covidsync.ingest.batch_gate._observed` of a file's profile frame for any column, from its
    columns as lists (:func:`covidsync.ingest.batch_gate.frame_columns`; pandas' indexing per expectation
    and file was a fifth of a small file's gate)."""
    present = {name: [i for i, v in enumerate(values) if not _missing(v)] for name, values in columns.items()}
    parts = columns.get("part", [])

    def observed(column):
        if column is None or column not in columns:
            return None
        rows, values = present[column], columns[column]
        if "value_count" in columns and any(parts[i] == "value" for i in rows):
            counts = columns["value_count"]
            return {str(values[i]): batch_gate._whole(counts[i]) for i in rows}
        found = [batch_gate._whole(values[i]) for i in rows]
        return found[0] if len(found) == 1 else (found or None)

    return observed


def _missing(value) -> bool:
    """pandas' ``isna`` of one cell of a profile's columns as lists: None, or a float NaN (the lists hold
    floats, text and None only: :func:`covidsync.ingest.batch_gate.frame_columns`)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _file_result(group, columns: dict[str, list], start: int, unexpected_rows: list[list[int]]):
    """The file's own suite result: each expectation judged on the file's rows of the stacked frame
    (``columns``: the file's columns as lists; its rows start at ``start`` in the stacked frame;
    ``unexpected_rows``: each expectation's unexpected rows of the stacked frame that are the file's)."""
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
        ExpectationValidationResult,
    )

    items = []
    for item, unexpected in zip(group.results, unexpected_rows, strict=True):
        column = item.expectation_config.kwargs.get("column")
        raised = bool(item.exception_info and item.exception_info.get("raised_exception"))
        if raised or column is None or column not in columns:
            success, result = item.success, {}
        else:
            values = columns[column]
            success, result = not unexpected, _counts(values, [values[i - start] for i in unexpected])
        items.append(
            ExpectationValidationResult(
                success=success,
                expectation_config=item.expectation_config,
                result=result,
                meta={},
                exception_info=item.exception_info,
            )
        )
    good = sum(1 for i in items if i.success)
    return ExpectationSuiteValidationResult(
        success=good == len(items),
        results=items,
        suite_name=group.suite_name,
        suite_parameters=group.suite_parameters,
        statistics={
            "evaluated_expectations": len(items),
            "successful_expectations": good,
            "unsuccessful_expectations": len(items) - good,
            "success_percent": 100.0 * good / len(items) if items else None,
        },
        meta=dict(group.meta),
        batch_id=group.batch_id,
    )


def _counts(values: list, unexpected: list) -> dict:
    """GX's BASIC result of a per-row expectation, for one file's rows (``values``: its column, None where
    missing; ``unexpected``: its values that failed)."""
    total = len(values)
    missing = sum(1 for v in values if _missing(v))
    present = total - missing
    bad = len(unexpected)
    return {
        "element_count": total,
        "missing_count": missing,
        "missing_percent": 100.0 * missing / total if total else None,
        "partial_unexpected_list": [batch_gate._jsonable(v) for v in unexpected[:PARTIAL_UNEXPECTED]],
        "unexpected_count": bad,
        "unexpected_percent": 100.0 * bad / present if present else None,
        "unexpected_percent_nonmissing": 100.0 * bad / present if present else None,
        "unexpected_percent_total": 100.0 * bad / total if total else None,
    }


def store_results(conn, items: list[tuple[int, str, Any]]) -> None:
    """:func:`covidsync.ingest.batch_gate.store_result` for a group's files in one statement: each
    ``(file_id, suite, result)`` its own ``ops.validation_result`` row, the same values, inserted in the
    items' order (so their ``validation_id`` too); the caller commits."""
    if not items:
        return
    with conn.cursor() as cur:
        cur.execute(
            """
            insert into ops.validation_result (file_id, suite, success, evaluated, failed, results)
            select v.file_id, v.suite, v.success, v.evaluated, v.failed, v.results::jsonb
            from unnest(%s::bigint[], %s::text[], %s::boolean[], %s::int[], %s::int[], %s::text[])
                with ordinality as v (file_id, suite, success, evaluated, failed, results, n)
            order by v.n
            """,
            (
                [file_id for file_id, _, _ in items],
                [suite for _, suite, _ in items],
                [result.success for *_, result in items],
                [result.evaluated for *_, result in items],
                [len(result.failed) for *_, result in items],
                [json.dumps(result.results) for *_, result in items],
            ),
        )


def store_deferred(pending: list) -> None:
    """Write the results :func:`run_group_gate` left in ``deferred`` to the GX store, in order, each
    serialised by :class:`_Serialiser` (the same bytes as GX's store writes) and written as the store does."""
    store = batch_gate._project().context.validation_results_store
    serialise = _Serialiser(store)
    for key, own in pending:
        store._validate_key(key)
        store._store_backend.set(store.key_to_tuple(key), serialise(own))


class _Serialiser:
    """GX's ``ValidationResultsStore.serialize`` of a group's results, the same bytes at a fraction of the
    cost (issue 16, e32-small). GX deep-copies each result five times over and passes every expectation's
    configuration through marshmallow for each file (3-5 ms a file, a third of a small file's GX work), yet
    a group's files share their expectation configurations (:func:`_file_result` reuses the group's):
    only each item's success, result and exception, and the suite's success, statistics and meta are a
    file's own. So the first result with configurations not seen yet is serialised by GX, each of its
    configurations' JSON is kept (by the configuration object), and the same result is serialised again
    from those: if the two texts differ in any byte, every result of the group is serialised by GX. The
    others are built from the kept configurations and GX's own ``convert_to_json_serializable`` of the
    file's parts, then ``json.dumps`` as GX's schema dumps (``indent=2, sort_keys=True``)."""

    def __init__(self, store):
        self.store = store
        self.configs: dict[int, tuple[object, object]] = {}  # id(configuration) -> (it, its JSON)
        self.trusted = True

    def __call__(self, own) -> str:
        if not self.trusted:
            return self.store.serialize(own)
        text = self._fast(own)
        if text is not None:
            return text
        text = self.store.serialize(own)  # new configurations: learnt from GX's text, then checked
        try:
            document = json.loads(text)
            for item, entry in zip(own.results, document["results"], strict=True):
                config = item.expectation_config
                self.configs[id(config)] = (config, entry["expectation_config"])
            same = self._fast(own) == text
        except Exception:  # noqa: BLE001 (a shape not foreseen: GX serialises the group)
            log.warning("GX results of an unforeseen shape: serialised by GX", exc_info=True)
            same = False
        if not same:
            log.warning("a GX result serialised apart differs from GX's text: the group's serialised by GX")
            self.trusted = False
        return text

    def _fast(self, own) -> str | None:
        from great_expectations.util import convert_to_json_serializable as plain

        items = []
        for item in own.results:
            known = self.configs.get(id(item.expectation_config))
            if known is None or known[0] is not item.expectation_config or item.rendered_content is not None:
                return None
            items.append(
                {
                    "success": item.success,
                    "expectation_config": known[1],
                    "result": plain(copy.deepcopy(item.result)),
                    "meta": plain(copy.deepcopy(item.meta)),
                    "exception_info": plain(copy.deepcopy(item.exception_info)),
                }
            )
        document = {
            "success": own.success,
            "results": items,
            "suite_name": own.suite_name,
            "suite_parameters": plain(copy.deepcopy(own.suite_parameters)),
            "statistics": plain(copy.deepcopy(own.statistics)),
            "meta": plain(copy.deepcopy(own.meta)),
            "id": None if own.id is None else str(own.id),
        }
        return json.dumps(document, indent=2, sort_keys=True)


def _store(project, checkpoint, definition, own, profile: dict, deferred=None):
    """Store the file's result as its checkpoint would (its own run id, its page named after the file);
    with ``deferred``, the key and result appended to it instead (:func:`store_deferred`)."""
    from great_expectations.core.run_identifier import RunIdentifier

    from covidsync import gx_docs

    run_name, asset = gx_docs.page_names(profile)
    run_id = RunIdentifier(run_name=run_name, run_time=datetime.now(UTC))
    spec = own.meta.get("batch_spec")
    own.meta.update(
        run_id=run_id,
        validation_time=run_id.run_time,
        checkpoint_id=checkpoint.id,
        batch_spec={**(spec if isinstance(spec, dict) else {}), "data_asset_name": asset},
    )
    key = checkpoint._build_result_key(
        validation_definition=definition, run_id=run_id, batch_identifier=own.batch_id
    )
    if deferred is None:
        project.context.validation_results_store.set(key, own)
    else:
        deferred.append((key, own))
    return key
