"""The dashboard: one card per registry, and its "Sync now" with progress in place."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling, trigger_client_event

from registry.dashboard import registry_cards
from registry.enqueue import QueueUnavailable, start_sync
from registry.sync_requests import (
    ALREADY_RUNNING_MESSAGE,
    SYNC_REQUESTED_MESSAGE,
    SyncRequest,
    SyncState,
    lock_is_live,
    newest_run_id,
    sync_state,
)

from .access import (
    HtmxHttpRequest,
    get_registry_for_janitor,
    get_registry_for_viewer,
    require_viewer,
)
from .rendering import render_page

TEMPLATE = "registry/dashboard.html"


def synced_event(name: str) -> str:
    """The client event a card listens to, to reload its figures after its sync ended."""
    return f"registry-synced-{name}"


@require_GET
def dashboard(request: HtmxHttpRequest) -> HttpResponse:
    """All cards; `?registry=NAME` only that one (an HTMX card reload gets the card alone)."""
    require_viewer(request)
    only = request.GET.get("registry")
    registry = get_registry_for_viewer(request, only) if only else None
    cards = registry_cards(now=timezone.now(), registry=registry)
    context = {"cards": cards, "only": registry, "card": cards[0] if registry else None}
    return render_page(request, TEMPLATE, context, partial="card" if registry else "")


@require_POST
def sync_now(request: HtmxHttpRequest, name: str) -> HttpResponse:
    registry = get_registry_for_janitor(request, name)
    now = timezone.now()
    sync_request = None
    note = ""
    level = messages.INFO
    if lock_is_live(registry, now=now):
        message = note = ALREADY_RUNNING_MESSAGE.format(name=registry.name)
    else:
        sync_request = SyncRequest(after_run_id=newest_run_id(registry=registry), at=now)
        message = SYNC_REQUESTED_MESSAGE.format(name=registry.name)
        try:
            start_sync(registry=registry)
        except QueueUnavailable as exc:
            sync_request, level = None, messages.ERROR
            message = note = exc.message
    if not request.htmx:
        messages.add_message(request, level, message)
        return redirect("dashboard")
    # Where things stand now (when tasks run eagerly, as in tests, the sync has run).
    registry.refresh_from_db(fields=["sync_lock_token", "sync_lock_expires_at"])
    state = sync_state(registry=registry, request=sync_request, now=timezone.now())
    response = _render_sync(request, state, note=note, note_is_error=level == messages.ERROR)
    if not state.polling and sync_request is not None:
        trigger_client_event(response, synced_event(registry.name), after="settle")
    return response


@require_GET
def sync_status(request: HtmxHttpRequest, name: str) -> HttpResponse:
    """The sync region, polled every second while a sync is requested or running."""
    registry = get_registry_for_viewer(request, name)
    state = sync_state(
        registry=registry, request=SyncRequest.parse(request.GET), now=timezone.now()
    )
    response = _render_sync(request, state)
    if state.polling:
        return response
    # The sync ended (or never came): show the final state, stop polling, refresh the card.
    stopped = HttpResponseStopPolling(response.content)
    trigger_client_event(stopped, synced_event(registry.name), after="settle")
    return stopped


def _render_sync(
    request: HtmxHttpRequest, state: SyncState, *, note: str = "", note_is_error: bool = False
) -> HttpResponse:
    context = {"sync": state, "note": note, "note_is_error": note_is_error}
    return render(request, f"{TEMPLATE}#sync", context)
