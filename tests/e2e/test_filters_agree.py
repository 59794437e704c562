"""The filter form, the URL and the list always say the same thing (issue 12, items 1 and 2).

A team lead filters, sorts, pages, selects, and goes Back and Forward; after each step
the Tag-name box is there, its text is in the URL, and the rows match it.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, Route, expect

from tests.e2e.browser import log_in
from tests.e2e.listing import expect_agreement, make_review_registry
from tests.factories import RepositoryFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def reviews():
    return make_review_registry()


def type_name(page: Page, text: str) -> None:
    """Type into the Tag-name box as a person does, and wait for the list to follow."""
    box = page.locator("#tag-name-filter")
    box.click()
    box.press_sequentially(text, delay=40)
    expect(page).to_have_url(re.compile(f"name={re.escape(text)}"), timeout=15_000)


def test_the_name_filter_survives_a_sort_click_and_the_next_filter_change(
    page: Page, live_server, janitor, reviews
) -> None:
    log_in(page, live_server, janitor)
    page.goto(f"{live_server.url}/registries/main/stale/")
    expect_agreement(page)

    type_name(page, "mr-")
    expect(page.locator(".listing-bar .count")).to_contain_text("30 tags match")
    expect_agreement(page, name="mr-")

    page.locator("th").get_by_role("link", name=re.compile("^Size")).click()
    expect(page).to_have_url(re.compile("sort=-size"))
    expect_agreement(page, name="mr-", sort="-size")

    page.locator('input[name="older_than_days"]').fill("60")
    page.locator('input[name="older_than_days"]').press("Tab")
    expect(page.locator(".listing-bar .count")).to_contain_text("20 tags match")
    listing = expect_agreement(page, name="mr-", sort="-size", older_than_days="60")
    assert listing.names[0] == "mr-29-app"  # the biggest first

    page.go_back()
    expect(page.locator(".listing-bar .count")).to_contain_text("30 tags match")
    expect_agreement(page, name="mr-", sort="-size")
    page.go_back()
    expect(page.locator("th[aria-sort]")).to_contain_text("Created")
    expect_agreement(page, name="mr-")
    page.go_forward()
    expect(page.locator("th[aria-sort]")).to_contain_text("Size")
    expect_agreement(page, name="mr-", sort="-size")


def test_paging_and_selecting_keep_the_name_filter(
    page: Page, live_server, janitor, reviews
) -> None:
    log_in(page, live_server, janitor)
    page.goto(f"{live_server.url}/registries/main/stale/")
    type_name(page, "review-")
    expect(page.locator(".listing-bar .count")).to_contain_text("70 tags match")

    page.get_by_role("link", name=re.compile("^Next")).click()
    expect(page.locator(".listing-bar .count")).to_contain_text("page 2 of 2")
    expect_agreement(page, name="review-", page="2")

    page.get_by_role("button", name="Select this page").click()
    expect(page.locator("#selection-bar")).to_contain_text("20 tags selected")
    expect_agreement(page, name="review-", page="2")

    page.get_by_role("button", name=re.compile("Select all 70 matching")).click()
    expect(page.locator("#selection-bar")).to_contain_text("70 tags selected")
    expect_agreement(page, name="review-", page="2")

    page.locator('input[name="older_than_days"]').fill("100")
    page.locator('input[name="older_than_days"]').press("Tab")
    expect(page.locator(".listing-bar .count")).to_contain_text("10 tags match")
    expect_agreement(page, name="review-", older_than_days="100")


def test_select_this_page_after_typing_a_name_ticks_every_row(
    page: Page, live_server, janitor, reviews
) -> None:
    log_in(page, live_server, janitor)
    page.goto(f"{live_server.url}/registries/main/tags/")
    type_name(page, "review-")
    expect(page.locator(".listing-bar .count")).to_contain_text("70 tags match")

    page.get_by_role("button", name="Select this page").click()

    # The bar answers first; the rows are read again after it (slow on a loaded machine).
    expect(page.locator("#selection-bar")).to_contain_text("50 tags selected")
    expect(page.locator("input.select-tag")).to_have_count(50, timeout=15_000)
    expect(page.locator("input.select-tag:checked")).to_have_count(50, timeout=15_000)
    expect_agreement(page, name="review-")


def test_rows_show_the_selection_when_the_list_was_redrawn_before_it_answered(
    page: Page, live_server, janitor, reviews
) -> None:
    """The list is redrawn (Apply) while *Select this page* is on its way: the button that
    asked is gone when the answer lands, and the redrawn rows were read before the selection
    was saved. The rows are read again all the same."""
    log_in(page, live_server, janitor)
    page.goto(f"{live_server.url}/registries/main/tags/")
    held: list[Route] = []
    page.route("**/selection/page/", lambda route: held.append(route))

    page.get_by_role("button", name="Select this page").click()
    for _ in range(200):  # the POST is held before the list is redrawn
        if held:
            break
        page.wait_for_timeout(25)
    assert held, "Select this page sent nothing."
    with page.expect_response(re.compile(r"/tags/\?")):
        page.get_by_role("button", name="Apply").click()
    expect(page.locator("input.select-tag")).to_have_count(50)
    expect(page.locator("input.select-tag:checked")).to_have_count(0)
    held[0].continue_()

    expect(page.locator("#selection-bar")).to_contain_text("50 tags selected")
    expect(page.locator("input.select-tag:checked")).to_have_count(50)
    expect_agreement(page)


def test_the_buttons_of_redrawn_rows_work_the_moment_they_show(
    page: Page, live_server, janitor, reviews
) -> None:
    """A click that lands just after the rows were redrawn (the next task, as a person's
    click can) reaches the new *Select all* button: it is live as soon as it is on screen."""
    log_in(page, live_server, janitor)
    page.goto(f"{live_server.url}/registries/main/tags/?name=review-")
    page.evaluate(
        """() => document.addEventListener("htmx:afterSwap", (event) => {
            if (event.detail.target.id !== "tag-results") return;
            setTimeout(() => document.getElementById("select-matching").click(), 0);
        }, {once: true})"""
    )

    page.get_by_role("button", name="Apply").click()

    expect(page.locator("#selection-bar")).to_contain_text("70 tags selected")


def test_select_all_matching_states_the_filters_it_will_use(
    page: Page, live_server, janitor, reviews
) -> None:
    log_in(page, live_server, janitor)
    page.goto(f"{live_server.url}/registries/main/stale/?name=mr-&older_than_days=60")

    button = page.get_by_role("button", name=re.compile("Select all 20 matching"))
    expect(button).to_have_accessible_description(re.compile("mr-"))
    expect(button).to_have_accessible_description(re.compile("older than 60 days"))
    expect(button).to_have_accessible_description(re.compile("stale"))

    button.click()
    expect(page.locator("#selection-bar")).to_contain_text("20 tags selected")


def test_the_repository_search_survives_a_sort_click(
    page: Page, live_server, janitor, reviews
) -> None:
    for name in ("acme/api", "acme/admin", "tools/ci"):
        RepositoryFactory.create(registry=reviews, name=name)
    log_in(page, live_server, janitor)
    page.goto(f"{live_server.url}/registries/main/repositories/")
    search = page.locator("#repository-search")
    search.press_sequentially("acme", delay=40)
    expect(page).to_have_url(re.compile("q=acme"))
    expect(page.locator("#repository-listing .count")).to_contain_text("3 repositories match")

    page.locator("th").get_by_role("link", name=re.compile("^Tags")).click()

    expect(page).to_have_url(re.compile("sort=-tags"))
    expect(page).to_have_url(re.compile("q=acme"))
    expect(search).to_have_value("acme")
    expect(page.locator("#repository-listing .count")).to_contain_text("3 repositories match")
    page.go_back()
    expect(page).not_to_have_url(re.compile("sort=-tags"))
    expect(page.locator("#repository-search")).to_have_value("acme")
