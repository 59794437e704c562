"""A token server that behaves like GitLab's `/jwt/auth`, for a token-auth registry.

It signs RS256 JWTs with a self-signed certificate carried in the `x5c` header; the same
certificate, written to `cert_path`, is the registry's `auth.token.rootcertbundle`.
GitLab's habits that the client has to cope with are kept on purpose: GET only, no
`expires_in` in the answer, and actions the user may not have are dropped silently.
"""

from __future__ import annotations

import base64
import datetime as dt
import fnmatch
import functools
import hashlib
import json
import math
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from devtools.background_server import BackgroundServer

HOST = "127.0.0.1"
REALM_PATH = "/jwt/auth"
# distribution accepts a token until 60 s after its `exp` (and 60 s before its `nbf`).
REGISTRY_LEEWAY = 60


@dataclass
class IssuerUser:
    password: str
    # glob pattern of repository names -> actions granted ("pull", "push", "delete", "*")
    repositories: dict[str, set[str]] = field(default_factory=dict)
    catalog: bool = False


@dataclass(frozen=True)
class Access:
    type: str
    name: str
    actions: tuple[str, ...]

    def as_claim(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "actions": list(self.actions)}


def parse_scope(scope: str) -> Access | None:
    """`type:name:actions`, split on the first and the last colon (names may hold `:port`)."""
    kind, sep, rest = scope.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not (sep and sep2 and kind and name):
        return None
    return Access(kind, name, tuple(a for a in actions.split(",") if a))


def libtrust_key_id(public_key: rsa.RSAPublicKey) -> str:
    """The `kid` distribution derives from a key: libtrust's fingerprint of its DER form."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


class TokenIssuer:
    """GitLab-like `/jwt/auth` on 127.0.0.1, in a thread. `start()`, then `realm`.

    `token_lifetime` sets `exp`; it may be changed between requests. distribution adds
    REGISTRY_LEEWAY seconds to `exp`, so with `expire_for_registry=True` the `exp` is moved
    that much earlier and the registry refuses the token `token_lifetime` seconds after it
    was issued (to test a token expiring in the middle of a sync).
    """

    service = "container_registry"
    issuer = "test-issuer"

    def __init__(
        self,
        users: dict[str, IssuerUser] | None = None,
        *,
        token_lifetime: int = 300,
        expire_for_registry: bool = False,
        workdir: Path | None = None,
    ) -> None:
        self.users = dict(users or {})
        self.token_lifetime = token_lifetime
        self.expire_for_registry = expire_for_registry
        self._own_tmp = tempfile.TemporaryDirectory(prefix="token-issuer-") if not workdir else None
        self.workdir = Path(workdir or self._own_tmp.name)  # type: ignore[union-attr]  # set when workdir is not
        self.cert_path = self.workdir / "token-signing.crt"
        self._key, certificate = _self_signed_certificate()
        self.cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        self._x5c = base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()
        self._kid = libtrust_key_id(self._key.public_key())
        self._lock = threading.Lock()
        self.requests_served = 0
        self.token_requests: list[tuple[str | None, tuple[str, ...]]] = []
        self._serving: BackgroundServer | None = None

    # lifecycle ------------------------------------------------------------------------

    def start(self) -> TokenIssuer:
        server = ThreadingHTTPServer((HOST, 0), _handler_for(self))
        self._serving = BackgroundServer(server, name="token-issuer")
        return self

    def stop(self) -> None:
        if self._serving is not None:
            self._serving.stop()
            self._serving = None
        if self._own_tmp is not None:
            self._own_tmp.cleanup()
            self._own_tmp = None

    def __enter__(self) -> TokenIssuer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._serving is None:
            raise RuntimeError("TokenIssuer is not started")
        return self._serving.port

    @property
    def realm(self) -> str:
        return f"http://{HOST}:{self.port}{REALM_PATH}"

    def reset_counters(self) -> None:
        with self._lock:
            self.requests_served = 0
            self.token_requests.clear()

    # tokens ---------------------------------------------------------------------------

    def granted(self, username: str | None, scopes: list[str]) -> list[Access]:
        """What GitLab would grant: requested actions the user has; the rest dropped."""
        user = self.users.get(username) if username else None
        if user is None:
            return []
        granted: list[Access] = []
        for scope in scopes:
            access = parse_scope(scope)
            if access is None:
                continue
            allowed = _allowed_actions(user, access)
            actions = tuple(a for a in access.actions if a in allowed or "*" in allowed)
            if actions:
                granted.append(Access(access.type, access.name, actions))
        return granted

    def issue_token(self, username: str | None, scopes: list[str]) -> str:
        return self.sign(username, self.granted(username, scopes))

    def sign(self, username: str | None, access: list[Access]) -> str:
        """A token granting `access` to `username`, signed as the registry expects."""
        # Rounded up: JWT times are whole seconds, and a floored `now` would cut up to a
        # second off a short lifetime (a 1 s token could die within milliseconds).
        now = math.ceil(time.time())
        exp = now + self.token_lifetime
        if self.expire_for_registry:
            exp -= REGISTRY_LEEWAY
        claims = {
            "iss": self.issuer,
            "aud": self.service,
            "sub": username or "",
            "iat": now,
            "nbf": now,
            "exp": exp,
            "jti": uuid.uuid4().hex,
            "access": [item.as_claim() for item in access],
        }
        headers = {"x5c": [self._x5c], "kid": self._kid}
        return jwt.encode(claims, self._key, algorithm="RS256", headers=headers)

    def _record(self, username: str | None, scopes: list[str]) -> None:
        with self._lock:
            self.requests_served += 1
            self.token_requests.append((username, tuple(scopes)))

    def _count(self) -> None:
        with self._lock:
            self.requests_served += 1


def _allowed_actions(user: IssuerUser, access: Access) -> set[str]:
    if access.type == "registry" and access.name == "catalog":
        return {"*"} if user.catalog else set()
    if access.type != "repository":
        return set()
    allowed: set[str] = set()
    for pattern, actions in user.repositories.items():
        if fnmatch.fnmatchcase(access.name, pattern):
            allowed |= actions
    return allowed


@functools.cache
def _self_signed_certificate() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """One key and certificate per process: a 2048-bit key takes a noticeable time."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "registry-janitor test issuer")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def _basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep else None


