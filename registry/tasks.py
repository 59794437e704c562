"""Celery tasks: thin wrappers that load rows and call the domain modules.

Start them through `registry.enqueue`, never with `.delay()` from elsewhere.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from celery import Task, shared_task
from django.conf import settings
from django.utils import timezone

from .deletion.lease import BatchHeld, RepositoriesBusy, note_handed_over, stuck_batches
from .deletion.run import execute_batch
from .events.apply import apply_pending_events
from .events.housekeeping import (
    forget_old_events,
    has_pending_events,
    registries_with_stalled_events,
)
from .events.locks import ApplierBusy, SyncRunning, applier_turn
from .locks import SyncAlreadyRunning
from .models import CleanupPolicy, DeletionBatch, EventEndpoint, PolicyNotice, PolicyRun, Registry
from .policies.notices import (
    DeliveryFailed,
    deliver_notice,
    give_up,
    notices_for_batch,
    notices_for_run,
    stalled_notices,
)
from .policies.run import run_policy
from .policies.schedule import claim_due_policies
from .sync import sync_registry

logger = logging.getLogger(__name__)

# A batch waiting for another on the same repository, or for a dead worker's lease.
BUSY_RETRY_SECONDS = 10
# Events wait while a sync holds their registry (it applies what is pending as it starts),
# or while the registry cannot be read.
EVENTS_RETRY_SECONDS = 5
EVENTS_TURNS = 10


# A sync past its soft limit stops and says so (registry.sync.run); the hard limit, a
# minute later, ends a worker process that did not.
@shared_task(
    ignore_result=True,
    soft_time_limit=settings.SYNC_TIME_LIMIT_SECONDS,
    time_limit=settings.SYNC_TIME_LIMIT_SECONDS + 60,
)
def sync_registry_task(registry_id: int, repository: str | None = None) -> int | None:
    """Sync one registry (or one repository of it); returns the SyncRun id."""
    registry = Registry.objects.filter(pk=registry_id).first()
    if registry is None:
        logger.info("Registry %s was deleted before its sync ran", registry_id)
        return None
    try:
        run = sync_registry(registry=registry, repository=repository)
    except SyncAlreadyRunning as exc:
        logger.info("%s", exc)
        return None
    return run.pk


@shared_task(ignore_result=True)
def sync_all_registries() -> None:
    """Beat's periodic job: one sync task per registry."""
    for registry_id in Registry.objects.values_list("pk", flat=True):
        sync_registry_task.delay(registry_id)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def execute_deletion_batch_task(self: Task[Any, Any], batch_id: int) -> None:
    """Run a confirmed deletion batch; safe to deliver twice (see registry.deletion.lease)."""
    batch = DeletionBatch.objects.filter(pk=batch_id).first()
    if batch is None:
        logger.warning("Deletion batch %s does not exist", batch_id)
        return
    try:
        batch = execute_batch(batch=batch)
    except BatchHeld as exc:
        if self.request.is_eager:
            logger.info("%s", exc)
            return
        # Another worker holds it (or held it, and died): look again once its lease ends,
        # then this task takes it over, or finds it finished and does nothing.
        wait = seconds_until(exc.lease_expires_at) + 1
        logger.info("%s Looking again in %s s.", exc, wait)
        raise self.retry(countdown=wait) from exc
    except RepositoriesBusy as exc:
        if self.request.is_eager:  # run in-process (tests): a retry would spin here
            logger.warning("%s Confirm the batch again once the other one has finished.", exc)
            return
        logger.info("%s Retrying in %s s.", exc, BUSY_RETRY_SECONDS)
        raise self.retry(countdown=BUSY_RETRY_SECONDS) from exc
    if batch.source == DeletionBatch.Source.POLICY:
        send_notices(notices_for_batch(batch=batch))


def seconds_until(moment: datetime | None) -> int:
    if moment is None:
        return 0
    return max(int((moment - timezone.now()).total_seconds()), 0)


@shared_task(ignore_result=True)
def requeue_stuck_batches() -> int:
    """Beat's periodic job: hand batches that no worker runs to a worker again.

    A confirmed batch whose task was lost (the broker was down or lost it) stays
    queued, and one whose worker died stays running until Redis redelivers its task
    (the visibility timeout). Running a batch twice is harmless: its lease decides.
    """
    now = timezone.now()
    batches = list(stuck_batches(now=now).values_list("pk", flat=True))
    for batch_id in batches:
        logger.warning("Handing deletion batch %s to a worker again: none is running it", batch_id)
        note_handed_over(batch_id=batch_id, now=now)
        execute_deletion_batch_task.delay(batch_id)
    return len(batches)


