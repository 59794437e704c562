"""One sync per registry at a time, with a lock that also holds on SQLite.

The lock is a conditional UPDATE on the registry row: whoever changes the row
owns it. It expires, so a worker that died does not block syncs forever.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from .models import Registry


class SyncAlreadyRunning(Exception):
    def __init__(self, registry: Registry) -> None:
        super().__init__(f"A sync of {registry.name} is already running; this one was not started.")


def claim_sync_lock(registry: Registry, *, ttl_seconds: int | None = None) -> uuid.UUID | None:
    """Take the registry's sync lock; None when someone else holds a live one."""
    token = uuid.uuid4()
    now = timezone.now()
    ttl = timedelta(seconds=ttl_seconds or settings.SYNC_LOCK_TTL_SECONDS)
    claimed = (
        Registry.objects.filter(pk=registry.pk)
        .filter(Q(sync_lock_token__isnull=True) | Q(sync_lock_expires_at__lt=now))
        .update(sync_lock_token=token, sync_lock_expires_at=now + ttl)
    )
    return token if claimed else None


def renew_sync_lock(registry: Registry, token: uuid.UUID) -> None:
    """Keep the lock of a sync that is still going: only a dead worker's lock expires."""
    ttl = timedelta(seconds=settings.SYNC_LOCK_TTL_SECONDS)
    Registry.objects.filter(pk=registry.pk, sync_lock_token=token).update(
        sync_lock_expires_at=timezone.now() + ttl
    )


def release_sync_lock(registry: Registry, token: uuid.UUID) -> None:
    Registry.objects.filter(pk=registry.pk, sync_lock_token=token).update(
        sync_lock_token=None, sync_lock_expires_at=None
    )


@contextmanager
def sync_lock(registry: Registry) -> Iterator[uuid.UUID]:
    token = claim_sync_lock(registry)
    if token is None:
        raise SyncAlreadyRunning(registry)
    try:
        yield token
    finally:
        release_sync_lock(registry, token)
