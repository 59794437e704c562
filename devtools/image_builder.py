"""Build and push small synthetic images over the registry API (no docker needed).

Used by the demo seeder, the benchmarks and the tests: every field of what is
pushed (digest, size, created, platforms) is known in advance.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from registry.client import Descriptor, RegistryClient
from registry.client.media_types import (
    DOCKER_CONFIG,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
)

DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


@dataclass(frozen=True)
class Pushed:
    digest: str
    media_type: str
    size: int  # layers only, as the cache counts
    created: datetime
    platforms: tuple[str, ...]
    manifest_size: int  # bytes of the manifest itself, for index descriptors
    layer_digests: tuple[str, ...] = ()


def push_image(
    client: RegistryClient,
    repository: str,
    tag: str | None,
    *,
    created: datetime,
    arch: str = "amd64",
    variant: str = "",
    oci: bool = False,
    layers: tuple[bytes, ...] = (),
    shared_layers: tuple[Descriptor, ...] = (),
    label: str = "",
    labels: dict[str, str] | None = None,
) -> Pushed:
    """Push one image; `tag=None` pushes it by digest only (an index child).

    `layers` are uploaded (skipping the existence check: pass only new content);
    `shared_layers` were uploaded before and are only referenced. `labels` go into the
    config with `label` (as `org.opencontainers.image.revision`, the commit, does).
    """
    if not layers and not shared_layers:
        layers = (hashlib.sha256(f"{repository}{tag}{label}{created}".encode()).digest(),)
    layer_type = OCI_LAYER if oci else DOCKER_LAYER
    descriptors: list[dict[str, Any]] = [
        {"mediaType": layer_type, "digest": layer.digest, "size": layer.size}
        for layer in shared_layers
    ]
    for data in layers:
        digest = client.upload_blob(repository, data, check_exists=False)
        descriptors.append({"mediaType": layer_type, "digest": digest, "size": len(data)})
    platform = {"os": "linux", "architecture": arch, **({"variant": variant} if variant else {})}
    config = json.dumps(
        {
            "created": created.isoformat().replace("+00:00", "Z"),
            **platform,
            "config": {"Labels": {"label": label or tag or "", **(labels or {})}},
            "rootfs": {"type": "layers", "diff_ids": [d["digest"] for d in descriptors]},
        }
    ).encode()
    config_digest = client.upload_blob(repository, config, check_exists=False)
    media_type = OCI_MANIFEST if oci else DOCKER_MANIFEST
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {
                "mediaType": OCI_CONFIG if oci else DOCKER_CONFIG,
                "digest": config_digest,
                "size": len(config),
            },
            "layers": descriptors,
        }
    ).encode()
    reference = tag or "sha256:" + hashlib.sha256(body).hexdigest()
    digest = client.put_manifest(repository, reference, body, media_type)
    return Pushed(
        digest=digest,
        media_type=media_type,
        size=sum(d["size"] for d in descriptors),
        created=created,
        platforms=("/".join(filter(None, ["linux", arch, variant])),),
        manifest_size=len(body),
        layer_digests=tuple(d["digest"] for d in descriptors),
    )


def push_index(
    client: RegistryClient, repository: str, tag: str, children: list[Pushed], *, oci: bool = False
) -> Pushed:
    media_type = OCI_INDEX if oci else DOCKER_MANIFEST_LIST
    manifests = []
    for child in children:
        os_name, arch, *variant = child.platforms[0].split("/")
        platform = {"os": os_name, "architecture": arch}
        if variant:
            platform["variant"] = variant[0]
        manifests.append(
            {
                "mediaType": child.media_type,
                "digest": child.digest,
                "size": child.manifest_size,
                "platform": platform,
            }
        )
    body = json.dumps({"schemaVersion": 2, "mediaType": media_type, "manifests": manifests})
    digest = client.put_manifest(repository, tag, body.encode(), media_type)
    return Pushed(
        digest=digest,
        media_type=media_type,
        size=sum(child.size for child in children),
        created=max(child.created for child in children),
        platforms=tuple(sorted(child.platforms[0] for child in children)),
        manifest_size=len(body),
    )


def upload_layer(client: RegistryClient, repository: str, data: bytes) -> Descriptor:
    """Upload a layer once, to be shared by several images (`shared_layers`)."""
    digest = client.upload_blob(repository, data)
    return Descriptor(media_type=DOCKER_LAYER, digest=digest, size=len(data))


def retag(client: RegistryClient, repository: str, source_tag: str, new_tag: str) -> str:
    """Point another tag at the same manifest bytes (same digest)."""
    document = client.get_manifest(repository, source_tag)
    return client.put_manifest(repository, new_tag, document.body, document.media_type)
