"""A group's staged files' key order and duplicate candidates computed over their stack at once
(covidsync.ingest.group_stage.key_facts, issue 16) are what each file's own rows give alone
(columnar._KeyOrder, columnar._DuplicateCandidates): keys repeated in one file or only across files, rows
without a key, an empty file, a file in key order but for the slack allowed and one past it."""

from __future__ import annotations

import polars as pl
import pytest

from covidsync.ingest import columnar, group_stage
from covidsync.ingest.datasets import spec as dataset_spec


def _file(ids: list[str | None], citizens: list[str | None] | None = None, doses=None) -> dict:
    n = len(ids)
    return {
        "record_id": ids,
        "citizen_id": citizens or [f"0010900000{i % 7:02d}" for i in range(n)],
        "dose_number": doses or [str(1 + i % 5) for i in range(n)],
    }


def _slack(descents: int, rows: int = 150) -> list[str]:
    keys = [f"k{i:05d}" for i in range(rows)]
    for d in range(descents):  # swap a neighbouring pair: one descent each
        at = 10 + 20 * d
        keys[at], keys[at + 1] = keys[at + 1], keys[at]
    return keys


FILES = [
    _file(["r3", "r1", "r2", "r1", None], ["c1", "c1", None, "c2", "c1"], ["1", "1", "2", "9", "1"]),
    _file([]),
    _file(["a", "b", "c"]),
    _file(_slack(1)),  # one row in 100 may step back: still in order
    _file(_slack(2)),  # two in 150: not
    # "a" is another file's: no repeat here; its rows without a record id key "n:...", below "r:a"
    _file(["a", None, None], ["c9", "c9", "c9"], ["2", "2", "2"]),
]


@pytest.mark.parametrize("has_record_id", [True, False])
def test_key_facts_of_a_stack_are_each_files_own(has_record_id):
    spec = dataset_spec("vaccinations")
    places = list(range(len(FILES)))
    frames = [
        pl.DataFrame(rows, schema={k: pl.String for k in rows}).with_columns(
            (pl.int_range(1, pl.len() + 1, dtype=pl.Int64) + (place << group_stage.FILE_SHIFT)).alias(
                "row_number"
            )
        )
        for place, rows in enumerate(FILES)
    ]
    out = pl.concat(frames)
    got = group_stage.key_facts(spec, out, places, has_record_id)
    for place in places:
        own = frames[place].with_columns(pl.col("row_number") % (1 << group_stage.FILE_SHIFT))
        order = columnar._KeyOrder(spec.record_key)
        repeats = columnar._DuplicateCandidates(spec.duplicate_key, has_record_id)
        order.add(own)
        repeats.add(own)
        assert got[place] == (order.in_order, *repeats.rows()), place
    assert [got[p][0] for p in places] == [False, True, True, True, False, False]
    if has_record_id:
        assert got[0][1] == [2, 4] and got[5][1] == []
