"""A planned batch's life after the preview: confirm, cancel, and its progress.

Planning is `registry.deletion.plan`; executing is `registry.deletion.run`. Here:
what a janitor must give to confirm (a reason; for a big batch, its size typed
back), cancelling, and the figures the progress page and the CLI show.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from registry.models import DeletionBatch, DeletionItem
from registry.models.audit import SCHEDULE_ACTOR

# Above this many tags to act on, the janitor types the number to confirm.
TYPED_CONFIRMATION_THRESHOLD = 50

Status = DeletionBatch.Status
Outcome = DeletionItem.Outcome

REASON_REQUIRED_MESSAGE = "Say why these images go: the reason is kept in the audit log."
NOT_PLANNED_MESSAGE = "This batch is no longer a plan: it was confirmed or discarded already."
NOTHING_TO_DO_MESSAGE = "Every tag in this plan is refused: there is nothing to delete."
ALREADY_FINISHED_MESSAGE = "This batch has finished: there is nothing to cancel."
CANCELLED_NOTE = "Not attempted: the batch was cancelled."
DISCARDED_NOTE = "Not attempted: the plan was discarded."


def typed_count_message(count: int) -> str:
    return f"Type {count:,} (the number of tags this will remove) to confirm."


# The one command that frees the disk, for the docker-compose setup in this repository.
GC_COMMAND = "docker compose exec registry registry garbage-collect /etc/docker/registry/config.yml"
GC_EXPLANATION = (
    "The registry frees disk space only when its garbage collector runs on the registry "
    "host; until then the deleted images' blobs stay on disk. Stop pushes first (or put "
    "the registry in read-only mode): collecting during a push can corrupt the pushed image."
)
GC_UNTAGGED_WARNING = (
    "Do not add --delete-untagged (-m) on distribution 2.8: it also deletes the platform "
    "images of multi-arch images that are still tagged, breaking them (fixed in 3.0)."
)


class ConfirmationError(Exception):
    """The confirmation was refused; `message` says what to fix."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def actionable_count(batch: DeletionBatch) -> int:
    """Tags the batch will remove (deleted or untagged), not counting refusals."""
    return batch.tags_planned - batch.refused_planned


def deleted_tags_planned(batch: DeletionBatch) -> int:
    """Tags the batch removes by deleting their manifest (not untagged, not refused)."""
    return actionable_count(batch) - batch.untags_planned


def needs_typed_count(batch: DeletionBatch) -> bool:
    return actionable_count(batch) > TYPED_CONFIRMATION_THRESHOLD


def typed_count_matches(batch: DeletionBatch, typed: str) -> bool:
    """Whether `typed` ("1,204" or "1204") is the number of tags the batch removes."""
    return typed.replace(",", "").strip() == str(actionable_count(batch))


def confirm_batch(*, batch: DeletionBatch, actor: User | None, reason: str) -> DeletionBatch:
    """Queue a planned batch, with the reason the audit log keeps (the caller enqueues it).

    On the web the confirmation form has the count typed back first (ConfirmBatchForm);
    on the command line, naming the batch by id is the confirmation. `actor` None: a
    cleanup policy applies it within its caps (recorded as SCHEDULE_ACTOR). Raises
    ConfirmationError with a message for the user.
    """
    reason = reason.strip()
    if not reason:
        raise ConfirmationError(REASON_REQUIRED_MESSAGE)
    if actionable_count(batch) == 0:
        raise ConfirmationError(NOTHING_TO_DO_MESSAGE)
    # Conditional: two confirmations of one plan queue it once.
    queued = DeletionBatch.objects.filter(pk=batch.pk, status=Status.PLANNED).update(
        status=Status.QUEUED,
        reason=reason,
        confirmed_by_username=actor.get_username() if actor else SCHEDULE_ACTOR,
        confirmed_at=timezone.now(),
    )
    if not queued:
        raise ConfirmationError(NOT_PLANNED_MESSAGE)
    batch.refresh_from_db()
    return batch


