"""A group's statuses set in one statement (engine.set_statuses, issue 16): each file gets its own status, its
own counts and final path, and its own event with the status it had before, in the group's order, as
engine.set_status gives file by file."""

from __future__ import annotations

from test_engine_groups import deliver, register, registry, rows  # noqa: F401, F811 (registry: a fixture)

from covidsync import db
from covidsync.ingest import engine


def test_each_file_gets_its_own_values_and_event_in_order(warehouse_url, registry):  # noqa: F811
    for at, name in enumerate(("a.csv", "b.csv", "c.csv")):
        deliver(registry, "17001", name, rows(2, start=10 * at + 1), when=at)
    ids = register(warehouse_url, registry)
    conn = db.connect(warehouse_url)
    try:
        with conn, conn.cursor() as cur:
            engine.set_status(cur, ids[1], "staged", rows_total=7)
        order = [ids[2], ids[0], ids[1]]
        with conn, conn.cursor() as cur:
            engine.set_statuses(
                cur, order, "merged", final_path=["/x/c", "/x/a", "/x/b"], rows_loaded=[3, 1, 2], actor="t"
            )
            cur.execute(
                "select file_id, status, rows_loaded, rows_total, final_path from ops.landing_file "
                "where file_id = any(%s) order by file_id",
                (ids,),
            )
            files = cur.fetchall()
            cur.execute(
                "select file_id, from_status, to_status, actor from ops.file_event "
                "where file_id = any(%s) and to_status = 'merged' order by event_id",
                (ids,),
            )
            events = cur.fetchall()
    finally:
        conn.close()
    assert files == [
        (ids[0], "merged", 1, None, "/x/a"),
        (ids[1], "merged", 2, 7, "/x/b"),
        (ids[2], "merged", 3, None, "/x/c"),
    ]
    assert events == [
        (ids[2], "received", "merged", "t"),
        (ids[0], "received", "merged", "t"),
        (ids[1], "staged", "merged", "t"),
    ]
