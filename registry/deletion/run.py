"""Executing a confirmed deletion batch: re-check, then delete exactly what was previewed.

Nothing is recoverable, so before the deletes of each repository its tag → digest
map is read again from the registry (a HEAD per tag), and every item is decided
against it, never against the cache:

- the tag is gone: *already absent* (a success);
- the tag points at another digest (re-pushed since the preview): *skipped*;
- the digest now also carries a tag outside the plan (or a multi-arch image
  lists it): a planned manifest delete is downgraded to *untag only*;
- the digest now carries a protected tag: *skipped*.

Those decisions are made in `registry.deletion.recheck`; this module reads the
registry, sends the requests and saves what came of them.

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
import uuid

from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from registry.chunking import chunks
from registry.client import RegistryClient, errors
from registry.connect import client_for
from registry.kinds import kind_of
from registry.models import DeletionBatch, DeletionItem, Repository, Tag
from registry.secrets import CredentialsKeyMismatch
from registry.staleness import protection_check, refresh_staleness, rules_for
from registry.sync.writing import count_tags_per_manifest, remove_orphan_manifests
from registry.user_patterns import PatternTooSlow

from .batches import (
    CANCELLED_NOTE,
    batch_progress,
    close_pending_items,
)
from .lease import LeaseLost, claim_batch, close_batch, release_lease, renew_lease
from .live import LiveRepository, check_attempted, read_changes, read_live_repository
from .outcomes import (
    REGISTRY_SILENT_MESSAGE,
    SILENT_IN_A_ROW_LIMIT,
    SUBJECT_KEPT,
    OutcomeBuffer,
    Result,
    recheck_failed_midway_note,
    recheck_failed_note,
    stopped_note,
)
from .recheck import Recheck
from .requests import Operation, Requests

logger = logging.getLogger(__name__)

Status = DeletionBatch.Status
Outcome = DeletionItem.Outcome
Action = DeletionItem.Action

# The registry refuses deletes altogether (405), or these credentials may not delete
# (GitLab drops the action from the token silently; the DELETE then gets 401/403),
# or may not push a placeholder (PushRightsMissing is an AccessDenied).
STOPPING_ERRORS = (errors.DeleteDisabled, errors.AuthenticationFailed, errors.AccessDenied)

CHUNK = 100  # operations between two lease renewals and cancel checks


class _StopBatch(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _RecheckFailed(Exception):
    def __init__(self, error: errors.RegistryError) -> None:
        super().__init__(error.message)
        self.error = error


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
    try:
        client = client or client_for(batch.registry)
    except CredentialsKeyMismatch as exc:
        close_pending_items(batch=batch, note=stopped_note(str(exc)))
        close_batch(batch=batch, token=token, status=Status.FAILED, error=str(exc))
        batch.refresh_from_db()
        return batch
    try:
        _BatchRun(batch=batch, client=client, token=token).run()
    except LeaseLost:
        logger.warning("Deletion batch %s was taken over by another worker", batch.pk)
    except BaseException:
        # Interrupted (Ctrl-C, SIGTERM in the command line): the outcomes known so far are
        # saved; the lease goes now, so that the batch can be resumed at once.
        release_lease(batch=batch, token=token)
        raise
    finally:
        if own_client:
            client.close()
    batch.refresh_from_db()
    return batch


# -- one run -------------------------------------------------------------------------


class _BatchRun:
    def __init__(self, *, batch: DeletionBatch, client: RegistryClient, token: uuid.UUID) -> None:
        self.batch = batch
        self.client = client
        self.token = token
        self.requests = Requests(client)
        self.is_protected = protection_check(rules=rules_for(registry=batch.registry))
        # GitLab's registry: a manifest goes tag by tag (its protected tags refuse digests).
        self.deletes_by_tag = kind_of(batch.registry).deletes_by_tag
        # (repository, digest) deleted by this batch, in this run or before a restart.
        self.deleted_digests: set[tuple[str, str]] = set(
            DeletionItem.objects.filter(batch=batch, outcome=Outcome.DELETED).values_list(
                "repository_name", "digest"
            )
        )
        self.first_request_done = False
        self.silent_in_a_row = 0  # requests in a row that reached no registry

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
            except PatternTooSlow as exc:  # the protected patterns of the rules
                stop_message = exc.message
                break
            if self._cancel_requested():
                cancelled = True
                break
        if stop_message:
            self._close_unfinished(note=stopped_note(stop_message))
        elif cancelled:
            self._close_unfinished(note=CANCELLED_NOTE)
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
            live = read_live_repository(
                client=self.client,
                registry=self.batch.registry,
                repository=repository,
                expected=[item.tag for item in items],
            )
        except STOPPING_ERRORS as exc:
            raise _StopBatch(exc.message) from exc
        except errors.RegistryError as exc:
            # Nothing was sent for these: not attempted, and the cache stays as it is.
            note = recheck_failed_note(repository, exc.message)
            self._save([(items, Result(Outcome.NOT_ATTEMPTED, note, exc.status))])
            if self._count_silence(isinstance(exc, errors.RegistryUnreachable)):
                raise _StopBatch(REGISTRY_SILENT_MESSAGE) from exc
            return
        # Every tag this batch plans to remove from the repository, finished or not.
        planned = set(
            DeletionItem.objects.filter(batch=self.batch, repository_name=repository)
            .exclude(action=Action.REFUSE)
            .values_list("tag", flat=True)
        )
        recheck = Recheck(
            repository=repository,
            live=live,
            planned=planned,
            is_protected=self.is_protected,
            deletes_by_tag=self.deletes_by_tag,
        )
        decided = recheck.items(items)
        self._save(decided.settled)
        # Companions (signatures) go after the images they belong to.
        main = [op for op in decided.operations if not op.items[0].companion_of]
        companions = [op for op in decided.operations if op.items[0].companion_of]
        try:
            self._perform(main, recheck=recheck)
            self._perform(self._companions_to_delete(repository, companions, live), recheck=recheck)
        except _RecheckFailed as failed:
            note = recheck_failed_midway_note(repository, failed.error.message)
            result = Result(Outcome.NOT_ATTEMPTED, note, failed.error.status)
            self._save([(self._pending(repository), result)])
            if self._count_silence(isinstance(failed.error, errors.RegistryUnreachable)):
                raise _StopBatch(REGISTRY_SILENT_MESSAGE) from failed
        self._update_cache(repository)

    def _companions_to_delete(
        self, repository: str, operations: list[Operation], live: LiveRepository
    ) -> list[Operation]:
        """Signature tags go only with their image: deleted now, or already gone."""
        kept = []
        for operation in operations:
            subject = operation.items[0].companion_of
            if (repository, subject) in self.deleted_digests or not live.holders(subject):
                kept.append(operation)
            else:
                self._save([(operation.items, Result(Outcome.SKIPPED, SUBJECT_KEPT))])
        return kept

    # -- acting ------------------------------------------------------------------------

    def _perform(self, operations: list[Operation], *, recheck: Recheck) -> None:
        if not operations:
            return
        if not self.first_request_done:
            # The first request alone: a registry that refuses deletes stops the batch
            # after one item, not after a pool's worth.
            self._perform_chunk(operations[:1], live=recheck.live)
            self.first_request_done = True
            operations = operations[1:]
        for chunk in chunks(operations, CHUNK):
            if self._cancel_requested():
                return
            if not recheck.live.fresh:
                try:
                    chunk = self._recheck(chunk, recheck=recheck)
                except STOPPING_ERRORS as exc:
                    raise _StopBatch(exc.message) from exc
                except errors.RegistryError as exc:
                    raise _RecheckFailed(exc) from exc
            self._perform_chunk(chunk, live=recheck.live)
            self._renew_lease()

    def _recheck(self, chunk: list[Operation], *, recheck: Recheck) -> list[Operation]:
        """Just before a chunk of requests: each manifest delete decided again against the
        tags pushed since the registry was last read (see `read_changes`)."""
        read_changes(
            client=self.client,
            registry=self.batch.registry,
            repository=recheck.repository,
            live=recheck.live,
            is_protected=self.is_protected,
        )
        decided = recheck.chunk(chunk)
        self._save(decided.settled)
        return decided.operations

    def _perform_chunk(self, chunk: list[Operation], *, live: LiveRepository) -> None:
        live.fresh = False
        self._mark_attempted(chunk)
        stop: _StopBatch | None = None
        outcomes = OutcomeBuffer(on_save=self._renew_lease)
        try:
            for operation, result, error in self.client.map_concurrently(self.requests.act, chunk):
                if error is not None:
                    result = Result(Outcome.FAILED, error.message, error.status)
                    if isinstance(error, STOPPING_ERRORS):
                        stop = stop or _StopBatch(error.message)
                assert result is not None
                if self._count_silence(result.registry_silent):
                    stop = stop or _StopBatch(REGISTRY_SILENT_MESSAGE)
                if result.outcome == Outcome.UNTAGGED and operation.note:
                    result.detail = operation.note
                self._remember(operation.items, result)
                outcomes.add(operation.items, result)
                if outcomes.due():
                    outcomes.save()
        finally:
            outcomes.save()
        if stop is not None:
            raise stop

    def _count_silence(self, silent: bool) -> bool:
        """Count requests in a row that reached no registry; True once there are too many."""
        self.silent_in_a_row = self.silent_in_a_row + 1 if silent else 0
        return self.silent_in_a_row >= SILENT_IN_A_ROW_LIMIT

    # -- saving --------------------------------------------------------------------------

    def _remember(self, items: list[DeletionItem], result: Result) -> None:
        """Digests this batch deleted: their signatures may go too."""
        if result.outcome == Outcome.DELETED:
            self.deleted_digests.update((item.repository_name, item.digest) for item in items)

    def _save(self, settled: list[tuple[list[DeletionItem], Result]]) -> None:
        outcomes = OutcomeBuffer()
        for items, result in settled:
            self._remember(items, result)
            outcomes.add(items, result)
        outcomes.save()

    def _close_unfinished(self, *, note: str) -> None:
        """Close the items still pending, as not attempted. Those whose request may have
        gone out (a crash or an interrupt came after they were marked attempted) are first
        checked against the registry, so that the log says what became of them."""
        attempted = DeletionItem.objects.filter(
            batch=self.batch, outcome=Outcome.PENDING, attempted_at__isnull=False
        ).order_by("position")
        self._save(check_attempted(client=self.client, items=list(attempted)))
        close_pending_items(batch=self.batch, note=note)

    def _mark_attempted(self, operations: list[Operation]) -> None:
        ids = [item.pk for operation in operations for item in operation.items]
        DeletionItem.objects.filter(pk__in=ids).update(attempted_at=timezone.now())

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
        try:
            refresh_staleness(registry=self.batch.registry, repository_ids=[repo.pk])
        except PatternTooSlow:
            logger.warning("Staleness of %s not refreshed: its patterns are too slow", repository)

    # -- the batch row -----------------------------------------------------------------

    def _renew_lease(self, **changes: str) -> None:
        renew_lease(batch=self.batch, token=self.token, **changes)

    def _cancel_requested(self) -> bool:
        return DeletionBatch.objects.filter(pk=self.batch.pk, cancel_requested=True).exists()

    def _finish(self, *, stop_message: str, cancelled: bool) -> None:
        progress = batch_progress(batch=self.batch)
        if stop_message:
            status = Status.FAILED
        elif cancelled:
            status = Status.CANCELLED
        elif progress.failed or progress.not_attempted:
            status = Status.PARTIAL
        else:
            status = Status.SUCCEEDED
        close_batch(
            batch=self.batch, token=self.token, status=status, error=stop_message, progress=progress
        )
