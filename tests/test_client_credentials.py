"""Credentials never leave their host: a capture server records what reaches it.

The registry is real (distribution 2.8.2 behind htpasswd, or behind the test token
service); a proxy in front of it turns its answers hostile: a `Link` to another host,
a token realm on another host.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devtools.image_builder import push_image
from registry.client import AccessDenied, InvalidResponse, RegistryClient
from registry.client import registry_client as client_module
from registry.client.auth import may_send_credentials
from tests.support.capture_server import CaptureServer
from tests.support.deletion import JAN
from tests.support.fault_proxy import Respond, RewriteLinks


@pytest.fixture
def capture() -> Iterator[CaptureServer]:
    with CaptureServer() as server:
        yield server


@pytest.fixture
def tls_capture(tmp_path: Path) -> Iterator[CaptureServer]:
    with CaptureServer(tls=True, workdir=tmp_path) as server:
        yield server


def basic_client(registry, url: str, **options: Any) -> RegistryClient:
    return RegistryClient(url, username=registry.username, password=registry.password, **options)


def test_a_next_page_on_another_host_is_not_followed_and_gets_no_credentials(
    basic_auth_registry, fault_proxy, capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    with basic_client(basic_auth_registry, basic_auth_registry.url) as seeder:
        for n in range(3):
            push_image(seeder, f"team/app-{n}", "v1", created=JAN)
    proxy = fault_proxy(basic_auth_registry.url)
    proxy.add_fault("GET", r"/v2/_catalog", RewriteLinks(capture.origin))
    monkeypatch.setattr(client_module, "PAGE_SIZE", 1)  # a Link on every page

    client = basic_client(basic_auth_registry, proxy.url)
    with client, pytest.raises(InvalidResponse, match="pointed to another host"):
        client.list_repositories()

    assert capture.requests == [], "nothing was sent to the other host"


def test_an_https_realm_on_another_host_gets_no_password_when_tls_is_not_checked(
    basic_auth_registry, fault_proxy, tls_capture
) -> None:
    proxy = fault_proxy(basic_auth_registry.url)
    challenge = f'Bearer realm="{tls_capture.origin}/jwt/auth",service="registry"'
    proxy.add_fault(None, r"^/v2/", Respond(401, b"{}", {"WWW-Authenticate": challenge}))

    client = basic_client(basic_auth_registry, proxy.url, verify=False)
    with client, pytest.raises(AccessDenied):  # an anonymous token gets no further
        client.list_tags("team/app")

    assert len(tls_capture.requests) >= 1, "an anonymous token was asked for"
    assert tls_capture.authorizations() == []


def test_an_https_realm_whose_certificate_is_checked_gets_the_password(
    basic_auth_registry, fault_proxy, tls_capture
) -> None:
    proxy = fault_proxy(basic_auth_registry.url)
    challenge = f'Bearer realm="{tls_capture.origin}/jwt/auth",service="registry"'
    proxy.add_fault(None, r"^/v2/", Respond(401, b"{}", {"WWW-Authenticate": challenge}))

    client = basic_client(basic_auth_registry, proxy.url, verify=str(tls_capture.cert_path))
    with client, pytest.raises(AccessDenied):  # the proxy keeps answering 401
        client.list_tags("team/app")

    assert tls_capture.authorizations(), "a verified token service gets the credentials"


@pytest.mark.parametrize(
    ("realm", "registry", "tls_verified", "allowed"),
    [
        ("https://auth.example.com/token", "https://registry.example.com", True, True),
        ("https://auth.example.com/token", "https://registry.example.com", False, False),
        ("https://registry.example.com/jwt", "https://registry.example.com", False, True),
        ("http://registry.example.com:8080/jwt", "http://registry.example.com:5000", True, True),
        ("http://evil.example.net/harvest", "https://registry.example.com", True, False),
    ],
)
def test_where_a_token_realm_may_get_credentials(
    realm: str, registry: str, tls_verified: bool, allowed: bool
) -> None:
    assert (
        may_send_credentials(realm=realm, registry_url=registry, tls_verified=tls_verified)
        is allowed
    )
