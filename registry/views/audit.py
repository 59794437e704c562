"""The audit log: deleted, untagged and refused tags, the batches they came in, and exports.

Every viewer may read it; nothing here changes it.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Literal

from django.conf import settings
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from registry.audit import (
    PAGE_SIZE,
    AuditFilters,
    audit_querystring,
    audit_rows,
    csv_lines,
    filter_batches,
    filter_items,
    json_chunks,
    outcome_summary,
    parse_audit_filters,
)
from registry.models import DeletionBatch, DeletionItem

from .access import HtmxHttpRequest, require_viewer
from .links import pager_url, with_query
from .rendering import render_page

Tab = Literal["items", "batches"]
TEMPLATE = "registry/audit.html"
FILTER_FIELDS = [field.name for field in fields(AuditFilters)]


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
    filters, errors = parse_audit_filters(request.GET)
    rows = filter_batches(filters) if tab == "batches" else filter_items(filters)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    page_rows = list(page.object_list)
    if tab == "batches":
        for batch in page_rows:
            batch.outcome_summary = outcome_summary(batch)  # type: ignore[union-attr]
    querystring = audit_querystring(filters)
    # The batch list ignores the item-level filters: its tab link leaves them out.
    batch_filters = replace(filters, repository="", tag="", outcome="", action="")
    context = {
        "tab": tab,
        "filters": filters,
        "errors": errors,
        "page": page,
        "rows": page_rows,
        "count": page.paginator.count,
        "page_url": pager_url(request.path, querystring),
        "items_url": with_query(reverse("audit"), querystring),
        "batches_url": with_query(reverse("audit_batches"), audit_querystring(batch_filters)),
        "export_csv_url": with_query(reverse("audit_export_csv"), querystring),
        "export_json_url": with_query(reverse("audit_export_json"), querystring),
        # What was typed, kept in the form even when it is wrong.
        "values": {field: request.GET.get(field, "") for field in FILTER_FIELDS},
        "registry_names": _registry_names(filters),
        "outcomes": DeletionItem.Outcome.choices,
        "actions": DeletionItem.Action.choices,
        "time_zone": settings.TIME_ZONE,
    }
    return render_page(request, TEMPLATE, context, partial="listing")


def _registry_names(filters: AuditFilters) -> list[str]:
    """The registries the log names (they outlive their Registry rows), for the filter."""
    names = set(DeletionBatch.objects.order_by().values_list("registry_name", flat=True).distinct())
    if filters.registry:
        names.add(filters.registry)
    return sorted(names)


@require_GET
def export_csv(request: HtmxHttpRequest) -> HttpResponse:
    return _export(request, extension="csv")


@require_GET
def export_json(request: HtmxHttpRequest) -> HttpResponse:
    return _export(request, extension="json")


def _export(request: HtmxHttpRequest, *, extension: Literal["csv", "json"]) -> HttpResponse:
    """The audited tags the filters match, streamed as a file (filters as on the page).

    Bad filters are a 400 that says what is wrong: exporting more than was asked
    for, silently, would be worse than exporting nothing.
    """
    require_viewer(request)
    filters, errors = parse_audit_filters(request.GET)
    if errors:
        return HttpResponseBadRequest(
            "\n".join(errors.values()) + "\n", content_type="text/plain; charset=utf-8"
        )
    rows = audit_rows(filter_items(filters))
    if extension == "csv":
        response = StreamingHttpResponse(csv_lines(rows), content_type="text/csv; charset=utf-8")
    else:
        response = StreamingHttpResponse(
            json_chunks(rows), content_type="application/json; charset=utf-8"
        )
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="deletion-audit-{stamp}.{extension}"'
    return response
