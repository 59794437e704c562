"""Registry notifications: the endpoint's answers to hostile input, and applying events.

The endpoint is called through Django's test client; the events it stores are applied
against a real registry (`local_registry`), where the pushes really happened.
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from devtools.image_builder import Pushed, push_image
from registry.client.media_types import DOCKER_MANIFEST
from registry.client.transport import JANITOR_USER_AGENT
from registry.events.apply import NOTE_SUPERSEDED, NOTE_UNKNOWN_REPOSITORY
from registry.events.endpoint import ensure_endpoint
from registry.events.envelope import NOT_AN_ENVELOPE_MESSAGE, NOT_JSON_MESSAGE
from registry.events.ingest import NOTE_OTHER_ACTION
from registry.models import EventEndpoint, Manifest, Registry, RegistryEvent, Tag
from registry.sync import sync_registry
from registry.views.events import UNAUTHORIZED_MESSAGE, too_large_message

V1 = "application/vnd.docker.distribution.events.v1+json"
T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
JAN = datetime(2026, 1, 5, tzinfo=UTC)
_ids = itertools.count(1)


def event(
    action: str,
    *,
    tag: str = "",
    digest: str = "",
    at: datetime = T0,
    event_id: str | None = None,
    repository: str = "acme/web",
    agent: str = "docker/27.3.1",
    media_type: str = DOCKER_MANIFEST,
) -> dict[str, Any]:
    """One event as distribution 2.8 sends it (nanoseconds and all)."""
    return {
        "id": event_id or f"event-{next(_ids)}",
        "timestamp": at.strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z",
        "action": action,
        "target": {
            "mediaType": media_type,
            "repository": repository,
            "digest": digest,
            "tag": tag,
        },
        "request": {"method": "GET", "useragent": agent},
        "actor": {},
        "source": {"addr": "registry:5000"},
    }


def deliver(client: Client, registry: Registry, events: list[dict[str, Any]], **headers: Any):
    secret = EventEndpoint.objects.get(registry=registry).secret
    headers.setdefault("HTTP_AUTHORIZATION", f"Bearer {secret}")
    return client.post(
        f"/registries/{registry.name}/events/",
        data=json.dumps({"events": events}),
        content_type=V1,
        **headers,
    )


@pytest.fixture
def registry_client_csrf() -> Client:
    """No session, and CSRF checked as for a browser: the registry has neither."""
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def live(cached_registry: Registry) -> Registry:
    """The test's registry with its notification endpoint."""
    ensure_endpoint(registry=cached_registry)
    return cached_registry


# -- who may deliver --------------------------------------------------------------


def test_a_delivery_needs_no_login_and_no_csrf_token(live, registry_client_csrf) -> None:
    response = deliver(registry_client_csrf, live, [event("delete", tag="gone")])

    assert response.status_code == 200
    assert RegistryEvent.objects.count() == 1


@pytest.mark.parametrize(
    "authorization",
    ["", "Bearer wrong", "Basic d3Jvbmc6d3Jvbmc=", "bearer {secret}", "Bearer {secret}x"],
)
def test_a_wrong_or_missing_secret_gets_401_and_nothing_is_stored(
    live, registry_client_csrf, authorization: str
) -> None:
    secret = EventEndpoint.objects.get(registry=live).secret
    response = deliver(
        registry_client_csrf,
        live,
        [event("delete", tag="gone")],
        HTTP_AUTHORIZATION=authorization.format(secret=secret),
    )

    assert response.status_code == 401
    assert response.json() == {"error": UNAUTHORIZED_MESSAGE}
    assert not RegistryEvent.objects.exists()
    assert EventEndpoint.objects.get().last_event_at is None


def test_another_registrys_secret_is_refused(live, registry_client_csrf) -> None:
    other = Registry.objects.create(name="other", url="http://127.0.0.1:9")
    ensure_endpoint(registry=other)
    secret = EventEndpoint.objects.get(registry=other).secret

    response = deliver(
        registry_client_csrf, live, [event("pull")], HTTP_AUTHORIZATION=f"Bearer {secret}"
    )

    assert response.status_code == 401


def test_a_registry_without_notifications_or_unknown_answers_401(
    cached_registry, registry_client_csrf
) -> None:
    for name in (cached_registry.name, "no-such-registry"):
        response = registry_client_csrf.post(
            f"/registries/{name}/events/", data="{}", content_type=V1
        )
        assert response.status_code == 401


def test_a_get_changes_nothing(live, client) -> None:
    assert client.get(f"/registries/{live.name}/events/").status_code == 405


# -- hostile bodies ------------------------------------------------------------------


