"""Registry authentication: Basic, and bearer tokens from a `WWW-Authenticate` challenge.

This is the token flow of the distribution spec, which GitLab's `/jwt/auth`
follows too, so no GitLab-specific code is needed. Tokens are cached per scope
and renewed shortly before they expire.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')
_REPOSITORY_PATH = re.compile(r"^/v2/(?P<name>.+)/(?:tags/list|manifests/[^/]+|blobs/.+)$")
# GitLab's metadata-database API (gitlab-org/container-registry docs/spec/gitlab/api.md):
# the same tokens, `pull` on the repository for a GET.
_GITLAB_REPOSITORY_PATH = re.compile(r"^/gitlab/v1/repositories/(?P<name>.+)/tags/list/?$")

DEFAULT_TOKEN_LIFETIME = 60  # seconds, when the token service does not say (spec)
RENEW_MARGIN = 10  # renew this many seconds before expiry, or at 3/4 of a short lifetime


@dataclass(frozen=True)
class Challenge:
    scheme: str  # "bearer" or "basic", lower case
    params: dict[str, str]

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")


def parse_challenge(header: str) -> Challenge | None:
    """Parse `Bearer realm="…",service="…",scope="…"` (or Basic). None when absent."""
    header = header.strip()
    if not header:
        return None
    scheme, _, rest = header.partition(" ")
    params = {
        key.lower(): quoted.replace('\\"', '"') if quoted else bare
        for key, quoted, bare in _PARAM.findall(rest)
    }
    return Challenge(scheme=scheme.lower(), params=params)


def scope_for(method: str, path: str) -> str:
    """The token scope a request needs: the registry maps GET/HEAD to pull, DELETE to delete."""
    if path.rstrip("/") == "/v2/_catalog":
        return "registry:catalog:*"
    match = _REPOSITORY_PATH.match(path) or _GITLAB_REPOSITORY_PATH.match(path)
    if not match:
        return ""
    method = method.upper()
    if method in ("GET", "HEAD"):
        actions = "pull"
    elif method == "DELETE":
        actions = "delete"
    else:
        actions = "pull,push"
    return f"repository:{match['name']}:{actions}"


def may_send_credentials(*, realm: str, registry_url: str, tls_verified: bool = True) -> bool:
    """Credentials go to a token realm only over verified TLS or on the registry's own host.

    Otherwise a registry (or whoever controls its answers, or the network) could
    harvest them with a crafted realm: plain HTTP to another host is readable on the
    way, and HTTPS without certificate checks talks to whoever answers.
    """
    realm_parts = urlsplit(realm)
    registry_parts = urlsplit(registry_url)
    if realm_parts.scheme not in ("http", "https"):
        return False
    if realm_parts.hostname == registry_parts.hostname:
        return True
    return realm_parts.scheme == "https" and tls_verified


def same_origin(url: str, base_url: str) -> bool:
    """Whether `url` has the scheme, host and port of `base_url` (default ports filled in)."""
    a, b = urlsplit(url), urlsplit(base_url)
    return (a.scheme, a.hostname, _port(a.scheme, a.port)) == (
        b.scheme,
        b.hostname,
        _port(b.scheme, b.port),
    )


def _port(scheme: str, port: int | None) -> int | None:
    return port or {"http": 80, "https": 443}.get(scheme)


@dataclass
class _CachedToken:
    value: str
    renew_at: float


class TokenCache:
    """Bearer tokens per scope, thread-safe, dropped shortly before they expire."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._tokens: dict[str, _CachedToken] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def get(self, scope: str) -> str | None:
        with self._lock:
            cached = self._tokens.get(scope)
            if cached is None or self._clock() >= cached.renew_at:
                return None
            return cached.value

    def put(self, scope: str, token: str, expires_in: int | None) -> None:
        lifetime = expires_in if expires_in and expires_in > 0 else DEFAULT_TOKEN_LIFETIME
        margin = min(RENEW_MARGIN, lifetime / 4)
        with self._lock:
            self._tokens[scope] = _CachedToken(token, self._clock() + lifetime - margin)

    def discard(self, scope: str, token: str) -> None:
        with self._lock:
            cached = self._tokens.get(scope)
            if cached is not None and cached.value == token:
                del self._tokens[scope]
