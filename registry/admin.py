from __future__ import annotations

from django.contrib import admin

from .models import Manifest, Registry, Repository, SyncRun, Tag


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
