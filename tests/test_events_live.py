"""Registry notifications end to end: a real docker-registry notifies the live server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests

from devtools.image_builder import push_image
from registry.client.media_types import DOCKER_MANIFEST
from registry.models import Manifest, RegistryEvent, SyncRun, Tag
from registry.sync import sync_registry
from tests.support.events import wait_until

pytestmark = pytest.mark.slow

JAN = datetime(2026, 1, 5, tzinfo=UTC)


def tag_digest(name: str, repository: str = "acme/web") -> str | None:
    tag = Tag.objects.filter(repository__name=repository, name=name).select_related("manifest")
    row = tag.first()
    return row.manifest.digest if row else None


def pull_as_docker(url: str, repository: str, reference: str) -> None:
    """A pull as `docker pull` makes it: another client's user agent."""
    response = requests.get(
        f"{url}/v2/{repository}/manifests/{reference}",
        headers={"Accept": DOCKER_MANIFEST, "User-Agent": "docker/27.3.1 go/go1.22.7"},
        timeout=10,
    )
    assert response.status_code == 200


def test_a_push_shows_its_tag_without_a_sync(notifying_registry) -> None:
    pushed = push_image(notifying_registry.client, "acme/web", "review-1", created=JAN)

    wait_until(lambda: tag_digest("review-1") == pushed.digest)
    manifest = Manifest.objects.get(digest=pushed.digest)
    assert manifest.size == pushed.size
    assert manifest.created == JAN
    assert not SyncRun.objects.exists()


def test_a_delete_by_digest_removes_every_tag_on_it(notifying_registry) -> None:
    pushed = push_image(notifying_registry.client, "acme/web", "review-1", created=JAN)
    notifying_registry.client.put_manifest(
        "acme/web", "review-1-again", *_manifest_of(notifying_registry, "review-1")
    )
    kept = push_image(notifying_registry.client, "acme/web", "main", created=JAN, label="main")
    wait_until(lambda: tag_digest("review-1-again") and tag_digest("main"))

    notifying_registry.client.delete_manifest("acme/web", pushed.digest)

    wait_until(lambda: not Tag.objects.filter(manifest__digest=pushed.digest).exists())
    assert not Manifest.objects.filter(digest=pushed.digest).exists()
    assert tag_digest("main") == kept.digest


def test_a_pull_by_tag_records_last_pulled_and_the_syncs_heads_do_not(
    notifying_registry,
) -> None:
    pushed = push_image(notifying_registry.client, "acme/web", "review-1", created=JAN)
    wait_until(lambda: tag_digest("review-1"))

    assert sync_registry(registry=notifying_registry.registry).status == "succeeded"
    notifying_registry.client.head_manifest("acme/web", "review-1")  # the janitor's own
    # The janitor's pulls reached the endpoint (they keep it "live") and were dropped.
    wait_until(lambda: _received() >= 3)
    assert Manifest.objects.get(digest=pushed.digest).last_pulled is None

    pull_as_docker(notifying_registry.local.url, "acme/web", "review-1")

    wait_until(lambda: Manifest.objects.get(digest=pushed.digest).last_pulled)
    tag = Tag.objects.get(name="review-1")
    assert tag.last_pulled == tag.manifest.last_pulled
    event = RegistryEvent.objects.get(action="pull")
    assert tag.last_pulled == event.timestamp


def test_an_endpoint_down_for_a_while_gets_the_events_once_it_is_back(
    live_server, fault_proxy, notifying_registry_factory
) -> None:
    proxy = fault_proxy(live_server.url)
    notifying = notifying_registry_factory(proxy.url)
    proxy.set_down(True)

    pushed = [
        push_image(notifying.client, "acme/web", f"review-{n}", created=JAN) for n in range(3)
    ]
    notifying.client.delete_manifest("acme/web", pushed[0].digest)
    proxy.set_down(False)

    wait_until(lambda: set(Tag.objects.values_list("name", flat=True)) == {"review-1", "review-2"})
    run = sync_registry(registry=notifying.registry)
    assert (run.tags_added, run.tags_changed, run.tags_removed) == (0, 0, 0)


def test_events_lost_in_a_restart_are_repaired_by_the_next_sync_which_says_so(
    notifying_registry, tmp_path
) -> None:
    push_image(notifying_registry.client, "acme/web", "main", created=JAN)
    wait_until(lambda: tag_digest("main"))
    # The first sync since events began is the baseline: it counts nothing as missed.
    assert sync_registry(registry=notifying_registry.registry).differences_missed is None
    assert sync_registry(registry=notifying_registry.registry).differences_missed == 0

    # Restarted without its notifications block: these events never leave the registry.
    notifying_registry.restart(tmp_path / "registry", notify=False)
    push_image(notifying_registry.client, "acme/web", "review-9", created=JAN)
    notifying_registry.client.delete_manifest("acme/web", _digest(notifying_registry, "main"))
    notifying_registry.restart(tmp_path / "registry", notify=True)
    assert tag_digest("main") is not None  # the cache missed both

    run = sync_registry(registry=notifying_registry.registry)

    assert run.differences_missed == 2
    assert set(Tag.objects.values_list("name", flat=True)) == {"review-9"}


def test_a_wrong_secret_gets_401_and_nothing_is_stored(notifying_registry, live_server) -> None:
    body = {"events": [_event("push", tag="x")]}
    response = requests.post(
        f"{live_server.url}/registries/live/events/",
        json=body,
        headers={"Authorization": "Bearer not-the-secret"},
        timeout=10,
    )
    assert response.status_code == 401
    assert not RegistryEvent.objects.exists()


def test_a_10_mb_body_gets_413(notifying_registry, live_server) -> None:
    response = requests.post(
        f"{live_server.url}/registries/live/events/",
        data=b"{" + b" " * (10 * 1024 * 1024) + b"}",
        headers={"Authorization": f"Bearer {notifying_registry.endpoint.secret}"},
        timeout=30,
    )
    assert response.status_code == 413
    assert not RegistryEvent.objects.exists()


def _received() -> int:
    from registry.models import EventEndpoint

    return EventEndpoint.objects.get().events_received


def _manifest_of(notifying, tag: str) -> tuple[bytes, str]:
    document = notifying.client.get_manifest("acme/web", tag)
    return document.body, document.media_type


def _digest(notifying, tag: str) -> str:
    return notifying.client.head_manifest("acme/web", tag).digest


def _event(action: str, *, tag: str = "", digest: str = "") -> dict[str, object]:
    return {
        "id": "e-1",
        "timestamp": "2026-03-01T10:00:00.123456789Z",
        "action": action,
        "target": {"repository": "acme/web", "tag": tag, "digest": digest},
        "request": {"useragent": "docker/27"},
    }
