"""The sync API of the two apps: a FastAPI app, mounted in Airflow's API server by ``plugins/`` (at
``/covidsync``) or served alone (``uvicorn``). See docs/sync-api.md for the app teams.

- ``GET /sync/v1/{app}/release``: the current release's metadata, with an ``ETag``; ``If-None-Match`` with
  that ETag answers 304 while the release is unchanged.
- ``GET /sync/v1/{app}/delta?since=N[&to=M][&after=CURSOR][&limit=L]``: one page of the changes from
  release N (0: everything) to release M (default: current), tombstones included; ``next_after`` is the
  cursor of the next page. 410 when the deltas after N were pruned (sync from 0).
- ``POST /sync/v1/{app}/ack`` ``{"release_id": M, "view_sha256": "...", "hash_recipe": 2}``: the app applied M
  and its copy hashes to this under the release's hash recipe (``hash_recipe`` optional); 409 when the hash is
  not the release's (recorded all the same, and alerted on).

Each app authenticates with its own bearer token: ``COVIDSYNC_SYNC_TOKEN_PCCOVID`` /
``COVIDSYNC_SYNC_TOKEN_VNEID``, else the password of the Airflow connection ``covidsync_sync_pccovid`` /
``covidsync_sync_vneid``; several tokens separated by commas are all valid (rotation without downtime).
A token opens its own app's routes only.
"""

import hmac
import logging
import os
import re
import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Header, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from covidsync import db, settings
from covidsync.publish import APPS, sync

log = logging.getLogger(__name__)

TOKEN_CACHE_SECONDS = 60.0
_token_cache: dict[str, tuple[float, list[str]]] = {}


def _airflow_connection(conn_id: str):
    """An Airflow connection by id, from Airflow's secrets backends and metadata (None outside Airflow)."""
    try:
        from airflow.models.connection import Connection

        return Connection.get_connection_from_secrets(conn_id)
    except Exception as exc:  # noqa: BLE001 - no Airflow, no such connection, or no metadata DB: not configured
        log.debug("no Airflow connection %s: %s", conn_id, type(exc).__name__)
        return None


def app_tokens(app: str) -> list[str]:
    """The valid tokens of an app: ``COVIDSYNC_SYNC_TOKEN_<APP>``, else the connection's password."""
    value = os.environ.get(f"COVIDSYNC_SYNC_TOKEN_{app.upper()}")
    if value is None:
        cached = _token_cache.get(app)
        if cached and time.monotonic() - cached[0] < TOKEN_CACHE_SECONDS:
            return cached[1]
        conn = _airflow_connection(f"covidsync_sync_{app}")
        value = (conn.password if conn else None) or ""
        tokens = [t.strip() for t in value.split(",") if t.strip()]
        _token_cache[app] = (time.monotonic(), tokens)
        return tokens
    return [t.strip() for t in value.split(",") if t.strip()]


def _same_token(presented: str, valid: str) -> bool:
    """Constant-time comparison of two tokens as bytes: a token with characters outside ASCII (which
    ``hmac.compare_digest`` refuses as text) is simply not a valid one, never a server error."""
    return hmac.compare_digest(
        presented.encode("utf-8", "surrogateescape"), valid.encode("utf-8", "surrogateescape")
    )


_url_cache: list = []  # [(monotonic time, url)] of the Airflow connection


def default_warehouse_url() -> str:
    """``COVIDSYNC_WAREHOUSE_URL``, else the Airflow connection ``covidsync_warehouse`` (cached a minute)."""
    url = os.environ.get("COVIDSYNC_WAREHOUSE_URL")
    if url:
        return url
    if _url_cache and time.monotonic() - _url_cache[0][0] < TOKEN_CACHE_SECONDS:
        return _url_cache[0][1]
    conn = _airflow_connection(settings.WAREHOUSE_CONN_ID)
    if conn is None:
        raise db.WarehouseUnreachable(
            "no warehouse: set COVIDSYNC_WAREHOUSE_URL or the connection covidsync_warehouse"
        )
    url = re.sub(r"^postgres(ql)?://", "postgresql://", conn.get_uri())
    _url_cache[:] = [(time.monotonic(), url)]
    return url


