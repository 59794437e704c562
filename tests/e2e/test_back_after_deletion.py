"""Back after a finished deletion shows the registry as it is now (issue 12, item 3).

The tags and the selection change under a page the browser has in its history: Back
must ask the server again rather than show the deleted tags as listed and selected.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from registry.models import Tag
from tests.e2e.browser import log_in
from tests.e2e.listing import expect_agreement, make_review_registry

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def delete_as_the_worker_would(prefix: str) -> None:
    """A finished batch: the tags are gone from the cache, and so from the selection."""
    Tag.objects.filter(name__startswith=prefix).delete()


def test_back_after_a_deletion_does_not_list_or_select_the_deleted_tags(
    page: Page, live_server, janitor
) -> None:
    make_review_registry()
    log_in(page, live_server, janitor)
    page.goto(f"{live_server.url}/registries/main/stale/")
    # A filter typed (the URL pushed by HTMX), then a sort: two entries of history.
    page.locator("#tag-name-filter").fill("mr-")
    expect(page.locator(".listing-bar .count")).to_contain_text("30 tags match")
    page.locator("th").get_by_role("link", name=re.compile("^Size")).click()
    expect(page).to_have_url(re.compile("sort=-size"))
    page.get_by_role("button", name=re.compile("Select all 30 matching")).click()
    bar = page.locator("#selection-bar")
    expect(bar).to_contain_text("30 tags selected")
    expect(page.locator("input.select-tag:checked")).to_have_count(30)

    bar.get_by_role("button", name="Preview deletion").click()
    expect(page.locator("h1")).to_contain_text("Preview: delete from main")
    delete_as_the_worker_would("mr-")

    page.go_back()
    expect(page).to_have_url(re.compile("sort=-size"))
    expect(page.locator("main")).to_contain_text("No tag matches these filters")
    expect(page.locator("td.tag-name")).to_have_count(0)
    expect(page.locator("#selection-bar")).to_contain_text("0 tags selected")

    page.go_back()  # the entry HTMX pushed for the typed name
    expect(page).not_to_have_url(re.compile("sort=-size"))
    expect(page.locator("main")).to_contain_text("No tag matches these filters")
    expect(page.locator("#selection-bar")).to_contain_text("0 tags selected")
    expect_agreement(page, name="mr-")
