"""Executing a confirmed deletion batch: re-check, then delete exactly what was previewed.

Nothing is recoverable, so before the deletes of each repository its tag → digest
map is read again from the registry (a HEAD per tag), and every item is decided
against it, never against the cache:

- the tag is gone: *already absent* (a success);
- the tag points at another digest (re-pushed since the preview): *skipped*;
- the digest now also carries a tag outside the plan (or a multi-arch image
  lists it): a planned manifest delete is downgraded to *untag only*;
- the digest now carries a protected tag: *skipped*.

Before each further chunk of requests in the repository, the tag list is read again
and every new or protected tag gets a HEAD, so a tag pushed onto a digest while the
batch runs (a CI job promoting an image) keeps it. What no API can close is the
moment between that read and the DELETE itself.

The registry refusing deletes at all (405, or credentials without the delete
right) stops the batch after the first item. Rate limits and 5xx are retried by
the client; an item that still fails is *failed* and the batch goes on.

Resumable: a worker holds the batch by a lease it renews as it goes; items are
saved in small chunks, each marked *attempted* before its request. A task
redelivered after its worker died takes the batch over once the lease expires,
and goes on with the pending items only: a pending item that was attempted and
whose tag is now gone is recorded as deleted, not deleted twice.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Min, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from .background import run_in_background
from .chunking import chunks
from .client import RegistryClient, errors
from .connect import client_for
from .deletion_batches import CANCELLED_NOTE, batch_progress, close_pending_items
from .models import DeletionBatch, DeletionItem, Manifest, Repository, Tag
from .staleness import protection_check, refresh_staleness, rules_for
from .sync import count_tags_per_manifest, remove_orphan_manifests
from .untagging import TagMoved, Untagger

logger = logging.getLogger(__name__)

Status = DeletionBatch.Status
Outcome = DeletionItem.Outcome
Action = DeletionItem.Action

# The registry refuses deletes altogether (405), or these credentials may not delete
# (GitLab drops the action from the token silently; the DELETE then gets 401/403),
# or may not push a placeholder (PushRightsMissing is an AccessDenied).
STOPPING_ERRORS = (errors.DeleteDisabled, errors.AuthenticationFailed, errors.AccessDenied)

CHUNK = 100  # operations between two lease renewals and cancel checks
# Outcomes are saved together (one UPDATE per kind of outcome) every this many items,
# or this often, whichever comes first: the progress page stays live, and a crash
# loses little (the items stay marked attempted; see `_absent`).
SAVE_EVERY_ITEMS = 20
SAVE_EVERY_SECONDS = 0.5

CHANGED_SINCE_PREVIEW = "Skipped: the tag was pushed again since the preview (digest changed)."
DELETED_BEFORE_RESTART = "Deleted (confirmed after the worker restarted)."
ALREADY_ABSENT = "Already absent: the tag was no longer in the registry."
SUBJECT_KEPT = "Skipped: the image it belongs to was not deleted."


def stopped_note(message: str) -> str:
    return f"Not attempted: the batch stopped. {message}"


def recheck_failed_note(repository: str, message: str) -> str:
    return (
        f"Could not re-check {repository} before deleting, so nothing in it was deleted: {message}"
    )


def recheck_failed_midway_note(repository: str, message: str) -> str:
    return (
        f"Not attempted: {repository} could not be read again before this part of the "
        f"batch, so the rest of it was left as it is: {message}"
    )


def now_protected_note(names: list[str]) -> str:
    return f"Skipped: the digest now carries the protected tag {', '.join(names)}."


def downgraded_note(names: list[str]) -> str:
    return (
        f"Untagged only: since the preview the digest also carries {', '.join(sorted(names))}, "
        "which stays."
    )


class BatchBusy(Exception):
    """Another worker holds this batch, or another batch runs on one of its repositories."""


class _StopBatch(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _RecheckFailed(Exception):
    def __init__(self, error: errors.RegistryError) -> None:
        super().__init__(error.message)
        self.error = error


class _LeaseLost(Exception):
    """Another worker took the batch over (ours looked dead): stop touching it."""


def request_execution(*, batch: DeletionBatch) -> None:
    """Start the batch's task in the background once the current transaction commits."""
    from .tasks import execute_deletion_batch_task

    run_in_background(execute_deletion_batch_task, batch.pk)


