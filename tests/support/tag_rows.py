"""Cache rows for tests of the tag listings: a tag on its own image, in one call."""

from __future__ import annotations

from typing import Any

from registry.models import Repository, Tag
from tests.factories import ManifestFactory, TagFactory

TAG_FIELDS = ["is_stale", "is_protected", "first_seen", "stale_reason"]


def make_tag(repository: Repository, name: str, **fields: Any) -> Tag:
    """A tag on its own manifest; tag fields and manifest fields in one call."""
    tag_fields = {key: fields.pop(key) for key in TAG_FIELDS if key in fields}
    manifest = ManifestFactory.create(repository=repository, **fields)
    return TagFactory.create(manifest=manifest, name=name, **tag_fields)
