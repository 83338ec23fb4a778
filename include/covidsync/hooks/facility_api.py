"""The client of the facility and lab APIs of contract §8: an Airflow hook on a ``requests.Session``.

``GET <base_url>/<dataset>?updated_since=<ISO-8601>&page=<n>&page_size=<k>`` with the token of an Airflow
connection; answers ``{"items": [...], "next_page": n+1 | null}``. Usable without a scheduler: the
connection is read through Airflow's connection API (:meth:`BaseHook.get_connection`), so inside a task it
comes from any secrets backend and elsewhere from ``AIRFLOW_CONN_<CONN_ID>`` (or an external backend).

* **auth**: the connection's password is the token, sent as ``Authorization: Bearer <token>``; with the
  connection extra ``{"auth": "basic"}`` the login and password are sent as HTTP basic auth instead.
* **timeouts**: connect ``COVIDSYNC_HTTP_CONNECT_TIMEOUT`` (10 s), read ``COVIDSYNC_HTTP_READ_TIMEOUT`` (60 s).
* **retries**: ``429``, ``5xx``, timeouts and refused connections are tried again, at most
  ``COVIDSYNC_HTTP_RETRIES`` (5) more times, waiting ``COVIDSYNC_HTTP_BACKOFF_BASE`` (1 s) × 2^attempt, capped
  at ``COVIDSYNC_HTTP_BACKOFF_MAX`` (60 s). A ``Retry-After`` (seconds or an HTTP date) is waited as given;
  one above ``COVIDSYNC_HTTP_RETRY_AFTER_MAX`` (300 s) gives up at once (the task's own retry comes later).
* **401/403** raise :class:`ApiAuthError` at once, naming the connection: a wrong token does not get
  better by asking again, and a retry storm could lock the account. It is an ``AirflowFailException``,
  so the task fails without Airflow's retries too.
* **paging**: ``next_page`` as a page number (contract §8), or a next link (``next_page``/``next`` as a
  URL, or a ``Link: <...>; rel="next"`` header); at most ``COVIDSYNC_API_MAX_PAGES`` (1000) pages, and a
  next page that does not advance is refused (:class:`ApiPagingError`).
* A 200 whose body is not a JSON object with an ``items`` list raises :class:`ApiMalformedResponse`
  carrying the body, so that the caller can keep it as evidence.

Nothing here logs a token, an item or a query value beyond the page number and counts.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urljoin

import requests
from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException

from covidsync.errors import CovidsyncError

log = logging.getLogger(__name__)

DATASETS = ("vaccinations", "test_results")


class ApiError(CovidsyncError):
    """The API could not be read; nothing of this pull was registered."""


class ApiAuthError(ApiError, AirflowFailException):
    """The token (or the connection that holds it) is wrong: fail fast, no retries."""


class ApiUnavailable(ApiError):
    """Retries exhausted, or the server asked to wait longer than we are willing to."""


class ApiPagingError(ApiError):
    """More pages than allowed, or a next page that does not move on."""


class ApiMalformedResponse(ApiError):
    """A 200 whose body is not the contract's JSON; ``content`` is the body as received."""

    def __init__(self, message: str, *, page: int, content: bytes):
        super().__init__(message)
        self.page = page
        self.content = content


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


@dataclass(frozen=True)
class HttpPolicy:
    """Timeouts, retries and limits; :meth:`from_env` reads the ``COVIDSYNC_HTTP_*`` variables at call time."""

    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    retries: int = 5
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    retry_after_max: float = 300.0
    max_pages: int = 1000

    @classmethod
    def from_env(cls) -> HttpPolicy:
        return cls(
            connect_timeout=_env_float("COVIDSYNC_HTTP_CONNECT_TIMEOUT", cls.connect_timeout),
            read_timeout=_env_float("COVIDSYNC_HTTP_READ_TIMEOUT", cls.read_timeout),
            retries=_env_int("COVIDSYNC_HTTP_RETRIES", cls.retries),
            backoff_base=_env_float("COVIDSYNC_HTTP_BACKOFF_BASE", cls.backoff_base),
            backoff_max=_env_float("COVIDSYNC_HTTP_BACKOFF_MAX", cls.backoff_max),
            retry_after_max=_env_float("COVIDSYNC_HTTP_RETRY_AFTER_MAX", cls.retry_after_max),
            max_pages=_env_int("COVIDSYNC_API_MAX_PAGES", cls.max_pages),
        )

    def backoff(self, attempt: int) -> float:
        """The pause before try ``attempt + 1`` (attempt counts from 0)."""
        return min(self.backoff_max, self.backoff_base * (2**attempt))


