"""A person resolved again by an incremental build with the values its row already has is not written or locked
(issue 19, s7-status; restored for incremental runs only by s8-status).

person.sql upserts every person of an incremental build's scope; its conflict clause skipped a row whose values
were the same only after locking it (a lock written to the row and the WAL: 6,773 of the generated day's 12,042
persons at 100k). An incremental run now leaves such persons out before the insert: the row keeps its xmin and
its xmax, and the incremental build still equals a full rebuild. (A run of everyone has no such filter: see
sql/status/person.sql.)"""

from __future__ import annotations

import datetime as dt

from status_equality import assert_equals_full_rebuild
from status_world import World

from covidsync.status import build

DAY = "2021-11-10"


def _person_tuple(w: World, cid: str) -> tuple[str, str]:
    rows = w.sql(
        "select p.xmin::text, p.xmax::text from derived.person p join derived.person_identifier i using (person_id)"
        " where i.kind = 'cccd' and i.value = %s",
        (cid,),
    )
    assert len(rows) == 1, rows
    return rows[0][0], rows[0][1]


def test_an_unchanged_person_row_is_neither_written_nor_locked(warehouse_url):
    w = World(warehouse_url)
    try:
        w.vacc("017090000401", 1, "AZ", "2021-10-01", phone="0912000401")
        # others the change cannot reach: the incremental run's scope is then under half the identifiers, so it
        # resolves its scope (a run of everyone, identity.WHOLE_SHARE, has no such filter)
        for i in range(6):
            w.vacc(f"01709000050{i}", 1, "AZ", "2021-10-01", name="Trần Văn Bình", phone=f"091200050{i}")
        assert w.build(DAY).mode == "full"
        before = _person_tuple(w, "017090000401")  # xmax: the full build's foreign-key checks' share lock
        # a relative's record with the same phone: the first person is resolved again (its phone is in the
        # scope) with the values it has
        w.vacc(
            "017080000402", 1, "AZ", "2021-10-02", name="Bùi Thị Lan", dob="1972-03-04", phone="0912000401"
        )
        result = w.build(DAY)
        assert result.mode == "incremental" and result.identity_scope, result
        assert _person_tuple(w, "017090000401") == before
        assert w.status("017080000402")["doses"] == 1
        assert_equals_full_rebuild(warehouse_url, build.as_of_for(dt.date.fromisoformat(DAY)), "unchanged")
    finally:
        w.close()
