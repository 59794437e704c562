"""Writing what was read into the cache: one repository in one transaction.

`remove_orphan_manifests` and `count_tags_per_manifest` also serve whatever else
changes the cache's tags (a deletion run).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from registry.chunking import chunks
from registry.models import Layer, Manifest, Registry, Repository, Tag

from .reading import (
    CACHED_MANIFEST_FIELDS,
    CachedManifest,
    CachedTag,
    FetchedManifest,
    RepositoryRead,
    RepositoryState,
)


@dataclass
class SyncCounts:
    tags_added: int = 0
    tags_changed: int = 0
    tags_removed: int = 0
    manifests_fetched: int = 0
    changed_repository_ids: set[int] = field(default_factory=set)


# -- writing the cache -----------------------------------------------------------


def write_repository(*, registry: Registry, read: RepositoryRead, counts: SyncCounts) -> bool:
    """Bring one repository's cache in line with what was read. True if it is new."""
    assert read.state is not None
    state = read.state
    counts.manifests_fetched += len(state.fetched)
    now = timezone.now()
    with transaction.atomic():
        repo, created = Repository.objects.get_or_create(registry=registry, name=read.name)
        manifest_ids = _insert_manifests(repo=repo, state=state, cached=read.cached)
        changes = _apply_tag_changes(
            repo=repo,
            state=state,
            existing=read.cached_tags,
            manifest_ids=manifest_ids,
            now=now,
            counts=counts,
        )
        if changes:
            remove_orphan_manifests(repo)
            count_tags_per_manifest(repo)
            counts.changed_repository_ids.add(repo.pk)
        repo.last_synced_at = now
        repo.save(update_fields=["last_synced_at"])
    return created


def write_tags(*, repo: Repository, state: RepositoryState, now: datetime) -> int:
    """Tags read outside a sync (`reading.read_tag`, for registry.events): store their new
    manifests, then create or move the tags; other tags stay as they are. Returns how
    many changed.

    The caller then removes orphans and recounts tags (`remove_orphan_manifests`,
    `count_tags_per_manifest`), once for many tags.
    """
    wanted = set(state.tag_digests.values())
    wanted |= {c.digest for f in state.fetched.values() for c in f.document.children}
    cached: dict[str, CachedManifest] = {}
    for chunk in chunks(sorted(wanted)):
        rows = Manifest.objects.filter(repository=repo, digest__in=chunk)
        for pk, digest, size, created, platforms, revision in rows.values_list(
            *CACHED_MANIFEST_FIELDS
        ):
            cached[digest] = CachedManifest(pk, size, created, platforms, revision)
    manifest_ids = _insert_manifests(repo=repo, state=state, cached=cached)
    existing: dict[str, CachedTag] = {}
    for names in chunks(sorted(state.tag_digests)):
        tag_rows = Tag.objects.filter(repository=repo, name__in=names)
        for pk, name, digest in tag_rows.values_list("pk", "name", "manifest__digest"):
            existing[name] = CachedTag(pk, digest)
    return _apply_tag_changes(
        repo=repo,
        state=state,
        existing=existing,
        manifest_ids=manifest_ids,
        now=now,
        counts=SyncCounts(),
    )


def _insert_manifests(
    *, repo: Repository, state: RepositoryState, cached: dict[str, CachedManifest]
) -> dict[str, int]:
    """Create rows for fetched manifests (children before their indexes). Digest → id."""
    images = [f for f in state.fetched.values() if not f.document.is_index]
    indexes = [f for f in state.fetched.values() if f.document.is_index]
    known = dict(cached)
    for batch in (images, indexes):
        new_rows = [_manifest_row(repo=repo, fetched=f, known=known) for f in batch]
        for row_chunk in chunks(new_rows):
            Manifest.objects.bulk_create(row_chunk, ignore_conflicts=True)
        new_digests = [f.document.digest for f in batch]
        for digests in chunks(new_digests):
            saved = Manifest.objects.filter(repository=repo, digest__in=digests)
            for pk, digest, size, created, platforms, revision in saved.values_list(
                *CACHED_MANIFEST_FIELDS
            ):
                known[digest] = CachedManifest(pk, size, created, platforms, revision)
    _insert_layers_and_children(fetched=[*images, *indexes], known=known)
    return {digest: item.id for digest, item in known.items()}


