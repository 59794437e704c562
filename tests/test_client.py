"""The registry client against a real registry (distribution 2.8.2)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
import requests

from devtools.image_builder import push_image, push_index
from registry.client import (
    AccessDenied,
    AuthenticationFailed,
    InvalidResponse,
    RateLimited,
    RegistryClient,
    ServerError,
)
from registry.client import registry_client as client_module
from registry.client.media_types import DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST
from tests.support.fault_proxy import MalformedBody, Respond, distribution_error

JAN = datetime(2026, 1, 5, tzinfo=UTC)


def test_the_catalog_refuses_pages_over_1000_so_we_follow_link_headers(
    local_registry, registry_client: RegistryClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = requests.get(f"{local_registry.url}/v2/_catalog?n=10000", timeout=5)
    assert answer.status_code == 400
    assert "PAGINATION_NUMBER_INVALID" in answer.text

    names = [f"team/app-{i}" for i in range(5)]
    for name in names:
        registry_client.upload_blob(name, name.encode())
    monkeypatch.setattr(client_module, "PAGE_SIZE", 2)
    requests_before = registry_client.requests_made

    assert registry_client.list_repositories() == names
    assert registry_client.requests_made - requests_before == 3  # pages of 2, 2 and 1


def test_a_multi_arch_tag_answers_with_the_index_digest_not_a_child(
    registry_client: RegistryClient,
) -> None:
    amd = push_image(registry_client, "acme/api", None, created=JAN)
    arm = push_image(registry_client, "acme/api", None, created=JAN, arch="arm64", label="arm")
    for tag, oci in (("docker-list", False), ("oci-index", True)):
        index = push_index(registry_client, "acme/api", tag, [amd, arm], oci=oci)

        head = registry_client.head_manifest("acme/api", tag)
        document = registry_client.get_manifest("acme/api", tag)

        assert head.digest == document.digest == index.digest
        assert head.media_type == (OCI_INDEX if oci else DOCKER_MANIFEST_LIST)
        assert [child.digest for child in document.children] == [amd.digest, arm.digest]
        assert [child.platform for child in document.children] == ["linux/amd64", "linux/arm64"]


def test_oci_manifests_are_read_with_their_config(registry_client: RegistryClient) -> None:
    pushed = push_image(registry_client, "acme/web", "oci", created=JAN, oci=True)

    document = registry_client.get_manifest("acme/web", "oci")
    assert document.media_type == OCI_MANIFEST
    assert document.digest == pushed.digest
    assert document.config is not None
    config = registry_client.get_image_config("acme/web", document.config.digest)
    assert config.created == JAN
    assert config.platform == "linux/amd64"


def test_content_that_does_not_match_its_digest_is_refused(
    local_registry, registry_client: RegistryClient, fault_proxy
) -> None:
    push_image(registry_client, "acme/web", "v1", created=JAN)
    proxy = fault_proxy(local_registry.url)
    proxy.add_fault("GET", r"/manifests/v1$", MalformedBody())

    with RegistryClient(proxy.url) as client, pytest.raises(InvalidResponse) as caught:
        client.get_manifest("acme/web", "v1")
    assert "does not match its digest" in caught.value.message


class ObjectStorage(BaseHTTPRequestHandler):
    """Stands in for the S3 bucket a registry redirects blob downloads to."""

    body = b""
    authorization_seen: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        type(self).authorization_seen.append(self.headers.get("Authorization"))
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_blob_redirected_to_object_storage_is_read_without_our_credentials(
    basic_auth_registry, fault_proxy
) -> None:
    credentials = {
        "username": basic_auth_registry.username,
        "password": basic_auth_registry.password,
    }
    with RegistryClient(basic_auth_registry.url, **credentials) as client:
        pushed = push_image(client, "acme/web", "v1", created=JAN)
        config = client.get_manifest("acme/web", "v1").config
        assert config is not None
        config_digest = config.digest
        ObjectStorage.body = client.transport.request(
            "GET", f"/v2/acme/web/blobs/{config_digest}", what="reading the config"
        ).content
    storage = ThreadingHTTPServer(("127.0.0.1", 0), ObjectStorage)
    threading.Thread(target=storage.serve_forever, daemon=True).start()
    proxy = fault_proxy(basic_auth_registry.url)
    location = f"http://127.0.0.1:{storage.server_port}/bucket/blob?X-Amz-Signature=abc"
    proxy.add_fault("GET", r"/blobs/", Respond(307, headers={"Location": location}))

    try:
        with RegistryClient(proxy.url, **credentials) as client:
            assert client.get_manifest("acme/web", "v1").digest == pushed.digest
            image_config = client.get_image_config("acme/web", config_digest)
    finally:
        storage.shutdown()
    assert image_config.created == JAN
    assert ObjectStorage.authorization_seen == [None]


def test_basic_auth_is_sent_after_the_challenge(basic_auth_registry) -> None:
    with RegistryClient(
        basic_auth_registry.url,
        username=basic_auth_registry.username,
        password=basic_auth_registry.password,
    ) as client:
        push_image(client, "acme/web", "v1", created=JAN)
        assert client.list_tags("acme/web") == ["v1"]

    with (
        RegistryClient(basic_auth_registry.url) as anonymous,
        pytest.raises(AuthenticationFailed) as caught,
    ):
        anonymous.list_tags("acme/web")
    assert "needs credentials" in caught.value.message


def test_bearer_tokens_are_fetched_once_per_scope(token_registry) -> None:
    issuer = token_registry.issuer
    with RegistryClient(
        token_registry.url, username="maintainer", password="maintainer-pw"
    ) as client:
        for tag in ("a", "b", "c"):
            push_image(client, "acme/web", tag, created=JAN)
    issuer.reset_counters()
    with RegistryClient(
        token_registry.url, username="maintainer", password="maintainer-pw"
    ) as client:
        for tag in ("a", "b", "c", "a", "b", "c"):
            client.head_manifest("acme/web", tag)
        client.list_tags("acme/web")

    assert issuer.token_requests == [("maintainer", ("repository:acme/web:pull",))]


def test_a_token_without_delete_says_what_gitlab_needs(token_registry) -> None:
    with RegistryClient(
        token_registry.url, username="maintainer", password="maintainer-pw"
    ) as client:
        image = push_image(client, "acme/web", "v1", created=JAN)

    with (
        RegistryClient(token_registry.url, username="developer", password="developer-pw") as client,
        pytest.raises(AccessDenied) as caught,
    ):
        client.delete_manifest("acme/web", image.digest)
    assert caught.value.status == 401
    assert "'api' scope and the Maintainer role" in caught.value.message


def test_a_wrong_password_at_the_token_service_is_an_authentication_failure(
    token_registry,
) -> None:
    with (
        RegistryClient(token_registry.url, username="maintainer", password="wrong") as client,
        pytest.raises(AuthenticationFailed) as caught,
    ):
        client.list_tags("acme/web")
    assert "token service refused the username and password" in caught.value.message
    assert "wrong" not in caught.value.message


def test_credentials_are_not_sent_to_a_plain_http_realm_on_another_host(
    token_registry,
) -> None:
    """The registry is reached as localhost while its realm says 127.0.0.1: another host."""
    issuer = token_registry.issuer
    url = token_registry.url.replace("127.0.0.1", "localhost")
    client = RegistryClient(url, username="maintainer", password="maintainer-pw")
    with client, pytest.raises(AccessDenied):
        client.list_tags("acme/web")
    assert issuer.token_requests == [(None, ("repository:acme/web:pull",))]


def test_rate_limits_honour_retry_after_then_give_up_in_plain_words(
    local_registry, fault_proxy
) -> None:
    proxy = fault_proxy(local_registry.url)
    too_many = distribution_error("TOOMANYREQUESTS", "slow down")
    proxy.add_fault("GET", r"^/v2/_catalog", Respond(429, too_many, {"Retry-After": "3"}))
    waits: list[float] = []

    client = RegistryClient(proxy.url, max_retries=2, sleep=waits.append)
    with client, pytest.raises(RateLimited) as caught:
        client.list_repositories()

    assert [round(w) for w in waits] == [3, 3]
    assert caught.value.message.startswith("The registry kept rate-limiting us after 2 retries")


def test_a_retry_after_of_an_hour_is_not_waited_for(local_registry, fault_proxy) -> None:
    proxy = fault_proxy(local_registry.url)
    proxy.add_fault("GET", r"^/v2/_catalog", Respond(429, b"", {"Retry-After": "3600"}))
    waits: list[float] = []

    with RegistryClient(proxy.url, sleep=waits.append) as client, pytest.raises(RateLimited):
        client.list_repositories()
    assert waits == []


def test_gateway_errors_are_retried_with_backoff(local_registry, fault_proxy) -> None:
    proxy = fault_proxy(local_registry.url)
    proxy.add_fault("GET", r"^/v2/_catalog", Respond(503), times=2)
    waits: list[float] = []

    with RegistryClient(proxy.url, max_retries=3, sleep=waits.append) as client:
        assert client.list_repositories() == []
    assert len(waits) == 2
    assert all(0 < wait < 5 for wait in waits)


def test_a_500_is_not_retried(local_registry, fault_proxy) -> None:
    proxy = fault_proxy(local_registry.url)
    proxy.add_fault("GET", r"^/v2/_catalog", Respond(500, distribution_error("UNKNOWN", "disk")))

    with RegistryClient(proxy.url) as client, pytest.raises(ServerError) as caught:
        client.list_repositories()
    assert caught.value.code == "UNKNOWN"
    assert proxy.hits == [1]


def test_the_proxy_the_environment_names_is_used_unless_no_proxy_excludes_the_host(
    local_registry, fault_proxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    forward_proxy = fault_proxy(local_registry.url)
    for name in ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", forward_proxy.url)

    with RegistryClient(local_registry.url) as client:
        assert client.list_repositories() == []
    assert len(forward_proxy.requests_matching("GET", r"/v2/_catalog")) == 1

    monkeypatch.setenv("no_proxy", "127.0.0.1")
    with RegistryClient(local_registry.url) as client:
        assert client.list_repositories() == []
    assert len(forward_proxy.requests_matching("GET", r"/v2/_catalog")) == 1


def test_a_ca_bundle_named_in_the_environment_is_used_when_the_registry_names_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/company-ca.pem")

    with RegistryClient("https://registry.example") as client:
        assert client.transport.session.verify == "/etc/ssl/company-ca.pem"
    with RegistryClient("https://registry.example", verify="/srv/ca.pem") as client:
        assert client.transport.session.verify == "/srv/ca.pem"


def test_concurrent_first_requests_to_a_basic_auth_registry_all_authenticate(
    basic_auth_registry,
) -> None:
    with RegistryClient(
        basic_auth_registry.url,
        username=basic_auth_registry.username,
        password=basic_auth_registry.password,
    ) as client:
        push_image(client, "acme/web", "v1", created=JAN)
    with RegistryClient(
        basic_auth_registry.url,
        username=basic_auth_registry.username,
        password=basic_auth_registry.password,
    ) as fresh:
        results = list(fresh.map_concurrently(lambda _: fresh.list_tags("acme/web"), range(40)))

    assert [error for _, _, error in results if error is not None] == []
    assert all(tags == ["v1"] for _, tags, _ in results)
