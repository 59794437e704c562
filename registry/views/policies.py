"""Cleanup policies on the web: Registry admins write them, Janitors approve what they
propose, everyone who may browse reads their history.

A proposal is approved from its batch's page (the usual preview, with what changed
since the previous run): one click, the reason prefilled from the policy.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from registry.deletion.batches import ConfirmationError
from registry.enqueue import QueueUnavailable, start_batch, start_policy_run
from registry.forms import PolicyForm
from registry.models import CleanupPolicy, PolicyRun
from registry.policies.approval import approve_proposal
from registry.policies.schedule import reschedule, schedule_text
from registry.policies.selection import covered_repositories
from registry.selectors import last_policy_run, policies_in_order, policy_history
from registry.user_patterns import PatternTooSlow

from .access import HtmxHttpRequest, require_deleter, require_viewer
from .rendering import render_page

LIST_TEMPLATE = "registry/policies.html"
FORM_TEMPLATE = "registry/policy_form.html"
DETAIL_TEMPLATE = "registry/policy.html"
HISTORY_LENGTH = 100
MANAGE_POLICIES_PERMISSION = "registry.change_cleanuppolicy"

APPROVED_MESSAGE = "Approved: the deletion runs now, re-checking every tag first."
RUN_QUEUED_MESSAGE = "The policy runs now; its run shows here in a moment."


def saved_message(policy: CleanupPolicy, covered: int) -> str:
    when = timezone.localtime(policy.next_run_at).strftime("%Y-%m-%d %H:%M %Z")
    repositories = "repository" if covered == 1 else "repositories"
    return (
        f"Policy {policy.name} saved: it covers {covered:,} {repositories} of "
        f"{policy.registry.name} now; next run {when}."
    )


def require_policy_admin(request: HtmxHttpRequest) -> None:
    require_viewer(request)
    if not request.user.has_perm(MANAGE_POLICIES_PERMISSION):
        raise PermissionDenied


def get_policy_for_viewer(request: HtmxHttpRequest, name: str) -> CleanupPolicy:
    require_viewer(request)
    return get_object_or_404(CleanupPolicy.objects.select_related("registry"), name=name)


@require_GET
def policy_list(request: HtmxHttpRequest) -> HttpResponse:
    require_viewer(request)
    # One query a policy: a registry has a handful of them.
    rows = [
        {"policy": p, "schedule": schedule_text(p), "last_run": last_policy_run(p)}
        for p in policies_in_order()
    ]
    return render_page(request, LIST_TEMPLATE, {"rows": rows})


@require_http_methods(["GET", "POST"])
def policy_add(request: HtmxHttpRequest) -> HttpResponse:
    require_policy_admin(request)
    return _edit(request, PolicyForm(request.POST or None), policy=None)


@require_http_methods(["GET", "POST"])
def policy_edit(request: HtmxHttpRequest, name: str) -> HttpResponse:
    require_policy_admin(request)
    policy = get_object_or_404(CleanupPolicy, name=name)
    return _edit(request, PolicyForm(request.POST or None, instance=policy), policy=policy)


def _edit(
    request: HtmxHttpRequest, form: PolicyForm, *, policy: CleanupPolicy | None
) -> HttpResponse:
    if request.method == "POST" and form.is_valid():
        unsaved = form.save(commit=False)
        try:
            # The patterns run once over the registry's repositories, under their time
            # budget, before anything is saved.
            covered = len(covered_repositories(policy=unsaved))
        except PatternTooSlow as exc:
            form.add_error(None, exc.message)
        else:
            unsaved.save()
            reschedule(policy=unsaved, now=timezone.now())
            messages.success(request, saved_message(unsaved, covered))
            return redirect("policy_detail", name=unsaved.name)
    context = {"form": form, "policy": policy, "time_zone": settings.TIME_ZONE}
    return render_page(request, FORM_TEMPLATE, context)


@require_GET
def policy_detail(request: HtmxHttpRequest, name: str) -> HttpResponse:
    """The policy's settings and its run history."""
    policy = get_policy_for_viewer(request, name)
    runs = policy_history(policy, length=HISTORY_LENGTH)
    context = {
        "policy": policy,
        "schedule": schedule_text(policy),
        "runs": runs,
        "history_length": HISTORY_LENGTH,
    }
    return render_page(request, DETAIL_TEMPLATE, context, partial="history")


@require_POST
def policy_run_now(request: HtmxHttpRequest, name: str) -> HttpResponse:
    policy = get_policy_for_viewer(request, name)
    require_deleter(request)
    try:
        start_policy_run(policy=policy)
    except QueueUnavailable as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, RUN_QUEUED_MESSAGE)
    return redirect("policy_detail", name=policy.name)


@require_POST
def policy_approve(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """One click: confirm the run's plan with the (prefilled) reason and run it."""
    require_viewer(request)
    require_deleter(request)
    run = get_object_or_404(PolicyRun.objects.select_related("policy", "batch"), pk=pk)
    try:
        batch = approve_proposal(
            run=run, actor=request.user, reason=request.POST.get("reason", "").strip()
        )
    except ConfirmationError as exc:
        messages.error(request, exc.message)
        target = reverse("batch", args=[run.batch_id]) if run.batch_id else None
        return redirect(target or reverse("policy_detail", args=[run.policy.name]))
    try:
        start_batch(batch=batch)
    except QueueUnavailable as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, APPROVED_MESSAGE)
    return redirect("batch", pk=batch.pk)
