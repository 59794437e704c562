"""Rendering a page or, for HTMX, one region of it: the one rule every view follows."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers, patch_vary_headers

from .access import HtmxHttpRequest


def wants_partial(request: HtmxHttpRequest) -> bool:
    """Whether to answer with a region of the page rather than the whole page."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def render_page(
    request: HtmxHttpRequest,
    template: str,
    context: dict[str, Any],
    *,
    partial: str = "",
    status: int = 200,
) -> HttpResponse:
    """The whole page, or the `partial` region of it for an HTMX request.

    A history restore (htmx reloading a page it no longer has in its cache) always
    gets the whole page: it replaces the body, and a bare region there leaves the
    user on a page without its navigation. The same URL answers a page or a region,
    so the response always varies on HX-Request and HX-History-Restore-Request.

    Every page shows the cache, the selection or a batch as they are now: none is
    stored (`no-store`), so Back after a deletion asks the server again instead of
    showing deleted tags as listed and selected.
    """
    if partial and wants_partial(request):
        template = f"{template}#{partial}"
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ["HX-Request", "HX-History-Restore-Request"])
    add_never_cache_headers(response)
    return response
