"""Deletion batches on the web: plan from the selection, preview, confirm, watch, cancel.

One page per batch (`registry/batch.html`). While the batch is a plan it shows
the preview and, to those who may delete, the confirmation form; once confirmed
its progress region polls `batch_progress` every second until the batch has
finished, then shows the summary and how to free the disk. The items table is
the same in every state, paginated, and gains each item's outcome once run.

Every change is a POST that redirects (an HTMX request gets a client redirect),
except a refused confirmation, which shows the form again with the reason (200).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import (
    HttpResponseClientRedirect,
    HttpResponseStopPolling,
    trigger_client_event,
)

from registry import selection
from registry.deletion.batches import (
    ALREADY_FINISHED_MESSAGE,
    NOTHING_TO_DO_MESSAGE,
    ConfirmationError,
    actionable_count,
    batch_progress,
    cancel_batch,
    confirm_batch,
    deleted_tags_planned,
    needs_typed_count,
    saved_progress,
    typed_count_message,
)
from registry.deletion.garbage import gc_hint
from registry.deletion.lease import is_waiting_for_a_worker, lease_has_expired
from registry.deletion.plan import plan_deletion
from registry.deletion.retry import RetryError, plan_retry, retry_count
from registry.enqueue import QueueUnavailable, start_batch
from registry.forms import ConfirmBatchForm
from registry.models import DeletionBatch, DeletionItem
from registry.pull_tracking import mark_items_last_pulled, pulls_tracked_since
from registry.selectors import batch_items, outcome_counts, policy_run_of, registry_of
from registry.sync_health import PREVIEW_WARNING

from .access import (
    HtmxHttpRequest,
    get_batch_for_deleter,
    get_batch_for_viewer,
    get_registry_for_deleter,
)
from .links import pager_url, with_query
from .rendering import render_page, wants_partial

TEMPLATE = "registry/batch.html"
BATCH_PAGE_SIZE = 200
# Sent when the progress poll sees the batch finished: the items table reloads.
BATCH_FINISHED_EVENT = "batch-finished"
# Sent when a poll sees more tags done than the page showed: the items table follows.
BATCH_PROGRESSED_EVENT = "batch-progressed"
# The confirm form's button that hands a confirmed batch to a worker again.
HAND_OVER = "hand-over"

Status = DeletionBatch.Status
Action = DeletionItem.Action
Outcome = DeletionItem.Outcome

RECLAIMABLE_NOTE = (
    "Counted from the layers and configs that only the deleted images use, each blob "
    "once. Blobs shared with images that stay are not freed, and nothing is freed until "
    "garbage collection runs."
)
QUEUED_MESSAGE = "Deletion confirmed: it runs now. This page shows its progress."
DISCARDED_MESSAGE = "The plan was discarded: nothing was deleted."
CANCEL_REQUESTED_MESSAGE = (
    "Cancelling: the batch stops after the tags in progress; the rest are not attempted."
)
NOTHING_DELETED_NOTE = "No image was deleted, so garbage collection has nothing new to free."

# The item filter: the query value, and the label of its link.
ACTION_FILTERS = [
    ("", "All"),
    (Action.DELETE.value, Action.DELETE.label),
    (Action.UNTAG.value, Action.UNTAG.label),
    (Action.REFUSE.value, Action.REFUSE.label),
]


def duration_text(seconds: float | None) -> str:
    """ "4.2 s", "3 min 12 s", "1 h 2 min"; empty when the batch did not run."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def confirm_button_label(*, deleted: int, untagged: int) -> str:
    """What the confirm button does: "Delete 12 tags, untag 1", or "Untag 3 tags" when no
    image is deleted (never "Delete 0 tags")."""

    def tags(n: int) -> str:
        return f"{n:,} tag{'' if n == 1 else 's'}"

    if not deleted:
        return f"Untag {tags(untagged)}"
    return f"Delete {tags(deleted)}" + (f", untag {untagged:,}" if untagged else "")


# -- views --------------------------------------------------------------------------------


@require_POST
def deletion_plan(request: HtmxHttpRequest, name: str) -> HttpResponse:
    """Plan the deletion of the user's selection and show its preview."""
    registry = get_registry_for_deleter(request, name)
    tags = selection.selected_tags(user=request.user, registry=registry)
    try:
        batch = plan_deletion(registry=registry, tags=tags, actor=request.user)
    except ValueError as exc:
        messages.error(request, str(exc))
        return _redirect(request, reverse("selection", args=[registry.name]))
    return _redirect(request, reverse("batch", args=[batch.pk]))


