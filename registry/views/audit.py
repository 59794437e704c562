"""The audit log: deleted, untagged and refused tags, the batches they came in, and exports.

Every viewer may read it; nothing here changes it.
"""

from __future__ import annotations

from typing import Literal

from django.conf import settings
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from registry.audit import (
    PAGE_SIZE,
    AuditFilterForm,
    filter_batches,
    filter_items,
    registry_choices,
)
from registry.audit_exports import audit_rows, csv_lines, json_chunks
from registry.filter_forms import filter_querystring
from registry.models import DeletionItem
from registry.selectors import registry_changes

from .access import HtmxHttpRequest, require_viewer
from .links import pager_url, with_query
from .rendering import render_page

Tab = Literal["items", "batches"]
TEMPLATE = "registry/audit.html"


@require_GET
def audit_log(request: HtmxHttpRequest) -> HttpResponse:
    """The audited tags, newest batch first, filtered, 50 a page."""
    require_viewer(request)
    return _audit_page(request, tab="items")


@require_GET
def audit_batches(request: HtmxHttpRequest) -> HttpResponse:
    """The batches, newest first: who, when, why, and what came of them."""
    require_viewer(request)
    return _audit_page(request, tab="batches")


def _audit_page(request: HtmxHttpRequest, *, tab: Tab) -> HttpResponse:
    form = AuditFilterForm(request.GET)
    filters = form.filters()
    rows = filter_batches(filters) if tab == "batches" else filter_items(filters)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    page_rows = list(page.object_list)
    querystring = filter_querystring(filters)
    # The batch list ignores the item-level filters: its tab link leaves them out.
    batches_querystring = filter_querystring(filters, repository="", tag="", outcome="", action="")
    context = {
        "tab": tab,
        "filters": filters,
        "errors": form.field_errors(),
        "page": page,
        "rows": page_rows,
        "count": page.paginator.count,
        "page_url": pager_url(request.path, querystring),
        "items_url": with_query(reverse("audit"), querystring),
        "batches_url": with_query(reverse("audit_batches"), batches_querystring),
        "export_csv_url": with_query(reverse("audit_export_csv"), querystring),
        "export_json_url": with_query(reverse("audit_export_json"), querystring),
        # What was typed, kept in the form even when it is wrong.
        "typed": form.typed(),
        "registry_names": registry_choices(filters),
        "outcomes": DeletionItem.Outcome.choices,
        "actions": DeletionItem.Action.choices,
        "time_zone": settings.TIME_ZONE,
    }
    return render_page(request, TEMPLATE, context, partial="listing")


@require_GET
def export_csv(request: HtmxHttpRequest) -> HttpResponseBase:
    return _export(request, extension="csv")


@require_GET
def export_json(request: HtmxHttpRequest) -> HttpResponseBase:
    return _export(request, extension="json")


def _export(request: HtmxHttpRequest, *, extension: Literal["csv", "json"]) -> HttpResponseBase:
    """The audited tags the filters match, streamed as a file (filters as on the page).

    Bad filters are a 400 that says what is wrong: exporting more than was asked
    for, silently, would be worse than exporting nothing.
    """
    require_viewer(request)
    form = AuditFilterForm(request.GET)
    if errors := form.field_errors():
        return HttpResponseBadRequest(
            "\n".join(errors.values()) + "\n", content_type="text/plain; charset=utf-8"
        )
    rows = audit_rows(filter_items(form.filters()))
    if extension == "csv":
        response = StreamingHttpResponse(csv_lines(rows), content_type="text/csv; charset=utf-8")
    else:
        response = StreamingHttpResponse(
            json_chunks(rows), content_type="application/json; charset=utf-8"
        )
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="deletion-audit-{stamp}.{extension}"'
    return response


@require_GET
def audit_registry_changes(request: HtmxHttpRequest) -> HttpResponse:
    """Who added, changed or removed a registry: newest first, 50 a page."""
    require_viewer(request)
    page = Paginator(registry_changes(), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"page": page, "page_url": pager_url(request.path)}
    return render_page(request, "registry/registry_changes.html", context, partial="listing")
