"""Registry notifications: the endpoint registries POST to, and the page that sets it up."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from registry.enqueue import start_applying_events
from registry.events.endpoint import config_block, ensure_endpoint, rotate_secret
from registry.events.envelope import MalformedDelivery, read_delivery
from registry.events.freshness import event_status
from registry.events.ingest import authenticated_endpoint, store_delivery

from .access import HtmxHttpRequest, get_registry_for_viewer, get_registry_to_manage
from .rendering import render_page

UNAUTHORIZED_MESSAGE = "A valid notification secret is required (Authorization: Bearer …)."
BAD_LENGTH_MESSAGE = "Content-Length is not a number."
SECRET_CREATED_MESSAGE = "Notification secret created: paste the block below into config.yml."
SECRET_ROTATED_MESSAGE = (
    "A new notification secret is in force: deliveries with the old one get 401 until the "
    "registry's config.yml carries the block below."
)


def too_large_message(limit_kb: int) -> str:
    return f"The delivery is larger than {limit_kb:,} KB (EVENTS_MAX_BODY_KB)."


# The registry calls this, not a person: no session, no CSRF token; its secret instead.
@csrf_exempt
@login_not_required
@require_POST
def receive_events(request: HttpRequest, name: str) -> HttpResponse:
    """Store a delivery of registry events and answer at once; a worker applies them."""
    endpoint = authenticated_endpoint(
        registry_name=name, authorization=request.headers.get("Authorization", "")
    )
    if endpoint is None:
        return JsonResponse({"error": UNAUTHORIZED_MESSAGE}, status=401)
    limit_kb = settings.EVENTS_MAX_BODY_KB
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return JsonResponse({"error": BAD_LENGTH_MESSAGE}, status=400)
    if length > limit_kb * 1024:
        return JsonResponse({"error": too_large_message(limit_kb)}, status=413)
    body = request.read(limit_kb * 1024 + 1)
    if len(body) > limit_kb * 1024:
        return JsonResponse({"error": too_large_message(limit_kb)}, status=413)
    try:
        delivery = read_delivery(body)
    except MalformedDelivery as exc:
        return JsonResponse({"error": exc.message}, status=400)
    stored = store_delivery(endpoint=endpoint, delivery=delivery, now=timezone.now())
    if stored.apply_needed:
        start_applying_events(registry_id=endpoint.registry_id)
    return JsonResponse(
        {
            "stored": stored.stored,
            "duplicates": stored.duplicates,
            "own_pulls": stored.own_pulls,
            "skipped": delivery.skipped,
        }
    )


@require_GET
@never_cache  # it may carry the secret
def notifications(request: HtmxHttpRequest, name: str) -> HttpResponse:
    """What the registry's notifications delivered; for Registry admins, the block."""
    registry = get_registry_for_viewer(request, name)
    status = event_status(registry=registry)
    may_manage = request.user.has_perm("registry.change_registry")
    # Not `block`: that name is taken in templates ({{ block.super }}).
    config_text = ""
    if may_manage and status.endpoint is not None:
        config_text = config_block(
            registry=registry,
            secret=status.endpoint.secret,
            base_url=request.build_absolute_uri("/"),
        )
    context = {
        "registry": registry,
        "status": status,
        "config_text": config_text,
        "may_manage": may_manage,
        "now": timezone.now(),
    }
    return render_page(request, "registry/notifications.html", context)


@require_POST
def notification_secret(request: HtmxHttpRequest, name: str) -> HttpResponse:
    """Create the registry's notification secret, or replace it (`rotate`)."""
    registry = get_registry_to_manage(request, name)
    endpoint, created = ensure_endpoint(registry=registry)
    if created:
        messages.success(request, SECRET_CREATED_MESSAGE)
    elif request.POST.get("action") == "rotate":
        rotate_secret(endpoint=endpoint)
        messages.success(request, SECRET_ROTATED_MESSAGE)
    return redirect("notifications", name=registry.name)
