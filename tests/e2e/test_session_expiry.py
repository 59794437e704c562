"""A session that expires during an HTMX action (issue 12, item 4).

The whole page goes to the login, and after logging in the user is back on the page
they were on, never on the POST-only URL of the action ("HTTP ERROR 405").
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from registry.models import Tag
from registry.selection import add_tags
from tests.e2e.browser import log_in
from tests.e2e.listing import make_review_registry

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def expire_the_session(page: Page) -> None:
    """The session cookie is gone; the CSRF cookie (a year long) stays, as it does."""
    page.context.clear_cookies(name="sessionid")
    assert [c["name"] for c in page.context.cookies()] == ["csrftoken"]


def log_in_again(page: Page, user) -> None:
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill("password")
    page.get_by_role("button", name="Log in").click()


@pytest.mark.parametrize(
    "action",
    [
        lambda page: page.locator("input.select-tag:not(:checked)").first.click(),
        lambda page: page.get_by_role("button", name="Select this page").click(),
        lambda page: page.get_by_role("button", name=re.compile("Select all")).click(),
        lambda page: page.locator("#selection-bar").get_by_role("button", name="Clear").click(),
    ],
    ids=["tick-a-row", "select-this-page", "select-all-matching", "clear"],
)
def test_after_logging_in_again_the_user_is_back_on_the_filtered_page(
    page: Page, live_server, janitor, action
) -> None:
    registry = make_review_registry()
    add_tags(user=janitor, registry=registry, tag_ids=[Tag.objects.get(name="mr-29-app").pk])
    log_in(page, live_server, janitor)
    here = f"{live_server.url}/registries/main/stale/?name=mr-&older_than_days=60"
    page.goto(here)
    expect(page.locator(".listing-bar .count")).to_contain_text("20 tags match")

    expire_the_session(page)
    action(page)

    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))
    log_in_again(page, janitor)
    expect(page).to_have_url(here)
    expect(page.locator(".listing-bar .count")).to_contain_text("20 tags match")
    expect(page.locator("#tag-name-filter")).to_have_value("mr-")


def test_a_filter_change_after_expiry_comes_back_to_the_page_it_was_made_on(
    page: Page, live_server, janitor
) -> None:
    make_review_registry()
    log_in(page, live_server, janitor)
    page.goto(f"{live_server.url}/registries/main/stale/?name=mr-")
    expire_the_session(page)

    page.locator("th").get_by_role("link", name=re.compile("^Size")).click()

    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))
    log_in_again(page, janitor)
    expect(page).to_have_url(re.compile(r"/registries/main/stale/\?name=mr-"))
    expect(page.locator("h1")).to_contain_text("Stale images")
