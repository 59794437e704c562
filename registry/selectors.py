"""Read queries for pages and command-line listings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from .models import Tag


def tag_listing(
    *, registry: str | None = None, repository: str | None = None
) -> Iterator[dict[str, Any]]:
    """Every cached tag as a plain dict, ordered by registry, repository, tag."""
    tags = Tag.objects.order_by("repository__registry__name", "repository__name", "name")
    if registry:
        tags = tags.filter(repository__registry__name=registry)
    if repository:
        tags = tags.filter(repository__name=repository)
    rows = tags.values_list(
        "repository__registry__name",
        "repository__name",
        "name",
        "manifest__digest",
        "manifest__media_type",
        "manifest__size",
        "manifest__created",
        "manifest__platforms",
        "first_seen",
    )
    for reg, repo, tag, digest, media_type, size, created, platforms, first_seen in rows.iterator(
        chunk_size=2000
    ):
        yield {
            "registry": reg,
            "repository": repo,
            "tag": tag,
            "digest": digest,
            "media_type": media_type,
            "size": size,
            "created": iso_utc(created),
            "platforms": platforms,
            "first_seen": iso_utc(first_seen),
        }


def iso_utc(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, as scripts expect."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
