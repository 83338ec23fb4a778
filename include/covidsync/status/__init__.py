"""Identity resolution, health status and contact tracing (the DAG ``build_health_status``).

* :mod:`covidsync.status.rules`: the named, versioned rule sets (``COVIDSYNC_RULE_SET``);
* :mod:`covidsync.status.identity`: one person across sources (``derived.person`` and friends), the review queue;
* :mod:`covidsync.status.build`: doses, F0 episodes, contact candidates and the status, full or incremental;
* :mod:`covidsync.status.explain`: the records behind a person's status.

SQL lives in ``sql/status/``, one transform per file.
"""
