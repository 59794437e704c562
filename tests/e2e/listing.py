"""What the filter/selection browser tests share (each runs at both screen sizes, see
conftest.py): a registry, and checks that the filter form, the URL and the list say the
same thing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.factories import ManifestFactory, RegistryFactory, RepositoryFactory, TagFactory

MB = 1024 * 1024

# What a filter means when the URL leaves it out.
DEFAULTS = {"sort": "-created", "page_size": "50", "name_mode": "substring", "page": "1"}


def make_review_registry():
    """acme/web, all stale: 30 merge-request builds `mr-<n>-app` 30 to 117 days old (20 of
    them 60 days or more), and 70 `review-<n>` builds 40 to 109 days old."""
    now = timezone.now()
    registry = RegistryFactory.create(name="main")
    web = RepositoryFactory.create(registry=registry, name="acme/web")
    for n in range(30):
        created = now - timedelta(days=30 + 3 * n)
        manifest = ManifestFactory.create(repository=web, size=(n + 1) * MB, created=created)
        TagFactory.create(manifest=manifest, name=f"mr-{n}-app", first_seen=created, is_stale=True)
    for n in range(70):
        created = now - timedelta(days=40 + n)
        manifest = ManifestFactory.create(repository=web, size=(200 + n) * MB, created=created)
        TagFactory.create(manifest=manifest, name=f"review-{n}", first_seen=created, is_stale=True)
    return registry


def meaningful(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Filters as they act: empty values and defaults left out."""
    chosen = {key: value for key, value in pairs if value != ""}
    return {key: value for key, value in chosen.items() if DEFAULTS.get(key) != value}


@dataclass(frozen=True)
class Listing:
    form: dict[str, str]
    url: dict[str, str]
    names: list[str]
    count_text: str


def read_listing(page: Page) -> Listing:
    page.wait_for_load_state("networkidle")
    form_pairs = page.evaluate(
        "() => [...new FormData(document.querySelector('form.filters'))]"
        ".filter(([k]) => k !== 'stale_only' || !location.pathname.endsWith('/stale/'))"
    )
    url_pairs = [
        (key, value)
        for key, value in parse_qsl(urlsplit(page.url).query, keep_blank_values=True)
        if not (key == "stale_only" and urlsplit(page.url).path.endswith("/stale/"))
    ]
    return Listing(
        form=meaningful([tuple(pair) for pair in form_pairs]),
        url=meaningful(url_pairs),
        names=page.locator("td.tag-name a").all_inner_texts(),
        count_text=page.locator(".listing-bar .count").inner_text(),
    )


def expect_agreement(page: Page, /, **wanted: str) -> Listing:
    """The form, the URL and the rows agree, and the filters are `wanted`."""
    expect(page.locator("#tag-name-filter")).to_be_visible()
    listing = read_listing(page)
    url = {key: value for key, value in listing.url.items() if key != "page"}
    assert listing.form == url, f"form {listing.form} but URL {listing.url}"
    for key, value in wanted.items():
        assert listing.url.get(key) == value, f"{key}: URL {listing.url}"
    name = listing.url.get("name", "")
    assert all(name in row for row in listing.names), f"{name!r} filter, rows {listing.names}"
    if listing.names:
        sort = listing.url.get("sort", "-created")
        header = page.locator("th[aria-sort]")
        expect(header).to_have_count(1)
        direction = "descending" if sort[0] == "-" else "ascending"
        expect(header).to_have_attribute("aria-sort", direction)
    return listing
