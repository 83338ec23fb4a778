"""The snapshot design of a release (every row recomputed from derived: publish_snapshot_design.sql, the statement
of the former sql/publish/release_row.sql), against which publish by change is checked."""

from __future__ import annotations

from pathlib import Path

SNAPSHOT_SQL = (Path(__file__).parent / "publish_snapshot_design.sql").read_text(encoding="utf-8")


def _snapshot_content_sha256(conn) -> tuple[int, str]:
    """Row count and content hash of the release the snapshot design builds from derived now."""
    with conn.cursor() as cur:
        cur.execute("create temporary table snapshot_row as select * from publish.release_row limit 0")
        cur.execute(SNAPSHOT_SQL, {"release_id": 0, "rule_set": "hb-2021-11", "with_sskdt": True})
        cur.execute(
            """
            select count(*), encode(sha256(convert_to(coalesce(
                string_agg(citizen_id || E'\\t' || row_sha256 || E'\\n', '' order by citizen_id), ''), 'UTF8')), 'hex')
            from snapshot_row
            """
        )
        result = cur.fetchone()
    conn.rollback()
    return result
