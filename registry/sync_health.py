"""Whether a registry's cache can be trusted: a last sync that failed is one visible problem.

Every page of the registry shows a banner with the error and when the cache was last
read whole (`templates/registry/_sync_trouble.html`), and the preview of a deletion warns
that the cache it was planned from may be out of date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .models import Registry, SyncRun, Tag
from .sync_requests import without_credentials

UNKNOWN_ERROR = "The sync stopped without saying why."
PREVIEW_WARNING = (
    "The last sync of this registry failed, so the cache this plan comes from may be out "
    "of date. Nothing is deleted on its word alone: just before each delete the registry "
    "is read again, and a tag that changed since is skipped."
)

NEVER_SYNCED_MESSAGE = (
    "{name} has never been synced: its tags show here once a sync has read the registry."
)
EMPTY_REGISTRY_MESSAGE = "{name} holds no tags: the last sync found none."

# Runs that read the registry: a partial one read all but some repositories.
GOOD_STATUSES = (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL)


@dataclass(frozen=True)
class SyncTrouble:
    """The last sync failed: what it said, when, and when a sync last worked."""

    error: str
    failed_at: datetime
    last_good_at: datetime | None


def sync_trouble(*, registry: Registry) -> SyncTrouble | None:
    """The trouble when the registry's newest finished sync failed, else None (two queries)."""
    runs = SyncRun.objects.filter(registry=registry).order_by("-started_at", "-pk")
    last = runs.exclude(status=SyncRun.Status.RUNNING).first()
    if last is None or last.status != SyncRun.Status.FAILED:
        return None
    good = runs.filter(status__in=GOOD_STATUSES).first()
    return SyncTrouble(
        error=without_credentials(last.error, url=registry.url) or UNKNOWN_ERROR,
        failed_at=last.finished_at or last.started_at,
        last_good_at=(good.finished_at or good.started_at) if good else None,
    )


def empty_cache_message(*, registry: Registry) -> str:
    """Why a listing of the registry is empty when the cache holds none of its tags (never
    synced, or synced and empty); "" when it holds some, and filters explain the rest."""
    if Tag.objects.filter(repository__registry=registry).exists():
        return ""
    if SyncRun.objects.filter(registry=registry, status__in=GOOD_STATUSES).exists():
        return EMPTY_REGISTRY_MESSAGE.format(name=registry.name)
    return NEVER_SYNCED_MESSAGE.format(name=registry.name)