@require_GET
def batch_page(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The batch: preview, progress or summary, and its items (`?action=`, `?page=`).

    An HTMX request (the filter links, the pager) gets the items region alone.
    """
    batch = get_batch_for_viewer(request, pk)
    context = {**_items_context(request, batch), **_status_context(batch)}
    context["registry"] = registry_of(batch)
    return render_page(request, TEMPLATE, context, partial="items")


@require_POST
def batch_confirm(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Confirm a plan with a reason (and, when big, its size typed back), then run it."""
    batch = get_batch_for_deleter(request, pk)
    if request.POST.get("action") == HAND_OVER and is_waiting_for_a_worker(batch):
        return _hand_to_a_worker(request, batch)  # confirmed, but its task was lost
    form = ConfirmBatchForm(request.POST, batch=batch)
    try:
        if not form.is_valid():
            raise ConfirmationError(form.first_error)
        batch = confirm_batch(batch=batch, actor=request.user, reason=form.cleaned_data["reason"])
    except ConfirmationError as exc:
        batch.refresh_from_db()
        if batch.status != Status.PLANNED:
            # Confirmed or discarded meanwhile (another tab): there is no form to show.
            messages.error(request, exc.message)
            return _redirect(request, reverse("batch", args=[batch.pk]))
        context = {
            **_status_context(batch),
            "confirm_error": exc.message,
            "reason": request.POST.get("reason", ""),
            "typed_count": request.POST.get("typed_count", ""),
        }
        if not wants_partial(request):
            context.update(_items_context(request, batch))
            context["registry"] = registry_of(batch)
        return render_page(request, TEMPLATE, context, partial="confirm")
    return _hand_to_a_worker(request, batch)


@require_POST
def batch_retry(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """*Retry failed*: plan a finished batch's failed and not-attempted tags again."""
    batch = get_batch_for_deleter(request, pk)
    try:
        retry = plan_retry(batch=batch, actor=request.user)
    except RetryError as exc:
        messages.error(request, exc.message)
        return _redirect(request, reverse("batch", args=[batch.pk]))
    return _redirect(request, reverse("batch", args=[retry.pk]))


@require_POST
def batch_cancel(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Discard a plan (back to the selection), or ask a running batch to stop."""
    batch = get_batch_for_deleter(request, pk)
    try:
        batch = cancel_batch(batch=batch)
    except ConfirmationError as exc:
        messages.error(request, exc.message)
        return _redirect(request, reverse("batch", args=[batch.pk]))
    if lease_has_expired(batch, now=timezone.now()):
        # Its worker died: the next run closes it, after checking what its requests did.
        _start_quietly(request, batch)
    if batch.status == Status.DISCARDED:
        messages.success(request, DISCARDED_MESSAGE)
        if registry_of(batch) is not None:
            return _redirect(request, reverse("selection", args=[batch.registry_name]))
    else:
        messages.info(request, CANCEL_REQUESTED_MESSAGE)
    return _redirect(request, reverse("batch", args=[batch.pk]))


@never_cache
@require_GET
def batch_progress_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The progress region, polled every second while the batch is queued or running.

    The poll says how many tags the page shows done (`?done=`); when more are, the page
    is told to reload its items table too, so rows and counts follow the header.
    Once it is not, the region comes back as the summary with 286, which stops the
    polling, and the page is told to reload its items (their outcomes are final).
    """
    batch = get_batch_for_viewer(request, pk)
    context = _status_context(batch)
    response = render(request, f"{TEMPLATE}#progress", context)
    if context["polling"]:
        if request.GET.get("done") != str(context["progress"].done):
            # The page showed fewer tags done: its items table reloads with this region.
            trigger_client_event(response, BATCH_PROGRESSED_EVENT, after="settle")
        return response
    stopped = HttpResponseStopPolling(response.content)
    return trigger_client_event(stopped, BATCH_FINISHED_EVENT, after="settle")


# -- helpers ------------------------------------------------------------------------------


def _hand_to_a_worker(request: HtmxHttpRequest, batch: DeletionBatch) -> HttpResponse:
    if _start_quietly(request, batch):
        messages.success(request, QUEUED_MESSAGE)
    return _redirect(request, reverse("batch", args=[batch.pk]))


def _start_quietly(request: HtmxHttpRequest, batch: DeletionBatch) -> bool:
    """Hand the batch to a worker; a broker that is down is said on the next page."""
    try:
        start_batch(batch=batch)
    except QueueUnavailable as exc:
        messages.error(request, exc.message)
        return False
    return True


def _redirect(request: HtmxHttpRequest, url: str) -> HttpResponse:
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _status_context(batch: DeletionBatch) -> dict[str, Any]:
    """What the preview, the confirmation form and the progress region need."""
    polling = batch.status in (Status.QUEUED, Status.RUNNING)
    actionable = actionable_count(batch)
    deleted = deleted_tags_planned(batch)
    return {
        "batch": batch,
        "policy_run": policy_run_of(batch),
        "polling": polling,
        # Counted from the items while running; a finished batch has its figures saved.
        "progress": batch_progress(batch=batch) if polling else saved_progress(batch=batch),
        "actionable": actionable,
        "deleted_tags_planned": deleted,
        "confirm_label": confirm_button_label(deleted=deleted, untagged=batch.untags_planned),
        "needs_typed_count": needs_typed_count(batch),
        "typed_count_label": typed_count_message(actionable),
        "nothing_to_do": NOTHING_TO_DO_MESSAGE
        if batch.status == Status.PLANNED and not actionable
        else "",
        "reclaimable_note": RECLAIMABLE_NOTE,
        "cache_warning": PREVIEW_WARNING,
        "duration": duration_text(batch.duration_seconds),
        # How to free the disk: only a finished batch's summary says it.
        "gc": None if polling else gc_hint(registry_of(batch)),
        "nothing_deleted_note": NOTHING_DELETED_NOTE,
        "already_finished": ALREADY_FINISHED_MESSAGE,
        "finished_event": BATCH_FINISHED_EVENT,
        "progressed_event": BATCH_PROGRESSED_EVENT,
        "waiting_for_a_worker": is_waiting_for_a_worker(batch),
        "retry_count": retry_count(batch),
        "hand_over": HAND_OVER,
    }


def _items_context(request: HtmxHttpRequest, batch: DeletionBatch) -> dict[str, Any]:
    """One page of the batch's items, in plan order, of one action and outcome if asked."""
    show_outcomes = batch.status != Status.PLANNED
    action = _one_of(request.GET.get("action", ""), Action.values)
    outcome = _one_of(request.GET.get("outcome", ""), Outcome.values) if show_outcomes else ""
    items = batch_items(batch, action=action, outcome=outcome)
    page = Paginator(items, BATCH_PAGE_SIZE).get_page(request.GET.get("page"))
    here = reverse("batch", args=[batch.pk])

    def query(**changes: str) -> str:
        chosen = {"action": action, "outcome": outcome, **changes}
        return urlencode({key: value for key, value in chosen.items() if value})

    def url(**changes: str) -> str:
        return with_query(here, query(**changes))

    action_counts = {
        "": batch.tags_planned,
        Action.DELETE: deleted_tags_planned(batch),
        Action.UNTAG: batch.untags_planned,
        Action.REFUSE: batch.refused_planned,
    }
    items_url = url()
    items_shown = list(page.object_list)
    mark_items_last_pulled(
        items_shown,
        registry=batch.registry,
        tracked_since=pulls_tracked_since(registry=batch.registry),
    )
    return {
        "batch": batch,
        "page": page,
        "items": items_shown,
        "action_filter": action,
        "action_filters": _filter_links("action", ACTION_FILTERS, action_counts, action, url),
        "outcome_filters": _outcome_filters(batch, outcome, url) if show_outcomes else [],
        "page_url": pager_url(here, query()),
        "items_url": items_url,
        "show_outcomes": show_outcomes,
    }


def _outcome_filters(
    batch: DeletionBatch, outcome: str, url: Callable[..., str]
) -> list[dict[str, Any]]:
    """ "Any outcome", then each outcome the batch's items have, with its count."""
    counts = outcome_counts(batch)
    counts[""] = batch.tags_planned
    choices = [("", "Any outcome"), *((v, label) for v, label in Outcome.choices if counts.get(v))]
    return _filter_links("outcome", choices, counts, outcome, url)


def _filter_links(
    param: str,
    choices: list[tuple[str, str]],
    counts: dict[str, int],
    current: str,
    url: Callable[..., str],
) -> list[dict[str, Any]]:
    """A filter's links (`param` set to each choice) as the template's `filter_links` shows."""
    return [
        {
            "value": value,
            "label": label,
            "count": counts[value],
            "url": url(**{param: value}),
            "current": value == current,
        }
        for value, label in choices
    ]


def _one_of(value: str, allowed: list[str]) -> str:
    """`value` if it is one of `allowed`, else "" (no filter)."""
    return value if value in allowed else ""