def cancel_batch(*, batch: DeletionBatch) -> DeletionBatch:
    """Discard a plan, or ask a queued or running batch to stop after its current items.

    A running batch finishes what it is doing and marks the rest not attempted.
    Raises ConfirmationError when the batch has finished.
    """
    with transaction.atomic():
        if DeletionBatch.objects.filter(pk=batch.pk, status=Status.PLANNED).exists():
            close_pending_items(batch=batch, note=DISCARDED_NOTE)
            DeletionBatch.objects.filter(pk=batch.pk).update(
                status=Status.DISCARDED, finished_at=timezone.now()
            )
        elif not DeletionBatch.objects.filter(pk=batch.pk).update(cancel_requested=True):
            raise ConfirmationError(ALREADY_FINISHED_MESSAGE)
    batch.refresh_from_db()
    return batch


def close_pending_items(*, batch: DeletionBatch, note: str) -> int:
    """Mark every item still pending as not attempted (the batch stopped before it)."""
    return DeletionItem.objects.filter(batch=batch, outcome=Outcome.PENDING).update(
        outcome=Outcome.NOT_ATTEMPTED, detail=note, finished_at=timezone.now()
    )


# Each outcome an item can end with, and the batch field that keeps its count once the
# batch has finished: the one place the two are tied together.
OUTCOME_COUNTERS: dict[Outcome, str] = {
    Outcome.DELETED: "deleted_count",
    Outcome.UNTAGGED: "untagged_count",
    Outcome.ABSENT: "absent_count",
    Outcome.SKIPPED: "skipped_count",
    Outcome.REFUSED: "refused_count",
    Outcome.FAILED: "failed_count",
    Outcome.NOT_ATTEMPTED: "not_attempted_count",
}


@dataclass(frozen=True)
class BatchProgress:
    """How many items have each outcome (fields named as `Outcome`'s values)."""

    total: int
    pending: int
    deleted: int
    untagged: int
    absent: int
    skipped: int
    refused: int
    failed: int
    not_attempted: int
    bytes_deleted: int

    @property
    def done(self) -> int:
        return self.total - self.pending

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 100

    def count(self, outcome: Outcome) -> int:
        return int(getattr(self, outcome.value))

    def summary(self, *, with_zeros: bool = False, separator: str = " · ") -> str:
        """Such as "3 deleted · 1 failed"; every outcome `with_zeros`."""
        counts = [(self.count(outcome), outcome.label.lower()) for outcome in OUTCOME_COUNTERS]
        return separator.join(f"{n:,} {label}" for n, label in counts if n or with_zeros)


def batch_progress(*, batch: DeletionBatch) -> BatchProgress:
    """Counts by outcome, in one query over the batch's items."""
    counts = DeletionItem.objects.filter(batch=batch).aggregate(
        total=Count("pk"),
        **{outcome.value: Count("pk", filter=Q(outcome=outcome)) for outcome in Outcome},
    )
    return BatchProgress(**counts, bytes_deleted=bytes_deleted(batch=batch))


def saved_progress(*, batch: DeletionBatch) -> BatchProgress:
    """The figures a finished batch saved when it ended (no query)."""
    counts = {outcome.value: getattr(batch, field) for outcome, field in OUTCOME_COUNTERS.items()}
    return BatchProgress(
        total=batch.tags_planned, pending=0, **counts, bytes_deleted=batch.bytes_deleted
    )


def counters_of(progress: BatchProgress) -> dict[str, int]:
    """The batch fields that keep `progress` once the batch has finished."""
    counts = {field: progress.count(outcome) for outcome, field in OUTCOME_COUNTERS.items()}
    return {**counts, "bytes_deleted": progress.bytes_deleted}


def bytes_deleted(*, batch: DeletionBatch) -> int:
    """The sizes of the images the batch deleted, each digest once."""
    rows = DeletionItem.objects.filter(batch=batch, outcome=Outcome.DELETED).values_list(
        "repository_name", "digest", "size"
    )
    return sum({(repo, digest): size for repo, digest, size in rows}.values())
