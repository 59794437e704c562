"""A registry whose last sync failed is one visible problem: every page of it says so, with
the error and when a sync last worked, and a deletion's preview warns that the cache it
comes from may be out of date."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from registry.deletion.plan import plan_deletion
from registry.models import Registry, SyncRun, Tag
from registry.sync_health import (
    EMPTY_REGISTRY_MESSAGE,
    NEVER_SYNCED_MESSAGE,
    PREVIEW_WARNING,
    sync_trouble,
)
from tests.factories import RegistryFactory, TagFactory

pytestmark = pytest.mark.django_db

REFUSED = "Could not connect to registry.example.com:443 (connection refused)."


def sync_run(registry: Registry, status: str, *, ago: timedelta, error: str = "") -> SyncRun:
    run = SyncRun.objects.create(registry=registry, status=status, error=error)
    started = timezone.now() - ago
    SyncRun.objects.filter(pk=run.pk).update(started_at=started, finished_at=started)
    return run


@pytest.fixture
def troubled(registry: Registry, web) -> Registry:
    """`main` synced two days ago; its last sync, an hour ago, could not reach it."""
    TagFactory.create(manifest__repository=web, name="review-1")
    sync_run(registry, SyncRun.Status.SUCCEEDED, ago=timedelta(days=2))
    sync_run(registry, SyncRun.Status.FAILED, ago=timedelta(hours=1), error=REFUSED)
    return registry


def pages_of(registry: Registry, janitor) -> list[str]:
    tag = Tag.objects.filter(repository__registry=registry).first()
    assert tag is not None
    batch = plan_deletion(registry=registry, tags=Tag.objects.filter(pk=tag.pk), actor=janitor)
    name = registry.name
    return [
        reverse("repositories", args=[name]),
        reverse("tags", args=[name]),
        reverse("stale", args=[name]),
        reverse("tag_detail", args=[tag.pk]),
        reverse("selection", args=[name]),
        reverse("rules", args=[name]),
        reverse("notifications", args=[name]),
        reverse("registry_edit", args=[name]),
        reverse("registry_remove", args=[name]),
        reverse("batch", args=[batch.pk]),
    ]


def test_every_page_of_a_registry_whose_last_sync_failed_shows_the_error_and_the_last_good_sync(
    client: Client, registry_admin, troubled: Registry
) -> None:
    client.force_login(registry_admin)
    last_good = SyncRun.objects.get(status=SyncRun.Status.SUCCEEDED).finished_at
    for url in pages_of(troubled, registry_admin):
        html = client.get(url).content.decode()
        assert 'class="sync-trouble"' in html, url
        assert "The last sync of main failed" in html, url
        assert escape(REFUSED) in html, url
        assert f"{timezone.localtime(last_good):%Y-%m-%d %H:%M}" in html, url


def test_the_dashboard_and_other_registries_pages_show_no_banner(
    client: Client, registry_admin, troubled: Registry
) -> None:
    RegistryFactory.create(name="other")
    client.force_login(registry_admin)
    for url in [reverse("repositories", args=["other"]), reverse("audit")]:
        assert 'class="sync-trouble"' not in client.get(url).content.decode(), url


def test_a_sync_that_works_again_takes_the_banner_away(
    client: Client, viewer, troubled: Registry
) -> None:
    sync_run(troubled, SyncRun.Status.SUCCEEDED, ago=timedelta(minutes=1))
    client.force_login(viewer)

    html = client.get(reverse("stale", args=["main"])).content.decode()

    assert 'class="sync-trouble"' not in html
    assert sync_trouble(registry=troubled) is None


def test_a_registry_that_never_synced_well_says_so(registry: Registry) -> None:
    sync_run(registry, SyncRun.Status.FAILED, ago=timedelta(minutes=5), error="")

    trouble = sync_trouble(registry=registry)

    assert trouble is not None
    assert trouble.last_good_at is None
    assert trouble.error == "The sync stopped without saying why."


def test_the_banner_never_shows_the_registry_password(client: Client, viewer, registry) -> None:
    Registry.objects.filter(pk=registry.pk).update(url="https://bob:s3cret@registry.example.com")
    sync_run(
        registry,
        SyncRun.Status.FAILED,
        ago=timedelta(minutes=5),
        error="https://bob:s3cret@registry.example.com/v2/ answered 502",
    )
    client.force_login(viewer)

    html = client.get(reverse("repositories", args=["main"])).content.decode()

    assert "answered 502" in html
    assert "s3cret" not in html


def test_the_preview_warns_that_the_cache_may_be_out_of_date(
    client: Client, janitor, troubled: Registry
) -> None:
    batch = plan_deletion(registry=troubled, tags=Tag.objects.all(), actor=janitor)
    client.force_login(janitor)

    html = client.get(reverse("batch", args=[batch.pk])).content.decode()

    assert escape(PREVIEW_WARNING) in html


def test_a_preview_after_a_good_sync_has_no_warning(client: Client, janitor, registry, web) -> None:
    TagFactory.create(manifest__repository=web, name="review-1")
    sync_run(registry, SyncRun.Status.SUCCEEDED, ago=timedelta(minutes=3))
    batch = plan_deletion(registry=registry, tags=Tag.objects.all(), actor=janitor)
    client.force_login(janitor)

    html = client.get(reverse("batch", args=[batch.pk])).content.decode()

    assert escape(PREVIEW_WARNING) not in html


# -- an empty listing says why ---------------------------------------------------------------


@pytest.mark.parametrize("page", ["tags", "stale"])
def test_a_never_synced_registry_says_so_instead_of_no_tag_matches(
    client: Client, janitor, registry: Registry, page: str
) -> None:
    client.force_login(janitor)

    html = client.get(reverse(page, args=["main"]), {"name": "review"}).content.decode()

    assert escape(NEVER_SYNCED_MESSAGE.format(name="main")) in html
    assert "Sync it from the dashboard" in html
    assert "No tag matches these filters" not in html


def test_a_registry_synced_empty_says_it_holds_no_tags(
    client: Client, viewer, registry: Registry
) -> None:
    sync_run(registry, SyncRun.Status.SUCCEEDED, ago=timedelta(minutes=2))
    client.force_login(viewer)

    html = client.get(reverse("stale", args=["main"])).content.decode()

    assert escape(EMPTY_REGISTRY_MESSAGE.format(name="main")) in html
    assert "Sync it from the dashboard" not in html  # viewers may not sync
    assert "No tag matches these filters" not in html


def test_filters_that_match_nothing_in_a_filled_registry_still_say_so(
    client: Client, viewer, registry: Registry, web
) -> None:
    TagFactory.create(manifest__repository=web, name="latest")
    client.force_login(viewer)

    html = client.get(reverse("tags", args=["main"]), {"name": "nothing-like-it"}).content.decode()

    assert "No tag matches these filters." in html