# A queued batch that no thread has started this long after its confirmation was lost.
THREAD_START_PATIENCE = timedelta(seconds=30)


def resume_if_abandoned(*, batch: DeletionBatch) -> bool:
    """Without a worker (TASKS_IN_THREADS), restart a batch whose thread died with its
    web process: queued and never started, or running with an expired lease.

    With Celery workers, Redis redelivers the task itself. Returns whether it restarted.
    """
    if not settings.TASKS_IN_THREADS:
        return False
    lost = _abandoned(now=timezone.now()).filter(pk=batch.pk).exists()
    if lost:
        _restart(batch)
    return lost


def resume_abandoned_batches() -> int:
    """Without a worker, restart every batch whose thread died: the dashboard calls
    this, so an interrupted batch finishes even when nobody opens its page."""
    if not settings.TASKS_IN_THREADS:
        return 0
    batches = list(_abandoned(now=timezone.now()))
    for batch in batches:
        _restart(batch)
    return len(batches)


def _abandoned(*, now: datetime) -> QuerySet[DeletionBatch]:
    never_started = Q(
        status=Status.QUEUED,
        started_at__isnull=True,
        confirmed_at__lt=now - THREAD_START_PATIENCE,
    )
    lease_expired = Q(status=Status.RUNNING, lease_expires_at__lt=now)
    return DeletionBatch.objects.filter(never_started | lease_expired)


def _restart(batch: DeletionBatch) -> None:
    logger.warning("Restarting deletion batch %s: its thread stopped", batch.pk)
    request_execution(batch=batch)


def execute_batch(*, batch: DeletionBatch, client: RegistryClient | None = None) -> DeletionBatch:
    """Run a queued batch (or resume a running one whose worker died) to its end.

    Returns the batch as it stands. Raises BatchBusy when it must wait its turn;
    does nothing for a batch that is planned only, or finished.
    """
    token = claim_batch(batch=batch)
    if token is None:
        batch.refresh_from_db()
        return batch
    own_client = client is None
    client = client or client_for(batch.registry)
    try:
        _BatchRun(batch=batch, client=client, token=token).run()
    except _LeaseLost:
        logger.warning("Deletion batch %s was taken over by another worker", batch.pk)
    finally:
        if own_client:
            client.close()
    batch.refresh_from_db()
    return batch


def claim_batch(*, batch: DeletionBatch) -> uuid.UUID | None:
    """Take the batch for this worker: a conditional UPDATE, so only one worker wins."""
    now = timezone.now()
    token = uuid.uuid4()
    lease_expired = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    with transaction.atomic():
        if _repositories_busy(batch=batch, now=now):
            raise BatchBusy(f"Another batch is deleting in the repositories of batch {batch.pk}.")
        claimed = (
            DeletionBatch.objects.filter(pk=batch.pk)
            .filter(Q(status=Status.QUEUED) | (Q(status=Status.RUNNING) & lease_expired))
            .update(
                status=Status.RUNNING,
                lease_token=token,
                lease_expires_at=now + _lease(),
                started_at=Coalesce(F("started_at"), Value(now)),
            )
        )
    if claimed:
        return token
    if DeletionBatch.objects.filter(pk=batch.pk, status=Status.RUNNING).exists():
        raise BatchBusy(f"Batch {batch.pk} is held by a live worker.")
    return None


def _repositories_busy(*, batch: DeletionBatch, now) -> bool:  # type: ignore[no-untyped-def]
    """Whether another live batch still has pending items in one of this batch's repositories."""
    mine = DeletionItem.objects.filter(batch=batch, outcome=Outcome.PENDING).values(
        "repository_name"
    )
    return (
        DeletionItem.objects.filter(
            batch__registry_id=batch.registry_id,
            batch__status=Status.RUNNING,
            batch__lease_expires_at__gte=now,
            outcome=Outcome.PENDING,
            repository_name__in=mine,
        )
        .exclude(batch_id=batch.pk)
        .exists()
    )


def _lease() -> timedelta:
    return timedelta(seconds=settings.DELETION_LEASE_SECONDS)


# -- one run -------------------------------------------------------------------------


@dataclass
class _Operation:
    """One request (or pair, for a placeholder untag) and the items it settles."""

    kind: str  # "delete" or "untag"
    repository: str
    digest: str
    items: list[DeletionItem]
    note: str = ""