@shared_task(bind=True, ignore_result=True, max_retries=None)
def apply_events_task(self: Task[Any, Any], registry_id: int) -> None:
    """Apply a registry's received events (see registry.events.apply)."""
    registry = Registry.objects.filter(pk=registry_id).first()
    if registry is None:
        return
    endpoint = EventEndpoint.objects.filter(registry=registry)
    for _ in range(EVENTS_TURNS):
        try:
            with applier_turn(registry):
                # From here on a new delivery queues another task: nothing waits unseen.
                endpoint.update(apply_queued=False)
                outcome = apply_pending_events(registry=registry)
        except ApplierBusy:
            # Whoever holds the registry looks for new events once more after letting go.
            endpoint.update(apply_queued=False)
            return
        except SyncRunning:
            break  # the sync applies what is pending as it starts; the rest waits for it
        if outcome.postponed:
            break
        if not has_pending_events(registry=registry):
            return  # looked at after letting go: an event stored meanwhile is not left behind
    if self.request.is_eager:  # run in-process (tests): the periodic sweep takes them later
        endpoint.update(apply_queued=False)
        return
    endpoint.update(apply_queued=True)
    raise self.retry(countdown=EVENTS_RETRY_SECONDS)


@shared_task(ignore_result=True)
def apply_stalled_events() -> int:
    """Beat's periodic job: hand events no worker applies to a worker again (their task
    was lost, or the queue was down when they came), and forget old applied events."""
    registry_ids = registries_with_stalled_events(now=timezone.now())
    for registry_id in registry_ids:
        logger.warning("Handing the events of registry %s to a worker again", registry_id)
        apply_events_task.delay(registry_id)
    forget_old_events(now=timezone.now())
    return len(registry_ids)


# -- cleanup policies (registry.policies) ------------------------------------------------


@shared_task(ignore_result=True)
def run_due_policies() -> int:
    """Beat's periodic job: run each policy whose time has come, once (see schedule)."""
    claimed = claim_due_policies(now=timezone.now())
    for policy_id in claimed:
        run_policy_task.delay(policy_id, PolicyRun.Trigger.SCHEDULE)
    # Notices whose task was lost (the queue was down when they were made) go again.
    for notice_id in stalled_notices(now=timezone.now()):
        deliver_policy_notice_task.delay(notice_id)
    return len(claimed)


@shared_task(ignore_result=True)
def run_policy_task(policy_id: int, trigger: str) -> int | None:
    """Run one policy; hand an applied batch to a worker; send the notices."""
    policy = CleanupPolicy.objects.select_related("registry").filter(pk=policy_id).first()
    if policy is None:
        return None
    run = run_policy(policy=policy, trigger=trigger)
    if run.status == PolicyRun.Status.APPLIED and run.batch is not None:
        note_handed_over(batch_id=run.batch.pk, now=timezone.now())
        execute_deletion_batch_task.delay(run.batch.pk)
    send_notices(notices_for_run(run=run))
    return run.pk


def send_notices(notices: list[PolicyNotice]) -> None:
    """Hand each notice to a worker; a broker that is down loses the notice, not the run."""
    for notice in notices:
        try:
            deliver_policy_notice_task.delay(notice.pk)
        except Exception:
            logger.warning("Could not queue notice %s of a policy run", notice.pk, exc_info=True)


@shared_task(bind=True, ignore_result=True, max_retries=None)
def deliver_policy_notice_task(self: Task[Any, Any], notice_id: int) -> None:
    """Send one notice; retried with exponential backoff, then given up (never raises)."""
    notices = PolicyNotice.objects.select_related("run__policy__registry", "run__batch")
    notice = notices.filter(pk=notice_id, state=PolicyNotice.State.PENDING).first()
    if notice is None:
        return
    try:
        deliver_notice(notice=notice)
    except DeliveryFailed as exc:
        if self.request.retries >= settings.POLICY_NOTICE_RETRIES:
            give_up(notice=notice)
            return
        if self.request.is_eager:  # run in-process (tests): a retry would raise; try here
            retries = self.request.retries + 1
            deliver_policy_notice_task.apply((notice_id,), retries=retries, throw=True)
            return
        wait = settings.POLICY_NOTICE_BACKOFF_SECONDS * 2**self.request.retries
        logger.info("Notice %s not delivered (%s); trying again in %s s", notice_id, exc, wait)
        raise self.retry(countdown=wait) from None
