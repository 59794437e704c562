"""Sync the cache with a registry: catalog → tags → HEAD every tag → fetch what is new.

An unchanged registry costs one HEAD per tag and no body fetches: bodies and
configs are fetched only for digests the cache does not hold. Each repository is
written in one transaction, so a repository that fails keeps its previous cache.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from .chunking import chunks
from .client import (
    AccessDenied,
    AuthenticationFailed,
    ImageConfig,
    ManifestDocument,
    NotFound,
    RegistryClient,
    RegistryError,
    RegistryUnreachable,
)
from .connect import client_for
from .locks import sync_lock
from .models import Layer, Manifest, Registry, Repository, SyncRun, Tag
from .secrets import CredentialsKeyMismatch
from .staleness import refresh_staleness

logger = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]  # (repositories done, total, current name)

CATALOG_DENIED = (
    "The registry refused to list its repositories (its catalog) with these credentials{detail}. "
    "GitLab lets only administrators read the catalog: name the repositories to sync instead, "
    "with `manage.py add_registry … --repository GROUP/PROJECT` (repeatable)."
)
STALENESS_FULL_REFRESH = timedelta(hours=1)
CACHED_MANIFEST_FIELDS = ("pk", "digest", "size", "created", "platforms")
READER_THREAD_PREFIX = "sync-read"


@dataclass
class SyncCounts:
    tags_added: int = 0
    tags_changed: int = 0
    tags_removed: int = 0
    manifests_fetched: int = 0
    changed_repository_ids: set[int] = field(default_factory=set)


@dataclass
class FetchedManifest:
    document: ManifestDocument
    config: ImageConfig | None = None


@dataclass
class RepositoryState:
    """What the registry holds for one repository, and the bodies new to the cache."""

    tag_digests: dict[str, str] = field(default_factory=dict)
    fetched: dict[str, FetchedManifest] = field(default_factory=dict)


@dataclass(frozen=True)
class CachedTag:
    id: int
    digest: str


@dataclass(frozen=True)
class CachedManifest:
    id: int
    size: int
    created: datetime | None
    platforms: list[str]


@dataclass
class RepositoryRead:
    """One repository: its cache before the sync, and what the registry holds now."""

    name: str
    cached: dict[str, CachedManifest]
    cached_tags: dict[str, CachedTag]
    state: RepositoryState | None = None
    error: RegistryError | None = None


# -- entry points --------------------------------------------------------------


def sync_registry(
    *,
    registry: Registry,
    repository: str | None = None,
    client: RegistryClient | None = None,
    progress: Progress | None = None,
) -> SyncRun:
    """Sync one registry (or one of its repositories) and return the finished SyncRun.

    Raises SyncAlreadyRunning when another sync holds the registry's lock.
    """
    with sync_lock(registry):
        run = SyncRun.objects.create(registry=registry, repository_name=repository or "")
        try:
            client = client or client_for(registry)
        except CredentialsKeyMismatch as exc:
            run.status, run.error, run.finished_at = SyncRun.Status.FAILED, str(exc), timezone.now()
            run.save()
            return run
        try:
            _run_sync(run=run, client=client, repository=repository, progress=progress)
        except RegistryError as exc:
            run.status = SyncRun.Status.FAILED
            run.error = exc.message
        except Exception:
            logger.exception("Sync of %s crashed", registry.name)
            run.status = SyncRun.Status.FAILED
            run.error = "The sync stopped on an internal error; the logs have the details."
            raise
        finally:
            run.requests_made = client.requests_made
            run.finished_at = timezone.now()
            run.save()
            client.close()
    return run


def _run_sync(
    *, run: SyncRun, client: RegistryClient, repository: str | None, progress: Progress | None
) -> None:
    registry = run.registry
    client.check()
    names = _repositories_to_sync(registry=registry, client=client, repository=repository)
    counts = SyncCounts()
    failed: list[dict[str, str]] = []
    run.repositories_total = len(names)
    # Closed here, on every way out: its reader thread must not outlive the run.
    with closing(read_repositories_ahead(registry=registry, client=client, names=names)) as reads:
        for index, read in enumerate(reads):
            SyncRun.objects.filter(pk=run.pk).update(
                repositories_total=len(names), repositories_done=index
            )
            if progress:
                progress(index, len(names), read.name)
            if isinstance(read.error, RegistryUnreachable | AuthenticationFailed):
                raise read.error  # the registry as a whole is gone or refuses us: fail the run
            if read.error is not None:
                message = read.error.message
                logger.warning("Sync of %s/%s failed: %s", registry.name, read.name, message)
                failed.append({"repository": read.name, "error": message})
                continue
            created = write_repository(registry=registry, read=read, counts=counts)
            run.repositories_added += int(created)
    run.repositories_done = len(names)
    if progress:
        progress(len(names), len(names), "")
    if repository is None and not failed:
        run.repositories_removed = _remove_vanished_repositories(registry=registry, keep=names)
    _refresh_staleness(registry=registry, changed=counts.changed_repository_ids)
    run.tags_added = counts.tags_added
    run.tags_changed = counts.tags_changed
    run.tags_removed = counts.tags_removed
    run.manifests_fetched = counts.manifests_fetched
    run.repository_errors = failed
    run.status = SyncRun.Status.PARTIAL if failed else SyncRun.Status.SUCCEEDED


def _repositories_to_sync(
    *, registry: Registry, client: RegistryClient, repository: str | None
) -> list[str]:
    if repository:
        return [repository]
    if registry.repositories:
        return list(registry.repositories)
    try:
        return sorted(client.list_repositories())
    except (AccessDenied, AuthenticationFailed) as exc:
        detail = f" (HTTP {exc.status})" if exc.status else ""
        raise type(exc)(CATALOG_DENIED.format(detail=detail), status=exc.status) from exc


def _remove_vanished_repositories(*, registry: Registry, keep: list[str]) -> int:
    keep_set = set(keep)
    ids = [pk for pk, name in registry.repos.values_list("pk", "name") if name not in keep_set]
    if ids:
        Repository.objects.filter(pk__in=ids).delete()
    return len(ids)


def _refresh_staleness(*, registry: Registry, changed: set[int]) -> None:
    """Verdicts for the repositories that changed; for all of them when the last is old."""
    now = timezone.now()
    last = registry.staleness_refreshed_at
    if last is None or now - last > STALENESS_FULL_REFRESH:
        refresh_staleness(registry=registry, now=now)
        Registry.objects.filter(pk=registry.pk).update(staleness_refreshed_at=now)
        registry.staleness_refreshed_at = now
    elif changed:
        refresh_staleness(registry=registry, now=now, repository_ids=changed)


# -- one repository ------------------------------------------------------------


def read_repositories_ahead(
    *, registry: Registry, client: RegistryClient, names: list[str]
) -> Iterator[RepositoryRead]:
    """Each repository's read, in order; the next is read while the caller writes this one.

    The registry's requests for one repository overlap the database writes of the
    one before (a tenth of a first sync), so the registry does not wait for the
    database. The cache is read in the caller's thread: only HTTP runs in the reader.
    """
    reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix=READER_THREAD_PREFIX)
    upcoming = iter(names)

    def start_next() -> tuple[RepositoryRead, Future[RepositoryState]] | None:
        name = next(upcoming, None)
        if name is None:
            return None
        read = RepositoryRead(
            name=name,
            cached=_cached_manifests(registry=registry, name=name),
            cached_tags=_cached_tags(registry=registry, name=name),
        )
        known_tags = {tag_name: tag.digest for tag_name, tag in read.cached_tags.items()}
        state = reader.submit(
            read_repository_state,
            client=client,
            name=name,
            known_tags=known_tags,
            known_digests=set(read.cached),
        )
        return read, state

    try:
        pending = start_next()
        while pending is not None:
            read, state = pending
            try:
                read.state = state.result()
            except RegistryError as exc:
                read.error = exc
            pending = start_next()  # read while the caller writes this one
            yield read
    finally:
        # A generator dropped unclosed is closed wherever it is collected, which may be
        # the reader thread itself: it cannot wait for itself there.
        in_reader = threading.current_thread().name.startswith(READER_THREAD_PREFIX)
        reader.shutdown(wait=not in_reader, cancel_futures=True)


def read_repository_state(
    *, client: RegistryClient, name: str, known_tags: dict[str, str], known_digests: set[str]
) -> RepositoryState:
    """Ask the registry what the repository holds now; fetch only bodies we lack.

    Tags the cache knows get a HEAD (the digest is all we need when it is
    unchanged). New tags get a GET straight away: the body comes with the digest.
    """
    state = RepositoryState()
    try:
        tags = client.list_tags(name)
    except NotFound:
        return state  # the repository is gone (or empty): its cache goes too

    configs: dict[str, ImageConfig] = {}

    def complete(document: ManifestDocument) -> FetchedManifest:
        """The manifest with its image config, fetched in the same worker: no second pass."""
        fetched = FetchedManifest(document)
        if document.config is not None:
            digest = document.config.digest
            if digest not in configs:
                configs[digest] = client.get_image_config(name, digest)
            fetched.config = configs[digest]
        return fetched

    def look_up(tag: str) -> tuple[str, FetchedManifest | None] | None:
        try:
            if tag in known_tags:
                return client.head_manifest(name, tag).digest, None
            document = client.get_manifest(name, tag)
        except NotFound:
            return None  # deleted between the tag list and this request
        if document.digest in known_digests:
            return document.digest, None
        return document.digest, complete(document)

    for tag, result, error in client.map_concurrently(look_up, tags):
        if error is not None:
            raise error
        if result is None:
            continue
        digest, fetched = result
        state.tag_digests[tag] = digest
        if fetched is not None:
            state.fetched.setdefault(digest, fetched)

    def fetch(digest: str) -> FetchedManifest:
        return complete(client.get_manifest(name, digest))

    missing = {d for d in state.tag_digests.values() if d not in known_digests} - set(state.fetched)
    _fetch_all(client=client, fetch=fetch, digests=missing, into=state.fetched)
    children = {child.digest for item in state.fetched.values() for child in item.document.children}
    children -= known_digests | set(state.fetched)
    _fetch_all(client=client, fetch=fetch, digests=children, into=state.fetched)
    return state


def _fetch_all(
    *,
    client: RegistryClient,
    fetch: Callable[[str], FetchedManifest],
    digests: Iterable[str],
    into: dict[str, FetchedManifest],
) -> None:
    for digest, fetched, error in client.map_concurrently(fetch, sorted(digests)):
        if error is not None:
            raise error
        assert fetched is not None
        into[digest] = fetched


# -- writing the cache -----------------------------------------------------------


def _cached_manifests(*, registry: Registry, name: str) -> dict[str, CachedManifest]:
    rows = Manifest.objects.filter(repository__registry=registry, repository__name=name)
    return {
        digest: CachedManifest(pk, size, created, platforms)
        for pk, digest, size, created, platforms in rows.values_list(*CACHED_MANIFEST_FIELDS)
    }


def _cached_tags(*, registry: Registry, name: str) -> dict[str, CachedTag]:
    rows = Tag.objects.filter(repository__registry=registry, repository__name=name)
    return {
        tag_name: CachedTag(pk, digest)
        for pk, tag_name, digest in rows.values_list("pk", "name", "manifest__digest")
    }


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


def _insert_manifests(
    *, repo: Repository, state: RepositoryState, cached: dict[str, CachedManifest]
) -> dict[str, int]:
    """Create rows for fetched manifests (children before their indexes). Digest → id."""
    images = [f for f in state.fetched.values() if not f.document.is_index]
    indexes = [f for f in state.fetched.values() if f.document.is_index]
    known = dict(cached)
    for batch in (images, indexes):
        rows = [_manifest_row(repo=repo, fetched=f, known=known) for f in batch]
        for chunk in chunks(rows):
            Manifest.objects.bulk_create(chunk, ignore_conflicts=True)
        new_digests = [f.document.digest for f in batch]
        for chunk in chunks(new_digests):
            rows = Manifest.objects.filter(repository=repo, digest__in=chunk)
            for pk, digest, size, created, platforms in rows.values_list(*CACHED_MANIFEST_FIELDS):
                known[digest] = CachedManifest(pk, size, created, platforms)
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
        return Manifest(
            repository=repo,
            digest=document.digest,
            media_type=document.media_type,
            size=sum(c.size for c in children),
            created=max(createds) if createds else None,
            platforms=sorted(platforms),
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
    )


def _insert_layers_and_children(
    *, fetched: list[FetchedManifest], known: dict[str, CachedManifest]
) -> None:
    layers = [
        Layer(manifest_id=known[f.document.digest].id, digest=layer.digest, size=layer.size)
        for f in fetched
        for layer in f.document.layers
    ]
    for chunk in chunks(layers):
        Layer.objects.bulk_create(chunk)
    through = Manifest.children.through
    links = [
        through(from_manifest_id=known[f.document.digest].id, to_manifest_id=known[c.digest].id)
        for f in fetched
        for c in f.document.children
        if c.digest in known
    ]
    for chunk in chunks(links):
        through.objects.bulk_create(chunk, ignore_conflicts=True)


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
    for chunk in chunks(added):
        Tag.objects.bulk_create(chunk)
    for chunk in chunks(changed):
        Tag.objects.bulk_update(chunk, ["manifest", "last_changed"])
    for chunk in chunks(removed):
        Tag.objects.filter(pk__in=chunk).delete()
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
