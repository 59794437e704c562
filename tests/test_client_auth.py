"""The pure parts of registry auth: challenges, scopes, where credentials may go."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from registry.client.auth import (
    TokenCache,
    may_send_credentials,
    parse_challenge,
    scope_for,
)
from registry.client.transport import parse_retry_after


def test_parses_a_gitlab_bearer_challenge() -> None:
    challenge = parse_challenge(
        'Bearer realm="https://gitlab.example.com/jwt/auth",service="container_registry",'
        'scope="repository:group/project:pull,push"'
    )
    assert challenge is not None
    assert challenge.scheme == "bearer"
    assert challenge.realm == "https://gitlab.example.com/jwt/auth"
    assert challenge.params["service"] == "container_registry"
    assert challenge.params["scope"] == "repository:group/project:pull,push"


def test_parses_a_basic_challenge_and_nothing() -> None:
    challenge = parse_challenge('Basic realm="basic-realm"')
    assert challenge is not None
    assert challenge.scheme == "basic"
    assert parse_challenge("") is None


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/v2/_catalog", "registry:catalog:*"),
        ("GET", "/v2/acme/web/tags/list", "repository:acme/web:pull"),
        ("HEAD", "/v2/acme/web/manifests/latest", "repository:acme/web:pull"),
        ("DELETE", "/v2/acme/web/manifests/sha256:abc", "repository:acme/web:delete"),
        ("PUT", "/v2/acme/web/manifests/v1", "repository:acme/web:pull,push"),
        ("POST", "/v2/a/b/c/blobs/uploads/", "repository:a/b/c:pull,push"),
        ("GET", "/v2/", ""),
    ],
)
def test_scope_follows_the_registrys_method_mapping(method: str, path: str, scope: str) -> None:
    assert scope_for(method, path) == scope


@pytest.mark.parametrize(
    ("realm", "registry", "allowed"),
    [
        ("https://auth.example.com/token", "https://registry.example.com", True),
        ("http://registry.example.com:8080/jwt/auth", "http://registry.example.com:5000", True),
        ("http://evil.example.net/harvest", "http://registry.example.com", False),
        ("http://evil.example.net/harvest", "https://registry.example.com", False),
        ("ftp://registry.example.com/x", "https://registry.example.com", False),
    ],
)
def test_credentials_go_only_to_https_realms_or_the_registrys_own_host(
    realm: str, registry: str, allowed: bool
) -> None:
    assert may_send_credentials(realm=realm, registry_url=registry) is allowed


def test_tokens_are_cached_per_scope_and_dropped_before_expiry() -> None:
    now = [1000.0]
    cache = TokenCache(clock=lambda: now[0])
    cache.put("repository:a:pull", "token-a", expires_in=None)  # spec default: 60 s
    assert cache.get("repository:a:pull") == "token-a"
    assert cache.get("repository:b:pull") is None
    now[0] += 49
    assert cache.get("repository:a:pull") == "token-a"
    now[0] += 2  # within the renewal margin of a 60 s token
    assert cache.get("repository:a:pull") is None


def test_a_short_lived_token_is_renewed_at_three_quarters_of_its_life() -> None:
    now = [0.0]
    cache = TokenCache(clock=lambda: now[0])
    cache.put("s", "t", expires_in=4)
    now[0] = 2.9
    assert cache.get("s") == "t"
    now[0] = 3.0
    assert cache.get("s") is None


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Sat, 28 Nov 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Sat, 28 Nov 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("") is None


def test_error_messages_never_carry_credentials_from_a_url() -> None:
    from registry.client import RegistryClient, RegistryUnreachable

    client = RegistryClient("http://bot:secret@127.0.0.1:9", max_retries=0, timeout=1)
    with client, pytest.raises(RegistryUnreachable) as caught:
        client.check()
    assert "secret" not in caught.value.message
    assert "127.0.0.1:9" in caught.value.message
