"""The staleness rules page: registry admins edit what counts as stale, and preview it."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from registry.forms import StalenessRulesForm
from registry.gitlab.pages import connection_of
from registry.models import Registry
from registry.staleness import (
    StaleFigures,
    preview_staleness,
    refresh_staleness,
    rules_for,
    stale_figures,
)
from registry.user_patterns import PatternTooSlow

from .access import HtmxHttpRequest, get_registry_for_admin
from .rendering import render_page

PREVIEW = "preview"


def saved_message(*, changed: int, figures: StaleFigures) -> str:
    tags = "tag changed its verdict" if changed == 1 else "tags changed their verdict"
    return (
        f"Rules saved. {changed:,} {tags}; "
        f"{figures.stale:,} of {figures.total:,} tags are stale now."
    )


@require_http_methods(["GET", "POST"])
def edit_rules(request: HtmxHttpRequest, name: str) -> HttpResponse:
    registry = get_registry_for_admin(request, name)
    rules = rules_for(registry=registry)
    gitlab = connection_of(registry) is not None
    preview: StaleFigures | None = None
    if request.method == "POST":
        form = StalenessRulesForm(request.POST, instance=rules, gitlab=gitlab)
        try:
            if form.is_valid() and request.POST.get("action") == PREVIEW:
                # Evaluated on the unsaved rules: nothing is written.
                preview = preview_staleness(
                    registry=registry, rules=form.save(commit=False), now=timezone.now()
                )
            elif form.is_valid():
                with transaction.atomic():
                    form.save()
                    changed = refresh_staleness(registry=registry)
                figures = stale_figures(registry=registry)
                messages.success(request, saved_message(changed=changed, figures=figures))
                return redirect("rules", name=registry.name)
        except PatternTooSlow as exc:
            form.add_error(None, exc.message)  # nothing was saved
    else:
        form = StalenessRulesForm(instance=rules, gitlab=gitlab)
    return _render(request, registry=registry, form=form, preview=preview)


def _render(
    request: HtmxHttpRequest,
    *,
    registry: Registry,
    form: StalenessRulesForm,
    preview: StaleFigures | None,
) -> HttpResponse:
    context = {
        "registry": registry,
        "form": form,
        "current": stale_figures(registry=registry),
        "preview": preview,
    }
    return render_page(request, "registry/rules.html", context, partial="rules_form")
