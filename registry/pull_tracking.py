"""The staleness rule on pulls (registry.staleness, rule 6): was an image pulled lately?

Pulls are known from the registry's notifications (registry.events) since the first
one came: an image nobody pulled since counts from then, or from when its tag was
first seen if that is later. Before any notification nothing is known of pulls, and
the rule keeps every tag.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .models import EventEndpoint, Registry

NOT_TRACKED_REASON = "pulls not tracked yet (no notification from the registry)"


def pulls_tracked_since(*, registry: Registry) -> datetime | None:
    """When the registry's first notification came; None: none yet."""
    return (
        EventEndpoint.objects.filter(registry=registry)
        .values_list("first_event_at", flat=True)
        .first()
    )


def unpulled_for(
    *,
    days: int,
    last_pulled: datetime | None,
    first_seen: datetime,
    tracked_since: datetime | None,
    now: datetime,
) -> bool:
    """Nobody pulled the image for more than `days`, as far as pull tracking can tell."""
    if tracked_since is None:
        return False
    since = last_pulled or max(tracked_since, first_seen)
    return now - since > timedelta(days=days)


def pulled_reason(
    *, days: str, last_pulled: datetime | None, tracked_since: datetime | None
) -> str:
    """Why a tag is kept by the rule; `days` in words ("30 days")."""
    if tracked_since is None:
        return NOT_TRACKED_REASON
    if last_pulled is None:
        return f"no pull recorded, but pulls counted for less than {days}"
    return f"pulled within {days}"
