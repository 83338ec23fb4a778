"""Airflow plugin: mounts the covidsync sync API (PC-Covid and VNeID) in Airflow's API server at /covidsync.

Thin on purpose: the app is :func:`covidsync.publish.api.create_app`; docs/sync-api.md documents it.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from covidsync.publish.api import create_app


class CovidsyncSyncApiPlugin(AirflowPlugin):
    name = "covidsync_sync_api"
    fastapi_apps = [{"app": create_app(), "url_prefix": "/covidsync", "name": "covidsync sync API"}]
