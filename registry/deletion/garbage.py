"""How to free the disk after a batch, said for the kind of registry it ran on.

Deleting manifests frees nothing until the registry's garbage collector runs. What to run
(and whether there is anything to run) depends on the registry: this repository's
docker-compose.yml (its registry service is reached as `registry`), a `registry` binary
run by hand or by a package, or GitLab, whose administrators run it (and whose registry
with its metadata database collects online, by itself). `registry.kinds` tells GitLab.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from registry.kinds import kind_of
from registry.models import Registry

from .batches import GC_COMMAND, GC_EXPLANATION, GC_UNTAGGED_WARNING

# The docker-compose.yml service name: the dashboard reaches that registry as registry:5000.
COMPOSE_SERVICE_HOST = "registry"
GC_BINARY_COMMAND = "registry garbage-collect /etc/docker/registry/config.yml"
GC_BINARY_EXPLANATION = (
    "The registry frees disk space only when its garbage collector runs, on the registry "
    "host, with the registry's own config file (Debian's package names the binary "
    "docker-registry). Stop pushes first (or put the registry in read-only mode): "
    "collecting during a push can corrupt the pushed image."
)
GC_GITLAB_EXPLANATION = (
    "GitLab runs garbage collection; ask your administrator. Until it runs, the deleted "
    "images' layers stay on GitLab's storage."
)
GC_GITLAB_ONLINE_EXPLANATION = (
    "GitLab runs garbage collection: its registry has the metadata database, so it removes "
    "the blobs no image uses any more by itself, in the background. Nothing to run here."
)


@dataclass(frozen=True)
class GarbageCollectionHint:
    explanation: str
    command: str = ""  # empty: nothing for the user to run
    warning: str = ""


def gc_hint(registry: Registry | None) -> GarbageCollectionHint:
    """What the batch page says under "Freeing the disk" (a removed registry: the binary's)."""
    if registry is not None:
        kind = kind_of(registry)
        if kind.collects_garbage_online:
            return GarbageCollectionHint(GC_GITLAB_ONLINE_EXPLANATION)
        if kind.is_gitlab:
            return GarbageCollectionHint(GC_GITLAB_EXPLANATION)
        if urlsplit(registry.url).hostname == COMPOSE_SERVICE_HOST:
            return GarbageCollectionHint(GC_EXPLANATION, GC_COMMAND, GC_UNTAGGED_WARNING)
    return GarbageCollectionHint(GC_BINARY_EXPLANATION, GC_BINARY_COMMAND, GC_UNTAGGED_WARNING)
