"""A registry in trouble is one visible problem: a failed sync shows on each of its pages,
a batch's failures can be retried, and a running batch's table follows its progress.
Plus the small things of the same walkthrough: charts, stat cards, the 403 page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from registry.models import DeletionBatch, DeletionItem, SyncRun
from registry.staleness import refresh_staleness
from tests.e2e.browser import go_to, log_in
from tests.e2e.conftest import Screen
from tests.factories import ManifestFactory, RegistryFactory, RepositoryFactory, TagFactory
from tests.support.deletion import plan_and_confirm, run_batch_as

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

Outcome = DeletionItem.Outcome
MB = 1024 * 1024
REFUSED = "Could not connect to registry.example.com:443 (connection refused)."
NAMES = [f"review-checkout-{n}" for n in range(6)]


@pytest.fixture
def registry():
    """`main`: acme/web with six old review images and latest; acme/api with v1.0.0."""
    now = timezone.now()
    registry = RegistryFactory.create(name="main", url="https://registry.example.com")
    web = RepositoryFactory.create(registry=registry, name="acme/web")
    api = RepositoryFactory.create(registry=registry, name="acme/api")
    for n, name in enumerate(NAMES):
        created = now - timedelta(days=40 + n)
        manifest = ManifestFactory.create(repository=web, size=20 * MB, created=created)
        TagFactory.create(manifest=manifest, name=name, first_seen=created)
    TagFactory.create(
        manifest=ManifestFactory.create(repository=web, size=30 * MB, created=now), name="latest"
    )
    TagFactory.create(manifest=ManifestFactory.create(repository=api, size=70 * MB), name="v1.0.0")
    refresh_staleness(registry=registry)
    return registry


def sync_run(registry, status: str, *, ago: timedelta, error: str = "") -> None:
    run = SyncRun.objects.create(registry=registry, status=status, error=error)
    when = timezone.now() - ago
    SyncRun.objects.filter(pk=run.pk).update(started_at=when, finished_at=when)


def test_a_failed_sync_shows_on_every_page_of_the_registry_and_the_preview_warns(
    page: Page, live_server, janitor, registry, screen: Screen
) -> None:
    sync_run(registry, SyncRun.Status.SUCCEEDED, ago=timedelta(days=2))
    sync_run(registry, SyncRun.Status.FAILED, ago=timedelta(hours=1), error=REFUSED)
    log_in(page, live_server, janitor)

    page.goto(f"{live_server.url}/registries/main/stale/")
    banner = page.locator(".sync-trouble")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("The last sync of main failed")
    expect(banner).to_contain_text(REFUSED)
    expect(banner.locator("time.last-good")).to_be_visible()
    for link in ["Repositories", "Tags", "Notifications"]:
        go_to(page, link)
        expect(page.locator(".sync-trouble")).to_contain_text(REFUSED)

    page.goto(f"{live_server.url}/registries/main/stale/")
    page.get_by_role("button", name=re.compile(r"Select all 6 matching")).click()
    expect(page.locator("#selection-bar")).to_contain_text("6 tags selected")
    page.locator("#selection-bar").get_by_role("button", name="Preview deletion").click()
    expect(page.locator("h1")).to_contain_text("Preview: delete from main")
    expect(page.locator(".cache-warning")).to_contain_text("may be out of date")


def test_retry_failed_previews_the_failed_tags_and_the_audit_log_links_the_batches(
    page: Page, live_server, janitor, registry, screen: Screen
) -> None:
    first = run_batch_as(
        plan_and_confirm(registry, janitor, NAMES),
        {NAMES[1]: Outcome.FAILED, NAMES[4]: Outcome.NOT_ATTEMPTED},
    )
    log_in(page, live_server, janitor)
    page.goto(f"{live_server.url}/deletions/{first.pk}/")
    expect(page.locator("#batch-progress")).to_contain_text("Summary")

    page.get_by_role("button", name="Retry failed").click()

    expect(page.locator("h1")).to_contain_text("Preview: delete from main")
    retry = DeletionBatch.objects.get(retry_of=first)
    expect(page).to_have_url(re.compile(rf"/deletions/{retry.pk}/$"))
    names = page.locator("#batch-items td.tag-name")
    expect(names).to_have_count(2)
    expect(names.nth(0)).to_have_text(NAMES[1])
    expect(names.nth(1)).to_have_text(NAMES[4])
    expect(page.locator("p.retry-of")).to_contain_text(f"batch {first.pk}")

    go_to(page, "Audit log")
    page.get_by_role("link", name="Batches", exact=True).click()
    row = page.locator("#batch-table tr", has=page.locator(f'a[href="/deletions/{retry.pk}/"]'))
    expect(row.locator(".retry-of")).to_contain_text(f"retry of #{first.pk}")
    row.locator(".retry-of a").click()
    expect(page).to_have_url(re.compile(rf"/deletions/{first.pk}/$"))
    expect(page.locator("p.retries")).to_contain_text(f"batch {retry.pk}")


def test_the_tag_table_of_a_running_batch_follows_the_progress(
    page: Page, live_server, viewer, janitor, registry, screen: Screen
) -> None:
    batch = plan_and_confirm(registry, janitor, NAMES)
    DeletionBatch.objects.filter(pk=batch.pk).update(status=DeletionBatch.Status.RUNNING)
    log_in(page, live_server, viewer)
    page.goto(f"{live_server.url}/deletions/{batch.pk}/")
    progress = page.locator("#batch-progress")
    items = page.locator("#batch-items")
    expect(progress).to_contain_text("0 of 6")
    expect(items.locator(".badge.outcome-pending")).to_have_count(6)

    # The worker deletes two tags; the page is not reloaded.
    done = DeletionItem.objects.filter(batch=batch, tag__in=NAMES[:2])
    done.update(outcome=Outcome.DELETED, http_status=202, finished_at=timezone.now())

    expect(progress).to_contain_text("2 of 6")
    expect(progress).to_contain_text("Deleting")
    expect(items.locator(".badge.outcome-deleted")).to_have_count(2)
    expect(items.locator(".badge.outcome-pending")).to_have_count(4)
    expect(items.locator(".outcome-filter")).to_contain_text("Deleted (2)")

    run_batch_as(batch, {})
    expect(progress).to_contain_text("Summary")
    expect(items.locator(".badge.outcome-deleted")).to_have_count(6)


def test_chart_labels_are_legible_and_the_legend_follows_the_bars(
    page: Page, live_server, viewer, registry, screen: Screen
) -> None:
    log_in(page, live_server, viewer)
    expect(page.locator("svg.chart").first).to_be_visible()

    sizes = page.evaluate(
        """() => [...document.querySelectorAll("svg.chart text")].map(text => {
             const svg = text.ownerSVGElement;
             const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
             return parseFloat(getComputedStyle(text).fontSize) * scale;
           })"""
    )
    assert sizes
    assert min(sizes) >= 12, f"chart text as small as {min(sizes):.1f} px"
    # Stale is drawn first (left) in the bars, and named first in both legends.
    legend = page.locator(".chart-figure figcaption .legend").first.inner_text()
    assert legend.index("stale") < legend.index("kept")
    split = page.locator(".split-legend").first.inner_text()
    assert split.index("Stale") < split.index("Kept")
    first_bar = page.locator("svg.chart.split rect.bar").first
    expect(first_bar).to_have_class(re.compile(r"\bstale\b"))


def test_a_finished_batch_colours_its_figures_by_value(
    page: Page, live_server, janitor, registry, screen: Screen
) -> None:
    batch = run_batch_as(plan_and_confirm(registry, janitor, NAMES[:2]), {})
    log_in(page, live_server, janitor)
    page.goto(f"{live_server.url}/deletions/{batch.pk}/")

    def colour(label: str) -> str:
        figure = page.locator(".batch-figures > div", has=page.get_by_text(label, exact=True))
        return str(figure.evaluate("e => getComputedStyle(e).backgroundColor"))

    plain = colour("Already absent")
    assert colour("Failed") == plain, "Failed 0 is not red"
    assert colour("Refused") == plain, "Refused 0 is not coloured"
    assert colour("Deleted") != plain, "Deleted 2 is green"


def test_a_page_one_may_not_open_is_a_styled_403_with_the_navigation(
    page: Page, live_server, viewer, registry, screen: Screen
) -> None:
    log_in(page, live_server, viewer)

    response = page.goto(f"{live_server.url}/registries/main/rules/")

    assert response is not None
    assert response.status == 403
    expect(page.locator("h1")).to_contain_text("You may not open this page")
    go_to(page, "Dashboard")
    expect(page.locator("h1")).to_contain_text("Dashboard")
