"""One helper per access rule; each raises 404 or PermissionDenied (403)."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django_htmx.middleware import HtmxDetails

from registry.models import DeletionBatch, Registry, Tag
from registry.roles import DELETE_PERMISSION


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails
    # LoginRequiredMiddleware lets no anonymous request reach a view.
    user: User


def require_viewer(request: HttpRequest) -> None:
    if not request.user.has_perm("registry.view_registry"):
        raise PermissionDenied


def get_registry_for_viewer(request: HttpRequest, name: str) -> Registry:
    require_viewer(request)
    return get_object_or_404(Registry, name=name)


def get_registry_for_janitor(request: HttpRequest, name: str) -> Registry:
    """Syncing and deleting: the Janitors role (or an admin)."""
    registry = get_registry_for_viewer(request, name)
    if not request.user.has_perm("registry.sync_registry"):
        raise PermissionDenied
    return registry


def get_registry_for_admin(request: HttpRequest, name: str) -> Registry:
    registry = get_registry_for_viewer(request, name)
    if not request.user.has_perm("registry.change_stalenessrules"):
        raise PermissionDenied
    return registry


# Adding, editing, testing and removing registries: the Registry admins role.
MANAGE_REGISTRIES_PERMISSION = "registry.change_registry"


def require_registry_admin(request: HttpRequest) -> None:
    require_viewer(request)
    if not request.user.has_perm(MANAGE_REGISTRIES_PERMISSION):
        raise PermissionDenied


def get_registry_to_manage(request: HttpRequest, name: str) -> Registry:
    require_registry_admin(request)
    return get_object_or_404(Registry, name=name)


def get_tag_for_viewer(request: HttpRequest, pk: int) -> Tag:
    require_viewer(request)
    return get_object_or_404(Tag.objects.select_related("repository__registry", "manifest"), pk=pk)


def require_deleter(request: HttpRequest) -> None:
    """Planning and confirming deletions: the delete_images permission (Janitors, admins)."""
    if not request.user.has_perm(DELETE_PERMISSION):
        raise PermissionDenied


def get_registry_for_deleter(request: HttpRequest, name: str) -> Registry:
    registry = get_registry_for_viewer(request, name)
    require_deleter(request)
    return registry


def get_batch_for_viewer(request: HttpRequest, pk: int) -> DeletionBatch:
    """Every viewer may read the audit log, batches included."""
    require_viewer(request)
    return get_object_or_404(DeletionBatch, pk=pk)


def get_batch_for_deleter(request: HttpRequest, pk: int) -> DeletionBatch:
    batch = get_batch_for_viewer(request, pk)
    require_deleter(request)
    return batch
