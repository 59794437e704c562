"""Parse manifests and image configs into plain values; verify what we were sent."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from . import errors
from .media_types import INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES

_SUPPORTED_DIGEST = re.compile(r"^(sha256|sha512):([a-f0-9]+)$")
_FRACTION = re.compile(r"(\.\d{6})\d+")


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: str = ""  # for an index's children: "linux/arm64/v8"


@dataclass(frozen=True)
class ManifestHead:
    """What a HEAD tells: enough to know whether a tag changed."""

    digest: str
    media_type: str
    size: int


@dataclass(frozen=True)
class ManifestDocument:
    digest: str
    media_type: str
    body: bytes = field(repr=False)
    config: Descriptor | None
    layers: tuple[Descriptor, ...]
    children: tuple[Descriptor, ...]  # an index's manifests

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_MEDIA_TYPES

    @property
    def layers_size(self) -> int:
        return sum(layer.size for layer in self.layers)

    def head(self) -> ManifestHead:
        return ManifestHead(digest=self.digest, media_type=self.media_type, size=len(self.body))


REVISION_LABEL = "org.opencontainers.image.revision"
REVISION_LENGTH = 100


@dataclass(frozen=True)
class ImageConfig:
    created: datetime | None
    platform: str
    # The commit the image was built from (OCI annotation/label), "" when not said.
    revision: str = ""


def compute_digest(body: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, body).hexdigest()}"


def verify_digest(body: bytes, digest: str, *, what: str) -> None:
    """Refuse content whose bytes do not hash to the digest the registry named."""
    match = _SUPPORTED_DIGEST.match(digest)
    if not match:
        raise errors.InvalidResponse(
            f"The registry sent an unusable digest {digest!r} while {what}."
        )
    if compute_digest(body, match[1]) != digest:
        raise errors.InvalidResponse(
            f"The registry sent content that does not match its digest {digest} while {what}: "
            f"it may be corrupt, or something between us and the registry changed it."
        )


def load_json_value(body: bytes, *, what: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.InvalidResponse(
            f"The registry answered with malformed JSON while {what}."
        ) from exc


def load_json(body: bytes, *, what: str) -> dict[str, Any]:
    document = load_json_value(body, what=what)
    if not isinstance(document, dict):
        raise errors.InvalidResponse(f"The registry answered with unexpected JSON while {what}.")
    return document


def parse_manifest(body: bytes, *, digest: str, content_type: str, what: str) -> ManifestDocument:
    document = load_json(body, what=what)
    media_type = document.get("mediaType") or content_type.split(";")[0].strip()
    if media_type not in MANIFEST_MEDIA_TYPES:
        if not media_type and "manifests" in document:
            media_type = "application/vnd.oci.image.index.v1+json"
        else:
            raise errors.UnsupportedMediaType(
                f"The registry sent a manifest of a type this tool does not handle "
                f"({media_type or 'none given'}) while {what}. Schema 1 and other old formats "
                f"are not supported; such images are left alone.",
                code="UNSUPPORTED_MEDIA_TYPE",
            )
    try:
        if media_type in INDEX_MEDIA_TYPES:
            children = tuple(_descriptor(item) for item in document.get("manifests") or [])
            return ManifestDocument(digest, media_type, body, None, (), children)
        config = _descriptor(document["config"])
        layers = tuple(_descriptor(item) for item in document.get("layers") or [])
    except (KeyError, TypeError, ValueError) as exc:
        raise errors.InvalidResponse(
            f"The registry sent a manifest with missing or malformed fields while {what}."
        ) from exc
    return ManifestDocument(digest, media_type, body, config, layers, ())


def parse_image_config(body: bytes, *, what: str) -> ImageConfig:
    document = load_json(body, what=what)
    platform = format_platform(document)
    return ImageConfig(
        created=parse_created(document.get("created")),
        platform=platform,
        revision=_revision(document),
    )


def _revision(document: dict[str, Any]) -> str:
    """The `org.opencontainers.image.revision` label of the image config, if sensible."""
    config = document.get("config")
    labels = config.get("Labels") if isinstance(config, dict) else None
    value = labels.get(REVISION_LABEL) if isinstance(labels, dict) else None
    if not isinstance(value, str) or len(value.strip()) > REVISION_LENGTH:
        return ""
    return value.strip()


def parse_created(value: Any) -> datetime | None:
    """RFC 3339 with up to nanoseconds, as Go writes it; None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    text = _FRACTION.sub(r"\1", value.strip()).replace("Z", "+00:00")
    try:
        created = datetime.fromisoformat(text)
    except ValueError:
        return None
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    # Reproducible builds set created to the epoch: that is "unknown", not 1970.
    if created.year <= 1970:
        return None
    return created.astimezone(UTC)


def format_platform(platform: dict[str, Any] | None) -> str:
    if not isinstance(platform, dict):
        return ""
    parts = [platform.get("os") or "", platform.get("architecture") or ""]
    if platform.get("variant"):
        parts.append(platform["variant"])
    return "/".join(parts) if all(parts[:2]) else ""


def _descriptor(item: dict[str, Any]) -> Descriptor:
    return Descriptor(
        media_type=str(item.get("mediaType", "")),
        digest=str(item["digest"]),
        size=int(item["size"]),
        platform=format_platform(item.get("platform")),
    )
