"""Paging a sorted listing in SQL: pages in order, however deep."""

from __future__ import annotations

import pytest

from registry.paging import DeferredJoinPaginator
from registry.tag_filters import TagFilters, filter_tags, tag_page
from tests.factories import RepositoryFactory
from tests.support.tag_rows import make_tag

pytestmark = pytest.mark.django_db


def names(tags) -> list[str]:
    return [tag.name for tag in tags]


def test_the_paginator_pages_through_in_sort_order(registry):
    repository = RepositoryFactory.create(registry=registry)
    for n in range(23):
        make_tag(repository, f"t{n:02d}")
    tags = filter_tags(registry=registry, filters=TagFilters(sort="name"))
    paginator = DeferredJoinPaginator(tags, 10)
    assert paginator.count == 23
    assert paginator.num_pages == 3
    assert names(paginator.page(1).object_list) == [f"t{n:02d}" for n in range(10)]
    assert names(paginator.page(3).object_list) == ["t20", "t21", "t22"]
    assert paginator.page(3).start_index() == 21


@pytest.mark.parametrize(
    "filters",
    [
        pytest.param(TagFilters(sort="name", page_size=25), id="counted-from-an-index"),
        pytest.param(
            TagFilters(sort="name", page_size=25, name="^t", name_mode="regex"),
            id="costly-counted-in-one-pass",
        ),
    ],
)
def test_a_tag_page_past_the_end_is_the_last_page(registry, filters: TagFilters):
    repository = RepositoryFactory.create(registry=registry)
    for n in range(30):
        make_tag(repository, f"t{n:02d}")

    page = tag_page(registry=registry, filters=filters, number=9)

    assert (page.number, page.paginator.count) == (2, 30)
    assert names(page.object_list) == [f"t{n:02d}" for n in range(25, 30)]
    assert names(tag_page(registry=registry, filters=filters, number="x").object_list)[0] == "t00"
