"""The staleness rule on pulls (registry.staleness, rule 6): was an image pulled lately?

Pulls are known from the registry's notifications (registry.events) since the first
one came: an image nobody pulled since counts from then, or from when its tag was
first seen if that is later. Before any notification nothing is known of pulls, and
the rule keeps every tag.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from .models import EventEndpoint, Manifest, Registry

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


def never_pulled_since(
    *, last_pulled: datetime | None, first_seen: datetime, tracked_since: datetime | None
) -> datetime | None:
    """For "never since 3 Nov": from when a pull would have been recorded, for an image
    with none; None when it has one, or nothing is tracked."""
    if last_pulled is not None or tracked_since is None:
        return None
    return max(tracked_since, first_seen)


def mark_last_pulled(rows: Iterable[Any], *, tracked_since: datetime | None) -> None:
    """Set `pulled_at` and `never_pulled_since` on each tag row (with its manifest) for
    the *Last pulled* column."""
    for row in rows:
        row.pulled_at = row.manifest.last_pulled
        row.never_pulled_since = never_pulled_since(
            last_pulled=row.pulled_at, first_seen=row.first_seen, tracked_since=tracked_since
        )


def mark_items_last_pulled(
    items: list[Any], *, registry: Registry, tracked_since: datetime | None
) -> None:
    """The same for deletion items (repository name and digest; no tag row): the image's
    last pull as the cache has it now. One query."""
    digests = {item.digest for item in items}
    rows = Manifest.objects.filter(repository__registry=registry, digest__in=digests).values_list(
        "repository__name", "digest", "last_pulled"
    )
    pulls = {(name, digest): pulled for name, digest, pulled in rows}
    for item in items:
        item.pulled_at = pulls.get((item.repository_name, item.digest))
        item.never_pulled_since = (
            tracked_since if item.pulled_at is None and tracked_since is not None else None
        )


def pulled_reason(
    *, days: str, last_pulled: datetime | None, tracked_since: datetime | None
) -> str:
    """Why a tag is kept by the rule; `days` in words ("30 days")."""
    if tracked_since is None:
        return NOT_TRACKED_REASON
    if last_pulled is None:
        return f"no pull recorded, but pulls counted for less than {days}"
    return f"pulled within {days}"
