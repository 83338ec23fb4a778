"""The client of the facility and lab APIs of contract §8: an Airflow hook on a ``requests.Session``.

``GET <base_url>/<dataset>?updated_since=<ISO-8601>&page=<n>&page_size=<k>`` with the token of an Airflow
connection; answers ``{"items": [...], "next_page": n+1 | null}``. Usable without a scheduler: the
connection is read through Airflow's connection API (:meth:`BaseHook.get_connection`), so inside a task it
comes from any secrets backend and elsewhere from ``AIRFLOW_CONN_<CONN_ID>`` (or an external backend).

* **auth**: the connection's password is the token, sent as ``Authorization: Bearer <token>``; with the
  connection extra ``{"auth": "basic"}`` the login and password are sent as HTTP basic auth instead.
* **timeouts**: connect ``COVIDSYNC_HTTP_CONNECT_TIMEOUT`` (10 s), read ``COVIDSYNC_HTTP_READ_TIMEOUT`` (60 s).
* **retries** (urllib3's ``Retry``, :class:`PolicyRetry`): ``429``, ``5xx``, timeouts and refused connections are tried again, at most
  ``COVIDSYNC_HTTP_RETRIES`` (5) more times, waiting ``COVIDSYNC_HTTP_BACKOFF_BASE`` (1 s) × 2^attempt, capped
  at ``COVIDSYNC_HTTP_BACKOFF_MAX`` (60 s). A ``Retry-After`` (seconds or an HTTP date) is waited as given;
  one above ``COVIDSYNC_HTTP_RETRY_AFTER_MAX`` (300 s) gives up at once (the task's own retry comes later).
* **401/403** raise :class:`ApiAuthError` at once, naming the connection: a wrong token does not get
  better by asking again, and a retry storm could lock the account. It is an ``AirflowFailException``,
  so the task fails without Airflow's retries too.
* **paging**: ``next_page`` as a page number (contract §8), or a next link (``next_page``/``next`` as a
  URL, or a ``Link: <...>; rel="next"`` header); at most ``COVIDSYNC_API_MAX_PAGES`` (1000) pages, and a
  next page that does not advance is refused (:class:`ApiPagingError`).
* **the token stays home**: every request (a next page, a ``//host`` link, a ``Link: rel=next`` header, an
  HTTP redirect) must stay on the base URL's scheme, host and port and under its path; anything else raises
  :class:`ApiOffHostError` before a byte is sent (the token never leaves), and the pull fails at once.
* **bounds**: the body is streamed and refused past ``COVIDSYNC_API_MAX_BYTES`` (64 MiB; a larger
  ``Content-Length`` is refused before reading: code ``file_too_large``); JSON nested deeper than
  ``COVIDSYNC_API_MAX_JSON_DEPTH`` (16), a page with more items than the page size asked for, a body shorter
  than its ``Content-Length`` and a next link that is not ``http(s)`` are ``unsupported_format``.
* A 200 whose body is not a JSON object with an ``items`` list raises :class:`ApiMalformedResponse`
  carrying the body (at most its first 64 KiB), so that the caller can keep it as evidence; its ``code``
  is the contract's file code for the batch.

Nothing here logs a token, an item or a query value beyond the page number and counts.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests
from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.util.retry import Retry

from covidsync.errors import CovidsyncError

log = logging.getLogger(__name__)

API_DATASETS = ("vaccinations", "test_results")


class ApiError(CovidsyncError):
    """The API could not be read; nothing of this pull was registered."""


class ApiAuthError(ApiError, AirflowFailException):
    """The token (or the connection that holds it) is wrong: fail fast, no retries."""


class ApiUnavailable(ApiError):
    """Retries exhausted, or the server asked to wait longer than we are willing to."""


class ApiPagingError(ApiError):
    """More pages than allowed, or a next page that does not move on."""


class ApiOffHostError(ApiError, AirflowFailException):
    """The API pointed a request somewhere other than its own base URL: not followed, no token sent."""


class ApiMalformedResponse(ApiError):
    """A 200 whose body is not the contract's JSON; ``content`` is the body as received (its first 64 KiB);
    ``code`` the contract's file code for the batch (``unsupported_format`` or ``file_too_large``)."""

    def __init__(self, message: str, *, page: int, content: bytes, code: str = "unsupported_format"):
        super().__init__(message)
        self.page = page
        self.content = content[:EVIDENCE_BYTES]
        self.code = code


