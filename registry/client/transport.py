"""One pooled HTTP session per registry: auth, timeouts, bounded retries, typed errors."""

from __future__ import annotations

import base64
import email.utils
import importlib.metadata
import logging
import os
import random
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import InsecureRequestWarning

from . import errors
from .auth import (
    Challenge,
    TokenCache,
    may_send_credentials,
    parse_challenge,
    same_origin,
    scope_for,
)

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD"})
# No answer the client needs comes near this (100,000 tags list in about 3 MB).
DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024
BODY_CHUNK = 64 * 1024
MAX_RETRY_WAIT = 30.0  # seconds; a longer Retry-After fails the request instead of stalling
BACKOFF_BASE = 0.25


def _version() -> str:
    try:
        return importlib.metadata.version("registry-janitor")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout not installed
        return "0"


# Sent on every request: registry notifications report the janitor's own HEADs and GETs
# as pulls, and registry.events recognises them by this prefix.
JANITOR_USER_AGENT_PREFIX = "registry-janitor/"
JANITOR_USER_AGENT = f"{JANITOR_USER_AGENT_PREFIX}{_version()}"


class Transport:
    """Sends requests to one registry and turns every failure into a `RegistryError`."""

    def __init__(
        self,
        base_url: str,
        *,
        username: str = "",
        password: str = "",
        verify: bool | str = True,
        timeout: float = 15.0,
        max_retries: int = 4,
        pool_size: int = 8,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        sleep: Callable[[float], None] = time.sleep,
        credential_origins: list[str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # When set, the only token services the credentials may go to (GitLab's, say).
        self.credential_origins = list(credential_origins or [])
        self._username = username
        self._password = password
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_response_bytes = max_response_bytes
        self._sleep = sleep
        self._tokens = TokenCache()
        self._basic = False  # set once the registry asks for Basic auth
        self._count_lock = threading.Lock()
        self.requests_made = 0
        self._proxies: dict[str, dict[str, str]] = {}
        self.session = requests.Session()
        # requests re-reads the proxy variables of the whole environment on every request;
        # read them once per host instead.
        self.session.trust_env = False
        self.session.verify = ca_bundle_from_environment() if verify is True else verify
        if verify is False:
            # Turned off on purpose for this registry (shown on its page): urllib3's
            # warning on every request would only bury the logs.
            logger.info("TLS certificates of %s are not checked", _host(base_url))
            warnings.filterwarnings("ignore", category=InsecureRequestWarning)
        self.session.headers["User-Agent"] = JANITOR_USER_AGENT
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def close(self) -> None:
        self.session.close()

    # -- the one entry point -------------------------------------------------

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        what: str,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        data: bytes | None = None,
        ok: tuple[int, ...] = (200,),
    ) -> requests.Response:
        """Send one request; retry rate limits and gateway errors; raise on anything not `ok`.

        `what` says in plain words what the request was for ("listing the tags of
        app/web"): it goes into every error message.
        """
        url = urljoin(self.base_url + "/", path_or_url)
        if not same_origin(url, self.base_url):
            # A `Link` to another host: following it would send the registry's
            # credentials (or tokens) there.
            raise errors.InvalidResponse(
                f"The registry pointed to another host ({_host(url)}) while {what}; it was "
                "not followed, so that no credentials leave the registry's own address."
            )
        method = method.upper()
        scope = scope_for(method, urlsplit(url).path)
        attempt = 0
        while True:
            try:
                response = self._send_authenticated(method, url, scope, headers, params, data, what)
            except errors.RegistryUnreachable:
                if method not in IDEMPOTENT_METHODS or attempt >= self.max_retries:
                    raise
                self._sleep(self._backoff(attempt))
                attempt += 1
                continue
            if response.status_code in ok:
                return response
            if response.status_code in RETRY_STATUSES and attempt < self.max_retries:
                wait = self._retry_wait(response, attempt)
                if wait is not None:
                    response.close()
                    logger.info("%s: HTTP %s, retrying in %.1fs", what, response.status_code, wait)
                    self._sleep(wait)
                    attempt += 1
                    continue
            raise error_for_response(response, what=what, retries=attempt)

    # -- auth ----------------------------------------------------------------

    def _send_authenticated(
        self,
        method: str,
        url: str,
        scope: str,
        headers: Mapping[str, str] | None,
        params: Mapping[str, Any] | None,
        data: bytes | None,
        what: str,
    ) -> requests.Response:
        token = self._tokens.get(scope)
        sent = self._auth_header(token)
        response = self._send(method, url, headers, params, data, sent, what)
        if response.status_code != 401:
            return response
        challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if challenge is None:
            return response
        if challenge.scheme == "basic":
            # Decided by what *this* request carried: concurrent requests sent before
            # another thread learnt that the registry wants Basic must still retry.
            if not self._username or sent.get("Authorization", "").startswith("Basic "):
                return response  # nothing new to try: error_for_response explains
            self._basic = True
        elif challenge.scheme == "bearer":
            if token is not None:
                self._tokens.discard(scope, token)  # expired or revoked: renew once
            token = self._fetch_token(challenge, scope, what)
        else:
            return response
        response.close()
        return self._send(method, url, headers, params, data, self._auth_header(token), what)

    def _auth_header(self, token: str | None) -> dict[str, str]:
        if token:
            return {"Authorization": f"Bearer {token}"}
        if self._basic:
            pair = f"{self._username}:{self._password}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        return {}

    def _fetch_token(self, challenge: Challenge, scope: str, what: str) -> str:
        realm = challenge.realm
        if not realm:
            raise errors.InvalidResponse(
                f"The registry asked for a token while {what} but named no token service."
            )
        wanted_scope = challenge.params.get("scope") or scope
        params: list[tuple[str, str]] = []
        if "service" in challenge.params:
            params.append(("service", challenge.params["service"]))
        params.extend(("scope", part) for part in wanted_scope.split(" ") if part)
        auth = None
        if self._username:
            tls_verified = self.session.verify is not False
            allowed = not self.credential_origins or any(
                same_origin(realm, origin) for origin in self.credential_origins
            )
            if allowed and may_send_credentials(
                realm=realm, registry_url=self.base_url, tls_verified=tls_verified
            ):
                auth = (self._username, self._password)
            else:
                logger.warning(
                    "Not sending credentials to token service %s: it is not on the registry's "
                    "host, and not over HTTPS with its certificate checked (or, for a registry "
                    "connected to GitLab, not GitLab's own); asking for an anonymous token.",
                    _host(realm),
                )
        what_token = f"asking the token service for access while {what}"
        response = self._send("GET", realm, None, params, None, {}, what_token, auth=auth)
        if response.status_code != 200:
            if response.status_code in (401, 403):
                raise errors.AuthenticationFailed(
                    f"The registry's token service refused the username and password "
                    f"(HTTP {response.status_code}) while {what}. Check the credentials.",
                    status=response.status_code,
                )
            raise error_for_response(response, what=what_token, retries=0)
        try:
            body = response.json()
            value = body.get("token") or body.get("access_token")
            expires_in = body.get("expires_in")
        except (ValueError, AttributeError) as exc:
            raise errors.InvalidResponse(
                f"The token service answered with something that is not JSON while {what}."
            ) from exc
        if not value or not isinstance(value, str):
            raise errors.InvalidResponse(f"The token service sent no token while {what}.")
        self._tokens.put(scope, value, expires_in if isinstance(expires_in, int) else None)
        return value

    # -- plumbing ------------------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        params: Any,
        data: bytes | None,
        auth_header: Mapping[str, str],
        what: str,
        auth: tuple[str, str] | None = None,
    ) -> requests.Response:
        with self._count_lock:
            self.requests_made += 1
        # Prepared here rather than by Session.request, which merges cookies, hooks and
        # settings the transport does not use, on every request.
        prepared = requests.PreparedRequest()
        prepared.prepare(
            method=method,
            url=url,
            headers={**self.session.headers, **(headers or {}), **auth_header},
            params=params,
            data=data,
            auth=auth,
        )
        try:
            response = self.session.send(
                prepared,
                proxies=self._proxies_for(url),
                verify=self.session.verify,
                stream=True,
                cert=None,
                timeout=self.timeout,
                allow_redirects=True,
            )
            self._read_body(response, url=url, what=what)
            return response
        except requests.exceptions.SSLError as exc:
            raise errors.RegistryUnreachable(
                f"The TLS certificate of {_host(url)} could not be verified while "
                f"{what}. Give the registry a CA bundle, or turn TLS verification off."
            ) from exc
        except requests.exceptions.Timeout as exc:
            raise errors.RegistryUnreachable(
                f"{_host(url)} did not answer within {self.timeout:g} seconds while {what}."
            ) from exc
        except requests.exceptions.ConnectionError as exc:
            raise errors.RegistryUnreachable(
                f"Could not reach {_host(url)} while {what}: the connection failed "
                f"or was cut. Is the registry running, and is its URL right?"
            ) from exc

    def _read_body(self, response: requests.Response, *, url: str, what: str) -> None:
        """Read the body, but never more than `max_response_bytes`: a registry (or what
        answers in its name) could otherwise fill the worker's memory."""
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_response_bytes:
            response.close()
            raise errors.InvalidResponse(too_big_message(self.max_response_bytes, url, what))
        parts: list[bytes] = []
        size = 0
        for part in response.iter_content(BODY_CHUNK):
            size += len(part)
            if size > self.max_response_bytes:
                response.close()
                raise errors.InvalidResponse(too_big_message(self.max_response_bytes, url, what))
            parts.append(part)
        response._content = b"".join(parts)  # as requests itself stores a read body

    def _proxies_for(self, url: str) -> dict[str, str]:
        """The proxy the environment names for the URL's host (HTTPS_PROXY, NO_PROXY, …)."""
        parts = urlsplit(url)
        key = f"{parts.scheme}://{parts.netloc}"
        if key not in self._proxies:
            self._proxies[key] = requests.utils.get_environ_proxies(key)
        return self._proxies[key]

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with full jitter."""
        return random.uniform(0, BACKOFF_BASE * 2**attempt)

    def _retry_wait(self, response: requests.Response, attempt: int) -> float | None:
        """Seconds to wait before retrying, or None when the registry asks for too long."""
        retry_after = parse_retry_after(response.headers.get("Retry-After", ""))
        if retry_after is None:
            return self._backoff(attempt) + BACKOFF_BASE
        if retry_after > MAX_RETRY_WAIT:
            return None
        return retry_after + random.uniform(0, BACKOFF_BASE)


def too_big_message(limit: int, url: str, what: str) -> str:
    return (
        f"{_host(url)} sent more than {limit // (1024 * 1024)} MB while {what}; the rest was "
        "not read (REGISTRY_MAX_RESPONSE_MB sets the limit)."
    )


def ca_bundle_from_environment() -> bool | str:
    """The CA bundle requests would read from the environment, or True for its own."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