def _handler_for(issuer: TokenIssuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path != REALM_PATH:
                issuer._count()
                self._json(HTTPStatus.NOT_FOUND, {"message": "404 Not Found"})
                return
            query = parse_qs(url.query)
            scopes = query.get("scope", [])
            credentials = _basic_credentials(self.headers.get("Authorization"))
            username = credentials[0] if credentials else None
            issuer._record(username, scopes)
            if query.get("service", [None])[0] != issuer.service:
                # GitLab answers an unknown or missing service with 404.
                self._json(HTTPStatus.NOT_FOUND, {"message": "404 Not Found"})
                return
            if credentials is not None:
                user = issuer.users.get(credentials[0])
                if user is None or user.password != credentials[1]:
                    self._unauthorized()
                    return
            self._json(HTTPStatus.OK, {"token": issuer.issue_token(username, scopes)})

        def _not_allowed(self) -> None:
            issuer._count()
            self._json(HTTPStatus.METHOD_NOT_ALLOWED, {"message": "405 Method Not Allowed"})

        do_POST = do_PUT = do_DELETE = do_PATCH = _not_allowed

        def _unauthorized(self) -> None:
            body = {
                "errors": [
                    {
                        "code": "UNAUTHORIZED",
                        "message": "HTTP Basic: Access denied. The provided password or "
                        "token is incorrect or your account has 2FA enabled.",
                    }
                ]
            }
            self._json(HTTPStatus.UNAUTHORIZED, body, {"WWW-Authenticate": 'Basic realm="GitLab"'})

        def _json(
            self, status: HTTPStatus, body: dict[str, Any], headers: dict[str, str] | None = None
        ) -> None:
            # Drain a request body so keep-alive connections stay in step.
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
