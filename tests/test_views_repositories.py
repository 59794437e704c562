"""The Repositories page: who may, the figures per repository, search, sort, pages, HTMX."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.factories import ManifestFactory, RegistryFactory, RepositoryFactory, TagFactory
from tests.support.html import captured
from tests.support.htmx import HTMX

pytestmark = pytest.mark.django_db

MB = 1024 * 1024


def url(query: str = "", registry: str = "main") -> str:
    base = reverse("repositories", args=[registry])
    return f"{base}?{query}" if query else base


def listed(response) -> list[str]:
    html = response.content.decode()
    return re.findall(r'<tr>\s*<td><a href="[^"]+\?repository=[^"]+">([^<]+)</a></td>', html)


def image(repository, *, size: int, stale: int = 0, kept: int = 1, days: float = 1):
    """One manifest with `stale` stale tags and `kept` other tags on it."""
    manifest = ManifestFactory.create(
        repository=repository,
        size=size,
        tag_count=stale + kept,
        created=timezone.now() - timedelta(days=days),
    )
    for _ in range(stale):
        TagFactory.create(manifest=manifest, is_stale=True)
    for _ in range(kept):
        TagFactory.create(manifest=manifest)
    return manifest


@pytest.fixture
def repositories(registry):
    web = RepositoryFactory.create(registry=registry, name="acme/web")
    image(web, size=100 * MB, stale=2, kept=0, days=40)
    image(web, size=10 * MB, kept=2, days=3)
    api = RepositoryFactory.create(registry=registry, name="acme/api")
    image(api, size=500 * MB, stale=1, kept=1, days=20)  # one tag kept: frees nothing
    image(api, size=1 * MB, days=1)
    RepositoryFactory.create(registry=registry, name="tools/empty")
    other = RepositoryFactory.create(
        registry=RegistryFactory.create(name="other"), name="acme/secret"
    )
    image(other, size=MB)
    return {"web": web, "api": api}


# -- who may ---------------------------------------------------------------------------


def test_anonymous_users_are_sent_to_the_login(client: Client, registry) -> None:
    response = client.get(url())
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_an_expired_session_redirects_the_whole_page_to_the_login(client: Client, registry) -> None:
    assert client.get(url(), **HTMX)["HX-Redirect"].startswith("/accounts/login/")


def test_users_without_a_role_get_403(client: Client, outsider, registry) -> None:
    client.force_login(outsider)
    assert client.get(url()).status_code == 403


def test_an_unknown_registry_is_404(client: Client, viewer, registry) -> None:
    client.force_login(viewer)
    assert client.get(url(registry="nope")).status_code == 404


# -- the table ---------------------------------------------------------------------------


def test_viewers_see_the_registrys_repositories_with_their_figures(
    client: Client, viewer, repositories
) -> None:
    client.force_login(viewer)
    response = client.get(url())
    assert response.status_code == 200
    assert listed(response) == ["acme/api", "acme/web", "tools/empty"]
    html = response.content.decode()
    assert "acme/secret" not in html
    assert "<b>3</b> repositories" in html
    web_row = captured(r"acme/web</a></td>(.*?)</tr>", html)
    cells = re.findall(r'<td class="num">(.*?)</td>', web_row, re.S)
    assert cells[0] == "4"  # tags
    assert cells[1] == "110.0\xa0MB"  # size
    assert "2</a>" in cells[2]  # stale tags, linking to the stale view
    assert cells[3] == "100.0\xa0MB"  # stale size
    assert "3\xa0days ago" in web_row  # newest image
    api_row = captured(r"acme/api</a></td>(.*?)</tr>", html)
    assert re.findall(r'<td class="num">(.*?)</td>', api_row, re.S)[3] == "0\xa0bytes"


def test_names_link_to_their_tags_and_stale_counts_to_their_stale_images(
    client: Client, viewer, repositories
) -> None:
    client.force_login(viewer)
    html = client.get(url()).content.decode()
    assert f'href="{reverse("tags", args=["main"])}?repository=acme/web">acme/web</a>' in html
    assert f'href="{reverse("stale", args=["main"])}?repository=acme/web">2</a>' in html


def test_the_nav_links_the_registrys_pages(
    client: Client, viewer, registry_admin, registry
) -> None:
    client.force_login(viewer)
    html = client.get(url()).content.decode()
    assert f'href="{reverse("stale", args=["main"])}"' in html
    assert 'aria-current="page">Repositories</a>' in html
    assert reverse("rules", args=["main"]) not in html
    client.force_login(registry_admin)
    assert reverse("rules", args=["main"]) in client.get(url()).content.decode()


def test_an_empty_registry_says_to_sync(client: Client, viewer, registry) -> None:
    client.force_login(viewer)
    assert "No repositories yet" in client.get(url()).content.decode()


# -- search, sort, pages -------------------------------------------------------------------


def test_the_search_box_filters_as_you_type(client: Client, viewer, repositories) -> None:
    client.force_login(viewer)
    html = client.get(url()).content.decode()
    assert "input changed delay:300ms from:#repository-search" in html
    response = client.get(url("q=WEB"))
    assert listed(response) == ["acme/web"]
    assert 'value="WEB"' in response.content.decode()
    assert "No repository name contains “zzz”." in client.get(url("q=zzz")).content.decode()


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", ["acme/api", "acme/web", "tools/empty"]),
        ("-name", ["tools/empty", "acme/web", "acme/api"]),
        ("-tags", ["acme/web", "acme/api", "tools/empty"]),
        ("-size", ["acme/api", "acme/web", "tools/empty"]),
        ("-stale_tags", ["acme/web", "acme/api", "tools/empty"]),
        ("-stale_size", ["acme/web", "acme/api", "tools/empty"]),
        ("-newest", ["acme/api", "acme/web", "tools/empty"]),
        ("newest", ["acme/web", "acme/api", "tools/empty"]),
        ("bogus", ["acme/api", "acme/web", "tools/empty"]),
    ],
)
def test_sort_by_column(client: Client, viewer, repositories, sort, expected) -> None:
    client.force_login(viewer)
    assert listed(client.get(url(f"sort={sort}"))) == expected


def test_headers_link_to_their_sort_keeping_the_search(
    client: Client, viewer, repositories
) -> None:
    client.force_login(viewer)
    html = client.get(url("q=acme&sort=-size")).content.decode()
    base = reverse("repositories", args=["main"])
    assert f'href="{base}?q=acme&amp;sort=size"' in html  # the sorted column flips
    assert f'href="{base}?q=acme&amp;sort=-stale_size"' in html  # figures biggest first
    assert f'href="{base}?q=acme"' in html  # name A→Z is the default
    assert re.search(r'aria-sort="descending">\s*<a href="[^"]+"[^>]*>Size ▼', html)


def test_fifty_repositories_a_page(client: Client, viewer, registry) -> None:
    for n in range(60):
        RepositoryFactory.create(registry=registry, name=f"team/svc-{n:02d}")
    client.force_login(viewer)
    first = client.get(url("q=svc"))
    assert len(listed(first)) == 50
    base = reverse("repositories", args=["main"])
    assert f'href="{base}?q=svc&amp;page=2"' in first.content.decode()
    assert listed(client.get(url("q=svc&page=2"))) == [f"team/svc-{n}" for n in range(50, 60)]


def test_htmx_requests_get_the_listing_alone(client: Client, viewer, repositories) -> None:
    client.force_login(viewer)
    response = client.get(url("q=web"), **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="repository-results">')
    assert 'id="repository-search"' not in html  # the box is not redrawn under the typing
    assert "<html" not in html
    assert listed(response) == ["acme/web"]
    assert "HX-Request" in response["Vary"]


@pytest.mark.parametrize("sort", ["name", "-stale_size", "-newest"])
def test_the_page_costs_the_same_queries_for_10_or_100_repositories(
    client: Client, viewer, registry, sort
) -> None:
    client.force_login(viewer)

    def add(count: int, start: int) -> None:
        for n in range(start, start + count):
            image(RepositoryFactory.create(registry=registry, name=f"r{n:03d}"), size=MB, stale=1)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url(f"sort={sort}")).status_code == 200
        return len(captured)

    add(10, 0)
    few = queries()
    add(90, 10)
    assert queries() == few
