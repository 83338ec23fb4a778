"""The reference client of each app: syncs a local copy (a SQLite file) through the sync API, and acknowledges.

It is what PC-Covid and VNeID can copy, and what the tests use. One :meth:`Consumer.sync`:

1. ``GET /sync/v1/{app}/release`` with the ETag of the copy's release: 304 means nothing to do;
2. ``GET /sync/v1/{app}/delta?since=<copy's release>&to=<current>`` page by page (410: start again from 0),
   applied in one SQLite transaction, so the copy is always one whole release;
3. the copy's hash (:func:`covidsync.publish.sync.view_sha256`, under the release's ``hash_recipe``: 2 since
   migration 0033, the sum of the lines' SHA-256) compared with the release's; on a mismatch the copy is
   rebuilt from 0 once;
4. ``POST /sync/v1/{app}/ack`` with the release, the copy's hash and the recipe it was computed with.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from covidsync.errors import CovidsyncError
from covidsync.publish import APPS
from covidsync.publish.sync import HASH_RECIPE, view_sha256


class SyncError(CovidsyncError):
    pass


class Consumer:
    def __init__(
        self, app: str, api_url: str, token: str, store: Path, *, page_size: int = 1000, timeout=10.0
    ):
        if app not in APPS:
            raise SyncError(f"unknown app {app!r}: expected one of {', '.join(APPS)}")
        if not token or not token.isascii() or not token.isprintable() or " " in token:
            raise SyncError(
                "the token is empty or holds spaces or characters outside ASCII: copy the app's token again "
                "(COVIDSYNC_SYNC_TOKEN)"
            )
        import requests
        from requests.adapters import HTTPAdapter
        from urllib3.util import Retry

        self.app, self.base, self.page_size, self.timeout = app, api_url.rstrip("/"), page_size, timeout
        self.session = requests.Session()
        retry = Retry(total=3, backoff_factor=0.2, status_forcelist=(502, 503, 504), allowed_methods=None)
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.session.mount("https://", HTTPAdapter(max_retries=retry))
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.db = sqlite3.connect(str(store), isolation_level=None)
        self.db.execute("create table if not exists meta (key text primary key, value text)")
        self.db.execute("create table if not exists row (citizen_id text primary key, data text not null)")

    def close(self) -> None:
        self.db.close()
        self.session.close()

    # --- the local copy ---------------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self.db.execute("select value from meta where key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, **values) -> None:
        for key, value in values.items():
            self.db.execute(
                "insert or replace into meta values (?, ?)", (key, None if value is None else str(value))
            )

    @property
    def release_id(self) -> int:
        return int(self.meta("release_id") or 0)

    def rows(self) -> list[dict]:
        return [json.loads(d) for (d,) in self.db.execute("select data from row order by citizen_id")]

    def copy_sha256(self, recipe: int = HASH_RECIPE) -> str:
        return view_sha256(self.app, self.rows(), recipe)

    # --- the API ----------------------------------------------------------------------------------------
    def _url(self, path: str) -> str:
        return f"{self.base}/sync/v1/{self.app}/{path}"

    def _check(self, response, *ok: int):
        if response.status_code not in ok:
            raise SyncError(
                f"{response.request.method} {response.url}: HTTP {response.status_code} {response.text[:300]}"
            )
        return response

    def _apply(self, since: int, to: int) -> None:
        """Apply the delta since → to in one SQLite transaction (410: from 0)."""
        self.db.execute("begin")
        try:
            if since == 0:
                self.db.execute("delete from row")
            after = ""
            while True:
                params = {"since": since, "to": to, "after": after, "limit": self.page_size}
                response = self.session.get(self._url("delta"), params=params, timeout=self.timeout)
                if response.status_code == 410 and since != 0:
                    self.db.execute("rollback")
                    return self._apply(0, to)
                page = self._check(response, 200).json()
                for change in page["changes"]:
                    if change["op"] == "delete":
                        self.db.execute("delete from row where citizen_id = ?", (change["citizen_id"],))
                    else:
                        row = change["row"]
                        self.db.execute(
                            "insert or replace into row values (?, ?)",
                            (row["citizen_id"], json.dumps(row, ensure_ascii=False, sort_keys=True)),
                        )
                after = page["next_after"]
                if not after:
                    break
            self._set_meta(release_id=to, as_of=page["as_of"])
            self.db.execute("commit")
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("rollback")
            raise

    def sync(self) -> dict:
        """Bring the copy to the current release and acknowledge it; a small summary comes back."""
        headers = {}
        if self.release_id and self.meta("etag"):
            headers["If-None-Match"] = self.meta("etag")
        response = self._check(
            self.session.get(self._url("release"), headers=headers, timeout=self.timeout), 200, 304
        )
        if response.status_code == 304:
            return {"app": self.app, "status": "unchanged", "release_id": self.release_id}
        release = response.json()
        target, before = release["release_id"], self.release_id
        if target != before:
            self._apply(before if before <= target else 0, target)
        recipe = release.get("hash_recipe") or 1  # a server from before recipe 2 says nothing: recipe 1
        digest = self.copy_sha256(recipe)
        if digest != release["view_sha256"]:
            self._apply(0, target)
            digest = self.copy_sha256(recipe)
        self._set_meta(etag=response.headers.get("ETag"), view_sha256=digest)
        ack = self.session.post(
            self._url("ack"),
            json={"release_id": target, "view_sha256": digest, "hash_recipe": recipe},
            timeout=self.timeout,
        )
        self._check(ack, 200, 409)
        return {
            "app": self.app,
            "status": "synced" if target != before else "verified",
            "from_release_id": before,
            "release_id": target,
            "rows": self.db.execute("select count(*) from row").fetchone()[0],
            "hash_matches": ack.status_code == 200,
        }
