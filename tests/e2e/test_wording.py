"""Small things a team lead noticed (issue 12, the wording list): "just now", "Rows per
page", a confirm button that never says "Delete 0 tags", what viewers see, a sortable
selection page, and a `docker pull` to copy from the tag drawer."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from registry.models import Tag
from registry.selection import add_tags
from registry.views.selection_bar import WHO_CAN_DELETE
from tests.e2e.browser import log_in
from tests.e2e.listing import make_review_registry
from tests.factories import ManifestFactory, RepositoryFactory, TagFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def reviews():
    return make_review_registry()


def test_a_tag_seen_a_moment_ago_says_just_now(page: Page, live_server, viewer, reviews) -> None:
    web = RepositoryFactory.create(registry=reviews, name="acme/web")
    TagFactory.create(
        name="hotfix", manifest=ManifestFactory.create(repository=web), first_seen=timezone.now()
    )
    log_in(page, live_server, viewer)
    page.goto(f"{live_server.url}/registries/main/tags/?name=hotfix")
    expect(page.locator("td.age").nth(1)).to_have_text("just now")
    expect(page.locator("main")).not_to_contain_text("0 minutes ago")
    expect(page.get_by_label("Rows per page")).to_have_value("50")


def test_a_plan_that_only_untags_says_untag_not_delete_0_tags(
    page: Page, live_server, janitor, reviews
) -> None:
    web = RepositoryFactory.create(registry=reviews, name="acme/web")
    shared = ManifestFactory.create(repository=web, tag_count=2)
    review = TagFactory.create(name="review-shared", manifest=shared, is_stale=True)
    TagFactory.create(name="release-1", manifest=shared)
    add_tags(user=janitor, registry=reviews, tag_ids=[review.pk])
    log_in(page, live_server, janitor)
    page.goto(f"{live_server.url}/registries/main/selection/")

    page.get_by_role("button", name="Preview deletion").first.click()

    expect(page.locator("h1")).to_contain_text("Preview: delete from main")
    expect(page.get_by_role("button", name="Untag 1 tag")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text("Delete 0 tags")


def test_viewers_see_no_selection_controls_and_who_can_delete(
    page: Page, live_server, viewer, reviews
) -> None:
    log_in(page, live_server, viewer)
    for listing in ("tags", "stale"):
        page.goto(f"{live_server.url}/registries/main/{listing}/")
        expect(page.locator("td.tag-name")).to_have_count(50)
        expect(page.locator("input.select-tag")).to_have_count(0)
        expect(page.get_by_role("button", name=re.compile("^Select"))).to_have_count(0)
        expect(page.locator("#selection-bar")).to_have_count(0)
        expect(page.get_by_text(WHO_CAN_DELETE)).to_be_visible()


def test_the_selection_page_sorts_by_size(page: Page, live_server, janitor, reviews) -> None:
    mr = Tag.objects.filter(name__startswith="mr-").values_list("pk", flat=True)
    add_tags(user=janitor, registry=reviews, tag_ids=list(mr))
    log_in(page, live_server, janitor)
    page.goto(f"{live_server.url}/registries/main/selection/")
    rows = page.locator("table.selection-tags tbody tr td:nth-child(2)")
    expect(rows.first).to_have_text("mr-0-app")

    page.locator("table.selection-tags th").get_by_role("link", name=re.compile("^Size")).click()
    expect(page).to_have_url(re.compile(r"sort=-size"))
    expect(rows.first).to_have_text("mr-29-app")  # the biggest (30 MB) first
    page.locator("table.selection-tags th").get_by_role("link", name=re.compile("^Size")).click()
    expect(page).to_have_url(re.compile(r"sort=size"))
    expect(rows.first).to_have_text("mr-0-app")
    page.go_back()
    expect(rows.first).to_have_text("mr-29-app")


def test_the_tag_drawer_copies_a_docker_pull_by_digest(
    page: Page, live_server, viewer, reviews
) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    tag = Tag.objects.select_related("manifest").get(name="mr-3-app")
    log_in(page, live_server, viewer)
    page.goto(f"{live_server.url}/registries/main/tags/?name=mr-3-app")
    page.get_by_role("link", name="mr-3-app", exact=True).click()

    drawer = page.locator("#drawer")
    command = f"docker pull 127.0.0.1:5000/acme/web@{tag.manifest.digest}"
    expect(drawer).to_contain_text(command)
    drawer.get_by_role("button", name="Copy the docker pull command").click()
    expect(drawer.get_by_role("button", name="Copy the docker pull command")).to_have_text("copied")
    assert page.evaluate("navigator.clipboard.readText()") == command