def create_app(
    *,
    warehouse_url: str | Callable[[], str] | None = None,
    tokens: Callable[[str], list[str]] = app_tokens,
):
    def url() -> str:
        if warehouse_url is None:
            return default_warehouse_url()
        return warehouse_url() if callable(warehouse_url) else warehouse_url

    api = FastAPI(
        title="covidsync sync API",
        version="1",
        description="Releases of the health status for PC-Covid and VNeID: metadata, deltas, acknowledgements.",
    )

    @api.exception_handler(sync.NotFound)
    def _not_found(request: Request, exc: sync.NotFound):
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @api.exception_handler(sync.Gone)
    def _gone(request: Request, exc: sync.Gone):
        return JSONResponse({"detail": str(exc), "resync_from": 0}, status_code=410)

    @api.exception_handler(db.WarehouseUnreachable)
    def _unreachable(request: Request, exc: db.WarehouseUnreachable):
        log.error("sync API: %s", exc)
        return JSONResponse({"detail": "the warehouse is unavailable; retry later"}, status_code=503)

    def authenticated(
        app_name: Annotated[str, Path(alias="app")],
        authorization: Annotated[str | None, Header()] = None,
    ) -> str:
        if app_name not in APPS:
            raise HTTPException(404, f"unknown app {app_name!r}")
        scheme, _, presented = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not presented:
            raise HTTPException(
                401, "send Authorization: Bearer <your app's token>", {"WWW-Authenticate": "Bearer"}
            )
        if any(_same_token(presented, t) for t in tokens(app_name)):
            return app_name
        for other in APPS:
            if other != app_name and any(_same_token(presented, t) for t in tokens(other)):
                raise HTTPException(403, f"this token is not allowed to read {app_name}")
        raise HTTPException(401, "invalid token", {"WWW-Authenticate": "Bearer"})

    def connection():
        conn = db.connect(url(), application_name="covidsync-sync-api")
        try:
            conn.set_session(readonly=True, isolation_level="REPEATABLE READ")
            yield conn
        finally:
            conn.close()

    @api.get("/sync/v1/{app}/release")
    def release(
        app_name: Annotated[str, Depends(authenticated)],
        conn: Annotated[Any, Depends(connection)],
        if_none_match: Annotated[str | None, Header()] = None,
    ):
        current = sync.current_release(conn, app_name)
        conn.rollback()
        if current is None:
            raise sync.NotFound("no release has been published yet")
        tag = sync.etag(current)
        if if_none_match and tag in [t.strip() for t in if_none_match.split(",")]:
            return Response(status_code=304, headers={"ETag": tag})
        return JSONResponse(current, headers={"ETag": tag, "Cache-Control": "no-cache"})

    @api.get("/sync/v1/{app}/delta")
    def delta(
        app_name: Annotated[str, Depends(authenticated)],
        conn: Annotated[Any, Depends(connection)],
        since: Annotated[int, Query(ge=0)],
        to: Annotated[int | None, Query(ge=1)] = None,
        after: Annotated[str, Query(max_length=12)] = "",
        limit: Annotated[int, Query(ge=1, le=sync.MAX_PAGE)] = 1000,
    ):
        try:
            page = sync.delta_page(conn, app_name, since=since, to=to, after=after, limit=limit)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from exc
        finally:
            conn.rollback()
        return page

    def writable():
        conn = db.connect(url(), application_name="covidsync-sync-api")
        try:
            yield conn
        finally:
            conn.close()

    @api.post("/sync/v1/{app}/ack")
    def ack(
        app_name: Annotated[str, Depends(authenticated)],
        conn: Annotated[Any, Depends(writable)],
        release_id: Annotated[int, Body(ge=1)],
        view_sha256: Annotated[str, Body(pattern="^[0-9a-f]{64}$")],
        hash_recipe: Annotated[int | None, Body(ge=1, le=2)] = None,
    ):
        result = sync.acknowledge(conn, app_name, release_id, view_sha256, hash_recipe)
        if not result["hash_matches"]:
            log.warning("sync API: %s acknowledged release %s with another hash", app_name, release_id)
            detail = (
                f"your copy does not hash to the release's view_sha256 (hash recipe {result['hash_recipe']}): "
                "sync from 0"
            )
            return JSONResponse({**result, "detail": detail}, status_code=409)
        return result

    @api.get("/sync/v1/health")
    def health():
        return {"status": "ok"}

    return api
