"""The Tags page (one repository's, or filtered across all), Stale images, and a tag's detail."""

from __future__ import annotations

from dataclasses import replace

from django.http import HttpResponse
from django.views.decorators.http import require_GET

from registry.filter_forms import filter_querystring
from registry.gitlab.pages import connection_of, ties_for
from registry.models import Registry, Tag
from registry.pull_tracking import mark_last_pulled, pulls_tracked_since
from registry.selection import selected_ids_among
from registry.selectors import image_details, media_type_name, pull_command
from registry.tag_filters import PAGE_SIZES, TagFilterForm, describe_filters, tag_page
from registry.user_patterns import PatternTooSlow, pattern_budget

from .access import HtmxHttpRequest, get_registry_for_viewer, get_tag_for_viewer
from .links import pager_url
from .rendering import render_page, wants_partial
from .selection_bar import WHO_CAN_DELETE, bar_context, may_select
from .tables import Column, sort_header

TAG_COLUMNS = [
    Column("Tag", "name"),
    Column("Repository", "repository"),
    Column("Digest", "digest"),
    Column("Size", "size", numeric=True),
    Column("Created", "created"),
    Column("First seen", "first_seen"),
    Column("Last pulled", "last_pulled"),
    Column("Platforms"),
    Column("Media type", "media_type"),
    Column("Status"),
]
GITLAB_COLUMN = Column("GitLab")  # branch, merge request, environment: GitLab registries only


@require_GET
def tag_list(request: HtmxHttpRequest, name: str) -> HttpResponse:
    registry = get_registry_for_viewer(request, name)
    return _tag_page(request, registry=registry, stale_view=False)


@require_GET
def stale_tags(request: HtmxHttpRequest, name: str) -> HttpResponse:
    """The tags page across all repositories with "only stale" always on."""
    registry = get_registry_for_viewer(request, name)
    return _tag_page(request, registry=registry, stale_view=True)


def _tag_page(request: HtmxHttpRequest, *, registry: Registry, stale_view: bool) -> HttpResponse:
    form = TagFilterForm(request.GET)
    filters = form.filters()
    if stale_view:
        filters = replace(filters, stale_only=True)
    errors = form.field_errors()
    try:
        with pattern_budget():
            page = tag_page(registry=registry, filters=filters, number=request.GET.get("page"))
            rows: list[Tag] = list(page.object_list)
    except PatternTooSlow as exc:
        # As any field with an error: said next to the box, and left out of the list.
        errors["name"], filters = exc.message, replace(filters, name="")
        page = tag_page(registry=registry, filters=filters, number=request.GET.get("page"))
        rows = list(page.object_list)
    page_ids = [tag.pk for tag in rows]
    gitlab = connection_of(registry)
    ties = ties_for(page_ids) if gitlab else {}
    for tag in rows:  # display-only attributes, read by the row template
        tag.media_type_name = media_type_name(tag.manifest.media_type)  # type: ignore[attr-defined]
        tag.gitlab_tie = ties.get(tag.pk)  # type: ignore[attr-defined]
    mark_last_pulled(rows, tracked_since=pulls_tracked_since(registry=registry))
    querystring = filter_querystring(filters)
    columns = [c for c in TAG_COLUMNS if not (filters.repository and c.sort == "repository")]
    if gitlab:
        columns.insert(len(columns) - 1, GITLAB_COLUMN)
    context = {
        "registry": registry,
        "gitlab": gitlab,
        "filters": filters,
        "errors": errors,
        "typed": form.typed(),
        "stale_view": stale_view,
        "page": page,
        "tags": rows,
        "count": page.paginator.count,
        "headers": [sort_header(c, path=request.path, filters=filters) for c in columns],
        "querystring": querystring,
        "page_url": pager_url(request.path, querystring),
        "page_sizes": PAGE_SIZES,
        "filter_words": describe_filters(filters),
        "may_select": may_select(request.user),
        "who_can_delete": WHO_CAN_DELETE,
        "selected_ids": selected_ids_among(user=request.user, registry=registry, tag_ids=page_ids),
    }
    if not wants_partial(request) and context["may_select"]:
        context.update(bar_context(request, registry))  # the bar is outside the results
    return render_page(request, "registry/tags.html", context, partial="results")


@require_GET
def tag_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """A drawer over the tags page for HTMX requests; a page of its own otherwise."""
    tag = get_tag_for_viewer(request, pk)
    image = image_details(tag=tag)
    context = {
        "gitlab": connection_of(tag.repository.registry),
        "tie": ties_for([tag.pk]).get(tag.pk),
        "tag": tag,
        "registry": tag.repository.registry,
        "manifest": tag.manifest,
        "media_type_name": media_type_name(tag.manifest.media_type),
        "pull_command": pull_command(
            registry_url=tag.repository.registry.url,
            repository=tag.repository.name,
            digest=tag.manifest.digest,
        ),
        "layers": image.layers,
        "children": image.children,
        "shared_tags": image.shared_tags,
        "shared_more": image.shared_more,
    }
    return render_page(request, "registry/tag_detail.html", context, partial="drawer")
