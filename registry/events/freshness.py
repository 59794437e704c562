"""How current a registry's cache is, in the dashboard's words, and what its
notifications have delivered (for the notifications page)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count

from registry.models import EventEndpoint, Registry, RegistryEvent, SyncRun

RECENT_EVENTS_SHOWN = 20


def short_ago(delta: timedelta) -> str:
    """4 s, 12 min, 3 h, 2 days: Django's timesince says "0 minutes" below one."""
    seconds = max(int(delta.total_seconds()), 0)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


@dataclass(frozen=True)
class Freshness:
    """Live when the registry's last event came within EVENTS_LIVE_MINUTES."""

    last_event_at: datetime | None
    last_synced_at: datetime | None
    now: datetime

    @property
    def live(self) -> bool:
        if self.last_event_at is None:
            return False
        return self.now - self.last_event_at <= timedelta(minutes=settings.EVENTS_LIVE_MINUTES)

    @property
    def text(self) -> str:
        if self.live:
            assert self.last_event_at is not None
            return f"live (last event {short_ago(self.now - self.last_event_at)} ago)"
        if self.last_synced_at is not None:
            return f"synced {short_ago(self.now - self.last_synced_at)} ago"
        return "never synced"


def freshness_of(
    *, endpoint: EventEndpoint | None, last_sync: SyncRun | None, now: datetime
) -> Freshness:
    """From rows already loaded (no queries)."""
    return Freshness(
        last_event_at=endpoint.last_event_at if endpoint else None,
        last_synced_at=(last_sync.finished_at or last_sync.started_at) if last_sync else None,
        now=now,
    )


def endpoint_of(registry: Registry) -> EventEndpoint | None:
    """The registry's endpoint (loaded with `select_related("event_endpoint")`), or None."""
    try:
        return registry.event_endpoint
    except EventEndpoint.DoesNotExist:
        return None


def missed_message(count: int) -> str:
    things = "difference" if count == 1 else "differences"
    return (
        f"The last sync found {count:,} {things} that the registry's notifications had not "
        "brought in: check the registry's notifications block, and its log."
    )


def differences_counted(*, registry: Registry, run: SyncRun) -> bool:
    """Whether the run's changes count as differences the events missed: notifications
    were live since the sync before (one that started after the first event came)."""
    endpoint = EventEndpoint.objects.filter(registry=registry).first()
    if endpoint is None or endpoint.first_event_at is None:
        return False
    return (
        SyncRun.objects.filter(
            registry=registry,
            started_at__gte=endpoint.first_event_at,
            finished_at__isnull=False,
            status__in=[SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL],
        )
        .exclude(pk=run.pk)
        .exists()
    )


@dataclass(frozen=True)
class EventStatus:
    endpoint: EventEndpoint | None
    by_state: dict[str, int]
    recent: list[RegistryEvent]


def event_status(*, registry: Registry) -> EventStatus:
    """What the notifications page shows: counts by state (of the events kept), and the
    newest events."""
    endpoint = EventEndpoint.objects.filter(registry=registry).first()
    rows = RegistryEvent.objects.filter(registry=registry)
    by_state = dict(
        rows.order_by().values_list("state").annotate(n=Count("pk")).values_list("state", "n")
    )
    recent = list(rows.order_by("-received_at", "-pk")[:RECENT_EVENTS_SHOWN])
    return EventStatus(endpoint=endpoint, by_state=by_state, recent=recent)
