"""Reading one repository from the registry, while the caller writes the one before."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings

from registry.client import (
    ImageConfig,
    InvalidResponse,
    ManifestDocument,
    NotFound,
    RegistryClient,
    RegistryError,
)
from registry.models import Manifest, Registry, Tag

CACHED_MANIFEST_FIELDS = ("pk", "digest", "size", "created", "platforms", "revision")
READER_THREAD_PREFIX = "sync-read"
# What a tag may be (OCI distribution spec, "tag"): what else a registry lists cannot be
# a tag, and would not fit the cache's column.
TAG_NAME = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")


@dataclass
class FetchedManifest:
    document: ManifestDocument
    config: ImageConfig | None = None


@dataclass
class RepositoryState:
    """What the registry holds for one repository, and the bodies new to the cache."""

    tag_digests: dict[str, str] = field(default_factory=dict)
    fetched: dict[str, FetchedManifest] = field(default_factory=dict)
    # Tags the registry listed that no registry may hold (too long, bad characters):
    # left out of the cache, and reported.
    invalid_tags: list[str] = field(default_factory=list)


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
    revision: str = ""


@dataclass
class RepositoryRead:
    """One repository: its cache before the sync, and what the registry holds now."""

    name: str
    cached: dict[str, CachedManifest]
    cached_tags: dict[str, CachedTag]
    state: RepositoryState | None = None
    error: RegistryError | None = None


# -- one repository ------------------------------------------------------------


def read_repositories_ahead(
    *, registry: Registry, client: RegistryClient, names: list[str], tag_details: bool = False
) -> Generator[RepositoryRead]:
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
            cached=cached_manifests(registry=registry, name=name),
            cached_tags=cached_tags(registry=registry, name=name),
        )
        known_tags = {tag_name: tag.digest for tag_name, tag in read.cached_tags.items()}
        state = reader.submit(
            read_repository_state,
            client=client,
            name=name,
            known_tags=known_tags,
            known_digests=set(read.cached),
            tag_details=tag_details,
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
    *,
    client: RegistryClient,
    name: str,
    known_tags: dict[str, str],
    known_digests: set[str],
    tag_details: bool = False,
) -> RepositoryState:
    """Ask the registry what the repository holds now; fetch only bodies we lack.

    Tags the cache knows get a HEAD (the digest is all we need when it is
    unchanged). New tags get a GET straight away: the body comes with the digest.
    With `tag_details` (GitLab's registry with its metadata database), one request
    a thousand tags gives every tag's digest: no HEAD at all.
    """
    state = RepositoryState()
    details: dict[str, str] | None = None
    try:
        if tag_details:
            details = {d.name: d.digest for d in client.list_tag_details(name)}
            listed = list(details)
        else:
            listed = client.list_tags(name)
    except NotFound:
        listed = []
    if len(listed) > settings.REGISTRY_MAX_TAGS_PER_REPOSITORY:
        raise InvalidResponse(too_many_tags_message(name, len(listed)))
    if not listed and known_tags:
        _confirm_all_gone(client=client, name=name, known=list(known_tags))
        return state  # every tag is gone: its cache goes too
    tags = [tag for tag in listed if TAG_NAME.fullmatch(tag)]
    state.invalid_tags = sorted(set(listed) - set(tags))
    complete = _completer(client=client, name=name)

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

    if details is not None:
        state.tag_digests = {tag: details[tag] for tag in tags}
    for tag, result, error in client.map_concurrently(look_up, [] if details is not None else tags):
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


def read_tag(
    *, client: RegistryClient, name: str, tag: str, known_digests: set[str]
) -> RepositoryState | None:
    """One tag as the registry holds it now, with the bodies new to the cache (an index's
    children too); None when the registry no longer has it. Registry notifications
    (registry.events) apply a push this way: the registry's answer, not the event's."""
    try:
        document = client.get_manifest(name, tag)
    except NotFound:
        return None
    state = RepositoryState(tag_digests={tag: document.digest})
    if document.digest in known_digests:
        return state
    complete = _completer(client=client, name=name)
    state.fetched[document.digest] = complete(document)
    children = {child.digest for child in document.children} - known_digests
    _fetch_all(
        client=client,
        fetch=lambda digest: complete(client.get_manifest(name, digest)),
        digests=children,
        into=state.fetched,
    )
    return state


def _completer(
    *, client: RegistryClient, name: str
) -> Callable[[ManifestDocument], FetchedManifest]:
    """`complete(document)`: the manifest with its image config, fetched in the same
    worker (no second pass); each config once."""
    configs: dict[str, ImageConfig] = {}

    def complete(document: ManifestDocument) -> FetchedManifest:
        fetched = FetchedManifest(document)
        if document.config is not None:
            digest = document.config.digest
            if digest not in configs:
                configs[digest] = client.get_image_config(name, digest)
            fetched.config = configs[digest]
        return fetched

    return complete


def too_many_tags_message(name: str, count: int) -> str:
    limit = settings.REGISTRY_MAX_TAGS_PER_REPOSITORY
    return (
        f"{name} lists {count:,} tags, more than the {limit:,} the dashboard reads from one "
        "repository (REGISTRY_MAX_TAGS_PER_REPOSITORY): it was left as it was."
    )


def empty_list_message(name: str, still_there: list[str]) -> str:
    shown = ", ".join(still_there[:3]) + (" and more" if len(still_there) > 3 else "")
    return (
        f"The registry listed no tags in {name}, yet it still answers for {shown}: the list "
        "cannot be trusted, so the cached tags were kept."
    )


def _confirm_all_gone(*, client: RegistryClient, name: str, known: list[str]) -> None:
    """A repository whose tag list suddenly reads nothing (an empty list, `null`, a 404)
    loses its tags only when the registry says so of each: a HEAD per cached tag.
    Raises InvalidResponse when one still answers."""
    still_there = []
    for tag, _, error in client.map_concurrently(lambda t: client.head_manifest(name, t), known):
        if error is None:
            still_there.append(tag)
        elif not isinstance(error, NotFound):
            raise error
    if still_there:
        raise InvalidResponse(empty_list_message(name, sorted(still_there)))


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


def cached_manifests(*, registry: Registry, name: str) -> dict[str, CachedManifest]:
    rows = Manifest.objects.filter(repository__registry=registry, repository__name=name)
    return {
        digest: CachedManifest(pk, size, created, platforms, revision)
        for pk, digest, size, created, platforms, revision in rows.values_list(
            *CACHED_MANIFEST_FIELDS
        )
    }


def cached_tags(*, registry: Registry, name: str) -> dict[str, CachedTag]:
    rows = Tag.objects.filter(repository__registry=registry, repository__name=name)
    return {
        tag_name: CachedTag(pk, digest)
        for pk, tag_name, digest in rows.values_list("pk", "name", "manifest__digest")
    }