@dataclass
class _Result:
    outcome: str
    detail: str = ""
    http_status: int | None = None


@dataclass
class _LiveRepository:
    tags: dict[str, str]  # tag -> digest, as the registry says now
    # digest -> tags of multi-arch images that list it as a platform child
    index_parents: dict[str, set[str]] = field(default_factory=dict)
    # digest -> tags pointing at it: derived from `tags`, once
    _by_digest: dict[str, set[str]] = field(init=False, default_factory=dict)

    # False once requests have gone out since the registry was last read.
    fresh: bool = True

    def __post_init__(self) -> None:
        for tag, digest in self.tags.items():
            self._by_digest.setdefault(digest, set()).add(tag)

    def holders(self, digest: str) -> set[str]:
        """Every tag that would go with `digest`: on it, or on an index that lists it."""
        return self._by_digest.get(digest, set()) | self.index_parents.get(digest, set())

    def update(self, tags: dict[str, str], index_parents: dict[str, set[str]]) -> None:
        """Take in tags read again (new ones, or moved ones) and the indexes among them."""
        for tag, digest in tags.items():
            previous = self.tags.get(tag)
            if previous is not None:
                self._by_digest.get(previous, set()).discard(tag)
            self.tags[tag] = digest
            self._by_digest.setdefault(digest, set()).add(tag)
        for child, parents in index_parents.items():
            self.index_parents.setdefault(child, set()).update(parents)
        self.fresh = True