EVIDENCE_BYTES = 64 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int | None, str]:
    """(scheme, host, port, path) of a URL, lower-cased where URLs are case-blind, default ports filled."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:  # a port that is not a number
        port = -1
    return scheme, (parts.hostname or "").lower(), port or _DEFAULT_PORTS.get(scheme), parts.path


def same_place(base: str, url: str) -> bool:
    """Whether ``url`` is on ``base``'s scheme, host and port, and under its path."""
    scheme, host, port, path = _origin(base)
    other_scheme, other_host, other_port, other_path = _origin(url)
    if (scheme, host, port) != (other_scheme, other_host, other_port) or not host:
        return False
    root = path.rstrip("/")
    return not root or other_path == root or other_path.startswith(root + "/")


def _shown(url: str) -> str:
    """Where a URL points, without its path or query (which may carry anything)."""
    scheme, host, port, _ = _origin(url)
    return f"{scheme}://{host}:{port}" if host else f"{scheme}:"


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
    max_bytes: int = 64 * 1024 * 1024
    max_json_depth: int = 16
    max_redirects: int = 5

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
            max_bytes=_env_int("COVIDSYNC_API_MAX_BYTES", cls.max_bytes),
            max_json_depth=_env_int("COVIDSYNC_API_MAX_JSON_DEPTH", cls.max_json_depth),
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


RETRY_STATUSES = frozenset({429, *range(500, 600)})


def _error_name(error: BaseException) -> str:
    """What a failed try is called in messages (the names requests gives these errors)."""
    from urllib3.exceptions import ConnectTimeoutError, ReadTimeoutError

    if isinstance(error, ReadTimeoutError):
        return "ReadTimeout"
    if isinstance(error, ConnectTimeoutError):
        return "ConnectTimeout"
    return "ConnectionError"


