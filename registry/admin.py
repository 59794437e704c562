from __future__ import annotations

from django.contrib import admin

from .models import DeletionBatch, DeletionItem, Manifest, Registry, Repository, SyncRun, Tag


@admin.register(Registry)
class RegistryAdmin(admin.ModelAdmin):
    list_display = ["name", "url", "username", "verify_tls"]
    # The password is set through add_registry; its ciphertext never shows here.
    exclude = ["password_encrypted", "sync_lock_token", "sync_lock_expires_at"]


@admin.register(Repository)
class RepositoryAdmin(admin.ModelAdmin):
    list_display = ["name", "registry", "last_synced_at"]
    list_filter = ["registry"]
    search_fields = ["name"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """The cache is written by the sync only."""

    def has_add_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
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
    def created(self, tag: Tag):  # type: ignore[no-untyped-def]
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

    def has_delete_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
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
