"""A registry that misbehaves leaves the cache intact and says what went wrong.

Faults are injected by a proxy in front of the real registry, never by faking it.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime

import pytest

from devtools.image_builder import push_image
from registry.client import RegistryClient
from registry.client.manifests import compute_digest
from registry.models import Registry, SyncRun, Tag
from registry.registries import save_registry
from registry.sync import sync_registry
from registry.sync.reading import READER_THREAD_PREFIX
from tests.support.fault_proxy import (
    Delay,
    MalformedBody,
    ResetConnection,
    Respond,
    distribution_error,
)

pytestmark = pytest.mark.django_db

JAN = datetime(2026, 1, 5, tzinfo=UTC)
REPOSITORIES = ("acme/api", "acme/web", "acme/worker")


def snapshot(registry: Registry) -> set[tuple[str, str, str]]:
    return set(
        Tag.objects.filter(repository__registry=registry).values_list(
            "repository__name", "name", "manifest__digest"
        )
    )


@pytest.fixture
def proxied(db, local_registry, registry_client: RegistryClient, fault_proxy):
    """Three repositories with two tags each, synced once through a fault proxy.

    Returns (registry row, proxy, cache snapshot after the first sync).
    """
    for name in REPOSITORIES:
        push_image(registry_client, name, "v1", created=JAN)
        push_image(registry_client, name, "review-x-1", created=JAN)
    proxy = fault_proxy(local_registry.url)
    registry, _ = save_registry(name="proxied", url=proxy.url)
    first = sync_registry(registry=registry)
    assert first.status == SyncRun.Status.SUCCEEDED, first.error
    # Something changes on the registry so that a good resync would change the cache.
    for name in REPOSITORIES:
        push_image(registry_client, name, "review-x-2", created=JAN)
    return registry, proxy, snapshot(registry)


def test_a_500_on_one_repository_fails_only_that_repository(proxied) -> None:
    registry, proxy, before = proxied
    proxy.add_fault(
        "GET", r"^/v2/acme/web/tags/list", Respond(500, distribution_error("UNKNOWN", "boom"))
    )

    run = sync_registry(registry=registry)

    assert run.status == SyncRun.Status.PARTIAL
    assert run.repository_errors == [
        {
            "repository": "acme/web",
            "error": "The registry failed with HTTP 500 while listing the tags "
            "of acme/web (UNKNOWN: boom). This is a fault on the registry's side.",
        }
    ]
    after = snapshot(registry)
    web = {row for row in after if row[0] == "acme/web"}
    assert web == {row for row in before if row[0] == "acme/web"}, "acme/web's cache is kept"
    assert ("acme/api", "review-x-2") in {(r, t) for r, t, _ in after}, "others synced"
    assert run.repositories_removed == 0, "a partial catalog removes nothing"


def test_429_with_retry_after_is_waited_out(proxied) -> None:
    registry, proxy, _ = proxied
    proxy.add_fault(
        "HEAD",
        r"/manifests/v1$",
        Respond(429, distribution_error("TOOMANYREQUESTS", "slow down"), {"Retry-After": "1"}),
        times=2,
    )

    started = time.monotonic()
    run = sync_registry(registry=registry)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert proxy.hits == [2]
    assert time.monotonic() - started >= 1.0, "Retry-After was honoured"


def test_malformed_json_fails_the_repository_and_keeps_its_cache(proxied) -> None:
    registry, proxy, before = proxied
    proxy.add_fault("GET", r"^/v2/acme/worker/manifests/review-x-2$", MalformedBody())

    run = sync_registry(registry=registry)

    assert run.status == SyncRun.Status.PARTIAL
    [failure] = run.repository_errors
    assert failure["repository"] == "acme/worker"
    assert "does not match its digest" in failure["error"] or "malformed" in failure["error"]
    assert {row for row in snapshot(registry) if row[0] == "acme/worker"} == {
        row for row in before if row[0] == "acme/worker"
    }


def test_an_unknown_media_type_fails_the_repository_in_plain_words(proxied) -> None:
    registry, proxy, before = proxied
    schema1 = json.dumps({"schemaVersion": 1, "name": "acme/api", "tag": "review-x-2"}).encode()
    proxy.add_fault(
        "GET",
        r"^/v2/acme/api/manifests/review-x-2$",
        Respond(
            200,
            schema1,
            {
                "Content-Type": "application/vnd.docker.distribution.manifest.v1+prettyjws",
                "Docker-Content-Digest": compute_digest(schema1),
            },
        ),
    )

    run = sync_registry(registry=registry)

    [failure] = run.repository_errors
    assert failure["repository"] == "acme/api"
    assert "a manifest of a type this tool does not handle" in failure["error"]
    assert "manifest.v1+prettyjws" in failure["error"]
    assert {r for r in snapshot(registry) if r[0] == "acme/api"} == {
        r for r in before if r[0] == "acme/api"
    }


def test_a_connection_reset_is_retried(proxied) -> None:
    registry, proxy, _ = proxied
    proxy.add_fault("HEAD", r"/manifests/review-x-1$", ResetConnection(), times=1)

    run = sync_registry(registry=registry)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert proxy.hits == [1]


def test_connections_reset_for_good_fail_the_run_and_keep_the_cache(proxied) -> None:
    registry, proxy, before = proxied
    proxy.add_fault(None, r"^/v2/acme/", ResetConnection())

    run = sync_registry(registry=registry)

    assert run.status == SyncRun.Status.FAILED
    assert "the connection failed or was cut" in run.error
    assert snapshot(registry) == before


def test_a_failed_run_leaves_no_reader_thread_behind(proxied) -> None:
    registry, proxy, _ = proxied
    proxy.add_fault(None, r"^/v2/acme/", ResetConnection())

    run = sync_registry(registry=registry)

    assert run.status == SyncRun.Status.FAILED
    readers = [t for t in threading.enumerate() if t.name.startswith(READER_THREAD_PREFIX)]
    assert readers == []


def test_a_registry_that_is_down_fails_the_run_and_keeps_the_cache(proxied) -> None:
    registry, proxy, before = proxied
    proxy.stop()

    run = sync_registry(registry=registry)

    assert run.status == SyncRun.Status.FAILED
    assert run.error.startswith(f"Could not reach 127.0.0.1:{proxy.port}")
    assert "Is the registry running" in run.error
    assert snapshot(registry) == before


def test_a_registry_slower_than_the_timeout_fails_the_run(proxied, settings) -> None:
    registry, proxy, before = proxied
    settings.REGISTRY_TIMEOUT_SECONDS = 0.3
    settings.REGISTRY_MAX_RETRIES = 0
    proxy.add_fault("GET", r"^/v2/$", Delay(1.0))

    run = sync_registry(registry=registry)

    assert run.status == SyncRun.Status.FAILED
    assert "did not answer within 0.3 seconds" in run.error
    assert snapshot(registry) == before


def test_a_wrong_password_fails_the_run_and_keeps_the_cache(db, basic_auth_registry) -> None:
    with RegistryClient(
        basic_auth_registry.url,
        username=basic_auth_registry.username,
        password=basic_auth_registry.password,
    ) as client:
        push_image(client, "acme/web", "v1", created=JAN)
    registry, _ = save_registry(
        name="basic",
        url=basic_auth_registry.url,
        username=basic_auth_registry.username,
        password=basic_auth_registry.password,
    )
    assert sync_registry(registry=registry).status == SyncRun.Status.SUCCEEDED
    before = snapshot(registry)
    registry.set_password("not-the-password")
    registry.save()

    run = sync_registry(registry=registry)

    assert run.status == SyncRun.Status.FAILED
    assert run.error.startswith("The registry refused the username and password")
    assert "not-the-password" not in run.error
    assert snapshot(registry) == before
    assert {(repository, tag) for repository, tag, _ in before} == {("acme/web", "v1")}


def test_a_token_that_expires_mid_sync_is_renewed(db, token_registry, fault_proxy) -> None:
    issuer = token_registry.issuer
    with RegistryClient(
        token_registry.url, username="maintainer", password="maintainer-pw"
    ) as client:
        for tag in ("a", "b", "c"):
            push_image(client, "acme/web", tag, created=JAN)
    proxy = fault_proxy(token_registry.url)
    registry, _ = save_registry(
        name="gitlab", url=proxy.url, username="maintainer", password="maintainer-pw"
    )
    assert sync_registry(registry=registry).status == SyncRun.Status.SUCCEEDED
    # GitLab sends no expires_in, so the client assumes 60 s; these tokens die after 1 s,
    # and the HEAD of tag b reaches the registry only after that.
    issuer.token_lifetime = 1
    issuer.expire_for_registry = True
    issuer.reset_counters()
    proxy.add_fault("HEAD", r"/manifests/b$", Delay(2.5), times=1)

    run = sync_registry(registry=registry)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert Tag.objects.filter(repository__name="acme/web").count() == 3
    pull_tokens = [s for _, s in issuer.token_requests if s == ("repository:acme/web:pull",)]
    assert len(pull_tokens) == 2, "the expired token was renewed once"


def test_a_catalog_the_credentials_may_not_read_points_to_the_repository_option(
    db, token_registry
) -> None:
    with RegistryClient(
        token_registry.url, username="maintainer", password="maintainer-pw"
    ) as client:
        push_image(client, "group/project", "v1", created=JAN)
    registry, _ = save_registry(
        name="gitlab", url=token_registry.url, username="developer", password="developer-pw"
    )

    run = sync_registry(registry=registry)

    assert run.status == SyncRun.Status.FAILED
    assert "refused to list its repositories" in run.error
    assert "--repository GROUP/PROJECT" in run.error

    registry.repositories = ["group/project"]
    registry.save()
    assert sync_registry(registry=registry).status == SyncRun.Status.SUCCEEDED
    assert Tag.objects.filter(repository__name="group/project", name="v1").exists()
