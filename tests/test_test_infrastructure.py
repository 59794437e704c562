"""The real-process test infrastructure works: registries, token issuer, fault proxy, Redis.

Plain `requests` against the processes; no database.
"""

from __future__ import annotations

import hashlib
import json
import socket
import time
from collections.abc import Callable

import jwt
import pytest
import requests

from devtools.local_registry import LocalRegistry, start_local_registry
from devtools.redis_server import RedisServer
from tests.support.fault_proxy import (
    Delay,
    FaultProxy,
    MalformedBody,
    ResetConnection,
    Respond,
    distribution_error,
)
from tests.support.fixtures import BasicAuthRegistry, TokenRegistry
from tests.support.token_issuer import TokenIssuer, parse_scope

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
REPOSITORY = "team/app"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(url: str, repository: str, data: bytes, headers: dict[str, str]) -> str:
    started = requests.post(f"{url}/v2/{repository}/blobs/uploads/", headers=headers, timeout=5)
    assert started.status_code == 202, started.text
    location = started.headers["Location"]
    if location.startswith("/"):
        location = url + location
    digest = digest_of(data)
    put = requests.put(
        location,
        params={"digest": digest},
        data=data,
        headers={**headers, "Content-Type": "application/octet-stream"},
        timeout=5,
    )
    assert put.status_code == 201, put.text
    return digest


def push_image(
    url: str, repository: str, tag: str, headers: dict[str, str] | None = None
) -> tuple[str, bytes]:
    """Push a one-layer Docker v2 image; return the manifest digest and bytes."""
    headers = headers or {}
    config = json.dumps({"created": "2024-01-01T00:00:00Z", "tag": tag}).encode()
    layer = f"layer of {repository}:{tag}".encode()
    config_digest = push_blob(url, repository, config, headers)
    layer_digest = push_blob(url, repository, layer, headers)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_V2,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": len(config),
                "digest": config_digest,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "size": len(layer),
                    "digest": layer_digest,
                }
            ],
        }
    ).encode()
    put = requests.put(
        f"{url}/v2/{repository}/manifests/{tag}",
        data=manifest,
        headers={**headers, "Content-Type": MANIFEST_V2},
        timeout=5,
    )
    assert put.status_code == 201, put.text
    assert put.headers["Docker-Content-Digest"] == digest_of(manifest)
    return digest_of(manifest), manifest


