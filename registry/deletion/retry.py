"""*Retry failed*: a new plan of exactly the tags a finished batch failed or never attempted.

The retry is an ordinary plan (registry.deletion.plan), previewed and confirmed as any
other, and linked to the batch it retries (`DeletionBatch.retry_of`) in the audit log.
Its tags are found in the cache by repository and name: a tag the cache no longer has
(a sync saw it go) is not planned again.
"""

from __future__ import annotations

from collections import defaultdict

from django.contrib.auth.models import User
from django.db.models import Q, QuerySet

from registry.models import DeletionBatch, DeletionItem, Registry, Tag

from .plan import plan_deletion

Outcome = DeletionItem.Outcome

# What a retry plans again: the items whose request failed, or that were never sent.
RETRIED_OUTCOMES = (Outcome.FAILED, Outcome.NOT_ATTEMPTED)

NOT_FINISHED_MESSAGE = "This batch has not finished: only a finished batch can be retried."
NOTHING_TO_RETRY_MESSAGE = "Nothing to retry: no tag of this batch failed or was left unattempted."
REGISTRY_GONE_MESSAGE = "The registry of this batch was removed: there is nothing to retry on."
ALL_GONE_MESSAGE = (
    "None of the tags to retry is in the cache any more (a sync saw them go): nothing to plan."
)


class RetryError(Exception):
    """The retry could not be planned; `message` says why, for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def retry_count(batch: DeletionBatch) -> int:
    """How many tags *Retry failed* would plan again (0 while the batch runs)."""
    if not batch.is_finished or batch.status == DeletionBatch.Status.DISCARDED:
        return 0
    return batch.failed_count + batch.not_attempted_count


def tags_to_retry(*, batch: DeletionBatch, registry: Registry) -> QuerySet[Tag]:
    """The cached tags of the batch's failed and not-attempted items."""
    names: dict[str, list[str]] = defaultdict(list)
    items = batch.items.filter(outcome__in=RETRIED_OUTCOMES).values_list("repository_name", "tag")
    for repository, tag in items:
        names[repository].append(tag)
    wanted = Q(pk__in=[])
    for repository, tags in names.items():
        wanted |= Q(repository__name=repository, name__in=tags)
    return Tag.objects.filter(repository__registry=registry).filter(wanted)


def plan_retry(*, batch: DeletionBatch, actor: User) -> DeletionBatch:
    """Plan the failed and not-attempted tags of `batch` again; raises RetryError."""
    if not batch.is_finished:
        raise RetryError(NOT_FINISHED_MESSAGE)
    if not retry_count(batch):
        raise RetryError(NOTHING_TO_RETRY_MESSAGE)
    registry = Registry.objects.filter(pk=batch.registry_id).first()
    if registry is None:
        raise RetryError(REGISTRY_GONE_MESSAGE)
    tags = tags_to_retry(batch=batch, registry=registry)
    if not tags.exists():
        raise RetryError(ALL_GONE_MESSAGE)
    return plan_deletion(registry=registry, tags=tags, actor=actor, retry_of=batch)
