"""The event applier and the sync take turns on a registry.

Both rewrite the registry's cache, and the sync writes each repository from what it
read a moment before: an event applied in between would be undone, or collide with
the sync's inserts. So each takes its own lock first and then looks at the other's:
the applier steps back while a sync holds the registry (the sync applies what is
pending when it starts), and a sync waits for the applier's current chunk, a second
or so. Taking one's own lock before looking means the two never both go on.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from registry.models import EventEndpoint, Registry

# A chunk of events takes well under this; a lock older belongs to a dead worker.
APPLY_LOCK_SECONDS = 60
SYNC_WAIT_POLL = 0.05


class ApplierBusy(Exception):
    """Another worker applies this registry's events: it takes the new ones too."""


class SyncRunning(Exception):
    """A sync holds the registry: try again once it has finished."""


def sync_is_running(registry: Registry) -> bool:
    now = timezone.now()
    return Registry.objects.filter(
        pk=registry.pk, sync_lock_token__isnull=False, sync_lock_expires_at__gt=now
    ).exists()


@contextmanager
def applier_turn(registry: Registry) -> Iterator[None]:
    """Hold the registry's apply lock. Raises ApplierBusy or SyncRunning."""
    token = uuid.uuid4()
    now = timezone.now()
    claimed = (
        EventEndpoint.objects.filter(registry=registry)
        .filter(Q(apply_lock_token__isnull=True) | Q(apply_lock_expires_at__lt=now))
        .update(
            apply_lock_token=token,
            apply_lock_expires_at=now + timedelta(seconds=APPLY_LOCK_SECONDS),
        )
    )
    if not claimed:
        raise ApplierBusy
    try:
        if sync_is_running(registry):
            raise SyncRunning
        yield
    finally:
        EventEndpoint.objects.filter(registry=registry, apply_lock_token=token).update(
            apply_lock_token=None, apply_lock_expires_at=None
        )


def wait_for_applier(registry: Registry, *, timeout: float = APPLY_LOCK_SECONDS) -> None:
    """Called by a sync holding the registry's sync lock: wait until no chunk of events
    is being applied (a dead worker's lock counts as free once it expires)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = EventEndpoint.objects.filter(
            registry=registry,
            apply_lock_token__isnull=False,
            apply_lock_expires_at__gt=timezone.now(),
        ).exists()
        if not busy:
            return
        time.sleep(SYNC_WAIT_POLL)
