"""A team lead finds the stale review images of a repository and selects them all."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from registry.staleness import refresh_staleness
from tests.e2e.browser import log_in
from tests.e2e.conftest import Screen
from tests.factories import ManifestFactory, RegistryFactory, RepositoryFactory, TagFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


MB = 1024 * 1024  # filesizeformat counts in binary units


@pytest.fixture
def team_registry():
    """acme/web: 120 review builds 30-149 days old (90 over 60 days), 10 fresh, latest+master."""
    now = timezone.now()
    registry = RegistryFactory.create(name="main")
    web = RepositoryFactory.create(registry=registry, name="acme/web")
    api = RepositoryFactory.create(registry=registry, name="acme/api")
    for n in range(120):
        created = now - timedelta(days=30 + n)
        manifest = ManifestFactory.create(repository=web, size=10 * MB, created=created)
        TagFactory.create(manifest=manifest, name=f"review-login-{n}", first_seen=created)
    for n in range(10):
        manifest = ManifestFactory.create(
            repository=web, size=5 * MB, created=now - timedelta(days=1)
        )
        TagFactory.create(manifest=manifest, name=f"review-fresh-{n}")
    shared = ManifestFactory.create(repository=web, size=50 * MB, created=now, tag_count=2)
    TagFactory.create(manifest=shared, name="latest")
    TagFactory.create(manifest=shared, name="master")
    TagFactory.create(manifest=ManifestFactory.create(repository=api, size=70 * MB), name="v1.0.0")
    refresh_staleness(registry=registry)
    return registry


def test_find_stale_review_images_select_all_across_pages(
    page: Page, live_server, janitor, team_registry, screenshots: Path, screen: Screen
) -> None:
    log_in(page, live_server, janitor)

    expect(page.locator("svg").first).to_be_visible()  # the dashboard's charts
    screen.screenshot(page, screenshots, "dashboard.png")

    page.goto(f"{live_server.url}/registries/main/stale/?repository=acme/web")
    page.locator('input[name="older_than_days"]').fill("60")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(".listing-bar .count")).to_contain_text("90 tags match")
    expect(page).to_have_url(re.compile(r"older_than_days=60"))

    page.get_by_role("button", name=re.compile(r"Select all 90 matching")).click()
    bar = page.locator("#selection-bar")
    expect(bar).to_contain_text("90 tags selected")
    expect(bar).to_contain_text("900.0 MB")
    # The listing reloads after a selection change: this page's boxes are now all checked.
    expect(page.locator("input.select-tag:checked")).to_have_count(50)
    page.wait_for_load_state("networkidle")

    page.get_by_role("link", name=re.compile(r"^Next")).click()
    expect(page.locator(".listing-bar .count")).to_contain_text("page 2 of 2")
    expect(bar).to_contain_text("90 tags selected")
    expect(page.locator("input.select-tag:checked")).to_have_count(40)
    screen.screenshot(page, screenshots, "tags.png")

    # Keyboard: focus a checkbox, Space unselects it, the bar follows.
    first = page.locator("input.select-tag").first
    first.focus()
    page.keyboard.press("Space")
    expect(bar).to_contain_text("89 tags selected")
    expect(bar).to_contain_text("890.0 MB")

    page.go_back()
    expect(page.locator(".listing-bar .count")).to_contain_text("page 1 of 2")


def test_tag_detail_shows_the_tags_sharing_its_digest(
    page: Page, live_server, viewer, team_registry
) -> None:
    log_in(page, live_server, viewer)
    page.goto(f"{live_server.url}/registries/main/tags/?repository=acme/web&name=latest")

    page.get_by_role("link", name="latest", exact=True).click()

    drawer = page.locator("#drawer")
    expect(drawer).to_contain_text("master")
    expect(drawer).to_contain_text("sha256:")
    expect(page.get_by_role("button", name="Sync now")).to_have_count(0)
