"""Every page fits the screen, on a laptop and on a phone (390 px): nothing is wider than
the screen, the navigation folds behind a Menu button on a phone, the selection bar stays
at the bottom and small, and the preview, batch and audit tables stay readable."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from registry.deletion.plan import plan_deletion
from registry.models import CleanupPolicy, PolicyRun, RegistryChange, SyncRun, Tag
from registry.policies.run import run_policy
from registry.selection import add_tags
from registry.staleness import refresh_staleness
from tests.e2e.browser import elements_wider_than_the_screen, go_to, log_in, page_width
from tests.e2e.conftest import Screen
from tests.factories import ManifestFactory, RegistryFactory, RepositoryFactory, TagFactory
from tests.support.deletion import plan_and_confirm, run_batch_as

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

MB = 1024 * 1024
LONG_REPOSITORY = "acme-platform/customer-facing-web-frontend"
LONG_TAG = "review-feature-customer-login-with-single-sign-on-{n}"


@pytest.fixture
def long_names(registry_admin):
    """A registry whose names are as long as real ones: a planned batch, a finished one
    with failures, a selection, a change in the audit log and a sync that failed."""
    now = timezone.now()
    registry = RegistryFactory.create(name="main", url="https://registry.example.com")
    web = RepositoryFactory.create(registry=registry, name=LONG_REPOSITORY)
    for n in range(70):
        created = now - timedelta(days=30 + n)
        manifest = ManifestFactory.create(repository=web, size=12 * MB, created=created)
        TagFactory.create(manifest=manifest, name=LONG_TAG.format(n=n), first_seen=created)
    shared = ManifestFactory.create(repository=web, size=50 * MB, created=now, tag_count=2)
    TagFactory.create(manifest=shared, name="latest")
    TagFactory.create(manifest=shared, name="master")
    refresh_staleness(registry=registry)
    run = SyncRun.objects.create(registry=registry, status=SyncRun.Status.SUCCEEDED)
    SyncRun.objects.filter(pk=run.pk).update(finished_at=timezone.now())
    RegistryChange.objects.create(
        registry_name="main",
        action=RegistryChange.Action.ADDED,
        changed_by_username=registry_admin.username,
        changes=[["url", None, "https://registry.example.com/with/a/rather/long/path/v2"]],
    )
    names = [LONG_TAG.format(n=n) for n in range(6)]
    finished = run_batch_as(
        plan_and_confirm(registry, registry_admin, names),
        {names[0]: "failed", names[1]: "not_attempted"},
    )
    planned = plan_deletion(
        registry=registry,
        tags=Tag.objects.filter(name__in=[LONG_TAG.format(n=n) for n in range(10, 20)]),
        actor=registry_admin,
    )
    policy = CleanupPolicy.objects.create(
        name="weekly-review-cleanup", registry=registry, approval_reason="Weekly review cleanup"
    )
    proposal = run_policy(policy=policy, trigger=PolicyRun.Trigger.SCHEDULE)
    ids = list(Tag.objects.filter(repository=web, is_stale=True).values_list("pk", flat=True))
    add_tags(user=registry_admin, registry=registry, tag_ids=ids[30:60])
    return {"registry": registry, "finished": finished, "planned": planned, "proposal": proposal}


# How many lines of text an element's content takes (its height without padding).
LINES_OF_TEXT = """e => {
  const style = getComputedStyle(e);
  const height = e.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom);
  return height / parseFloat(style.lineHeight);
}"""


def assert_fits(page: Page, screen: Screen, what: str) -> None:
    width = page_width(page)
    assert width <= screen.width, (
        f"{what} is {width} px wide on a {screen.width} px screen: "
        f"{elements_wider_than_the_screen(page, screen.width)}"
    )


def test_every_page_fits_the_screen(
    page: Page, live_server, registry_admin, viewer, long_names, screen: Screen
) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    assert_fits(page, screen, "the login page")
    log_in(page, live_server, registry_admin)
    expect(page.locator("h1")).to_contain_text("Dashboard")
    tag = Tag.objects.get(name=LONG_TAG.format(n=40))
    pages = {
        "the dashboard": "/",
        "the registries": "/registries/",
        "adding a registry": "/registries/add/",
        "editing a registry": "/registries/main/edit/",
        "removing a registry": "/registries/main/remove/",
        "the repositories": "/registries/main/repositories/",
        "the tags of a repository": f"/registries/main/tags/?repository={LONG_REPOSITORY}",
        "all tags": "/registries/main/tags/",
        "the stale images": "/registries/main/stale/",
        "a tag's own page": f"/tags/{tag.pk}/",
        "the selection": "/registries/main/selection/",
        "a preview": f"/deletions/{long_names['planned'].pk}/",
        "a finished batch": f"/deletions/{long_names['finished'].pk}/",
        "the audit log": "/audit/",
        "the audit log's batches": "/audit/batches/",
        "the registry changes": "/audit/registries/",
        "the staleness rules": "/registries/main/rules/",
        "the notifications": "/registries/main/notifications/",
        "the cleanup policies": "/policies/",
        "adding a policy": "/policies/add/",
        "a policy": "/policies/weekly-review-cleanup/",
        "editing a policy": "/policies/weekly-review-cleanup/edit/",
        "a policy's proposal": f"/deletions/{long_names['proposal'].batch_id}/",
        "a page that does not exist": "/registries/nothing-here/repositories/",
    }
    for what, path in pages.items():
        page.goto(f"{live_server.url}{path}")
        assert_fits(page, screen, what)

    page.goto(f"{live_server.url}/registries/main/stale/")
    page.locator("td.tag-name a").first.click()
    expect(page.locator("#drawer .tag-detail")).to_be_visible()
    assert_fits(page, screen, "the tag drawer")

    other = page.context.browser.new_context(**screen.context_args)  # type: ignore[union-attr]
    denied = other.new_page()
    log_in(denied, live_server, viewer)
    denied.goto(f"{live_server.url}/registries/")
    expect(denied.locator("h1")).to_contain_text("may not")
    assert_fits(denied, screen, "the 403 page")
    other.close()


def test_the_navigation_folds_behind_a_menu_button_on_a_phone(
    page: Page, live_server, registry_admin, long_names, screen: Screen
) -> None:
    log_in(page, live_server, registry_admin)
    page.goto(f"{live_server.url}/registries/main/repositories/")
    audit = page.locator(".topbar").get_by_role("link", name="Audit log", exact=True)
    menu = page.locator(".topbar summary.menu-button")
    if screen.is_phone:
        expect(menu).to_be_visible()
        expect(audit).to_be_hidden()
        bar = page.locator(".topbar").bounding_box()
        assert bar is not None
        assert bar["height"] <= 64, "the top bar is one line"
    else:
        expect(menu).to_be_hidden()
        expect(audit).to_be_visible()
    go_to(page, "Stale images")
    expect(page.locator("h1")).to_contain_text("Stale images")
    go_to(page, "Audit log")
    expect(page.locator("h1")).to_contain_text("Audit log")


def test_the_selection_bar_stays_at_the_bottom_and_small(
    page: Page, live_server, registry_admin, long_names, screen: Screen
) -> None:
    log_in(page, live_server, registry_admin)
    page.goto(f"{live_server.url}/registries/main/stale/")
    bar = page.locator("#selection-bar")
    expect(bar).to_contain_text("30 tags selected")
    for _ in range(2):
        box = bar.bounding_box()
        assert box is not None
        assert abs(box["y"] + box["height"] - screen.height) <= 1, "at the bottom of the screen"
        assert box["height"] <= 0.15 * screen.height, f"{box['height']} px tall"
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= screen.width
        page.mouse.wheel(0, 1500)
        page.wait_for_timeout(200)


def test_preview_batch_and_audit_tables_stay_readable(
    page: Page, live_server, registry_admin, long_names, screen: Screen
) -> None:
    """Tag names wrap at their separators, never a few letters a line."""
    log_in(page, live_server, registry_admin)
    for path, cells in [
        (f"/deletions/{long_names['planned'].pk}/", "#batch-items td.tag-name"),
        (f"/deletions/{long_names['finished'].pk}/", "#batch-items td.tag-name"),
        ("/audit/", "#audit-table td.tag-name"),
    ]:
        page.goto(f"{live_server.url}{path}")
        name = page.locator(cells).first
        expect(name).to_be_visible()
        box = name.bounding_box()
        assert box is not None
        # Wrapped between its words (after - _ . or /), never a few letters a line.
        lines = round(float(name.evaluate(LINES_OF_TEXT)))
        letters = len(name.inner_text().strip())
        assert letters / lines >= 12, f"{path}: {letters} letters on {lines} lines"
        if screen.is_phone:
            assert box["width"] >= 0.8 * screen.width, "the name has a line of its own"
        assert_fits(page, screen, path)