def _manifest_row(
    *, repo: Repository, fetched: FetchedManifest, known: dict[str, CachedManifest]
) -> Manifest:
    document = fetched.document
    if document.is_index:
        children = [known[c.digest] for c in document.children if c.digest in known]
        createds = [c.created for c in children if c.created is not None]
        platforms = {
            c.platform for c in document.children if c.platform and "unknown" not in c.platform
        }
        revisions = [c.revision for c in children if c.revision]
        return Manifest(
            repository=repo,
            digest=document.digest,
            media_type=document.media_type,
            size=sum(c.size for c in children),
            created=max(createds) if createds else None,
            platforms=sorted(platforms),
            revision=revisions[0] if revisions else "",
        )
    config = fetched.config
    assert document.config is not None
    return Manifest(
        repository=repo,
        digest=document.digest,
        media_type=document.media_type,
        size=document.layers_size,
        created=config.created if config else None,
        config_digest=document.config.digest,
        config_size=document.config.size,
        platforms=[config.platform] if config and config.platform else [],
        revision=config.revision if config else "",
    )


def _insert_layers_and_children(
    *, fetched: list[FetchedManifest], known: dict[str, CachedManifest]
) -> None:
    layers = [
        Layer(manifest_id=known[f.document.digest].id, digest=layer.digest, size=layer.size)
        for f in fetched
        for layer in f.document.layers
    ]
    for layer_chunk in chunks(layers):
        Layer.objects.bulk_create(layer_chunk)
    through = Manifest.children.through
    links = [
        through(from_manifest_id=known[f.document.digest].id, to_manifest_id=known[c.digest].id)
        for f in fetched
        for c in f.document.children
        if c.digest in known
    ]
    for link_chunk in chunks(links):
        through.objects.bulk_create(link_chunk, ignore_conflicts=True)


def _apply_tag_changes(
    *,
    repo: Repository,
    state: RepositoryState,
    existing: dict[str, CachedTag],
    manifest_ids: dict[str, int],
    now: datetime,
    counts: SyncCounts,
) -> int:
    """Add, repoint and remove tags; return how many changed."""
    added: list[Tag] = []
    changed: list[Tag] = []
    for name, digest in state.tag_digests.items():
        cached = existing.get(name)
        if cached is None:
            added.append(
                Tag(
                    repository=repo,
                    name=name,
                    manifest_id=manifest_ids[digest],
                    first_seen=now,
                    last_changed=now,
                )
            )
        elif cached.digest != digest:
            changed.append(Tag(pk=cached.id, manifest_id=manifest_ids[digest], last_changed=now))
    removed = [tag.id for name, tag in existing.items() if name not in state.tag_digests]
    for new_tags in chunks(added):
        Tag.objects.bulk_create(new_tags)
    for moved_tags in chunks(changed):
        Tag.objects.bulk_update(moved_tags, ["manifest", "last_changed"])
    for removed_ids in chunks(removed):
        Tag.objects.filter(pk__in=removed_ids).delete()
    counts.tags_added += len(added)
    counts.tags_changed += len(changed)
    counts.tags_removed += len(removed)
    return len(added) + len(changed) + len(removed)


def remove_orphan_manifests(repo: Repository) -> None:
    """Drop manifests no tag points at, directly or as the child of a tagged index."""
    orphans = Manifest.objects.filter(repository=repo, tags__isnull=True).exclude(
        parents__tags__isnull=False
    )
    ids = list(orphans.values_list("pk", flat=True).distinct())
    for chunk in chunks(ids):
        Layer.objects.filter(manifest_id__in=chunk).delete()
        Manifest.children.through.objects.filter(from_manifest_id__in=chunk).delete()
        Manifest.children.through.objects.filter(to_manifest_id__in=chunk).delete()
        Manifest.objects.filter(pk__in=chunk).delete()


def count_tags_per_manifest(repo: Repository) -> None:
    tags = Tag.objects.filter(manifest=OuterRef("pk")).order_by().values("manifest")
    Manifest.objects.filter(repository=repo).update(
        tag_count=Coalesce(Subquery(tags.annotate(n=Count("pk")).values("n")), 0)
    )
