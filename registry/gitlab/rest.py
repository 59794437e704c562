"""GitLab's REST API v4, as this product reads it: one pooled session per GitLab.

- The token goes in `PRIVATE-TOKEN`, and only to the GitLab URL's own origin: a `Link`
  to another host is not followed, and redirects are not followed at all (requests
  would carry the header along to wherever they point).
- Lists are read whole, page after page (`per_page=100`), following `X-Next-Page` or
  else the `Link` header's `rel="next"` (doc/api/rest/_index.md, "Pagination"). Pages
  that loop, or never end, stop the read with an error.
- 429 waits as `Retry-After` says (seconds or an HTTP date), 502/503/504 and lost
  connections back off with jitter, a bounded number of times. `RateLimit-Remaining`
  running low makes every thread wait for `RateLimit-Reset` before the next request
  (doc/administration/settings/user_and_ip_rate_limits.md, "Response headers"):
  GitLab.com allows 2,000 authenticated requests a minute per user.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter

from registry.client.auth import same_origin
from registry.client.transport import ca_bundle_from_environment, parse_retry_after

from . import errors

logger = logging.getLogger(__name__)

R = TypeVar("R")

PER_PAGE = 100  # GitLab's maximum
MAX_PAGES = 500  # 50,000 rows: past this a list is not read to the end
RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_RETRY_WAIT = 60.0  # seconds: a longer Retry-After fails the request instead
BACKOFF_BASE = 0.25
# Below this many requests left in GitLab's window, wait for the window to reset.
RATE_LIMIT_RESERVE = 5
BODY_CHUNK = 64 * 1024


def path_id(path: str) -> str:
    """A group's or project's path as GitLab takes it in a URL (`a%2Fb`, rest/_index.md,
    "Namespaced paths"), or a numeric id as it is."""
    return path if path.isdigit() else quote(path, safe="")


def unreachable_message(host: str, what: str) -> str:
    return (
        f"Could not reach GitLab at {host} while {what}: the connection failed or was cut. "
        "Is GitLab running, and is its URL right?"
    )


class GitLabClient:
    """A client for one GitLab. Thread-safe; `submit` runs calls on a bounded pool."""

    def __init__(
        self,
        url: str,
        *,
        token: str,
        verify: bool | str = True,
        timeout: float = 15.0,
        max_retries: int = 4,
        concurrency: int = 4,
        max_response_bytes: int = 32 * 1024 * 1024,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = url.rstrip("/")
        self.api_url = f"{self.base_url}/api/v4"
        self.timeout = timeout
        self.max_retries = max_retries
        self.concurrency = concurrency
        self.max_response_bytes = max_response_bytes
        self._sleep = sleep
        self._lock = threading.Lock()
        self.requests_made = 0
        self._paused_until = 0.0  # time.monotonic() before which no request goes out
        self.server_date: datetime | None = None  # GitLab's clock, from the last answer
        self._pool: ThreadPoolExecutor | None = None
        self.session = requests.Session()
        self.session.trust_env = False  # proxies are read once, below
        self.session.verify = ca_bundle_from_environment() if verify is True else verify
        self.session.headers.update(
            {
                "PRIVATE-TOKEN": token,
                "User-Agent": "registry-janitor/0.1",
                "Accept": "application/json",
            }
        )
        self._proxies = requests.utils.get_environ_proxies(self.base_url)
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=concurrency, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def __enter__(self) -> GitLabClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self.session.close()

    @property
    def host(self) -> str:
        parts = urlsplit(self.base_url)
        return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)

    # -- reading -----------------------------------------------------------------------

    def get(self, path: str, *, what: str, params: Mapping[str, Any] | None = None) -> Any:
        """One GET of `/api/v4{path}`; the decoded JSON."""
        return _json(self.request(f"{self.api_url}{path}", params=params, what=what), what)

    def get_all(
        self, path: str, *, what: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Every row of a paginated list, in GitLab's order."""
        return list(self.iterate(path, what=what, params=params))

    def iterate(
        self, path: str, *, what: str, params: Mapping[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        url: str | None = f"{self.api_url}{path}"
        query: dict[str, Any] | None = {"per_page": PER_PAGE, **(params or {})}
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            assert url is not None
            response = self.request(url, params=query, what=what)
            rows = _json(response, what)
            if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
                raise errors.GitLabInvalidResponse(
                    f"GitLab answered with something that is not a list while {what}."
                )
            yield from rows
            url, query = self._next_page(response, query, what=what)
            if url is None:
                return
            key = url + repr(sorted((query or {}).items()))
            if key in seen:
                raise errors.GitLabInvalidResponse(
                    f"GitLab's pages loop back to one already read while {what}; the list was "
                    "not read to the end."
                )
            seen.add(key)
        raise errors.GitLabInvalidResponse(
            f"GitLab sent more than {MAX_PAGES:,} pages while {what}; the list was not read "
            "to the end."
        )

    def _next_page(
        self, response: requests.Response, query: dict[str, Any] | None, *, what: str
    ) -> tuple[str | None, dict[str, Any] | None]:
        """The next page: `X-Next-Page` (empty on the last page), else `Link: rel="next"`."""
        next_page = response.headers.get("X-Next-Page")
        if next_page is not None:
            next_page = next_page.strip()
            if not next_page:
                return None, None
            if not next_page.isdigit():
                raise errors.GitLabInvalidResponse(
                    f"GitLab named a next page that is not a number while {what}."
                )
            return response.url.split("?")[0], {**(query or {}), "page": int(next_page)}
        link = response.links.get("next", {}).get("url")
        if not link:
            return None, None
        if not same_origin(link, self.base_url):
            raise errors.GitLabInvalidResponse(
                f"GitLab pointed to another host for the next page while {what}; it was not "
                "followed, so that the token stays with GitLab."
            )
        return link, None  # the Link URL carries its own query

    def submit(self, function: Callable[..., R], *args: Any) -> Future[R]:
        """Run `function(*args)` on the bounded pool; the caller waits for the result."""
        return self._get_pool().submit(function, *args)

    def _get_pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="gitlab")
            return self._pool

    # -- one request -------------------------------------------------------------------

    def request(
        self, url: str, *, what: str, params: Mapping[str, Any] | None = None
    ) -> requests.Response:
        """GET `url`; retry rate limits, gateway errors and lost connections; raise on the rest."""
        if not same_origin(url, self.base_url):
            raise errors.GitLabInvalidResponse(
                f"Refused to send the GitLab token to another host while {what}."
            )
        attempt = 0
        while True:
            self._wait_for_rate_limit()
            try:
                response = self._send(url, params, what)
            except errors.GitLabUnreachable:
                if attempt >= self.max_retries:
                    raise
                self._sleep(self._backoff(attempt))
                attempt += 1
                continue
            self._note_headers(response)
            if response.status_code == 200:
                return response
            if response.status_code in RETRY_STATUSES and attempt < self.max_retries:
                wait = self._retry_wait(response, attempt)
                if wait is not None:
                    logger.info("%s: HTTP %s, retrying in %.1fs", what, response.status_code, wait)
                    self._sleep(wait)
                    attempt += 1
                    continue
            raise error_for_response(response, what=what, retries=attempt)

    def _send(self, url: str, params: Mapping[str, Any] | None, what: str) -> requests.Response:
        with self._lock:
            self.requests_made += 1
        try:
            response = self.session.get(
                url,
                params=params,
                timeout=self.timeout,
                allow_redirects=False,
                stream=True,
                proxies=self._proxies,
            )
            self._read_body(response, what=what)
            return response
        except requests.exceptions.SSLError as exc:
            raise errors.GitLabUnreachable(
                f"GitLab's TLS certificate at {self.host} could not be verified while {what}."
            ) from exc
        except requests.exceptions.Timeout as exc:
            raise errors.GitLabUnreachable(
                f"GitLab at {self.host} did not answer within {self.timeout:g} seconds "
                f"while {what}."
            ) from exc
        except requests.exceptions.ConnectionError as exc:
            raise errors.GitLabUnreachable(unreachable_message(self.host, what)) from exc

    def _read_body(self, response: requests.Response, *, what: str) -> None:
        """At most `max_response_bytes`: a huge page must not fill the worker's memory."""
        limit = self.max_response_bytes
        too_big = errors.GitLabInvalidResponse(
            f"GitLab sent more than {limit // (1024 * 1024)} MB in one answer while {what}; "
            "the rest was not read (REGISTRY_MAX_RESPONSE_MB sets the limit)."
        )
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            response.close()
            raise too_big
        parts, size = [], 0
        for part in response.iter_content(BODY_CHUNK):
            size += len(part)
            if size > limit:
                response.close()
                raise too_big
            parts.append(part)
        response._content = b"".join(parts)

    # -- rate limits -------------------------------------------------------------------

    def _note_headers(self, response: requests.Response) -> None:
        date = response.headers.get("Date")
        if date:
            try:
                parsed = email.utils.parsedate_to_datetime(date)
            except (TypeError, ValueError):
                parsed = None
            if parsed is not None:
                self.server_date = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        remaining = response.headers.get("RateLimit-Remaining", "").strip()
        reset = response.headers.get("RateLimit-Reset", "").strip()
        if remaining.isdigit() and int(remaining) < RATE_LIMIT_RESERVE and reset.isdigit():
            wait = min(max(int(reset) - time.time(), 0.0), MAX_RETRY_WAIT)
            with self._lock:
                self._paused_until = max(self._paused_until, time.monotonic() + wait)

    def _wait_for_rate_limit(self) -> None:
        with self._lock:
            wait = self._paused_until - time.monotonic()
        if wait > 0:
            logger.info("GitLab's rate limit is nearly used up: waiting %.1fs", wait)
            self._sleep(wait)

    def _backoff(self, attempt: int) -> float:
        return random.uniform(0, BACKOFF_BASE * 2**attempt)

    def _retry_wait(self, response: requests.Response, attempt: int) -> float | None:
        """Seconds to wait: `Retry-After`, else `RateLimit-Reset`, else backoff; None when
        GitLab asks for longer than MAX_RETRY_WAIT."""
        wait = parse_retry_after(response.headers.get("Retry-After", ""))
        reset = response.headers.get("RateLimit-Reset", "").strip()
        if wait is None and response.status_code == 429 and reset.isdigit():
            wait = max(int(reset) - time.time(), 0.0)
        if wait is None:
            return self._backoff(attempt) + BACKOFF_BASE
        if wait > MAX_RETRY_WAIT:
            return None
        return wait + random.uniform(0, BACKOFF_BASE)


# -- answers -----------------------------------------------------------------------------


def _json(response: requests.Response, what: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise errors.GitLabInvalidResponse(
            f"GitLab answered with something that is not JSON while {what}."
        ) from exc


def _message(response: requests.Response) -> tuple[str, str]:
    """GitLab's own words from an error body, and the scope it asked for, if any.

    Bodies are `{"message": "404 Project Not Found"}`, `{"error": "insufficient_scope",
    "error_description": …, "scope": "api read_api"}` (rest/troubleshooting.md).
    """
    try:
        body = response.json()
    except ValueError:
        return "", ""
    if not isinstance(body, dict):
        return "", ""
    said = body.get("error_description") or body.get("message") or body.get("error") or ""
    if isinstance(said, dict):  # {"message": {"error": "…"}} on some limits
        said = "; ".join(f"{value}" for value in said.values())
    scope = body.get("scope") if body.get("error") == "insufficient_scope" else ""
    return str(said)[:300], str(scope or "")


def error_for_response(
    response: requests.Response, *, what: str, retries: int = 0
) -> errors.GitLabError:
    status = response.status_code
    said, scope = _message(response)
    detail = f" (GitLab said: {said})" if said else ""
    after = f" after {retries} retries" if retries else ""
    if 300 <= status < 400:
        return errors.GitLabInvalidResponse(
            f"GitLab redirected (HTTP {status}) while {what}; redirects are not followed, so "
            "that the token stays where it belongs. Give GitLab's exact URL (https://…).",
            status=status,
        )
    if status == 401:
        return errors.GitLabTokenRefused(
            f"GitLab refused the token while {what}{detail}: it is wrong, expired or revoked.",
            status=status,
        )
    if status == 403:
        needs = f" It needs the {scope!r} scope." if scope else ""
        return errors.GitLabForbidden(
            f"GitLab denied the token while {what}{detail}.{needs}", scope=scope
        )
    if status == 404:
        return errors.GitLabNotFound(
            f"GitLab knows no such thing, or not for this token, while {what}{detail}.",
            status=status,
        )
    if status == 429:
        return errors.GitLabRateLimited(
            f"GitLab kept rate-limiting us{after} while {what}. Try again later.", status=status
        )
    if status >= 500:
        return errors.GitLabServerError(
            f"GitLab failed with HTTP {status}{after} while {what}{detail}.", status=status
        )
    return errors.GitLabError(f"GitLab answered HTTP {status} while {what}{detail}.", status=status)