class PolicyRetry(Retry):
    """urllib3's ``Retry`` on the hook's :class:`HttpPolicy`: back-off ``backoff_base`` × 2^attempt capped at
    ``backoff_max`` (from the first retry, without jitter), ``Retry-After`` (seconds or an HTTP date) waited
    as given, and one above ``retry_after_max`` ending the retries at once (urllib3 would clamp it). Each
    failed try and each pause is recorded on the hook (``attempts``, ``waits``), and pauses go through the
    hook's ``sleep``."""

    def __init__(self, *args, hook: FacilityApiHook | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.hook = hook

    def new(self, **kw) -> PolicyRetry:
        kw.setdefault("hook", self.hook)
        return super().new(**kw)

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        hook = self.hook
        hook.attempts += 1
        if response is not None:
            hook._last = f"HTTP {response.status}"
            asked = self.get_retry_after(response)
            if asked is not None and asked > hook.policy.retry_after_max:
                hook._asked = asked
                raise MaxRetryError(_pool, url, ResponseError(hook._last))
        elif error is not None:
            hook._last = _error_name(error)
        return super().increment(method, url, response, error, _pool, _stacktrace)

    def get_retry_after(self, response) -> float | None:
        return retry_after_seconds(response.headers.get("Retry-After"))

    def get_backoff_time(self) -> float:
        return self.hook.policy.backoff(max(0, len(self.history) - 1))

    def sleep(self, response=None) -> None:
        wait = self.get_retry_after(response) if response is not None else None
        self.hook._waited(self.get_backoff_time() if wait is None else wait)


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
        self._last = ""  # what the last failed try met (for messages)
        self._asked: float | None = None  # a Retry-After above the cap, when one ended the retries
        self._adapter: HTTPAdapter | None = None
        self._session: requests.Session | None = None
        self._page = 0  # the page being asked for (for messages)

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
        self._adapter = HTTPAdapter(max_retries=self._retry())
        session.mount("http://", self._adapter)
        session.mount("https://", self._adapter)
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
    def _check_place(self, url: str, what: str) -> None:
        """Refuse (before sending anything) a URL off the base URL's scheme, host, port or path."""
        if not same_place(self.base_url, url):
            raise ApiOffHostError(
                f"the API at {self.base_url} sent {what} at {_shown(url)}, off its own scheme, host, port or "
                f"path: not followed, and the token of Airflow connection {self.conn_id!r} was not sent. "
                "The source must page under its base URL; if it moved, change the source's URL "
                "(covidsync sources add ... --url)"
            )

    def _retry(self) -> PolicyRetry:
        """A fresh retry budget for one request: ``policy.retries`` more tries on 429, 5xx, timeouts and
        refused connections."""
        return PolicyRetry(
            total=self.policy.retries,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=frozenset({"GET"}),
            raise_on_status=True,
            respect_retry_after_header=True,
            hook=self,
        )

    def _waited(self, seconds: float) -> None:
        log.info(
            "facility API %s: %s, try %d again in %.2f s",
            self.conn_id,
            self._last,
            len(self.waits) + 2,
            seconds,
        )
        self.waits.append(seconds)
        self.sleep(seconds)

    def _unavailable(self) -> ApiUnavailable:
        return ApiUnavailable(
            f"the API at {self.base_url} did not answer after {self.policy.retries + 1} tries (last: {self._last})"
        )

    def request(self, url: str, params: dict | None = None, *, page: int | None = None) -> requests.Response:
        """GET with retries on 429/5xx/timeouts (urllib3's ``Retry``: :class:`PolicyRetry`); 401/403 fail at
        once; other 4xx fail without retry.

        The body is read here, streamed, at most ``max_bytes`` of it; redirects are followed only on the
        base URL's own scheme, host, port and path.
        """
        session = self.get_conn()
        policy = self.policy
        page = self._page if page is None else page
        redirects = 0
        self._last, self._asked = "", None
        self._adapter.max_retries = self._retry()
        while True:
            self._check_place(url, "a request" if not redirects else "a redirect")
            try:
                response = session.get(
                    url,
                    params=params,
                    timeout=(policy.connect_timeout, policy.read_timeout),
                    stream=True,
                    allow_redirects=False,
                )
            except (requests.exceptions.InvalidHeader, requests.exceptions.ContentDecodingError) as exc:
                self.attempts += 1
                raise ApiMalformedResponse(
                    f"page {page or 1}: the answer's headers or encoding are not valid HTTP ({type(exc).__name__})",
                    page=page or 1,
                    content=b"",
                ) from exc
            except requests.exceptions.RetryError as exc:
                if self._asked is not None:
                    raise ApiUnavailable(
                        f"the API at {self.base_url} asked to wait {self._asked:.0f} s ({self._last}), more than "
                        f"COVIDSYNC_HTTP_RETRY_AFTER_MAX ({policy.retry_after_max:.0f} s)"
                    ) from exc
                raise self._unavailable() from exc
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise self._unavailable() from exc
            self.attempts += 1
            status = response.status_code
            if status in (401, 403):
                response.close()
                raise ApiAuthError(
                    f"the API at {self.base_url} refused the token of Airflow connection "
                    f"{self.conn_id!r} (HTTP {status}): put the current token in that connection's "
                    "password (docs/runbook.md, 'Rotate a token'); not retried"
                )
            if status in (301, 302, 303, 307, 308) and response.headers.get("Location"):
                target = urljoin(response.url, response.headers["Location"].strip())
                response.close()
                redirects += 1
                if redirects > policy.max_redirects:
                    raise ApiError(
                        f"the API at {self.base_url} redirected more than {policy.max_redirects} times"
                    )
                self._check_place(target, "a redirect")
                url, params = target, None
                continue
            if status >= 300:
                response.close()
                raise ApiError(f"the API at {self.base_url} answered HTTP {status} to page {page or 1}")
            left = response.raw.retries  # what this request's own retries left of the budget
            try:
                self._read_body(response, page)
            except (requests.ConnectionError, requests.Timeout) as exc:
                # the body broke off after a good status line: one more try from the same budget
                self._last = f"{type(exc).__name__} while reading the body"
                try:
                    left = Retry.increment(left, method="GET", url=url, error=exc)
                except MaxRetryError:
                    raise self._unavailable() from exc
                left.sleep()
                self._adapter.max_retries = left
                continue
            return response

    def _read_body(self, response: requests.Response, page: int) -> None:
        """Read the body into ``response`` in chunks, refusing it past ``max_bytes`` (memory stays bounded)."""
        cap = self.policy.max_bytes
        declared = response.headers.get("Content-Length", "").strip()
        try:
            if declared.isdigit() and int(declared) > cap:
                raise ApiMalformedResponse(
                    f"page {page} declares {int(declared)} bytes, more than COVIDSYNC_API_MAX_BYTES ({cap}): "
                    "the source must send smaller pages",
                    page=page,
                    content=b"",
                    code="file_too_large",
                )
            body = bytearray()
            try:
                for chunk in response.iter_content(64 * 1024):
                    body += chunk
                    if len(body) > cap:
                        raise ApiMalformedResponse(
                            f"page {page} is larger than COVIDSYNC_API_MAX_BYTES ({cap} bytes): "
                            "the source must send smaller pages",
                            page=page,
                            content=bytes(body[:EVIDENCE_BYTES]),
                            code="file_too_large",
                        )
            except (
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
            ) as exc:
                raise ApiMalformedResponse(
                    f"page {page} ended before the length its headers announced ({declared or 'chunked'}): "
                    "the body is cut or its Content-Length is false",
                    page=page,
                    content=bytes(body[:EVIDENCE_BYTES]),
                ) from exc
            response._content = bytes(body)  # noqa: SLF001 (requests' own slot for a read body)
            response._content_consumed = True  # noqa: SLF001
        finally:
            response.close()

    # -- pages ----------------------------------------------------------------------------------------------
    def pages(self, dataset: str, updated_since: dt.datetime | None = None) -> Iterator[Page]:
        """Every page of ``dataset`` updated after ``updated_since`` (exclusive), in the served order."""
        if dataset not in API_DATASETS:
            raise ValueError(f"dataset is one of {API_DATASETS}")
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
            self._page = number
            response = self.request(url, params)
            body = _json_object(response, number, self.policy.max_json_depth)
            items = body["items"]
            if len(items) > self.page_size:
                raise ApiMalformedResponse(
                    f"page {number} has {len(items)} items, more than the {self.page_size} asked for",
                    page=number,
                    content=response.content,
                )
            log.info("facility API %s: %s page %d, %d items", self.conn_id, dataset, number, len(items))
            yield Page(number, items, response.url)
            url, params = _next(response, body, url, params, number, self.base_url)
            if url is not None:
                self._check_place(url, "its next page")


def json_depth(value) -> int:
    """How deeply a parsed JSON value nests (a scalar is 0), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            node = node.values()
        elif not isinstance(node, list):
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in node if isinstance(child, (dict, list)))
    return deepest


def _json_object(response: requests.Response, number: int, max_depth: int = 16) -> dict:
    content = response.content
    try:
        body = json.loads(content)
    except RecursionError as exc:
        raise ApiMalformedResponse(
            f"page {number} is JSON nested deeper than {max_depth} levels", page=number, content=content
        ) from exc
    except ValueError as exc:
        raise ApiMalformedResponse(f"page {number} is not valid JSON", page=number, content=content) from exc
    if json_depth(body) > max_depth:
        raise ApiMalformedResponse(
            f"page {number} is JSON nested deeper than {max_depth} levels", page=number, content=content
        )
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
        link = urljoin(response.url, nxt.strip())
        if urlsplit(link).scheme.lower() not in ("http", "https"):
            raise ApiMalformedResponse(
                f"page {number} has a next link that is not http(s) ({urlsplit(link).scheme}:)",
                page=number,
                content=response.content,
            )
        return link, None
    raise ApiMalformedResponse(
        f"page {number} has a next_page that is neither a number nor a link",
        page=number,
        content=response.content,
    )
