"""The entry points of check-in ingest for callers outside the DAG (benchmarks, operators' scripts).

``ingest_file(conn, file_id)`` takes one registered PC-Covid file (venues or check-ins) from ``received`` to
``merged`` (or held/rejected) with its reports, and returns counts only; ``ingest_landing(conn)`` registers
``<landing>/pccovid/`` and ingests every waiting file, venues first. ``maintain_partitions(conn, day)`` makes
partitions ahead and applies ``COVIDSYNC_CHECKIN_RETENTION_DAYS``. See :mod:`covidsync.ingest.checkins`.
"""

from covidsync.ingest.checkins import (
    apply_retention,
    ensure_partitions,
    ingest_file,
    ingest_landing,
    maintain_partitions,
)

__all__ = ["apply_retention", "ensure_partitions", "ingest_file", "ingest_landing", "maintain_partitions"]
