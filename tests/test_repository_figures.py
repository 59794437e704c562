"""The Repositories page's figures, search and sorting."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.http import QueryDict
from django.utils import timezone

from registry.filter_forms import filter_querystring
from registry.repository_figures import (
    MAX_SEARCH_LENGTH,
    RepositoryFilterForm,
    RepositoryFilters,
    repository_page,
)
from tests.factories import ManifestFactory, RepositoryFactory, TagFactory
from tests.support.tag_rows import make_tag

pytestmark = pytest.mark.django_db


def days_ago(days: float):
    return timezone.now() - timedelta(days=days)


def repositories(registry, filters: RepositoryFilters):
    _page, rows = repository_page(registry=registry, filters=filters, number=1)
    return rows


def test_repository_figures_count_a_shared_digest_once_and_stale_size_only_when_all_stale(
    registry,
):
    web = RepositoryFactory.create(registry=registry, name="acme/web")
    newest = days_ago(1)
    shared = make_tag(web, "old-1", size=100, is_stale=True, tag_count=2, created=days_ago(50))
    TagFactory.create(manifest=shared.manifest, name="old-2", is_stale=True)
    half = make_tag(web, "half-stale", size=1_000, is_stale=True, tag_count=2)
    TagFactory.create(manifest=half.manifest, name="half-kept", is_stale=False)
    make_tag(web, "latest", size=10, created=newest)
    child = ManifestFactory.create(repository=web, size=5_000, tag_count=0)  # an index's child
    RepositoryFactory.create(registry=registry, name="acme/empty")

    rows = {r.name: r for r in repositories(registry, RepositoryFilters())}

    assert child.pk
    assert rows["acme/web"].tag_total == 5
    assert rows["acme/web"].stale_tags == 3
    assert rows["acme/web"].size == 1_110
    assert rows["acme/web"].stale_size == 100
    assert rows["acme/web"].newest == newest
    assert (rows["acme/empty"].tag_total, rows["acme/empty"].size) == (0, 0)
    assert rows["acme/empty"].newest is None


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", ["acme/api", "acme/db", "acme/web"]),
        ("-name", ["acme/web", "acme/db", "acme/api"]),
        ("-tags", ["acme/db", "acme/api", "acme/web"]),
        ("-size", ["acme/web", "acme/db", "acme/api"]),
        ("-stale_tags", ["acme/api", "acme/db", "acme/web"]),
        ("stale_size", ["acme/web", "acme/api", "acme/db"]),
        ("-newest", ["acme/web", "acme/api", "acme/db"]),
    ],
)
def test_repositories_sort_by_every_column(registry, sort, expected):
    api, db, web = (
        RepositoryFactory.create(registry=registry, name=n)
        for n in ["acme/api", "acme/db", "acme/web"]
    )
    make_tag(api, "a1", size=10, is_stale=True, created=days_ago(5))
    make_tag(api, "a2", size=10, is_stale=True, created=days_ago(6))
    make_tag(db, "d1", size=30, is_stale=True, created=days_ago(9))
    make_tag(db, "d2", size=20, created=days_ago(9))
    make_tag(db, "d3", size=20, created=days_ago(9))
    make_tag(web, "w1", size=500, created=days_ago(1))
    filters = RepositoryFilters(sort=sort)
    assert [r.name for r in repositories(registry, filters)] == expected


def test_repository_search_matches_part_of_the_name(registry):
    for name in ["acme/web", "acme/api", "tools/webhook"]:
        RepositoryFactory.create(registry=registry, name=name)
    filters = RepositoryFilters(search="WEB")
    found = repositories(registry, filters)
    assert [r.name for r in found] == ["acme/web", "tools/webhook"]


# -- the search and sort, read from the URL ---------------------------------------------


@pytest.mark.parametrize(
    ("query", "filters"),
    [
        ("", RepositoryFilters()),
        ("q=+web+", RepositoryFilters(search="web")),
        pytest.param(
            "q=" + "x" * 300,
            RepositoryFilters(search="x" * MAX_SEARCH_LENGTH),
            id="a-long-search-is-cut-to-a-names-length",
        ),
        ("sort=-stale_size", RepositoryFilters(sort="-stale_size")),
        ("sort=-newest&q=api", RepositoryFilters(search="api", sort="-newest")),
        ("sort=created", RepositoryFilters()),
        ("sort=--name", RepositoryFilters()),
    ],
)
def test_the_form_reads_the_search_and_sort_and_nothing_is_an_error(
    query: str, filters: RepositoryFilters
) -> None:
    form = RepositoryFilterForm(QueryDict(query))
    assert form.filters() == filters
    assert form.field_errors() == {}


def test_the_search_travels_as_q() -> None:
    filters = RepositoryFilters(search="acme web", sort="-size")
    assert filter_querystring(filters) == "q=acme+web&sort=-size"
    assert filter_querystring(filters, sort="name") == "q=acme+web"
    assert RepositoryFilterForm(QueryDict(filter_querystring(filters))).filters() == filters
