"""GitLab's metadata-database tag list: every tag with its digest, one request a thousand.

`GET /gitlab/v1/repositories/<path>/tags/list/` (gitlab-org/container-registry
`docs/spec/gitlab/api.md`, "List Repository Tags"): a JSON array of `name, digest,
config_digest, media_type, size_bytes, created_at, updated_at, published_at`, sorted by
name, paged with `n` (at most 1000) and `last`, the next page named by `Link:
rel="next"` (absent on the last page). The path must end with a slash.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import errors
from .manifests import parse_created

PAGE_SIZE = 1000  # the API's maximum
_DIGEST = re.compile(r"^sha(256|512):[a-f0-9]{64,128}$")


@dataclass(frozen=True)
class TagDetail:
    name: str
    digest: str
    media_type: str
    config_digest: str
    size: int
    created_at: datetime | None
    published_at: datetime | None


def parse_tag_details(document: Any, *, what: str) -> list[TagDetail]:
    """The tags of one page; a row without a usable name or digest is refused whole:
    a list we cannot trust must not decide what a repository holds."""
    if not isinstance(document, list):
        raise errors.InvalidResponse(f"The registry sent a malformed tag list while {what}.")
    details = []
    for row in document:
        if not isinstance(row, dict):
            raise errors.InvalidResponse(f"The registry sent a malformed tag while {what}.")
        name, digest = row.get("name"), row.get("digest")
        if not isinstance(name, str) or not isinstance(digest, str) or not _DIGEST.match(digest):
            raise errors.InvalidResponse(
                f"The registry sent a tag without a usable name or digest while {what}."
            )
        size = row.get("size_bytes")
        details.append(
            TagDetail(
                name=name,
                digest=digest,
                media_type=str(row.get("media_type") or ""),
                config_digest=str(row.get("config_digest") or ""),
                size=size if isinstance(size, int) and size >= 0 else 0,
                created_at=parse_created(row.get("created_at")),
                published_at=parse_created(row.get("published_at")),
            )
        )
    return details
