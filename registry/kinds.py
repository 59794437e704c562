"""What kind of registry answers at a registry's URL: the one place that tells.

GitLab's registry says so in every `/v2/` answer: `Gitlab-Container-Registry-Version`,
`Gitlab-Container-Registry-Features` (a comma-separated list, such as `tag_delete`) and
`Gitlab-Container-Registry-Database-Enabled` (gitlab-org/container-registry,
`registry/handlers/api_base.go`; REGISTRY_NOTES "Registry detection"). Where it runs
with its metadata database, `GET /gitlab/v1/` answers 200 and its tag list gives every
tag's digest without a request per tag.

The sync detects the kind on every run (`detect_kind`, then `record_kind`); everything
else asks `kind_of(registry)`: how to delete (`deletes_by_tag`), how to read tags
(`has_tag_details`), and what to say about garbage collection (GitLab's registry with
its database collects online, by itself).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from .models import Registry

VERSION_HEADER = "Gitlab-Container-Registry-Version"
FEATURES_HEADER = "Gitlab-Container-Registry-Features"
DATABASE_HEADER = "Gitlab-Container-Registry-Database-Enabled"


class RegistryKind(enum.StrEnum):
    DISTRIBUTION = "distribution"  # CNCF distribution, or anything else speaking /v2/
    GITLAB = "gitlab"


@dataclass(frozen=True)
class KindInfo:
    kind: RegistryKind = RegistryKind.DISTRIBUTION
    version: str = ""
    features: tuple[str, ...] = ()
    database: bool = False  # its metadata database is on (header, or /gitlab/v1/ answers)
    tag_details: bool = False  # GET /gitlab/v1/ answered 200: tags come a thousand a request
    detected: bool = field(default=False, compare=False)  # False: never seen by a sync

    @property
    def is_gitlab(self) -> bool:
        return self.kind == RegistryKind.GITLAB

    @property
    def deletes_by_tag(self) -> bool:
        """GitLab removes one tag on `DELETE /v2/<name>/manifests/<tag>` (since 16.4), and
        its protected-tag rules refuse deletes by digest: there every tag goes by name."""
        return self.is_gitlab

    @property
    def collects_garbage_online(self) -> bool:
        """GitLab's registry with its metadata database removes untagged images itself."""
        return self.is_gitlab and self.database

    @property
    def label(self) -> str:
        if not self.is_gitlab:
            return "Docker registry (distribution)"
        version = f" {self.version}" if self.version else ""
        return f"GitLab container registry{version}"


def detect_kind(headers: Mapping[str, str]) -> KindInfo:
    """The kind a `/v2/` answer's headers tell (header names are case-insensitive)."""
    lowered = {key.lower(): value for key, value in headers.items()}
    version = lowered.get(VERSION_HEADER.lower())
    if version is None:
        return KindInfo(detected=True)
    features = tuple(
        item.strip() for item in lowered.get(FEATURES_HEADER.lower(), "").split(",") if item.strip()
    )
    database = lowered.get(DATABASE_HEADER.lower(), "").strip().lower() == "true"
    return KindInfo(
        kind=RegistryKind.GITLAB,
        version=version.strip()[:40],
        features=features[:20],
        database=database,
        detected=True,
    )


def kind_of(registry: Registry) -> KindInfo:
    """The kind the last sync found (a distribution registry until one has run)."""
    details = registry.kind_details or {}
    try:
        kind = RegistryKind(registry.kind)
    except ValueError:
        return KindInfo()
    return KindInfo(
        kind=kind,
        version=str(details.get("version", "")),
        features=tuple(str(f) for f in details.get("features", [])),
        database=bool(details.get("database")),
        tag_details=bool(details.get("tag_details")),
        detected=True,
    )


def record_kind(registry: Registry, info: KindInfo) -> None:
    """Store what a sync found, when it differs from what was stored."""
    details = {key: value for key, value in asdict(info).items() if key not in ("kind", "detected")}
    details["features"] = list(info.features)
    if registry.kind == info.kind.value and registry.kind_details == details:
        return
    registry.kind, registry.kind_details = info.kind.value, details
    Registry.objects.filter(pk=registry.pk).update(kind=registry.kind, kind_details=details)
