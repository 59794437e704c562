"""Sortable tables: a listing's columns, and the links their headers sort by."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from registry.filter_forms import filter_querystring

# Where a column's first click sorts descending (biggest, newest first).
DESCENDING_FIRST = frozenset(
    {"size", "created", "first_seen", "last_pulled", "tags", "stale_tags", "stale_size", "newest"}
)


class SortedFilters(Protocol):
    """Filters with a `sort` such as "-size" (TagFilters, RepositoryFilters)."""

    @property
    def sort_key(self) -> str: ...

    @property
    def descending(self) -> bool: ...


@dataclass(frozen=True)
class Column:
    label: str
    sort: str = ""  # the sort key; empty: not sortable
    numeric: bool = False


@dataclass(frozen=True)
class Header:
    column: Column
    url: str = ""
    aria_sort: str = ""  # "ascending" / "descending" on the sorted column
    sort: str = ""  # the `sort` value the link asks for, as the URL carries it


def sort_header(column: Column, *, path: str, filters: SortedFilters) -> Header:
    """The column's header: a link to the listing sorted by it, the other filters kept.

    On the column sorted by, the link flips the direction and the header says
    which it is (aria-sort).
    """
    if not column.sort:
        return Header(column)
    if filters.sort_key == column.sort:
        next_sort = column.sort if filters.descending else f"-{column.sort}"
        aria_sort = "descending" if filters.descending else "ascending"
    else:
        next_sort = f"-{column.sort}" if column.sort in DESCENDING_FIRST else column.sort
        aria_sort = ""
    url = f"{path}?{filter_querystring(filters, sort=next_sort)}"
    return Header(column, url, aria_sort, sort=next_sort)
