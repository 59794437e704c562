from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from .forms import RegistryAdminForm
from .models import (
    DeletionBatch,
    DeletionItem,
    GitLabConnection,
    GitLabMergeRequest,
    GitLabProject,
    Manifest,
    Registry,
    RegistryChange,
    Repository,
    SyncRun,
    Tag,
)
from .registries import (
    PASSWORD_CLEARED_NOTE,
    audited_values,
    clear_password_if_host_changed,
    record_registry_change,
    remove_registry,
)


class GitLabConnectionInline(admin.StackedInline[GitLabConnection, Registry]):
    """Where the registry's repositories and their context come from. The token is the
    registry's password (set through add_registry); what it may do is checked there."""

    model = GitLabConnection
    extra = 0
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fields = [
        "url",
        "group_path",
        "project_paths",
        "token_can_browse",
        "token_can_delete",
        "token_problems",
        "refreshed_at",
        "error",
    ]
    readonly_fields = [
        "token_can_browse",
        "token_can_delete",
        "token_problems",
        "refreshed_at",
        "error",
    ]


@admin.register(Registry)
class RegistryAdmin(admin.ModelAdmin[Registry]):
    """Edits here follow the app's rules: the URL carries no credentials (Registry.clean),
    a move to another host clears the stored password, and each change is audited."""

    list_display = ["name", "url", "username", "verify_tls", "kind"]
    # The password is set through the app or add_registry; its ciphertext never shows here.
    form = RegistryAdminForm
    inlines = [GitLabConnectionInline]

    def save_model(self, request: HttpRequest, obj: Registry, form: Any, change: bool) -> None:
        stored = Registry.objects.filter(pk=obj.pk).first() if change else None
        before = audited_values(stored) if stored else None
        cleared = clear_password_if_host_changed(
            registry=obj, previous_url=stored.url if stored else ""
        )
        super().save_model(request, obj, form, change)
        note = PASSWORD_CLEARED_NOTE if cleared else ""
        record_registry_change(
            registry=obj, before=before, actor=request.user.get_username(), note=note
        )
        if cleared:
            messages.warning(request, PASSWORD_CLEARED_NOTE)

    def delete_model(self, request: HttpRequest, obj: Registry) -> None:
        remove_registry(registry=obj, actor=request.user.get_username())

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Registry]) -> None:
        for registry in queryset:
            remove_registry(registry=registry, actor=request.user.get_username())


@admin.register(Repository)
class RepositoryAdmin(admin.ModelAdmin[Repository]):
    list_display = ["name", "registry", "last_synced_at"]
    list_filter = ["registry"]
    search_fields = ["name"]


class ReadOnlyAdmin(admin.ModelAdmin[Any]):
    """Rows the app writes itself: the cache (sync, deletions) and the audit log."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Tag)
class TagAdmin(ReadOnlyAdmin):
    list_display = ["name", "repository", "digest", "size", "created", "first_seen"]
    list_filter = ["repository__registry"]
    search_fields = ["name", "repository__name", "manifest__digest"]
    list_select_related = ["repository__registry", "manifest"]

    @admin.display(ordering="manifest__digest")
    def digest(self, tag: Tag) -> str:
        return tag.manifest.digest

    @admin.display(ordering="manifest__size")
    def size(self, tag: Tag) -> int:
        return tag.manifest.size

    @admin.display(ordering="manifest__created")
    def created(self, tag: Tag) -> datetime | None:
        return tag.manifest.created


@admin.register(Manifest)
class ManifestAdmin(ReadOnlyAdmin):
    list_display = ["digest", "repository", "media_type", "size", "created"]
    list_filter = ["media_type", "repository__registry"]
    search_fields = ["digest", "repository__name"]
    list_select_related = ["repository__registry"]


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = [
        "registry",
        "started_at",
        "status",
        "tags_added",
        "tags_changed",
        "tags_removed",
        "requests_made",
    ]
    list_filter = ["status", "registry"]


class AuditLogAdmin(ReadOnlyAdmin):
    """The deletion audit log is append-only: readable here, never added, changed or deleted."""

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(DeletionBatch)
class DeletionBatchAdmin(AuditLogAdmin):
    list_display = [
        "pk",
        "registry_name",
        "planned_by_username",
        "confirmed_by_username",
        "source",
        "status",
        "planned_at",
        "finished_at",
        "tags_planned",
        "deleted_count",
        "untagged_count",
        "failed_count",
        "bytes_deleted",
    ]
    list_filter = ["status", "source", "registry_name"]
    search_fields = ["registry_name", "planned_by_username", "confirmed_by_username", "reason"]
    date_hierarchy = "planned_at"
    # The registry and the user may be gone; the names above are the record.
    exclude = ["registry", "planned_by", "lease_token", "lease_expires_at"]


@admin.register(DeletionItem)
class DeletionItemAdmin(AuditLogAdmin):
    list_display = [
        "repository_name",
        "tag",
        "short_digest",
        "action",
        "outcome",
        "http_status",
        "batch",
        "finished_at",
    ]
    list_filter = ["outcome", "action", "batch__registry_name"]
    search_fields = ["repository_name", "tag", "digest", "batch__planned_by_username"]
    list_select_related = ["batch"]


@admin.register(RegistryChange)
class RegistryChangeAdmin(ReadOnlyAdmin):
    list_display = ["changed_at", "registry_name", "action", "changed_by_username", "note"]
    list_filter = ["action", "registry_name"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(GitLabProject)
class GitLabProjectAdmin(ReadOnlyAdmin):
    """GitLab's context is written by the sync only."""

    list_display = ["path", "connection", "refreshed_at", "error"]
    list_filter = ["connection__registry"]
    search_fields = ["path"]


@admin.register(GitLabMergeRequest)
class GitLabMergeRequestAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "project", "state", "source_branch", "author_username", "updated_at"]
    list_filter = ["state", "project__connection__registry"]
    search_fields = ["source_branch", "title", "author_username"]