def test_a_body_over_the_limit_gets_413(live, registry_client_csrf, settings) -> None:
    settings.EVENTS_MAX_BODY_KB = 1
    events = [event("pull", digest="sha256:" + "a" * 64) for _ in range(20)]

    response = deliver(registry_client_csrf, live, events)

    assert response.status_code == 413
    assert response.json() == {"error": too_large_message(1)}
    assert not RegistryEvent.objects.exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", NOT_JSON_MESSAGE),
        (b"\xff\xfe", NOT_JSON_MESSAGE),
        (b"[]", NOT_AN_ENVELOPE_MESSAGE),
        (b'{"events": {"id": 1}}', NOT_AN_ENVELOPE_MESSAGE),
        (b'"events"', NOT_AN_ENVELOPE_MESSAGE),
    ],
)
def test_malformed_json_gets_400_and_nothing_is_stored(
    live, registry_client_csrf, body: bytes, message: str
) -> None:
    secret = EventEndpoint.objects.get(registry=live).secret
    response = registry_client_csrf.post(
        f"/registries/{live.name}/events/",
        data=body,
        content_type=V1,
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )

    assert response.status_code == 400
    assert response.json() == {"error": message}
    assert not RegistryEvent.objects.exists()


def test_events_lacking_what_the_cache_needs_are_skipped_and_counted(
    live, registry_client_csrf
) -> None:
    good = event("delete", tag="gone")
    no_id = {**event("delete", tag="x"), "id": ""}
    bad_time = {**event("delete", tag="x"), "timestamp": "yesterday"}
    bad_tag = event("delete", tag="../../etc")
    no_target = event("delete")

    not_an_event: Any = 7
    events = [good, no_id, bad_time, bad_tag, no_target, not_an_event]
    response = deliver(registry_client_csrf, live, events)

    assert response.json()["skipped"] == 5
    assert list(RegistryEvent.objects.values_list("event_id", flat=True)) == [good["id"]]


def test_an_unknown_action_is_kept_as_ignored(live, client) -> None:
    deliver(client, live, [event("rename", tag="v1")])

    assert list(RegistryEvent.objects.values_list("action", "state", "note")) == [
        ("other", "ignored", NOTE_OTHER_ACTION)
    ]


def test_the_janitors_own_pulls_and_blob_events_are_not_kept(live, client) -> None:
    response = deliver(
        client,
        live,
        [
            event("pull", tag="v1", digest="sha256:" + "a" * 64, agent=JANITOR_USER_AGENT),
            event("pull", digest="sha256:" + "b" * 64, media_type="application/octet-stream"),
        ],
    )

    assert response.json()["own_pulls"] == 1
    assert not RegistryEvent.objects.exists()
    assert EventEndpoint.objects.get().last_event_at is not None  # yet the setup works


def test_a_replayed_event_id_is_stored_once(live, client) -> None:
    once = event("delete", tag="gone", event_id="same-id")

    first = deliver(client, live, [once])
    second = deliver(client, live, [once, once])

    assert first.json()["stored"] == 1
    assert second.json() == {"stored": 0, "duplicates": 2, "own_pulls": 0, "skipped": 0}
    assert RegistryEvent.objects.count() == 1


