"""Events that no worker took up, and events old enough to forget."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings

from registry.chunking import chunks
from registry.models import Registry, RegistryEvent

# A pending event older than this has no worker on it: its task was lost.
STALLED_AFTER = timedelta(seconds=30)


def has_pending_events(*, registry: Registry) -> bool:
    return RegistryEvent.objects.filter(
        registry=registry, state=RegistryEvent.State.PENDING
    ).exists()


def registries_with_stalled_events(*, now: datetime) -> list[int]:
    rows = RegistryEvent.objects.filter(
        state=RegistryEvent.State.PENDING, received_at__lt=now - STALLED_AFTER
    )
    return sorted(set(rows.values_list("registry_id", flat=True).distinct()))


def forget_old_events(*, now: datetime) -> int:
    """Delete handled events past EVENTS_RETENTION_DAYS; a redelivery of one of them is
    long past (the registry gives up when it restarts). Returns how many went."""
    cutoff = now - timedelta(days=settings.EVENTS_RETENTION_DAYS)
    old = RegistryEvent.objects.filter(received_at__lt=cutoff).exclude(
        state=RegistryEvent.State.PENDING
    )
    ids = list(old.values_list("pk", flat=True))
    for chunk in chunks(ids):
        RegistryEvent.objects.filter(pk__in=chunk).delete()
    return len(ids)
