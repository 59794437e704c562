"""An apply-mode run's safety caps: over either, the run only proposes, and says why."""

from __future__ import annotations

from django.db.models import Count

from registry.deletion.batches import actionable_count
from registry.models import CleanupPolicy, DeletionBatch, DeletionItem, Tag


def over_tags_cap_reason(count: int, cap: int) -> str:
    return f"It would remove {count:,} tags, over the policy's cap of {cap:,} a run."


def over_share_cap_reason(repository: str, removed: int, total: int, cap: int) -> str:
    return (
        f"It would remove {removed:,} of the {total:,} tags of {repository} "
        f"({100 * removed / total:.0f}%), over the policy's cap of {cap}% of any repository."
    )


def over_cap_reason(*, policy: CleanupPolicy, batch: DeletionBatch) -> str:
    """Why the batch is over one of the policy's caps, or "" when it is within both."""
    count = actionable_count(batch)
    if count > policy.max_tags_per_run:
        return over_tags_cap_reason(count, policy.max_tags_per_run)
    removed = dict(
        DeletionItem.objects.filter(batch=batch)
        .exclude(action=DeletionItem.Action.REFUSE)
        .order_by()
        .values_list("repository_name")
        .annotate(n=Count("pk"))
    )
    totals = dict(
        Tag.objects.filter(
            repository__registry_id=batch.registry_id, repository__name__in=list(removed)
        )
        .order_by()
        .values_list("repository__name")
        .annotate(n=Count("pk"))
    )
    for repository, n in sorted(removed.items()):
        total = totals.get(repository, 0)
        if total and 100 * n > policy.max_repository_percent * total:
            return over_share_cap_reason(repository, n, total, policy.max_repository_percent)
    return ""
