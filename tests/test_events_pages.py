"""Notifications as people see them: the page and its block, the command, the dashboard's
freshness, list_tags' last_pulled, and the worker applying events."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from django.utils.html import escape

from registry.events.endpoint import endpoint_config, ensure_endpoint
from registry.events.freshness import Freshness, missed_message, short_ago
from registry.events.housekeeping import forget_old_events, registries_with_stalled_events
from registry.models import EventEndpoint, Registry, RegistryEvent, SyncRun
from registry.views.events import SECRET_CREATED_MESSAGE
from tests.factories import ManifestFactory, RepositoryFactory, TagFactory

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


# -- the page ------------------------------------------------------------------------


@pytest.mark.parametrize(("user", "status"), [("viewer", 200), ("janitor", 200), ("outsider", 403)])
def test_who_may_see_the_notifications_page(
    client: Client, registry, request, user: str, status: int
) -> None:
    client.force_login(request.getfixturevalue(user))

    assert client.get(f"/registries/{registry.name}/notifications/").status_code == status


def test_only_registry_admins_see_the_block_with_its_secret(
    client: Client, registry, registry_admin, janitor
) -> None:
    endpoint, _ = ensure_endpoint(registry=registry)
    url = f"/registries/{registry.name}/notifications/"

    client.force_login(janitor)
    assert endpoint.secret not in client.get(url).content.decode()
    client.force_login(registry_admin)
    page = client.get(url).content.decode()

    assert endpoint.secret in page
    assert "http://testserver/registries/main/events/" in page


def test_looking_at_the_page_creates_no_secret(client: Client, registry, registry_admin) -> None:
    client.force_login(registry_admin)

    page = client.get(f"/registries/{registry.name}/notifications/").content.decode()

    assert "Set up notifications" in page
    assert not EventEndpoint.objects.exists()


def test_an_admin_sets_up_and_rotates_the_secret(client: Client, registry, registry_admin) -> None:
    client.force_login(registry_admin)
    url = f"/registries/{registry.name}/notifications/secret/"

    response = client.post(url, {"action": "create"}, follow=True)
    first = EventEndpoint.objects.get().secret
    assert SECRET_CREATED_MESSAGE in response.content.decode()
    client.post(url, {"action": "rotate"})

    assert EventEndpoint.objects.get().secret not in ("", first)


def test_a_janitor_may_not_set_up_notifications(client: Client, registry, janitor) -> None:
    client.force_login(janitor)

    response = client.post(f"/registries/{registry.name}/notifications/secret/")

    assert response.status_code == 403
    assert not EventEndpoint.objects.exists()


def test_the_page_says_when_events_arrived(client: Client, registry, viewer) -> None:
    endpoint, _ = ensure_endpoint(registry=registry)
    EventEndpoint.objects.filter(pk=endpoint.pk).update(
        first_event_at=timezone.now() - timedelta(days=2),
        last_event_at=timezone.now() - timedelta(minutes=3),
        events_received=42,
    )
    client.force_login(viewer)

    page = client.get(f"/registries/{registry.name}/notifications/").content.decode()

    assert "Last event" in page
    assert "42 received since" in page


# -- the command ---------------------------------------------------------------------


def test_notification_config_prints_the_block_distribution_reads(registry) -> None:
    output = run("notification_config", "main", "--url", "https://janitor.example.com/")

    block = yaml.safe_load(output)
    secret = EventEndpoint.objects.get(registry=registry).secret
    assert block == {
        "notifications": {
            "endpoints": [
                endpoint_config(
                    registry=registry, secret=secret, base_url="https://janitor.example.com"
                )
            ]
        }
    }
    entry = block["notifications"]["endpoints"][0]
    assert entry["url"] == "https://janitor.example.com/registries/main/events/"
    assert entry["headers"] == {"Authorization": [f"Bearer {secret}"]}
    assert entry["ignore"] == {"mediatypes": ["application/octet-stream"]}
    assert (entry["timeout"], entry["threshold"], entry["backoff"]) == ("5s", 5, "2s")


def test_notification_config_keeps_the_secret_unless_told_to_rotate(registry) -> None:
    first = run("notification_config", "main", "--url", "http://j:8000")
    assert run("notification_config", "main", "--url", "http://j:8000") == first

    assert run("notification_config", "main", "--url", "http://j:8000", "--rotate") != first


def test_notification_config_refuses_an_unknown_registry_or_a_bad_url(registry) -> None:
    with pytest.raises(CommandError, match="No registry named 'nope'"):
        run("notification_config", "nope", "--url", "http://j")
    with pytest.raises(CommandError, match="is not the dashboard's address"):
        run("notification_config", "main", "--url", "janitor.example.com")


def test_list_tags_says_when_each_image_was_last_pulled(registry) -> None:
    repository = RepositoryFactory.create(registry=registry, name="acme/web")
    pulled = ManifestFactory.create(repository=repository, last_pulled=NOW)
    TagFactory.create(manifest=pulled, name="pulled")
    TagFactory.create(manifest=ManifestFactory.create(repository=repository), name="never")

    rows = {row["tag"]: row for row in json.loads(run("list_tags", "--format", "json"))}
    csv_text = run("list_tags", "--format", "csv")

    assert rows["pulled"]["last_pulled"] == "2026-03-01T12:00:00Z"
    assert rows["never"]["last_pulled"] is None
    assert csv_text.splitlines()[0].endswith(",last_pulled")
    assert "2026-03-01T12:00:00Z" in csv_text


# -- the dashboard -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(4, "4 s"), (59, "59 s"), (60, "1 min"), (12 * 60 + 5, "12 min"), (3 * 3600, "3 h"),
     (3 * 86400, "3 days")],
)  # fmt: skip
def test_short_ago(seconds: int, text: str) -> None:
    assert short_ago(timedelta(seconds=seconds)) == text


def test_freshness_is_live_while_events_come_else_the_last_sync(settings) -> None:
    settings.EVENTS_LIVE_MINUTES = 60
    live = Freshness(NOW - timedelta(seconds=4), NOW - timedelta(hours=5), NOW)
    quiet = Freshness(NOW - timedelta(hours=2), NOW - timedelta(minutes=12), NOW)

    assert (live.live, live.text) == (True, "live (last event 4 s ago)")
    assert (quiet.live, quiet.text) == (False, "synced 12 min ago")
    assert Freshness(None, None, NOW).text == "never synced"


def test_a_card_says_live_and_what_the_last_sync_found_missing(
    client: Client, registry, viewer
) -> None:
    endpoint, _ = ensure_endpoint(registry=registry)
    EventEndpoint.objects.filter(pk=endpoint.pk).update(
        first_event_at=timezone.now() - timedelta(hours=1), last_event_at=timezone.now()
    )
    run_ = SyncRun.objects.create(
        registry=registry, status=SyncRun.Status.SUCCEEDED, differences_missed=3
    )
    SyncRun.objects.filter(pk=run_.pk).update(finished_at=run_.started_at)
    client.force_login(viewer)

    page = client.get("/").content.decode()

    assert "live (last event 0 s ago)" in page or "live (last event 1 s ago)" in page
    assert escape(missed_message(3)) in page


def test_a_card_without_notifications_says_when_it_was_synced(
    client: Client, registry, viewer
) -> None:
    run_ = SyncRun.objects.create(registry=registry, status=SyncRun.Status.SUCCEEDED)
    SyncRun.objects.filter(pk=run_.pk).update(
        started_at=timezone.now() - timedelta(minutes=13),
        finished_at=timezone.now() - timedelta(minutes=12),
    )
    client.force_login(viewer)

    page = client.get("/").content.decode()

    assert "synced 12 min ago" in page
    assert "live (" not in page


# -- housekeeping --------------------------------------------------------------------


def _event(registry: Registry, event_id: str, *, state: str, received: datetime) -> None:
    RegistryEvent.objects.create(
        registry=registry,
        event_id=event_id,
        action="delete",
        repository="acme/web",
        tag="x",
        timestamp=received,
        received_at=received,
        state=state,
    )


def test_events_no_worker_took_are_found_and_old_handled_ones_forgotten(registry, settings) -> None:
    settings.EVENTS_RETENTION_DAYS = 7
    _event(registry, "waiting", state="pending", received=NOW - timedelta(minutes=5))
    _event(registry, "just-in", state="pending", received=NOW - timedelta(seconds=1))
    _event(registry, "old", state="applied", received=NOW - timedelta(days=8))
    _event(registry, "old-pending", state="pending", received=NOW - timedelta(days=8))
    _event(registry, "recent", state="applied", received=NOW - timedelta(days=6))

    assert registries_with_stalled_events(now=NOW) == [registry.pk]
    assert forget_old_events(now=NOW) == 1
    assert set(RegistryEvent.objects.values_list("event_id", flat=True)) == {
        "waiting",
        "just-in",
        "old-pending",
        "recent",
    }
