"""Applying received events to the cache, oldest first, a chunk at a time.

- A push of a tag reads the tag from the registry (`sync.reading.read_tag`) and
  writes what the registry says now (`sync.writing.write_tags`): the event says
  *that* the tag changed, the registry says *what* it is.
- A delete of a tag removes it; a delete of a manifest removes the tags on it.
- A pull records `last_pulled` on the manifest, and on the tag it names.

Events come at least once and in any order. Each is kept (de-duplicated on its id
by `ingest`), so an event on a tag that a newer event on the same tag follows is
superseded: the newer one decides. Pulls only ever move `last_pulled` forward.
A chunk's pushes are read from the registry concurrently, then everything is
written in one transaction, with no request to the registry inside it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import F, Max, Q, QuerySet
from django.utils import timezone

from registry.client import RegistryClient, RegistryError
from registry.connect import client_for
from registry.models import Manifest, Registry, RegistryEvent, Repository, Tag
from registry.staleness import refresh_staleness
from registry.sync.reading import RepositoryState, read_tag
from registry.sync.writing import count_tags_per_manifest, remove_orphan_manifests, write_tags
from registry.user_patterns import PatternTooSlow

logger = logging.getLogger(__name__)

CHUNK = 500
# A push whose tag the registry would not give (it is down, refuses us) is tried this
# many times, then left to the next sync.
MAX_ATTEMPTS = 3
TAG_CHANGING = (RegistryEvent.Action.PUSH, RegistryEvent.Action.DELETE)

NOTE_SUPERSEDED = "A newer event on the same tag decides."
NOTE_BY_DIGEST = "Pushed by digest, without a tag: the cache follows tags."
NOTE_UNKNOWN_REPOSITORY = "The repository is not in the cache."
NOTE_NOT_FOLLOWED = "The dashboard syncs only the repositories named for this registry."
NOTE_UNKNOWN_IMAGE = "The image is not in the cache yet; its push, when applied, counts it."
NOTE_GONE = "The registry no longer has the tag: it was removed."
NOTE_ALREADY_GONE = "Not in the cache."


ClientGetter = Callable[[], RegistryClient]
# What reading a pushed tag gave: its state, None when it is gone, or the error.
TagRead = RepositoryState | None | RegistryError


def failed_note(error: RegistryError) -> str:
    return f"The registry could not be read: {error.message}"[:200]


@dataclass
class Applied:
    applied: int = 0
    superseded: int = 0
    ignored: int = 0
    failed: int = 0
    postponed: int = 0  # left pending: the registry could not be read, tried again later
    changed_repository_ids: set[int] = field(default_factory=set)  # tags or manifests
    pulled_repository_ids: set[int] = field(default_factory=set)  # last_pulled only

    @property
    def handled(self) -> int:
        return self.applied + self.superseded + self.ignored + self.failed

    def add(self, other: Applied) -> None:
        self.applied += other.applied
        self.superseded += other.superseded
        self.ignored += other.ignored
        self.failed += other.failed
        self.postponed += other.postponed
        self.changed_repository_ids |= other.changed_repository_ids
        self.pulled_repository_ids |= other.pulled_repository_ids


def apply_pending_events(
    *, registry: Registry, client: RegistryClient | None = None, chunk: int = CHUNK
) -> Applied:
    """Apply the registry's pending events until none are left (or the registry cannot
    be read: those stay pending). The caller holds the registry (`locks`)."""
    total = Applied()
    made: list[RegistryClient] = []

    def get_client() -> RegistryClient:  # made only when a push needs the registry
        if client is not None:
            return client
        if not made:
            made.append(client_for(registry))
        return made[0]

    try:
        while True:
            events = list(
                RegistryEvent.objects.filter(
                    registry=registry, state=RegistryEvent.State.PENDING
                ).order_by("timestamp", "pk")[:chunk]
            )
            if not events:
                break
            outcome = _apply_chunk(registry=registry, events=events, get_client=get_client)
            total.add(outcome)
            if outcome.postponed:
                break
    finally:
        for own in made:
            own.close()
    _refresh_staleness(
        registry=registry,
        repository_ids=total.changed_repository_ids | total.pulled_repository_ids,
    )
    return total


# -- one chunk -------------------------------------------------------------------


@dataclass
class _Decisions:
    """What becomes of each event of a chunk: state → note → event ids."""

    states: dict[tuple[str, str], list[int]] = field(default_factory=lambda: defaultdict(list))

    def mark(self, event: RegistryEvent, state: str, note: str = "") -> None:
        self.states[(state, note)].append(event.pk)

    def count(self, state: str) -> int:
        return sum(len(ids) for (s, _), ids in self.states.items() if s == state)


def _apply_chunk(
    *, registry: Registry, events: list[RegistryEvent], get_client: ClientGetter
) -> Applied:
    decisions = _Decisions()
    repositories = {
        repo.name: repo
        for repo in Repository.objects.filter(
            registry=registry, name__in={event.repository for event in events}
        )
    }
    newest = _newest_tag_events(registry=registry, events=events)
    to_apply: list[RegistryEvent] = []
    for event in events:
        note = _ignored(registry, event, repositories)
        if note:
            decisions.mark(event, RegistryEvent.State.IGNORED, note)
        elif (
            event.action != RegistryEvent.Action.PULL
            and event.tag
            and _is_superseded(event, newest)
        ):
            decisions.mark(event, RegistryEvent.State.SUPERSEDED, NOTE_SUPERSEDED)
        else:
            to_apply.append(event)

    reads, postponed = _read_pushed_tags(
        [e for e in to_apply if e.action == RegistryEvent.Action.PUSH], get_client
    )
    outcome = Applied(postponed=len(postponed))
    now = timezone.now()
    with transaction.atomic():
        pushes = [e for e in to_apply if e.action == RegistryEvent.Action.PUSH]
        for event in pushes:
            read = reads.get(event.pk)
            if isinstance(read, RegistryError):
                decisions.mark(event, RegistryEvent.State.FAILED, failed_note(read))
            elif event.pk not in postponed:
                decisions.mark(event, RegistryEvent.State.APPLIED, "" if read else NOTE_GONE)
        applied = [
            e for e in pushes if e.pk in reads and not isinstance(reads[e.pk], RegistryError)
        ]
        # Pushes first, all of a repository at once: what they read is the registry's
        # state after every event of the chunk, so the deletes and pulls go after them.
        _apply_pushes(registry, applied, reads, repositories, now, outcome)
        for event in to_apply:
            if event.action == RegistryEvent.Action.PUSH:
                continue
            repo = repositories[event.repository]
            if event.action == RegistryEvent.Action.DELETE:
                note = _apply_delete(repo, event, outcome)
            else:
                note = _apply_pull(repo, event, outcome)
            decisions.mark(event, RegistryEvent.State.APPLIED, note)
        for repo_id in outcome.changed_repository_ids:
            repo = Repository(pk=repo_id, registry=registry)
            remove_orphan_manifests(repo)
            count_tags_per_manifest(repo)
        for (state, note), ids in decisions.states.items():
            RegistryEvent.objects.filter(pk__in=ids).update(state=state, note=note)
        if postponed:
            RegistryEvent.objects.filter(pk__in=postponed).update(attempts=F("attempts") + 1)
    outcome.applied = decisions.count(RegistryEvent.State.APPLIED)
    outcome.superseded = decisions.count(RegistryEvent.State.SUPERSEDED)
    outcome.ignored = decisions.count(RegistryEvent.State.IGNORED)
    outcome.failed = decisions.count(RegistryEvent.State.FAILED)
    return outcome


def _ignored(registry: Registry, event: RegistryEvent, repositories: dict[str, Repository]) -> str:
    """Why the event is left alone, or "" to apply it."""
    if event.action == RegistryEvent.Action.PUSH and not event.tag:
        return NOTE_BY_DIGEST
    if registry.repositories and event.repository not in registry.repositories:
        return NOTE_NOT_FOLLOWED
    if event.action != RegistryEvent.Action.PUSH and event.repository not in repositories:
        return NOTE_UNKNOWN_REPOSITORY
    if event.action == RegistryEvent.Action.PULL and not event.digest:
        return NOTE_UNKNOWN_IMAGE
    return ""


def _newest_tag_events(
    *, registry: Registry, events: list[RegistryEvent]
) -> dict[tuple[str, str], datetime]:
    """(repository, tag) → the time of the newest push or delete received on it."""
    keyed = [e for e in events if e.tag and e.action in TAG_CHANGING]
    if not keyed:
        return {}
    rows = (
        RegistryEvent.objects.filter(
            registry=registry,
            action__in=TAG_CHANGING,
            repository__in={e.repository for e in keyed},
            tag__in={e.tag for e in keyed},
        )
        .exclude(state=RegistryEvent.State.IGNORED)
        .values("repository", "tag")
        .annotate(newest=Max("timestamp"))
    )
    return {(row["repository"], row["tag"]): row["newest"] for row in rows}


def _is_superseded(event: RegistryEvent, newest: dict[tuple[str, str], datetime]) -> bool:
    latest = newest.get((event.repository, event.tag))
    return latest is not None and latest > event.timestamp


def _read_pushed_tags(
    pushes: list[RegistryEvent], get_client: ClientGetter
) -> tuple[dict[int, TagRead], set[int]]:
    """Each push's tag as the registry holds it now, read concurrently (outside any
    transaction). Event id → the state (None: gone) or the error, once it has failed
    MAX_ATTEMPTS times; and the ids to try again later."""
    if not pushes:
        return {}, set()
    client: RegistryClient = get_client()
    # Several pushes of one tag in a chunk (the newest decides) need one read.
    keys = sorted({(e.repository, e.tag) for e in pushes})
    known = _known_digests(pushes)

    def read(key: tuple[str, str]) -> RepositoryState | None:
        name, tag = key
        return read_tag(client=client, name=name, tag=tag, known_digests=known.get(name, set()))

    results: dict[tuple[str, str], TagRead] = {}
    for key, state, error in client.map_concurrently(read, keys):
        if error is not None and not isinstance(error, RegistryError):
            raise error
        results[key] = error if error is not None else state
    reads: dict[int, TagRead] = {}
    postponed: set[int] = set()
    for event in pushes:
        result = results[(event.repository, event.tag)]
        if isinstance(result, RegistryError) and event.attempts + 1 < MAX_ATTEMPTS:
            logger.info("Event %s postponed: %s", event.event_id, result.message)
            postponed.add(event.pk)
        else:
            reads[event.pk] = result
    return reads, postponed


def _known_digests(pushes: list[RegistryEvent]) -> dict[str, set[str]]:
    """Repository name → digests the cache holds there (only the repositories pushed to)."""
    known: dict[str, set[str]] = defaultdict(set)
    registry_id = pushes[0].registry_id
    rows = Manifest.objects.filter(
        repository__registry_id=registry_id,
        repository__name__in={e.repository for e in pushes},
    ).values_list("repository__name", "digest")
    for name, digest in rows:
        known[name].add(digest)
    return known


def _new_repository(
    registry: Registry, name: str, repositories: dict[str, Repository]
) -> Repository:
    repo, _ = Repository.objects.get_or_create(registry=registry, name=name)
    repositories[name] = repo
    return repo


# -- applying one event ------------------------------------------------------------


def _apply_pushes(
    registry: Registry,
    pushes: list[RegistryEvent],
    reads: dict[int, TagRead],
    repositories: dict[str, Repository],
    now: datetime,
    outcome: Applied,
) -> None:
    """Write what the pushed tags read: per repository, the tags the registry still has,
    and away with those it no longer has (deleted or moved since)."""
    states: dict[str, RepositoryState] = {}
    gone: dict[str, set[str]] = defaultdict(set)
    for event in pushes:
        read = reads[event.pk]
        if read is None:
            gone[event.repository].add(event.tag)
            continue
        assert isinstance(read, RepositoryState)
        state = states.setdefault(event.repository, RepositoryState())
        state.tag_digests.update(read.tag_digests)
        state.fetched.update(read.fetched)
    for name, tags in gone.items():
        repo = repositories.get(name)
        if repo is not None and Tag.objects.filter(repository=repo, name__in=tags).delete()[0]:
            outcome.changed_repository_ids.add(repo.pk)
    for name, state in states.items():
        repo = repositories.get(name) or _new_repository(registry, name, repositories)
        if write_tags(repo=repo, state=state, now=now):
            outcome.changed_repository_ids.add(repo.pk)
        _count_earlier_pulls(repo, set(state.tag_digests.values()))


def _count_earlier_pulls(repo: Repository, digests: set[str]) -> None:
    """Pulls of the images that came before their push was applied (events are unordered)."""
    rows = (
        RegistryEvent.objects.filter(
            registry_id=repo.registry_id,
            repository=repo.name,
            digest__in=digests,
            action=RegistryEvent.Action.PULL,
        )
        .values("digest")
        .annotate(newest=Max("timestamp"))
    )
    for row in rows:
        _move_last_pulled(
            Manifest.objects.filter(repository=repo, digest=row["digest"]), row["newest"]
        )


def _apply_delete(repo: Repository, event: RegistryEvent, outcome: Applied) -> str:
    if event.tag:  # a tag (distribution also sends one per tag of a deleted manifest)
        tags = Tag.objects.filter(repository=repo, name=event.tag)
    else:  # a manifest: every tag on it, but for those a newer event has set since
        tags = Tag.objects.filter(repository=repo, manifest__digest=event.digest)
        later = [
            name
            for name in tags.values_list("name", flat=True)
            if _is_superseded_tag(repo, name, event.timestamp)
        ]
        tags = tags.exclude(name__in=later)
    deleted, _ = tags.delete()
    if not deleted and not event.tag:
        # An untagged manifest (an index child, a placeholder): the orphan sweep takes it.
        deleted = Manifest.objects.filter(repository=repo, digest=event.digest).exists()
    if not deleted:
        return NOTE_ALREADY_GONE
    outcome.changed_repository_ids.add(repo.pk)
    return ""


def _is_superseded_tag(repo: Repository, tag: str, moment: datetime) -> bool:
    return (
        RegistryEvent.objects.filter(
            registry_id=repo.registry_id,
            repository=repo.name,
            tag=tag,
            action__in=TAG_CHANGING,
            timestamp__gt=moment,
        )
        .exclude(state=RegistryEvent.State.IGNORED)
        .exists()
    )


def _apply_pull(repo: Repository, event: RegistryEvent, outcome: Applied) -> str:
    manifests = Manifest.objects.filter(repository=repo, digest=event.digest)
    if not manifests.exists():
        return NOTE_UNKNOWN_IMAGE
    _move_last_pulled(manifests, event.timestamp)
    if event.tag:
        tags = Tag.objects.filter(repository=repo, name=event.tag, manifest__digest=event.digest)
        _move_last_pulled(tags, event.timestamp)
    outcome.pulled_repository_ids.add(repo.pk)  # its staleness may change
    return ""


def _move_last_pulled(rows: QuerySet[Manifest] | QuerySet[Tag], moment: datetime) -> None:
    """Forward only: an older pull delivered late changes nothing."""
    rows.filter(Q(last_pulled__isnull=True) | Q(last_pulled__lt=moment)).update(last_pulled=moment)


def _refresh_staleness(*, registry: Registry, repository_ids: set[int]) -> None:
    if not repository_ids:
        return
    try:
        refresh_staleness(registry=registry, repository_ids=repository_ids)
    except PatternTooSlow as exc:  # the next sync says so on the dashboard
        logger.warning("Staleness of %s not refreshed: %s", registry.name, exc.message)