def retry_after_seconds(value: str | None, now: dt.datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; ``None`` when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())


@dataclass
class Page:
    number: int
    items: list[dict]
    url: str


class FacilityApiHook(BaseHook):
    """One facility API source: ``FacilityApiHook(conn_id, base_url).pages("vaccinations", since)``."""

    conn_name_attr = "conn_id"
    default_conn_name = "facility_api_default"
    conn_type = "http"
    hook_name = "covidsync facility API"

    def __init__(
        self,
        conn_id: str = default_conn_name,
        base_url: str | None = None,
        *,
        page_size: int = 500,
        policy: HttpPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        super().__init__()
        self.conn_id = conn_id
        self._base_url = base_url
        self.page_size = page_size
        self.policy = policy or HttpPolicy.from_env()
        self.sleep = sleep
        self.waits: list[float] = []  # every pause made before a retry, in seconds
        self.attempts = 0  # HTTP requests sent
        self._session: requests.Session | None = None

    # -- connection ---------------------------------------------------------------------------------------
    def _connection(self):
        try:
            return self.get_connection(self.conn_id)
        except AirflowNotFoundException as exc:
            raise ApiAuthError(
                f"no Airflow connection {self.conn_id!r}: add it with the source's token as its password "
                "(docs/runbook.md, 'Rotate a token')"
            ) from exc

    def get_conn(self) -> requests.Session:
        """A session carrying the connection's credentials (made once per hook)."""
        if self._session is not None:
            return self._session
        conn = self._connection()
        if not conn.password:
            raise ApiAuthError(f"the Airflow connection {self.conn_id!r} has no password (the API token)")
        session = requests.Session()
        auth = str(conn.extra_dejson.get("auth", "bearer")).lower()
        if auth == "basic":
            session.auth = (conn.login or "", conn.password)
        elif auth == "bearer":
            session.headers["Authorization"] = f"Bearer {conn.password}"
        else:
            raise ApiAuthError(f"the Airflow connection {self.conn_id!r}: extra 'auth' is bearer or basic")
        session.headers["Accept"] = "application/json"
        session.headers["User-Agent"] = "covidsync"
        if self._base_url is None:
            if not conn.host:
                raise ApiError(f"no base URL for connection {self.conn_id!r}: give one or set its host")
            scheme = conn.schema or "https"
            port = f":{conn.port}" if conn.port else ""
            self._base_url = f"{scheme}://{conn.host}{port}"
        self._session = session
        return session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def __enter__(self) -> FacilityApiHook:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def base_url(self) -> str:
        self.get_conn()
        return self._base_url.rstrip("/")

    # -- one request, with retries ------------------------------------------------------------------------
    def request(self, url: str, params: dict | None = None) -> requests.Response:
        """GET with retries on 429/5xx/timeouts; 401/403 fail at once; other 4xx fail without retry."""
        session = self.get_conn()
        policy = self.policy
        last = ""
        for attempt in range(policy.retries + 1):
            self.attempts += 1
            try:
                response = session.get(
                    url, params=params, timeout=(policy.connect_timeout, policy.read_timeout)
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = type(exc).__name__
                wait = policy.backoff(attempt)
            else:
                status = response.status_code
                if status in (401, 403):
                    raise ApiAuthError(
                        f"the API at {self.base_url} refused the token of Airflow connection "
                        f"{self.conn_id!r} (HTTP {status}): put the current token in that connection's "
                        "password (docs/runbook.md, 'Rotate a token'); not retried"
                    )
                if status == 429 or status >= 500:
                    last = f"HTTP {status}"
                    asked = retry_after_seconds(response.headers.get("Retry-After"))
                    if asked is not None and asked > policy.retry_after_max:
                        raise ApiUnavailable(
                            f"the API at {self.base_url} asked to wait {asked:.0f} s ({last}), more than "
                            f"COVIDSYNC_HTTP_RETRY_AFTER_MAX ({policy.retry_after_max:.0f} s)"
                        )
                    wait = asked if asked is not None else policy.backoff(attempt)
                    response.close()
                elif status >= 400:
                    raise ApiError(f"the API at {self.base_url} answered HTTP {status} to {response.url}")
                else:
                    return response
            if attempt == policy.retries:
                break
            log.info("facility API %s: %s, try %d again in %.2f s", self.conn_id, last, attempt + 2, wait)
            self.waits.append(wait)
            self.sleep(wait)
        raise ApiUnavailable(
            f"the API at {self.base_url} did not answer after {policy.retries + 1} tries (last: {last})"
        )

    # -- pages ----------------------------------------------------------------------------------------------
    def pages(self, dataset: str, updated_since: dt.datetime | None = None) -> Iterator[Page]:
        """Every page of ``dataset`` updated after ``updated_since`` (exclusive), in the served order."""
        if dataset not in DATASETS:
            raise ValueError(f"dataset is one of {DATASETS}")
        url: str | None = f"{self.base_url}/{dataset}"
        params: dict | None = {"page": 1, "page_size": self.page_size}
        if updated_since is not None:
            params["updated_since"] = updated_since.isoformat()
        number = 0
        seen: set[tuple] = set()
        while url is not None:
            number += 1
            if number > self.policy.max_pages:
                raise ApiPagingError(
                    f"the API at {self.base_url} has more than {self.policy.max_pages} pages of {dataset}: "
                    "raise the source's page size or COVIDSYNC_API_MAX_PAGES"
                )
            key = (url, tuple(sorted((params or {}).items())))
            if key in seen:
                raise ApiPagingError(
                    f"the API at {self.base_url} sent page {number - 1} again as the next page"
                )
            seen.add(key)
            response = self.request(url, params)
            body = _json_object(response, number)
            items = body["items"]
            log.info("facility API %s: %s page %d, %d items", self.conn_id, dataset, number, len(items))
            yield Page(number, items, response.url)
            url, params = _next(response, body, url, params, number, self.base_url)


def _json_object(response: requests.Response, number: int) -> dict:
    content = response.content
    try:
        body = response.json()
    except ValueError as exc:
        raise ApiMalformedResponse(f"page {number} is not valid JSON", page=number, content=content) from exc
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise ApiMalformedResponse(
            f"page {number} is not an object with an 'items' list", page=number, content=content
        )
    if not all(isinstance(item, dict) for item in body["items"]):
        raise ApiMalformedResponse(
            f"page {number} has items that are not objects", page=number, content=content
        )
    return body


def _next(response, body: dict, url: str, params: dict | None, number: int, base: str):
    """The next request (url, params), or (None, None) on the last page."""
    nxt = body.get("next_page")
    if nxt is None:
        nxt = body.get("next")
    if nxt is None and "next" in response.links:
        nxt = response.links["next"].get("url")
    if nxt is None or nxt is False:
        return None, None
    if isinstance(nxt, int) and not isinstance(nxt, bool):
        current = (params or {}).get("page", number)
        if nxt <= current:
            raise ApiPagingError(f"the API at {base} gave next_page {nxt} after page {current}")
        return url, {**(params or {}), "page": nxt}
    if isinstance(nxt, str) and nxt.strip():
        return urljoin(response.url, nxt.strip()), None
    raise ApiMalformedResponse(
        f"page {number} has a next_page that is neither a number nor a link",
        page=number,
        content=response.content,
    )
