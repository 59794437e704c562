"""Who runs a batch: one worker at a time, holding it by a lease it renews as it goes.

A worker claims a batch with a conditional UPDATE, so two deliveries of the same
task never run it twice; a lease that was not renewed in time belongs to a dead
worker, and the next delivery takes the batch over. Only one live batch deletes
in a repository at a time.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from registry.models import DeletionBatch, DeletionItem

from .batches import BatchProgress, batch_progress, counters_of

Status = DeletionBatch.Status
Outcome = DeletionItem.Outcome

# A queued batch that no worker has started this long after its task was handed over
# was lost on the way (the broker was down, or restarted without its queue): it is
# handed over again. Long enough that a worker busy with a long sync is not flooded.
QUEUE_PATIENCE = timedelta(minutes=10)


class LeaseLost(Exception):
    """Another worker took the batch over (ours looked dead): stop touching it."""


class BatchBusy(Exception):
    """The batch must wait its turn (see the two kinds below)."""


class RepositoriesBusy(BatchBusy):
    """Another batch is deleting in one of this batch's repositories."""


class BatchHeld(BatchBusy):
    """Another process (a worker, or a `cleanup --apply`) runs this batch right now."""

    def __init__(self, message: str, *, lease_expires_at: datetime | None) -> None:
        super().__init__(message)
        self.lease_expires_at = lease_expires_at


def claim_batch(*, batch: DeletionBatch) -> uuid.UUID | None:
    """Take the batch for this worker: a conditional UPDATE, so only one worker wins."""
    now = timezone.now()
    token = uuid.uuid4()
    lease_expired = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    with transaction.atomic():
        if _repositories_busy(batch=batch, now=now):
            raise RepositoriesBusy(
                f"Another batch is deleting in the repositories of batch {batch.pk}."
            )
        claimed = (
            DeletionBatch.objects.filter(pk=batch.pk)
            .filter(Q(status=Status.QUEUED) | (Q(status=Status.RUNNING) & lease_expired))
            .update(
                status=Status.RUNNING,
                lease_token=token,
                lease_expires_at=now + lease_duration(),
                started_at=Coalesce(F("started_at"), Value(now)),
            )
        )
    if claimed:
        return token
    held = DeletionBatch.objects.filter(pk=batch.pk, status=Status.RUNNING).first()
    if held is not None:
        raise BatchHeld(
            f"Batch {batch.pk} is being run by another process right now.",
            lease_expires_at=held.lease_expires_at,
        )
    return None


def lease_has_expired(batch: DeletionBatch, *, now: datetime) -> bool:
    """Running, but its worker died: nobody renewed the lease in time."""
    return (
        batch.status == Status.RUNNING
        and batch.lease_expires_at is not None
        and batch.lease_expires_at < now
    )


def is_waiting_for_a_worker(batch: DeletionBatch) -> bool:
    """Confirmed, and no worker has started it yet (none runs, or the broker lost it)."""
    return batch.status == Status.QUEUED and batch.started_at is None


def renew_lease(*, batch: DeletionBatch, token: uuid.UUID, **changes: str) -> None:
    """Keep holding the batch (and save `changes` with it). Raises LeaseLost."""
    renewed = DeletionBatch.objects.filter(
        pk=batch.pk, status=Status.RUNNING, lease_token=token
    ).update(lease_expires_at=timezone.now() + lease_duration(), **changes)
    if not renewed:
        raise LeaseLost


def release_lease(*, batch: DeletionBatch, token: uuid.UUID) -> None:
    """Let the batch go (an interrupted run): the next run may take it over at once."""
    DeletionBatch.objects.filter(pk=batch.pk, status=Status.RUNNING, lease_token=token).update(
        lease_expires_at=timezone.now()
    )


def _repositories_busy(*, batch: DeletionBatch, now: datetime) -> bool:
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


def lease_duration() -> timedelta:
    return timedelta(seconds=settings.DELETION_LEASE_SECONDS)


def stuck_batches(*, now: datetime) -> QuerySet[DeletionBatch]:
    """Batches no worker is running although they should run: queued and never started
    although their task was handed over long ago (or never), or running with an expired
    lease (their worker died) and not handed over again since."""
    waited = now - QUEUE_PATIENCE
    not_handed_over_lately = Q(handed_over_at__isnull=True) | Q(handed_over_at__lt=waited)
    never_started = Q(status=Status.QUEUED, started_at__isnull=True, confirmed_at__lt=waited)
    lease_expired = Q(status=Status.RUNNING, lease_expires_at__lt=now) & (
        not_handed_over_lately | Q(handed_over_at__lt=F("lease_expires_at"))
    )
    return DeletionBatch.objects.filter((never_started & not_handed_over_lately) | lease_expired)


def note_handed_over(*, batch_id: int, now: datetime) -> None:
    """A task for the batch went to the broker now (see stuck_batches)."""
    DeletionBatch.objects.filter(pk=batch_id).update(handed_over_at=now)


def close_batch(
    *,
    batch: DeletionBatch,
    token: uuid.UUID,
    status: str,
    error: str = "",
    progress: BatchProgress | None = None,
) -> None:
    """Close the batch with its outcome counts; only its lease holder may."""
    progress = progress or batch_progress(batch=batch)
    finished = DeletionBatch.objects.filter(
        pk=batch.pk, status=Status.RUNNING, lease_token=token
    ).update(
        status=status,
        error=error,
        finished_at=timezone.now(),
        current_repository="",
        lease_token=None,
        lease_expires_at=None,
        **counters_of(progress),
    )
    if not finished:
        raise LeaseLost
