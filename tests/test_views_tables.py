"""Sortable column headers: one rule for every listing."""

from __future__ import annotations

import pytest

from registry.repository_figures import RepositoryFilters
from registry.tag_filters import TagFilters
from registry.views.tables import Column, Header, sort_header

SIZE = Column("Size", "size", numeric=True)
CREATED = Column("Created", "created")


@pytest.mark.parametrize(
    ("filters", "column", "header"),
    [
        pytest.param(
            TagFilters(sort="name"),
            Column("Tag", "name"),
            Header(Column("Tag", "name"), "/t/?sort=-name", "ascending", sort="-name"),
            id="the-sorted-column-flips-its-direction",
        ),
        pytest.param(
            TagFilters(sort="-name"),
            Column("Tag", "name"),
            Header(Column("Tag", "name"), "/t/?sort=name", "descending", sort="name"),
            id="and-back",
        ),
        pytest.param(
            TagFilters(stale_only=True),
            SIZE,
            Header(SIZE, "/t/?stale_only=1&sort=-size", sort="-size"),
            id="sizes-sort-biggest-first",
        ),
        pytest.param(
            TagFilters(sort="name"),
            CREATED,
            Header(CREATED, "/t/?", sort="-created"),
            id="newest-first-and-the-default-sort-is-left-out",
        ),
        pytest.param(
            TagFilters(),
            Column("Digest", "digest"),
            Header(Column("Digest", "digest"), "/t/?sort=digest", sort="digest"),
            id="names-and-digests-sort-ascending-first",
        ),
        pytest.param(
            TagFilters(), Column("Platforms"), Header(Column("Platforms")), id="not-sortable"
        ),
        pytest.param(
            RepositoryFilters(search="web"),
            Column("Tags", "tags"),
            Header(Column("Tags", "tags"), "/t/?q=web&sort=-tags", sort="-tags"),
            id="repositories-too-keeping-the-search",
        ),
    ],
)
def test_a_header_links_to_its_sort_keeping_the_filters(
    filters: TagFilters | RepositoryFilters, column: Column, header: Header
) -> None:
    assert sort_header(column, path="/t/", filters=filters) == header
