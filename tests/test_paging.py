"""Paging a sorted listing in SQL: pages in order, however deep."""

from __future__ import annotations

import pytest

from registry.paging import DeferredJoinPaginator
from registry.tag_filters import TagFilters, filter_tags
from tests.factories import RepositoryFactory
from tests.support.tag_rows import make_tag

pytestmark = pytest.mark.django_db


def names(tags) -> list[str]:  # type: ignore[no-untyped-def]
    return [tag.name for tag in tags]


def test_the_paginator_pages_through_in_sort_order(registry):
    repository = RepositoryFactory(registry=registry)
    for n in range(23):
        make_tag(repository, f"t{n:02d}")
    tags = filter_tags(registry=registry, filters=TagFilters(sort="name"))
    paginator = DeferredJoinPaginator(tags, 10)
    assert paginator.count == 23
    assert paginator.num_pages == 3
    assert names(paginator.page(1).object_list) == [f"t{n:02d}" for n in range(10)]
    assert names(paginator.page(3).object_list) == ["t20", "t21", "t22"]
    assert paginator.page(3).start_index() == 21
