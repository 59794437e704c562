"""Celery tasks: thin wrappers that load rows and call the domain modules."""

from __future__ import annotations

import logging

from celery import shared_task

from .locks import SyncAlreadyRunning
from .models import Registry
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