def token_for(
    issuer: TokenIssuer, username: str | None, password: str | None, *scopes: str
) -> requests.Response:
    return requests.get(
        issuer.realm,
        params={"service": issuer.service, "scope": list(scopes)},
        auth=(username, password or "") if username else None,
        timeout=5,
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def access_of(token: str) -> list[dict]:
    return jwt.decode(token, options={"verify_signature": False})["access"]


# Local registry ---------------------------------------------------------------------------


def test_local_registry_stores_and_returns_an_image(local_registry: LocalRegistry) -> None:
    digest, manifest = push_image(local_registry.url, REPOSITORY, "v1")

    got = requests.get(
        f"{local_registry.url}/v2/{REPOSITORY}/manifests/v1",
        headers={"Accept": MANIFEST_V2},
        timeout=5,
    )
    assert got.status_code == 200
    assert got.content == manifest
    assert got.headers["Docker-Content-Digest"] == digest
    tags = requests.get(f"{local_registry.url}/v2/{REPOSITORY}/tags/list", timeout=5).json()
    assert tags == {"name": REPOSITORY, "tags": ["v1"]}
    deleted = requests.delete(f"{local_registry.url}/v2/{REPOSITORY}/manifests/{digest}")
    assert deleted.status_code == 202


def test_local_registry_keeps_data_across_restarts(tmp_path) -> None:
    with start_local_registry(root_dir=tmp_path) as first:
        push_image(first.url, REPOSITORY, "v1")
    assert first.process.poll() is not None
    with start_local_registry(root_dir=tmp_path) as second:
        catalog = requests.get(f"{second.url}/v2/_catalog", timeout=5).json()
    assert catalog == {"repositories": [REPOSITORY]}


def test_delete_disabled_registry_answers_405(tmp_path) -> None:
    with start_local_registry(root_dir=tmp_path, delete_enabled=False) as registry:
        digest, _ = push_image(registry.url, REPOSITORY, "v1")
        deleted = requests.delete(f"{registry.url}/v2/{REPOSITORY}/manifests/{digest}")
    assert deleted.status_code == 405
    assert deleted.json()["errors"][0]["code"] == "UNSUPPORTED"


def test_another_registry_on_the_port_is_never_taken_for_the_one_started(
    local_registry: LocalRegistry, tmp_path
) -> None:
    # Before, the other registry's answer to GET /v2/ counted as "ready", and the demo
    # went on to seed and sync a registry it had not started.
    with pytest.raises(RuntimeError, match="address already in use"):
        start_local_registry(root_dir=tmp_path / "second", port=local_registry.port)


def test_a_registry_that_cannot_start_reports_its_log(tmp_path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match="address already in use"):
            start_local_registry(root_dir=tmp_path, port=port)


# Basic auth -------------------------------------------------------------------------------


def test_basic_auth_registry_checks_the_password(basic_auth_registry: BasicAuthRegistry) -> None:
    url = f"{basic_auth_registry.url}/v2/"
    anonymous = requests.get(url, timeout=5)
    wrong = requests.get(url, auth=(basic_auth_registry.username, "wrong"), timeout=5)
    right = requests.get(
        url, auth=(basic_auth_registry.username, basic_auth_registry.password), timeout=5
    )

    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic realm=")
    assert wrong.status_code == 401
    assert right.status_code == 200


# Token auth -------------------------------------------------------------------------------


def test_reader_token_pulls_but_cannot_delete(token_registry: TokenRegistry) -> None:
    issuer, url = token_registry.issuer, token_registry.url
    scope = f"repository:{REPOSITORY}:pull,push,delete"
    maintainer = token_for(issuer, "maintainer", "maintainer-pw", scope).json()["token"]
    digest, manifest = push_image(url, REPOSITORY, "v1", bearer(maintainer))
    reader = token_for(issuer, "reader", "reader-pw", scope).json()["token"]

    pulled = requests.get(
        f"{url}/v2/{REPOSITORY}/manifests/v1",
        headers={**bearer(reader), "Accept": MANIFEST_V2},
        timeout=5,
    )
    deleted = requests.delete(
        f"{url}/v2/{REPOSITORY}/manifests/{digest}", headers=bearer(reader), timeout=5
    )

    assert pulled.status_code == 200
    assert pulled.content == manifest
    assert deleted.status_code == 401
    assert 'error="insufficient_scope"' in deleted.headers["WWW-Authenticate"]


def test_registry_challenges_with_the_issuer_realm(token_registry: TokenRegistry) -> None:
    challenge = requests.get(f"{token_registry.url}/v2/", timeout=5)

    assert challenge.status_code == 401
    assert challenge.headers["WWW-Authenticate"] == (
        f'Bearer realm="{token_registry.issuer.realm}",service="container_registry"'
    )


def test_issuer_drops_delete_for_developer_silently(token_issuer: TokenIssuer) -> None:
    answer = token_for(
        token_issuer, "developer", "developer-pw", f"repository:{REPOSITORY}:pull,delete"
    )

    assert answer.status_code == 200
    assert access_of(answer.json()["token"]) == [
        {"type": "repository", "name": REPOSITORY, "actions": ["pull"]}
    ]


def test_issuer_grants_catalog_to_maintainer_only(token_issuer: TokenIssuer) -> None:
    scope = "registry:catalog:*"
    maintainer = token_for(token_issuer, "maintainer", "maintainer-pw", scope).json()["token"]
    developer = token_for(token_issuer, "developer", "developer-pw", scope).json()["token"]

    assert access_of(maintainer) == [{"type": "registry", "name": "catalog", "actions": ["*"]}]
    assert access_of(developer) == []


def test_issuer_is_get_only_and_sends_no_expires_in(token_issuer: TokenIssuer) -> None:
    posted = requests.post(token_issuer.realm, data={"service": token_issuer.service}, timeout=5)
    answer = token_for(token_issuer, "reader", "reader-pw", f"repository:{REPOSITORY}:pull")

    assert posted.status_code == 405
    assert set(answer.json()) == {"token"}


def test_issuer_refuses_a_wrong_password_and_serves_anonymous(token_issuer: TokenIssuer) -> None:
    scope = f"repository:{REPOSITORY}:pull"
    wrong = token_for(token_issuer, "reader", "nope", scope)
    anonymous = token_for(token_issuer, None, None, scope)

    assert wrong.status_code == 401
    assert wrong.json()["errors"][0]["code"] == "UNAUTHORIZED"
    assert access_of(anonymous.json()["token"]) == []
    assert token_issuer.requests_served == 2
    assert token_issuer.token_requests == [("reader", (scope,)), (None, (scope,))]


def test_scopes_split_on_first_and_last_colon() -> None:
    access = parse_scope("repository:registry.example:5000/team/app:pull,push")

    assert access is not None
    assert (access.type, access.name, access.actions) == (
        "repository",
        "registry.example:5000/team/app",
        ("pull", "push"),
    )


def test_expiring_tokens_are_refused_after_their_lifetime(token_registry: TokenRegistry) -> None:
    issuer = token_registry.issuer
    issuer.token_lifetime = 1
    issuer.expire_for_registry = True
    token = token_for(issuer, "reader", "reader-pw", "repository:x/y:pull").json()["token"]
    url = f"{token_registry.url}/v2/x/y/tags/list"

    fresh = requests.get(url, headers=bearer(token), timeout=5)
    time.sleep(2.1)
    expired = requests.get(url, headers=bearer(token), timeout=5)

    assert fresh.status_code == 404  # authorised; the repository does not exist
    assert expired.status_code == 401


# Fault proxy ------------------------------------------------------------------------------


@pytest.fixture
def proxied(
    local_registry: LocalRegistry, fault_proxy: Callable[[str], FaultProxy]
) -> tuple[FaultProxy, str]:
    digest, _ = push_image(local_registry.url, REPOSITORY, "v1")
    return fault_proxy(local_registry.url), digest


def test_proxy_forwards_transparently(proxied: tuple[FaultProxy, str]) -> None:
    proxy, digest = proxied
    with requests.Session() as session:
        head = session.head(
            f"{proxy.url}/v2/{REPOSITORY}/manifests/v1", headers={"Accept": MANIFEST_V2}
        )
        got = session.get(
            f"{proxy.url}/v2/{REPOSITORY}/manifests/v1", headers={"Accept": MANIFEST_V2}
        )
        pushed, _ = push_image(proxy.url, REPOSITORY, "v2")  # POST, PUT through the proxy
        page = session.get(f"{proxy.url}/v2/_catalog", params={"n": 1})

    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["Docker-Content-Digest"] == digest
    assert int(head.headers["Content-Length"]) == len(got.content)
    assert got.headers["Docker-Content-Digest"] == digest_of(got.content) == digest
    assert pushed != digest
    assert page.json() == {"repositories": [REPOSITORY]}
    assert ("GET", f"/v2/{REPOSITORY}/manifests/v1") in proxy.requests


def test_proxy_answers_with_injected_errors(proxied: tuple[FaultProxy, str]) -> None:
    proxy, _ = proxied
    url = f"{proxy.url}/v2/{REPOSITORY}/tags/list"
    error = proxy.add_fault(
        "GET", r"/tags/list$", Respond(500, distribution_error("UNKNOWN", "boom")), times=1
    )
    limited = proxy.add_fault(
        None, r"/tags/list$", Respond(429, b"", {"Retry-After": "2"}), times=1
    )

    first, second, third = (requests.get(url, timeout=5) for _ in range(3))

    assert first.status_code == 500
    assert first.json()["errors"][0]["code"] == "UNKNOWN"
    assert (second.status_code, second.headers["Retry-After"]) == (429, "2")
    assert third.json()["tags"] == ["v1"]
    assert (error.hits, limited.hits) == (1, 1)
    assert proxy.hits == [1, 1]


def test_proxy_truncates_bodies(proxied: tuple[FaultProxy, str]) -> None:
    proxy, digest = proxied
    proxy.add_fault("GET", r"/manifests/", MalformedBody())

    got = requests.get(
        f"{proxy.url}/v2/{REPOSITORY}/manifests/v1", headers={"Accept": MANIFEST_V2}, timeout=5
    )

    assert got.status_code == 200
    assert got.headers["Docker-Content-Digest"] == digest
    assert int(got.headers["Content-Length"]) == len(got.content)
    with pytest.raises(ValueError):  # noqa: PT011 - json's error is a ValueError
        json.loads(got.content)


def test_proxy_resets_connections(proxied: tuple[FaultProxy, str]) -> None:
    proxy, _ = proxied
    proxy.add_fault("GET", r"/tags/list$", ResetConnection(), times=1)
    url = f"{proxy.url}/v2/{REPOSITORY}/tags/list"

    with pytest.raises(requests.ConnectionError) as reset:
        requests.get(url, timeout=5)
    assert "reset" in str(reset.value).lower()
    assert requests.get(url, timeout=5).status_code == 200


def test_proxy_delays_then_forwards(proxied: tuple[FaultProxy, str]) -> None:
    proxy, _ = proxied
    proxy.add_fault("GET", r"/tags/list$", Delay(1.0))
    url = f"{proxy.url}/v2/{REPOSITORY}/tags/list"

    with pytest.raises(requests.Timeout):
        requests.get(url, timeout=0.3)
    proxy.clear_faults()
    assert requests.get(url, timeout=5).status_code == 200


def test_proxy_can_go_down_and_come_back(proxied: tuple[FaultProxy, str]) -> None:
    proxy, _ = proxied
    url = f"{proxy.url}/v2/"
    with requests.Session() as session:
        assert session.get(url, timeout=5).status_code == 200
        proxy.set_down(True)
        with pytest.raises(requests.ConnectionError):
            session.get(url, timeout=5)
        proxy.set_down(False)
        assert session.get(url, timeout=5).status_code == 200


# Redis ------------------------------------------------------------------------------------


def test_redis_server_answers_ping(redis_server: RedisServer) -> None:
    host_port = redis_server.url.removeprefix("redis://").removesuffix("/0")
    host, port = host_port.split(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(b"PING\r\n")
        assert connection.recv(16) == b"+PONG\r\n"


def test_another_redis_on_the_port_is_never_taken_for_the_one_started(
    redis_server: RedisServer, tmp_path
) -> None:
    second = RedisServer(workdir=tmp_path, port=redis_server.port)

    with pytest.raises(RuntimeError, match="Address already in use"):
        second.start()
    assert redis_server.ping(), "the first one is untouched"
    assert redis_server.is_ours()
