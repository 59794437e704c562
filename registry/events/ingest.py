"""Accepting a delivery: who sent it, and storing its events for a worker to apply.

The registry waits for the answer, and blocks its queue for that endpoint while it
does: the request only checks, stores and queues. Applying is a worker's
(`registry.events.apply`), asked for once however many deliveries come in between.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce

from registry.models import EventEndpoint, RegistryEvent
from registry.secrets import CredentialsKeyMismatch

from .endpoint import AUTH_SCHEME
from .envelope import Delivery, Event

logger = logging.getLogger(__name__)

# Compared against when the registry has no endpoint, so that an unknown name takes as
# long to refuse as a wrong secret.
_NO_SECRET = "no-secret-" + "x" * 32
NOTE_OTHER_ACTION = "Not an action the cache follows (push, pull, delete)."


def authenticated_endpoint(*, registry_name: str, authorization: str) -> EventEndpoint | None:
    """The endpoint whose secret the `Authorization: Bearer …` header carries, or None.

    None as well for a registry that does not exist or has no endpoint: the caller
    answers 401 alike, and says nothing about which registries exist.
    """
    endpoint = (
        EventEndpoint.objects.select_related("registry")
        .filter(registry__name=registry_name)
        .first()
    )
    expected = _NO_SECRET
    if endpoint is not None:
        try:
            expected = endpoint.secret
        except CredentialsKeyMismatch:
            logger.warning("The notification secret of %s cannot be decrypted", registry_name)
    scheme, _, presented = authorization.partition(" ")
    matches = hmac.compare_digest(presented.strip().encode(), expected.encode())
    if endpoint is None or expected == _NO_SECRET or scheme != AUTH_SCHEME or not matches:
        return None
    return endpoint


@dataclass(frozen=True)
class Stored:
    stored: int  # new events, to apply
    duplicates: int  # ids already received: a redelivery
    own_pulls: int  # the janitor's own requests, not kept
    apply_needed: bool  # no task is queued for this registry yet: the caller queues one


def store_delivery(*, endpoint: EventEndpoint, delivery: Delivery, now: datetime) -> Stored:
    """Store the delivery's new events (de-duplicated on their id) in one transaction."""
    own = [e for e in delivery.events if e.action == RegistryEvent.Action.PULL and e.from_janitor]
    kept = [
        e
        for e in delivery.events
        if not e.is_blob and not (e.action == RegistryEvent.Action.PULL and e.from_janitor)
    ]
    unique: dict[str, Event] = {event.id: event for event in kept}
    with transaction.atomic():
        known = set(
            RegistryEvent.objects.filter(
                registry_id=endpoint.registry_id, event_id__in=list(unique)
            ).values_list("event_id", flat=True)
        )
        rows = [_row(endpoint, e, now) for event_id, e in unique.items() if event_id not in known]
        # ignore_conflicts: the same redelivery may be stored by two requests at once.
        RegistryEvent.objects.bulk_create(rows, ignore_conflicts=True)
        EventEndpoint.objects.filter(pk=endpoint.pk).update(
            last_event_at=now,
            first_event_at=Coalesce(F("first_event_at"), now),
            events_received=F("events_received") + len(delivery.events),
        )
        pending = any(row.state == RegistryEvent.State.PENDING for row in rows)
        apply_needed = pending and bool(
            EventEndpoint.objects.filter(pk=endpoint.pk, apply_queued=False).update(
                apply_queued=True
            )
        )
    return Stored(
        stored=len(rows),
        duplicates=len(kept) - len(rows),
        own_pulls=len(own),
        apply_needed=apply_needed,
    )


def _row(endpoint: EventEndpoint, event: Event, now: datetime) -> RegistryEvent:
    other = event.action == RegistryEvent.Action.OTHER
    return RegistryEvent(
        registry_id=endpoint.registry_id,
        event_id=event.id,
        action=event.action,
        repository=event.repository,
        tag=event.tag,
        digest=event.digest,
        media_type=event.media_type,
        timestamp=event.timestamp,
        received_at=now,
        actor=event.actor,
        state=RegistryEvent.State.IGNORED if other else RegistryEvent.State.PENDING,
        note=NOTE_OTHER_ACTION if other else "",
    )
