"""Registries, set up in the app by Registry admins: add, edit, test the connection, remove.

Removing a registry removes its cache, never its history: deletion batches and registry
changes name it by value and stay in the audit log.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from registry.connection_check import check_connection
from registry.forms import RegistryForm
from registry.registries import remove_registry
from registry.selectors import registries_to_manage

from .access import HtmxHttpRequest, get_registry_to_manage, require_registry_admin
from .rendering import render_page

LIST_TEMPLATE = "registry/registries.html"
FORM_TEMPLATE = "registry/registry_form.html"


def saved_message(name: str, *, created: bool) -> str:
    if created:
        return f"Registry {name} added. Test its connection, then sync it from the dashboard."
    return f"Registry {name} saved."


def removed_message(name: str) -> str:
    return f"Registry {name} removed. Its deletions stay in the audit log."


@require_GET
def registry_list(request: HtmxHttpRequest) -> HttpResponse:
    require_registry_admin(request)
    return render_page(request, LIST_TEMPLATE, {"registries": registries_to_manage()})


@require_http_methods(["GET", "POST"])
def registry_add(request: HtmxHttpRequest) -> HttpResponse:
    require_registry_admin(request)
    form = RegistryForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        registry = form.save(actor=request.user.get_username())
        messages.success(request, saved_message(registry.name, created=True))
        return redirect("registry_list")
    return render_page(request, FORM_TEMPLATE, {"form": form, "registry": None})


@require_http_methods(["GET", "POST"])
def registry_edit(request: HtmxHttpRequest, name: str) -> HttpResponse:
    registry = get_registry_to_manage(request, name)
    form = RegistryForm(request.POST or None, instance=registry)
    if request.method == "POST" and form.is_valid():
        form.save(actor=request.user.get_username())
        messages.success(request, saved_message(registry.name, created=False))
        return redirect("registry_list")
    return render_page(request, FORM_TEMPLATE, {"form": form, "registry": registry})


@require_POST
def registry_test(request: HtmxHttpRequest, name: str) -> HttpResponse:
    """Ask the registry what works; the report replaces the button (or fills a page)."""
    registry = get_registry_to_manage(request, name)
    context = {"registry": registry, "report": check_connection(registry=registry)}
    return render_page(request, LIST_TEMPLATE + "#report", context)


@require_http_methods(["GET", "POST"])
def registry_remove(request: HtmxHttpRequest, name: str) -> HttpResponse:
    """GET asks to confirm; POST removes the registry and its cache, not its history."""
    registry = get_registry_to_manage(request, name)
    if request.method == "POST":
        remove_registry(registry=registry, actor=request.user.get_username())
        messages.success(request, removed_message(name))
        return redirect("registry_list")
    return render_page(request, "registry/registry_remove.html", {"registry": registry})
