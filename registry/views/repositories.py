"""The Repositories page: a registry's repositories with their sizes, searchable and sortable."""

from __future__ import annotations

from django.http import HttpResponse
from django.views.decorators.http import require_GET

from registry.filter_forms import filter_querystring
from registry.gitlab.pages import connection_of, projects_by_repository
from registry.repository_figures import RepositoryFilterForm, repository_page

from .access import HtmxHttpRequest, get_registry_for_viewer
from .links import pager_url
from .rendering import render_page
from .tables import Column, sort_header

REPOSITORY_COLUMNS = [
    Column("Repository", "name"),
    Column("Tags", "tags", numeric=True),
    Column("Size", "size", numeric=True),
    Column("Stale tags", "stale_tags", numeric=True),
    Column("Stale size", "stale_size", numeric=True),
    Column("Newest image", "newest"),
]


@require_GET
def repository_list(request: HtmxHttpRequest, name: str) -> HttpResponse:
    registry = get_registry_for_viewer(request, name)
    filters = RepositoryFilterForm(request.GET).filters()
    page, rows = repository_page(registry=registry, filters=filters, number=request.GET.get("page"))
    gitlab = connection_of(registry)
    projects = projects_by_repository(gitlab) if gitlab else {}
    for row in rows:  # the row is frozen; its Repository carries the project to the page
        row.repository.gitlab_project = projects.get(row.repository.name)  # type: ignore[attr-defined]
    querystring = filter_querystring(filters)
    context = {
        "registry": registry,
        "gitlab": gitlab,
        "filters": filters,
        "page": page,
        "repositories": rows,
        "count": page.paginator.count,
        "headers": [sort_header(c, path=request.path, filters=filters) for c in REPOSITORY_COLUMNS],
        "page_url": pager_url(request.path, querystring),
    }
    return render_page(request, "registry/repositories.html", context, partial="results")