class _BatchRun:
    def __init__(self, *, batch: DeletionBatch, client: RegistryClient, token: uuid.UUID) -> None:
        self.batch = batch
        self.client = client
        self.token = token
        self.untagger = Untagger(client)
        self.is_protected = protection_check(rules=rules_for(registry=batch.registry))
        # (repository, digest) deleted by this batch, in this run or before a restart.
        self.deleted_digests: set[tuple[str, str]] = set(
            DeletionItem.objects.filter(batch=batch, outcome=Outcome.DELETED).values_list(
                "repository_name", "digest"
            )
        )
        self.first_request_done = False

    def run(self) -> None:
        stop_message = ""
        cancelled = False
        for repository in self._repositories():
            if self._cancel_requested():
                cancelled = True
                break
            self._renew_lease(current_repository=repository)
            try:
                self._run_repository(repository)
            except _StopBatch as stop:
                stop_message = stop.message
                break
            if self._cancel_requested():
                cancelled = True
                break
        if stop_message:
            close_pending_items(batch=self.batch, note=stopped_note(stop_message))
        elif cancelled:
            close_pending_items(batch=self.batch, note=CANCELLED_NOTE)
        self._finish(stop_message=stop_message, cancelled=cancelled)

    # -- per repository ------------------------------------------------------------------

    def _repositories(self) -> list[str]:
        rows = (
            DeletionItem.objects.filter(batch=self.batch, outcome=Outcome.PENDING)
            .values("repository_name")
            .annotate(first=Min("position"))
            .order_by("first")
        )
        return [row["repository_name"] for row in rows]

    def _pending(self, repository: str) -> list[DeletionItem]:
        return list(
            DeletionItem.objects.filter(
                batch=self.batch, repository_name=repository, outcome=Outcome.PENDING
            ).order_by("position")
        )

    def _run_repository(self, repository: str) -> None:
        items = self._pending(repository)
        try:
            live = self._read_live(repository)
        except STOPPING_ERRORS as exc:
            raise _StopBatch(exc.message) from exc
        except errors.RegistryError as exc:
            note = recheck_failed_note(repository, exc.message)
            self._settle(items, _Result(Outcome.FAILED, note, exc.status))
            return
        # Every tag this batch plans to remove from the repository, finished or not.
        planned = set(
            DeletionItem.objects.filter(batch=self.batch, repository_name=repository)
            .exclude(action=Action.REFUSE)
            .values_list("tag", flat=True)
        )
        operations = self._decide(repository=repository, items=items, live=live, planned=planned)
        # Companions (signatures) go after the images they belong to.
        main = [op for op in operations if not op.items[0].companion_of]
        companions = [op for op in operations if op.items[0].companion_of]
        try:
            self._perform(main, live=live, planned=planned)
            companions = self._companions_to_delete(repository, companions, live)
            self._perform(companions, live=live, planned=planned)
        except _RecheckFailed as failed:
            note = recheck_failed_midway_note(repository, failed.error.message)
            self._settle(
                self._pending(repository), _Result(Outcome.FAILED, note, failed.error.status)
            )
        self._update_cache(repository)

    def _read_live(self, repository: str) -> _LiveRepository:
        """The repository's tags and digests now (a HEAD per tag), and its indexes' children."""
        tags = self._head_tags(repository, self._tag_names(repository))
        return _LiveRepository(tags=tags, index_parents=self._index_parents(repository, tags))

    def _tag_names(self, repository: str) -> list[str]:
        try:
            return self.client.list_tags(repository)
        except errors.NotFound:
            return []

    def _head_tags(self, repository: str, names: list[str]) -> dict[str, str]:
        """Tag -> digest for `names`, a HEAD each; tags deleted meanwhile are left out."""
        tags: dict[str, str] = {}
        for name, head, error in self.client.map_concurrently(
            lambda tag: self.client.head_manifest(repository, tag), names
        ):
            if isinstance(error, errors.NotFound):
                continue  # deleted between the list and the HEAD
            if error is not None:
                raise error
            assert head is not None
            tags[name] = head.digest
        return tags

    def _index_parents(self, repository: str, tags: dict[str, str]) -> dict[str, set[str]]:
        """Which tags are multi-arch images listing each digest: from the cache when it
        knows the index, else from the registry (an index pushed since the last sync)."""
        cached = set(
            Manifest.objects.filter(
                repository__registry=self.batch.registry,
                repository__name=repository,
                digest__in=set(tags.values()),
            ).values_list("digest", flat=True)
        )
        children: dict[str, list[str]] = defaultdict(list)
        through = Manifest.children.through.objects.filter(
            from_manifest__repository__registry=self.batch.registry,
            from_manifest__repository__name=repository,
            from_manifest__digest__in=set(tags.values()),
        ).values_list("from_manifest__digest", "to_manifest__digest")
        for parent, child in through:
            children[parent].append(child)
        unknown = {d for d in tags.values() if d not in cached}
        for digest, document, error in self.client.map_concurrently(
            lambda d: self.client.get_manifest(repository, d), sorted(unknown)
        ):
            if error is not None and not isinstance(error, errors.NotFound):
                raise error
            if document is not None:
                children[digest] = [child.digest for child in document.children]
        parents: dict[str, set[str]] = defaultdict(set)
        for tag, digest in tags.items():
            for child in children.get(digest, []):
                parents[child].add(tag)
        return parents

    def _decide(
        self,
        *,
        repository: str,
        items: list[DeletionItem],
        live: _LiveRepository,
        planned: set[str],
    ) -> list[_Operation]:
        """Settle what the re-check already decides; return the requests to make."""
        by_digest: dict[str, list[DeletionItem]] = defaultdict(list)
        for item in items:
            now_at = live.tags.get(item.tag)
            if now_at is None:
                self._settle([item], self._absent(item))
            elif now_at != item.digest:
                self._settle([item], _Result(Outcome.SKIPPED, CHANGED_SINCE_PREVIEW))
            else:
                by_digest[item.digest].append(item)
        operations = []
        for digest, group in by_digest.items():
            operations += self._operations_for(
                repository, digest, group, live=live, planned=planned
            )
        return operations

    def _operations_for(
        self,
        repository: str,
        digest: str,
        group: list[DeletionItem],
        *,
        live: _LiveRepository,
        planned: set[str],
    ) -> list[_Operation]:
        """The requests that remove `group` (the pending tags on `digest`), as `live` stands:
        the manifest when nothing else holds it, else each tag alone; none when a protected
        tag now holds it (the group is settled as skipped)."""
        holders = live.holders(digest)
        protected = sorted(t for t in holders if self.is_protected(t))
        if protected:
            self._settle(group, _Result(Outcome.SKIPPED, now_protected_note(protected)))
            return []
        outside = holders - {item.tag for item in group}
        deleting = all(item.action == Action.DELETE for item in group)
        if deleting and not outside:
            return [_Operation("delete", repository, digest, group)]
        unplanned = outside - planned
        note = downgraded_note(sorted(unplanned)) if deleting and unplanned else ""
        return [_Operation("untag", repository, digest, [item], note=note) for item in group]

    def _absent(self, item: DeletionItem) -> _Result:
        """A pending tag already gone: ours, if we sent its request before a crash."""
        if item.attempted_at is None:
            return _Result(Outcome.ABSENT, ALREADY_ABSENT)
        if item.action == Action.DELETE:
            self.deleted_digests.add((item.repository_name, item.digest))
            return _Result(Outcome.DELETED, DELETED_BEFORE_RESTART)
        return _Result(Outcome.UNTAGGED, DELETED_BEFORE_RESTART)

    def _companions_to_delete(
        self, repository: str, operations: list[_Operation], live: _LiveRepository
    ) -> list[_Operation]:
        """Signature tags go only with their image: deleted now, or already gone."""
        kept = []
        for operation in operations:
            subject = operation.items[0].companion_of
            if (repository, subject) in self.deleted_digests or not live.holders(subject):
                kept.append(operation)
            else:
                self._settle(operation.items, _Result(Outcome.SKIPPED, SUBJECT_KEPT))
        return kept

    # -- acting ------------------------------------------------------------------------

    def _perform(
        self, operations: list[_Operation], *, live: _LiveRepository, planned: set[str]
    ) -> None:
        if not operations:
            return
        if not self.first_request_done:
            # The first request alone: a registry that refuses deletes stops the batch
            # after one item, not after a pool's worth.
            self._perform_chunk(operations[:1], live=live)
            self.first_request_done = True
            operations = operations[1:]
        for chunk in chunks(operations, CHUNK):
            if self._cancel_requested():
                return
            if not live.fresh:
                try:
                    chunk = self._recheck(chunk, live=live, planned=planned)
                except STOPPING_ERRORS as exc:
                    raise _StopBatch(exc.message) from exc
                except errors.RegistryError as exc:
                    raise _RecheckFailed(exc) from exc
            self._perform_chunk(chunk, live=live)
            self._renew_lease()

    def _recheck(
        self, chunk: list[_Operation], *, live: _LiveRepository, planned: set[str]
    ) -> list[_Operation]:
        """Just before a chunk of requests: tags pushed since the registry was last read.

        The tag list is read again, and a HEAD goes to every tag that is new since then
        and to every protected tag (those are the ones a release moves). Each manifest
        delete is then decided again, as before the first request: a digest that gained
        a tag is untagged only, one that gained a protected tag is skipped. A tag that
        already existed and was moved meanwhile is not seen (a HEAD per tag per chunk
        would double the batch's requests).
        """
        repository = chunk[0].repository
        names = self._tag_names(repository)
        moved = self._head_tags(
            repository, [n for n in names if n not in live.tags or self.is_protected(n)]
        )
        changed = {tag: digest for tag, digest in moved.items() if live.tags.get(tag) != digest}
        live.update(changed, self._index_parents(repository, changed))
        checked: list[_Operation] = []
        for operation in chunk:
            if operation.kind == "delete":
                checked += self._operations_for(
                    repository, operation.digest, operation.items, live=live, planned=planned
                )
            else:
                checked.append(operation)  # the untagger checks its own tag before it acts
        return checked

    def _perform_chunk(self, chunk: list[_Operation], *, live: _LiveRepository) -> None:
        live.fresh = False
        self._mark_attempted(chunk)
        stop: _StopBatch | None = None
        outcomes = _OutcomeBuffer()
        try:
            for operation, result, error in self.client.map_concurrently(self._act, chunk):
                if error is not None:
                    result = self._failure(error)
                    if isinstance(error, STOPPING_ERRORS):
                        stop = stop or _StopBatch(error.message)
                assert result is not None
                if result.outcome == Outcome.DELETED:
                    self.deleted_digests.add((operation.repository, operation.digest))
                if result.outcome == Outcome.UNTAGGED and operation.note:
                    result.detail = operation.note
                outcomes.add(operation.items, result)
                if outcomes.due():
                    outcomes.save()
        finally:
            outcomes.save()
        if stop is not None:
            raise stop

    def _act(self, operation: _Operation) -> _Result:
        if operation.kind == "delete":
            try:
                self.client.delete_manifest(operation.repository, operation.digest)
            except errors.NotFound:
                return _Result(Outcome.ABSENT, ALREADY_ABSENT, 404)
            return _Result(Outcome.DELETED, http_status=202)
        item = operation.items[0]
        try:
            untagged = self.untagger.untag(
                repository=operation.repository, tag=item.tag, digest=operation.digest
            )
        except TagMoved:
            return _Result(Outcome.SKIPPED, CHANGED_SINCE_PREVIEW)
        except errors.NotFound:
            return _Result(Outcome.ABSENT, ALREADY_ABSENT, 404)
        return _Result(Outcome.UNTAGGED, http_status=untagged.http_status)

    @staticmethod
    def _failure(error: errors.RegistryError) -> _Result:
        return _Result(Outcome.FAILED, error.message, error.status)

    # -- saving --------------------------------------------------------------------------

    def _mark_attempted(self, operations: list[_Operation]) -> None:
        ids = [item.pk for operation in operations for item in operation.items]
        DeletionItem.objects.filter(pk__in=ids).update(attempted_at=timezone.now())

    def _settle(self, items: list[DeletionItem], result: _Result) -> None:
        outcomes = _OutcomeBuffer()
        outcomes.add(items, result)
        outcomes.save()

    def _update_cache(self, repository: str) -> None:
        """Drop the tags this batch removed (or found gone) from the cache, and what they held."""
        gone = DeletionItem.objects.filter(
            batch=self.batch,
            repository_name=repository,
            outcome__in=[Outcome.DELETED, Outcome.UNTAGGED, Outcome.ABSENT],
        ).values_list("tag", flat=True)
        repo = Repository.objects.filter(registry=self.batch.registry, name=repository).first()
        if repo is None:
            return
        names = list(gone)
        with transaction.atomic():
            for chunk in chunks(names):
                Tag.objects.filter(repository=repo, name__in=chunk).delete()
            remove_orphan_manifests(repo)
            count_tags_per_manifest(repo)
        refresh_staleness(registry=self.batch.registry, repository_ids=[repo.pk])

    # -- the batch row -----------------------------------------------------------------

    def _renew_lease(self, **changes: str) -> None:
        renewed = DeletionBatch.objects.filter(
            pk=self.batch.pk, status=Status.RUNNING, lease_token=self.token
        ).update(lease_expires_at=timezone.now() + _lease(), **changes)
        if not renewed:
            raise _LeaseLost

    def _cancel_requested(self) -> bool:
        return DeletionBatch.objects.filter(pk=self.batch.pk, cancel_requested=True).exists()

    def _finish(self, *, stop_message: str, cancelled: bool) -> None:
        progress = batch_progress(batch=self.batch)
        if stop_message:
            status = Status.FAILED
        elif cancelled:
            status = Status.CANCELLED
        elif progress.failed:
            status = Status.PARTIAL
        else:
            status = Status.SUCCEEDED
        finished = DeletionBatch.objects.filter(
            pk=self.batch.pk, status=Status.RUNNING, lease_token=self.token
        ).update(
            status=status,
            error=stop_message,
            finished_at=timezone.now(),
            current_repository="",
            lease_token=None,
            lease_expires_at=None,
            deleted_count=progress.deleted,
            untagged_count=progress.untagged,
            absent_count=progress.absent,
            skipped_count=progress.skipped,
            refused_count=progress.refused,
            failed_count=progress.failed,
            not_attempted_count=progress.not_attempted,
            bytes_deleted=progress.bytes_deleted,
        )
        if not finished:
            raise _LeaseLost


class _OutcomeBuffer:
    """Outcomes waiting to be saved, grouped so that alike ones take one UPDATE."""

    def __init__(self) -> None:
        self._ids: dict[tuple[str, str, int | None], list[int]] = defaultdict(list)
        self._count = 0
        self._saved_at = time.monotonic()

    def due(self) -> bool:
        waited = time.monotonic() - self._saved_at
        return self._count >= SAVE_EVERY_ITEMS or waited >= SAVE_EVERY_SECONDS

    def add(self, items: list[DeletionItem], result: _Result) -> None:
        key = (result.outcome, result.detail, result.http_status)
        self._ids[key].extend(item.pk for item in items)
        self._count += len(items)

    def save(self) -> None:
        now = timezone.now()
        for (outcome, detail, http_status), ids in self._ids.items():
            DeletionItem.objects.filter(pk__in=ids).update(
                outcome=outcome, detail=detail, http_status=http_status, finished_at=now
            )
        self._ids.clear()
        self._count = 0
        self._saved_at = time.monotonic()
