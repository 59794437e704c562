"""One run of a cleanup policy: a saved plan, applied only when mode and caps allow.

1. The policy's proposals still waiting for approval are superseded: their batches are
   discarded (kept in the history and the audit log, never applied).
2. The tags to plan are chosen from the cache (`selection`): no request reaches the
   registry until a batch is confirmed, and then it re-checks every digest as any
   batch does (registry.deletion.run).
3. The plan is saved as an ordinary batch, planned by SCHEDULE_ACTOR for the policy,
   and compared with the previous run's ("12 newly stale, 3 no longer").
4. Apply mode (or `run_policy --apply`) confirms it within the caps; over a cap the run
   only proposes and records why. The caller hands a confirmed batch to a worker and
   sends the notices (registry.policies.notices).

A run that fails is recorded with its error; it never raises.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from registry.deletion.batches import actionable_count, close_pending_items, confirm_batch
from registry.deletion.cleanup_selection import id_set
from registry.deletion.plan import plan_deletion
from registry.models import CleanupPolicy, DeletionBatch, DeletionItem, PolicyRun, Tag

from .caps import over_cap_reason
from .selection import policy_selection

logger = logging.getLogger(__name__)

Status = PolicyRun.Status


def superseded_note(run: PolicyRun) -> str:
    return f"Not attempted: superseded by run {run.pk} of the policy before anyone approved it."


NOTHING_TO_REMOVE_NOTE = "Not attempted: every tag the policy found stale is refused."


def run_policy(
    *,
    policy: CleanupPolicy,
    trigger: str,
    apply: bool | None = None,
    now: datetime | None = None,
) -> PolicyRun:
    """Run the policy now. `apply`: None follows the policy's mode; True applies when the
    caps allow (`manage.py run_policy --apply`); False only proposes."""
    now = now or timezone.now()
    run = PolicyRun.objects.create(policy=policy, trigger=trigger, started_at=timezone.now())
    try:
        _run(run=run, policy=policy, apply=apply, now=now)
    except Exception as exc:  # recorded and notified; the next run tries again
        logger.exception("Cleanup policy %s failed", policy.name)
        run.status = Status.FAILED
        run.error = str(exc) or type(exc).__name__
    run.finished_at = timezone.now()
    run.save()
    return run


def _run(*, run: PolicyRun, policy: CleanupPolicy, apply: bool | None, now: datetime) -> None:
    supersede_proposals(policy=policy, by=run)
    selection = policy_selection(policy=policy, now=now)
    run.kept_by_other_policies = selection.kept_by_others
    if not selection.tag_ids:
        run.status = Status.NOTHING
        return
    batch = plan_deletion(
        registry=policy.registry,
        tags=Tag.objects.filter(pk__in=id_set(selection.tag_ids)),
        actor=None,
        reason=policy.reason,
        source=DeletionBatch.Source.POLICY,
        policy_name=policy.name,
    )
    run.batch = batch
    run.tags_proposed = actionable_count(batch)
    run.bytes_proposed = batch.bytes_planned
    run.newly_stale, run.no_longer_stale = _changes_since_previous(run=run, batch=batch)
    if run.tags_proposed == 0:
        _discard(batch=batch, note=NOTHING_TO_REMOVE_NOTE)
        run.status = Status.NOTHING
        return
    wants_apply = policy.mode == CleanupPolicy.Mode.APPLY if apply is None else apply
    if wants_apply:
        run.fallback_reason = over_cap_reason(policy=policy, batch=batch)
        if not run.fallback_reason:
            run.batch = confirm_batch(batch=batch, actor=None, reason=policy.reason)
            run.status = Status.APPLIED
            return
    run.status = Status.PROPOSED


def supersede_proposals(*, policy: CleanupPolicy, by: PolicyRun) -> int:
    """Discard the policy's proposals nobody approved; returns how many."""
    waiting = PolicyRun.objects.filter(
        policy=policy, status=Status.PROPOSED, batch__status=DeletionBatch.Status.PLANNED
    ).exclude(pk=by.pk)
    superseded = 0
    for run in waiting.select_related("batch"):
        assert run.batch is not None
        if _discard(batch=run.batch, note=superseded_note(by)):
            PolicyRun.objects.filter(pk=run.pk).update(status=Status.SUPERSEDED)
            superseded += 1
    return superseded


def _discard(*, batch: DeletionBatch, note: str) -> bool:
    """Discard a plan unless someone confirmed it meanwhile (conditional, so a click that
    approves it at the same moment wins or loses whole)."""
    with transaction.atomic():
        discarded = DeletionBatch.objects.filter(
            pk=batch.pk, status=DeletionBatch.Status.PLANNED
        ).update(status=DeletionBatch.Status.DISCARDED, finished_at=timezone.now())
        if discarded:
            close_pending_items(batch=batch, note=note)
    batch.refresh_from_db()
    return bool(discarded)


def _changes_since_previous(*, run: PolicyRun, batch: DeletionBatch) -> tuple[int, int]:
    """(tags in this plan and not in the previous run's, tags in that one and not here)."""
    previous = (
        PolicyRun.objects.filter(policy_id=run.policy_id, batch__isnull=False)
        .exclude(pk=run.pk)
        .order_by("-started_at", "-pk")
        .values_list("batch_id", flat=True)
        .first()
    )
    now_planned = _planned_tags(batch.pk)
    before = _planned_tags(previous) if previous else set()
    return len(now_planned - before), len(before - now_planned)


def _planned_tags(batch_id: int) -> set[tuple[str, str]]:
    return set(
        DeletionItem.objects.filter(batch_id=batch_id)
        .exclude(action=DeletionItem.Action.REFUSE)
        .values_list("repository_name", "tag")
    )
