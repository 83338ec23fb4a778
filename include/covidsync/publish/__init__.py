"""The publish layer: numbered, immutable releases of the health status that PC-Covid, VNeID and Sổ Sức khỏe
điện tử read.

- :mod:`covidsync.publish.release`: build a release, gate it, make it current (the views switch in one
  transaction, with the agreement check), deltas, overrides, retention. Benchmarks call
  :func:`covidsync.publish.release.publish_release`.
- :mod:`covidsync.publish.release_gate`: the Great Expectations suite ``publish_release`` over a release's profile.
- :mod:`covidsync.publish.sync`: what the sync API serves (release metadata, delta pages), the apps'
  acknowledgements, and reconciliation.
- :mod:`covidsync.publish.api`: the FastAPI app (mounted in Airflow's API server by ``plugins/``).
- :mod:`covidsync.publish.client`: the reference client of each app (``covidsync consumer``).

:data:`CONSUMERS` is the one table of the apps that read releases: everything per app (sync API channel,
tokens, client, view hash, acknowledgements, reconciliation, the gate's column check) is driven by it. Adding
a consumer is a row here plus its view and role (a migration), its columns in ``sql/publish/delta.sql`` and
its line in ``sql/publish/release_hashes.sql``, its columns in :data:`covidsync.publish.sync.FIELDS` and in the gate's suite, and
nothing more for the agreement check (:func:`covidsync.publish.release.agreement_sql` covers every consumer) (docs/runbook.md, "Add a consumer").
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Consumer:
    app: str  # the channel name: /sync/v1/<app>/..., COVIDSYNC_SYNC_TOKEN_<APP>, connection covidsync_sync_<app>
    label: str  # the app's name for people
    view: str  # publish.<view>: the columns it may read
    role: str  # the database role that reads only this view

    @property
    def sha_column(self) -> str:
        """The column of ``publish.release_meta`` holding the hash of this app's view of each release."""
        return f"{self.app}_sha256"


CONSUMERS: dict[str, Consumer] = {
    c.app: c
    for c in (
        Consumer("pccovid", "PC-Covid", "pccovid_health_status", "pccovid_reader"),
        Consumer("vneid", "VNeID", "vneid_health_status", "vneid_reader"),
        Consumer("sskdt", "Sổ Sức khỏe điện tử", "sskdt_health_status", "sskdt_reader"),
    )
}
APPS = tuple(CONSUMERS)
