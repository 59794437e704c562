"""The Repositories page: a page of a registry's repositories, searched and sorted, with figures.

Every figure (tags, stale tags, size, stale size, newest image) comes from a few
GROUP BY queries over all the repositories at once, in a constant number of
queries however many repositories the page shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any

from django import forms
from django.core.paginator import Page, Paginator
from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet, Sum

from .filter_forms import FilterForm, LenientChoiceField, sort_choices
from .models import Manifest, Registry, Repository, Tag

REPOSITORY_SORTS: dict[str, str] = {
    "name": "name",
    "tags": "tag_total",
    "size": "size",
    "stale_tags": "stale_tags",
    "stale_size": "stale_size",
    "newest": "newest",
}
DEFAULT_REPOSITORY_SORT = "name"
REPOSITORY_PAGE_SIZE = 50
MAX_SEARCH_LENGTH = 255  # a repository name's length


@dataclass(frozen=True)
class RepositoryFilters:
    # Part of the repository's name, any case; `q` in URLs.
    search: str = field(default="", metadata={"param": "q"})
    sort: str = DEFAULT_REPOSITORY_SORT

    @property
    def sort_key(self) -> str:
        return self.sort.removeprefix("-")

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")


class RepositoryFilterForm(FilterForm[RepositoryFilters]):
    """The Repositories page's search and sort, as its URLs carry them.

    Nothing here is an error: a longer search is cut to a name's length, and an
    unknown sort is the default.
    """

    filters_class = RepositoryFilters

    q = forms.CharField(required=False)
    sort = LenientChoiceField(choices=sort_choices(REPOSITORY_SORTS))

    def clean_q(self) -> str:
        search: str = self.cleaned_data["q"]
        return search[:MAX_SEARCH_LENGTH]


@dataclass(frozen=True)
class RepositoryRow:
    """One line of the repositories table.

    Sizes count the manifests tags point at, each once however many tags share
    it; a manifest's size is stale when every tag on it is (as on the dashboard).
    `newest` is the newest image's created date.
    """

    repository: Repository
    tag_total: int = 0
    stale_tags: int = 0
    size: int = 0
    stale_size: int = 0
    newest: datetime | None = None

    @property
    def name(self) -> str:
        return self.repository.name


def repository_page(
    *, registry: Registry, filters: RepositoryFilters, number: int | str | None
) -> tuple[Page[Any], list[RepositoryRow]]:
    """One page of the registry's repositories matching the search, with their figures.

    Every figure is a GROUP BY over all the repositories at once (one pass over
    the tags or manifests, which PostgreSQL runs as hash joins); the figures are
    only computed for the page's repositories, except the one sorted by, which
    is computed for all of them and sorted in Python (a registry has hundreds or
    thousands of repositories, not millions), and not asked again for the page.
    """
    repositories = Repository.objects.filter(registry=registry).order_by("name", "pk")
    page: Page[Any]
    if filters.search:
        repositories = repositories.filter(name__icontains=filters.search)
    if filters.sort_key == "name":
        ordered = repositories.reverse() if filters.descending else repositories
        page = Paginator(ordered, REPOSITORY_PAGE_SIZE).get_page(number)
        page_repositories = list(page.object_list)
        figures = _figures([r.pk for r in page_repositories])
    else:
        ids, sorted_by = _ids_by_figure(repositories, filters)
        page = Paginator(ids, REPOSITORY_PAGE_SIZE).get_page(number)
        in_page = Repository.objects.in_bulk(list(page.object_list))
        page_repositories = [in_page[pk] for pk in page.object_list]
        # The figure sorted by is known for every repository already: not asked again.
        query = _FIGURE_QUERY[REPOSITORY_SORTS[filters.sort_key]]
        figures = _figures(list(page.object_list), queries=ALL_FIGURE_QUERIES - {query})
        for pk in page.object_list:
            figures.setdefault(pk, {}).update(sorted_by.get(pk, {}))
    rows = [RepositoryRow(r, **figures.get(r.pk, {})) for r in page_repositories]
    return page, rows


def _ids_by_figure(
    repositories: QuerySet[Repository], filters: RepositoryFilters
) -> tuple[list[int], dict[int, dict[str, Any]]]:
    """The repositories' ids, sorted by the figure `filters` sorts by, then by name;
    and the figures of the query that figure comes from, by id."""
    field = REPOSITORY_SORTS[filters.sort_key]
    computed = _figures(repositories.values("pk"), queries={_FIGURE_QUERY[field]})
    values = {pk: row.get(field) for pk, row in computed.items()}
    named = list(repositories.values_list("pk", "name"))
    known = [(pk, name, values[pk]) for pk, name in named if values.get(pk) is not None]
    unknown = [(pk, name) for pk, name in named if values.get(pk) is None]
    default = None if field == "newest" else 0
    if default is not None:  # no tags: a zero, sorted among the others
        known += [(pk, name, default) for pk, name in unknown]
        unknown = []
    # Stable sorts: by name first, then by the figure (its direction only).
    known.sort(key=itemgetter(1))
    known.sort(key=itemgetter(2), reverse=filters.descending)
    ids = [pk for pk, _, _ in known] + [pk for pk, _ in unknown]  # unknown dates last
    return ids, computed


_FIGURE_QUERY = {
    "tag_total": "tags",
    "stale_tags": "tags",
    "size": "manifests",
    "newest": "manifests",
    "stale_size": "stale",
}
ALL_FIGURE_QUERIES = frozenset(_FIGURE_QUERY.values())


def _figures(
    repository_ids: Any, *, queries: set[str] | frozenset[str] = ALL_FIGURE_QUERIES
) -> dict[int, dict[str, Any]]:
    """Figures by repository id, for `repository_ids` (a list or a values("pk") query)."""
    figures: dict[int, dict[str, Any]] = {}

    def merge(rows: QuerySet[Any]) -> None:
        for row in rows:
            pk = row.pop("repository_id")
            for key in ("size", "stale_size"):  # PostgreSQL sums bigints as numeric
                if row.get(key) is not None:
                    row[key] = int(row[key])
            figures.setdefault(pk, {}).update(row)

    if isinstance(repository_ids, list) and not repository_ids:
        return figures
    tagged = Manifest.objects.filter(repository_id__in=repository_ids, tag_count__gt=0).order_by()
    if "tags" in queries:
        merge(
            Tag.objects.filter(repository_id__in=repository_ids)
            .order_by()
            .values("repository_id")
            .annotate(tag_total=Count("pk"), stale_tags=Count("pk", filter=Q(is_stale=True)))
        )
    if "manifests" in queries:
        merge(tagged.values("repository_id").annotate(size=Sum("size"), newest=Max("created")))
    if "stale" in queries:
        kept = Exists(Tag.objects.filter(manifest=OuterRef("pk"), is_stale=False))
        merge(tagged.exclude(kept).values("repository_id").annotate(stale_size=Sum("size")))
    return figures
