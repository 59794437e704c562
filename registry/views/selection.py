"""The selection: its page, and the POSTs that change it from the tag pages.

Every change answers an HTMX request with the selection bar (`#selection-bar`,
swapped outerHTML) and, without HTMX, redirects back to `next`. Selecting is
harmless, so every viewer may; but a selection is only good for planning a
deletion, so the tag pages show their selection controls (and the bar) only to
those who may delete (selection_bar.may_select).

When a change is not what the clicked checkbox already shows (a whole page,
everything matching, a clear, a refused or explicit toggle), the response also
triggers the client event `selection-changed`, so a page can re-read its boxes.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseBadRequest, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import trigger_client_event

from registry import selection
from registry.filter_forms import filter_querystring
from registry.models import Registry
from registry.selectors import tags_in_order
from registry.tag_filters import TagFilterForm, filter_tags
from registry.user_patterns import PatternTooSlow, pattern_budget

from .access import HtmxHttpRequest, get_registry_for_viewer
from .links import pager_url
from .rendering import render_page
from .selection_bar import bar_context
from .tables import Column, sort_header

SELECTION_PAGE_SIZE = 50
SELECTION_COLUMNS = [
    Column("Repository", "repository"),
    Column("Tag", "name"),
    Column("Digest"),
    Column("Size", "size", numeric=True),
    Column("Created", "created"),
]
SELECTION_CHANGED_EVENT = "selection-changed"
BAD_TAG_IDS_MESSAGE = "Tag ids must be whole numbers."
ONE_TAG_MESSAGE = "Toggle one tag at a time."


def filter_problem_message(errors: dict[str, str]) -> str:
    return "Nothing was selected: fix the filter first. " + " ".join(errors.values())


@require_GET
def selection_page(request: HtmxHttpRequest, name: str) -> HttpResponse:
    """The selected tags, paginated and sortable (`?sort=`), with totals per repository."""
    registry = get_registry_for_viewer(request, name)
    user = request.user
    order = selection.SelectionOrderForm(request.GET).filters()
    path = reverse("selection", args=[registry.name])
    totals = selection.totals_by_repository(user=user, registry=registry)
    summary = selection.SelectionSummary(
        count=sum(t.count for t in totals), total_size=sum(t.total_size for t in totals)
    )
    # Paging over the count alone: the page's rows come from the selection's own index.
    page = Paginator(range(summary.count), SELECTION_PAGE_SIZE).get_page(request.GET.get("page"))
    ids = selection.selected_tag_ids_page(
        user=user,
        registry=registry,
        offset=max(page.start_index() - 1, 0),
        limit=SELECTION_PAGE_SIZE,
        sort=order.sort,
    )
    context = {
        **bar_context(request, registry, summary=summary),
        "page": page,
        "tags": tags_in_order(ids),
        "repository_totals": totals,
        "headers": [sort_header(c, path=path, filters=order) for c in SELECTION_COLUMNS],
        "page_url": pager_url(path, filter_querystring(order)),
    }
    return render_page(request, "registry/selection.html", context, partial="list")


@require_POST
def toggle_tag(request: HtmxHttpRequest, name: str) -> HttpResponse:
    """Select or unselect one tag (`tag=<id>`).

    Without `selected` it toggles; `selected=1` or `selected=0` sets the state
    instead (the selection page's "Remove" buttons send `selected=0`).
    """
    registry = get_registry_for_viewer(request, name)
    ids = _tag_ids(request.POST)
    if ids is None:
        return HttpResponseBadRequest(BAD_TAG_IDS_MESSAGE)
    if len(set(ids)) != 1:
        return HttpResponseBadRequest(ONE_TAG_MESSAGE)
    tag_id = ids[0]
    user = request.user
    wanted = request.POST.get("selected")
    if wanted is None:
        result = selection.toggle_tag(user=user, registry=registry, tag_id=tag_id)
        if result.refused:
            return _changed(request, registry, selection.over_limit_message(1), error=True)
        if result.missing:
            return _changed(request, registry, selection.TAG_GONE_MESSAGE, error=True)
        return _respond(request, registry, message="", announce=False)
    if wanted in {"0", "false", "off", ""}:
        removed = selection.remove_tags(user=user, registry=registry, tag_ids=[tag_id])
        return _changed(request, registry, selection.removed_message(removed))
    return _added(
        request, registry, selection.add_tags(user=user, registry=registry, tag_ids=[tag_id])
    )


@require_POST
def select_page(request: HtmxHttpRequest, name: str) -> HttpResponse:
    """Select the tags of one page of rows (repeated `tag=<id>`)."""
    registry = get_registry_for_viewer(request, name)
    ids = _tag_ids(request.POST)
    if ids is None:
        return HttpResponseBadRequest(BAD_TAG_IDS_MESSAGE)
    result = selection.add_tags(user=request.user, registry=registry, tag_ids=ids)
    return _added(request, registry, result)


@require_POST
def select_matching(request: HtmxHttpRequest, name: str) -> HttpResponse:
    """Select every tag the filter in the URL's query string matches (as the tag pages read it)."""
    registry = get_registry_for_viewer(request, name)
    form = TagFilterForm(request.GET)
    if errors := form.field_errors():
        # A field with an error is left out of the filter: selecting would take too much.
        return _changed(request, registry, filter_problem_message(errors), error=True)
    try:
        with pattern_budget():
            result = selection.add_matching(
                user=request.user,
                registry=registry,
                queryset=filter_tags(registry=registry, filters=form.filters()),
            )
    except PatternTooSlow as exc:
        return _changed(request, registry, exc.message, error=True)
    return _added(request, registry, result)


@require_POST
def clear(request: HtmxHttpRequest, name: str) -> HttpResponse:
    registry = get_registry_for_viewer(request, name)
    selection.clear_selection(user=request.user, registry=registry)
    return _changed(request, registry, selection.SELECTION_CLEARED_MESSAGE)


# -- helpers -------------------------------------------------------------------------------


def _tag_ids(data: QueryDict) -> list[int] | None:
    """The repeated `tag` values as ids, or None when one is not a number."""
    try:
        return [int(value) for value in data.getlist("tag")]
    except ValueError:
        return None


def _added(
    request: HtmxHttpRequest, registry: Registry, result: selection.AddResult
) -> HttpResponse:
    if result.skipped_over_limit:
        message = selection.over_limit_message(result.skipped_over_limit)
        if result.added:
            message = f"{selection.added_message(result.added)} {message}"
        return _changed(request, registry, message, error=True)
    return _changed(request, registry, selection.added_message(result.added))


def _changed(
    request: HtmxHttpRequest, registry: Registry, message: str, *, error: bool = False
) -> HttpResponse:
    return _respond(request, registry, message=message, error=error, announce=True)


def _respond(
    request: HtmxHttpRequest,
    registry: Registry,
    *,
    message: str,
    error: bool = False,
    announce: bool,
) -> HttpResponse:
    """The bar for HTMX; otherwise a redirect back, with the message for the next page."""
    if not request.htmx:
        if message:
            messages.add_message(request, messages.ERROR if error else messages.SUCCESS, message)
        return redirect(_next_url(request, registry))
    context = bar_context(request, registry, message=message, error=error)
    # Where the bar's forms come back to without JavaScript: the page it sits on.
    context["selection_next"] = request.htmx.current_url_abs_path or reverse(
        "tags", args=[registry.name]
    )
    response = render(request, "registry/_selection_bar.html", context)
    add_never_cache_headers(response)
    if announce:
        # After the swap, not on arrival: should the list have been redrawn meanwhile, the
        # button that asked is gone, and HTMX then fires the event on <body> (where the
        # rows listen) instead of on the detached button, where no one would hear it.
        response = trigger_client_event(
            response, SELECTION_CHANGED_EVENT, {"count": context["selection"].count}, after="swap"
        )
    return response


def _next_url(request: HtmxHttpRequest, registry: Registry) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("tags", args=[registry.name])