def test_a_flood_of_deliveries_queues_one_task_until_a_worker_takes_it(
    live, client, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks() as queued:
        for n in range(50):
            events = [event("delete", tag=f"t-{n}-{i}") for i in range(100)]
            assert deliver(client, live, events).status_code == 200

    assert RegistryEvent.objects.filter(state="pending").count() == 5000
    assert len(queued) == 1
    assert EventEndpoint.objects.get().apply_queued


# -- applying ------------------------------------------------------------------------


def pushed_and_synced(registry: Registry, registry_client, *tags: str) -> dict[str, Pushed]:
    images = {
        tag: push_image(registry_client, "acme/web", tag, created=JAN, label=tag) for tag in tags
    }
    assert sync_registry(registry=registry).status == "succeeded"
    return images


def apply(client: Client, registry: Registry, events: list[dict[str, Any]], capture) -> Any:
    """Deliver, and run the apply task the delivery queued (eagerly, as tests do)."""
    with capture(execute=True):
        return deliver(client, registry, events)


def cached_tags() -> dict[str, str]:
    return dict(Tag.objects.values_list("name", "manifest__digest"))


def test_a_push_moves_the_tag_to_what_the_registry_holds(
    live, client, registry_client, django_capture_on_commit_callbacks
) -> None:
    pushed_and_synced(live, registry_client, "review-1")
    moved = push_image(registry_client, "acme/web", "review-1", created=JAN, label="new")

    apply(
        client,
        live,
        [event("push", tag="review-1", digest=moved.digest)],
        django_capture_on_commit_callbacks,
    )

    assert cached_tags() == {"review-1": moved.digest}
    assert Manifest.objects.get(digest=moved.digest).tag_count == 1
    assert Manifest.objects.count() == 1  # the old image went with its last tag


def test_an_older_push_delivered_late_changes_nothing(
    live, client, registry_client, django_capture_on_commit_callbacks
) -> None:
    images = pushed_and_synced(live, registry_client, "review-1")
    newer = push_image(registry_client, "acme/web", "review-1", created=JAN, label="newer")
    capture = django_capture_on_commit_callbacks
    apply(client, live, [event("push", tag="review-1", digest=newer.digest, at=T0)], capture)
    requests_before = _pushes_applied(live)

    apply(
        client,
        live,
        [
            event(
                "push",
                tag="review-1",
                digest=images["review-1"].digest,
                at=T0 - timedelta(seconds=1),
            )
        ],
        capture,
    )

    assert cached_tags() == {"review-1": newer.digest}
    assert RegistryEvent.objects.filter(state="superseded").get().note == NOTE_SUPERSEDED
    assert _pushes_applied(live) == requests_before


def test_a_delete_older_than_the_push_that_followed_changes_nothing(
    live, client, registry_client, django_capture_on_commit_callbacks
) -> None:
    images = pushed_and_synced(live, registry_client, "review-1")
    capture = django_capture_on_commit_callbacks
    digest = images["review-1"].digest
    apply(client, live, [event("push", tag="review-1", digest=digest, at=T0)], capture)

    apply(
        client,
        live,
        [
            event("delete", tag="review-1", at=T0 - timedelta(seconds=5)),
            event("delete", digest=digest, at=T0 - timedelta(seconds=5)),
        ],
        capture,
    )

    assert cached_tags() == {"review-1": digest}


def test_a_duplicate_event_changes_nothing(
    live, client, registry_client, django_capture_on_commit_callbacks
) -> None:
    images = pushed_and_synced(live, registry_client, "review-1", "review-2")
    capture = django_capture_on_commit_callbacks
    delete = event("delete", tag="review-1", at=T0)
    apply(client, live, [delete], capture)
    # The tag comes back (a push the registry has not told of yet).
    push_image(registry_client, "acme/web", "review-1", created=JAN, label="review-1")
    sync_registry(registry=live)
    assert set(cached_tags()) == {"review-1", "review-2"}

    apply(client, live, [delete], capture)

    assert set(cached_tags()) == {"review-1", "review-2"}
    assert images


def test_a_push_of_a_tag_gone_since_removes_it(
    live, client, registry_client, django_capture_on_commit_callbacks
) -> None:
    images = pushed_and_synced(live, registry_client, "review-1", "main")
    registry_client.delete_manifest("acme/web", images["review-1"].digest)

    apply(
        client,
        live,
        [event("push", tag="review-1", digest=images["review-1"].digest)],
        django_capture_on_commit_callbacks,
    )

    assert set(cached_tags()) == {"main"}


def test_a_push_to_a_new_repository_creates_it(
    live, client, registry_client, django_capture_on_commit_callbacks
) -> None:
    pushed = push_image(registry_client, "acme/new", "v1", created=JAN)

    apply(
        client,
        live,
        [event("push", repository="acme/new", tag="v1", digest=pushed.digest)],
        django_capture_on_commit_callbacks,
    )

    assert Tag.objects.get(repository__name="acme/new").manifest.digest == pushed.digest


def test_pulls_and_deletes_for_unknown_repositories_are_ignored(
    live, client, django_capture_on_commit_callbacks
) -> None:
    apply(
        client,
        live,
        [
            event("pull", repository="nobody/knows", tag="v1", digest="sha256:" + "c" * 64),
            event("delete", repository="nobody/knows", tag="v1"),
        ],
        django_capture_on_commit_callbacks,
    )

    assert set(RegistryEvent.objects.values_list("state", "note")) == {
        ("ignored", NOTE_UNKNOWN_REPOSITORY)
    }
    assert not Tag.objects.exists()


def test_a_pull_moves_last_pulled_forward_only(
    live, client, registry_client, django_capture_on_commit_callbacks
) -> None:
    images = pushed_and_synced(live, registry_client, "review-1", "review-2")
    digest = images["review-1"].digest
    capture = django_capture_on_commit_callbacks

    apply(client, live, [event("pull", tag="review-1", digest=digest, at=T0)], capture)
    apply(client, live, [event("pull", digest=digest, at=T0 - timedelta(days=1))], capture)

    manifest = Manifest.objects.get(digest=digest)
    assert manifest.last_pulled == T0
    assert Tag.objects.get(name="review-1").last_pulled == T0
    assert Tag.objects.get(name="review-2").last_pulled is None
    assert Manifest.objects.get(digest=images["review-2"].digest).last_pulled is None


def test_a_pull_delivered_before_its_push_counts_once_the_push_is_applied(
    live, client, registry_client, django_capture_on_commit_callbacks
) -> None:
    pushed_and_synced(live, registry_client, "main")
    pushed = push_image(registry_client, "acme/web", "review-3", created=JAN, label="r3")
    capture = django_capture_on_commit_callbacks

    apply(client, live, [event("pull", tag="review-3", digest=pushed.digest, at=T0)], capture)
    apply(
        client,
        live,
        [event("push", tag="review-3", digest=pushed.digest, at=T0 - timedelta(seconds=1))],
        capture,
    )

    assert Manifest.objects.get(digest=pushed.digest).last_pulled == T0


def _pushes_applied(registry: Registry) -> int:
    """Pushes applied so far: each read its tag from the registry."""
    return RegistryEvent.objects.filter(registry=registry, action="push", state="applied").count()
