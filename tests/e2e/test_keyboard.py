"""The tag pages by keyboard alone (issue 12, item 6): skip links, the drawer, and focus
that stays where the user is after a selection changes."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser import log_in
from tests.e2e.listing import make_review_registry

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def stale_page(page: Page, live_server, janitor):
    make_review_registry()
    log_in(page, live_server, janitor)
    page.goto(f"{live_server.url}/registries/main/stale/?name=mr-")
    expect(page.locator(".listing-bar .count")).to_contain_text("30 tags match")
    return page


def test_skip_links_lead_to_the_listing_and_to_the_selection_bar(stale_page: Page) -> None:
    page = stale_page
    page.keyboard.press("Tab")
    to_listing = page.get_by_role("link", name="Skip to the tag list")
    expect(to_listing).to_be_focused()
    expect(to_listing).to_be_in_viewport()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.locator("#tag-name-filter")).to_be_focused()

    page.keyboard.press("Shift+Tab")
    page.get_by_role("link", name="Skip to the selection").focus()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.locator("#selection-bar").get_by_role("button", name="Clear")).to_be_focused()


def test_the_drawer_closes_on_escape_and_gives_focus_back_to_its_link(stale_page: Page) -> None:
    page = stale_page
    link = page.get_by_role("link", name="mr-0-app", exact=True)
    link.focus()
    page.keyboard.press("Enter")
    drawer = page.locator("#drawer")
    close = drawer.get_by_role("button", name="Close the tag detail")
    expect(close).to_be_focused()

    page.keyboard.press("Tab")  # anywhere in the drawer
    page.keyboard.press("Escape")
    expect(drawer).to_be_empty()
    expect(link).to_be_focused()

    page.keyboard.press("Enter")
    expect(close).to_be_focused()
    page.keyboard.press("Enter")  # the Close button
    expect(drawer).to_be_empty()
    expect(link).to_be_focused()


def test_focus_stays_on_select_all_select_this_page_and_clear(stale_page: Page) -> None:
    page = stale_page
    bar = page.locator("#selection-bar")

    select_all = page.get_by_role("button", name=re.compile("Select all 30 matching"))
    select_all.focus()
    page.keyboard.press("Enter")
    expect(bar).to_contain_text("30 tags selected")
    expect(page.locator("input.select-tag:checked")).to_have_count(30)
    expect(select_all).to_be_focused()

    clear = bar.get_by_role("button", name="Clear")
    clear.focus()
    page.keyboard.press("Enter")
    expect(bar).to_contain_text("0 tags selected")
    expect(page.locator("input.select-tag:checked")).to_have_count(0)
    expect(clear).to_be_focused()

    select_page = page.get_by_role("button", name="Select this page")
    select_page.focus()
    page.keyboard.press("Enter")
    expect(bar).to_contain_text("30 tags selected")
    expect(page.locator("input.select-tag:checked")).to_have_count(30)
    expect(select_page).to_be_focused()
