"""Celery tasks: thin wrappers that load rows and call the domain modules."""

from __future__ import annotations

import logging

from celery import shared_task

from .deletion_run import BatchBusy, execute_batch
from .locks import SyncAlreadyRunning
from .models import DeletionBatch, Registry
from .sync import sync_registry

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
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


# A batch waiting for another on the same repository, or for a dead worker's lease.
BUSY_RETRY_SECONDS = 10


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def execute_deletion_batch_task(self, batch_id: int) -> None:  # type: ignore[no-untyped-def]
    """Run a confirmed deletion batch; safe to deliver twice (see registry.deletion_run)."""
    batch = DeletionBatch.objects.filter(pk=batch_id).first()
    if batch is None:
        logger.warning("Deletion batch %s does not exist", batch_id)
        return
    try:
        execute_batch(batch=batch)
    except BatchBusy as exc:
        if self.request.is_eager:  # in-process (no Redis): a retry would spin here
            logger.warning("%s Confirm the batch again once the other one has finished.", exc)
            return
        logger.info("%s Retrying in %s s.", exc, BUSY_RETRY_SECONDS)
        raise self.retry(countdown=BUSY_RETRY_SECONDS) from exc