def _host(url: str) -> str:
    """host[:port] of a URL, never its user:password@ part (it must not reach any message)."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


def parse_retry_after(value: str, *, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds from now: it is either a number of seconds or an HTTP date."""
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def registry_error_code(response: requests.Response) -> tuple[str, str]:
    """The first (code, message) of a distribution-style error body, if any."""
    try:
        body = response.json()
        first = body["errors"][0]
        return str(first.get("code", "")), str(first.get("message", ""))
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return "", ""


def error_for_response(
    response: requests.Response, *, what: str, retries: int
) -> errors.RegistryError:
    """The typed error for a response that is not what was asked for, in plain words."""
    error = _error_for_status(response, what=what, retries=retries)
    error.retries = retries
    return error


def _error_for_status(
    response: requests.Response, *, what: str, retries: int
) -> errors.RegistryError:
    status = response.status_code
    code, detail = registry_error_code(response)
    said = f" ({code}: {detail})" if code else ""
    after = f" after {retries} retries" if retries else ""
    if status == 401:
        sent = response.request.headers.get("Authorization", "")
        if sent.startswith("Basic "):
            return errors.AuthenticationFailed(
                f"The registry refused the username and password while {what}{said}.",
                status=status,
                code=code or "UNAUTHORIZED",
            )
        if sent:
            return errors.AccessDenied(
                f"The registry refused access while {what}{said}. The credentials were "
                f"accepted, but they do not grant this action. (GitLab silently drops "
                f"actions a token may not do: deleting needs a personal access token with the "
                f"'api' scope and the Maintainer role.)",
                status=status,
                code=code or "UNAUTHORIZED",
            )
        return errors.AuthenticationFailed(
            f"The registry needs credentials while {what}{said}: set a username and password.",
            status=status,
            code=code or "UNAUTHORIZED",
        )
    if status == 403:
        return errors.AccessDenied(
            f"The registry denied access while {what}{said}.", status=status, code=code or "DENIED"
        )
    if status == 404:
        return errors.NotFound(
            f"The registry has no such thing while {what}{said}.", status=status, code=code
        )
    if status == 405:
        return errors.DeleteDisabled(
            f"The registry does not allow this while {what}{said}. If this was a deletion, "
            f"the registry runs with deletion disabled (REGISTRY_STORAGE_DELETE_ENABLED=true "
            f"turns it on).",
            status=status,
            code=code or "UNSUPPORTED",
        )
    if status == 429:
        return errors.RateLimited(
            f"The registry kept rate-limiting us{after} while {what}{said}. Try again later.",
            status=status,
            code=code or "TOOMANYREQUESTS",
        )
    if status >= 500:
        return errors.ServerError(
            f"The registry failed with HTTP {status}{after} while {what}{said}. "
            f"This is a fault on the registry's side.",
            status=status,
            code=code,
        )
    return errors.UnexpectedStatus(
        f"The registry answered HTTP {status} while {what}{said}.", status=status, code=code
    )
