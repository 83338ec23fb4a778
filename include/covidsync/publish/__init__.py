"""The publish layer: numbered, immutable releases of the health status that PC-Covid and VNeID read.

- :mod:`covidsync.publish.release`: build a release, gate it, make it current (both views switch in one
  transaction, with the agreement check), deltas, overrides, retention. Benchmarks call
  :func:`covidsync.publish.release.publish_release`.
- :mod:`covidsync.publish.gate`: the Great Expectations suite ``publish_release`` over a release's profile.
- :mod:`covidsync.publish.sync`: what the sync API serves (release metadata, delta pages), the apps'
  acknowledgements, and reconciliation.
- :mod:`covidsync.publish.api`: the FastAPI app (mounted in Airflow's API server by ``plugins/``).
- :mod:`covidsync.publish.client`: the reference client of each app (``covidsync consumer``).
"""

APPS = ("pccovid", "vneid")
