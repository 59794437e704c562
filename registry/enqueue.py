"""The one door to the worker: every "start a sync" and "run a batch" goes through here.

Work is handed to Celery once the current transaction commits, so a worker never
looks for rows that are not there yet. Nothing else in the app imports the tasks:
pages, selectors and domain modules stay free of Celery.
"""

from __future__ import annotations

import logging
from functools import partial

from celery import Task
from django.db import transaction

from .models import DeletionBatch, Registry
from .tasks import execute_deletion_batch_task, sync_registry_task

logger = logging.getLogger(__name__)


def start_sync(*, registry: Registry) -> None:
    """Ask a worker to sync the registry."""
    _send(sync_registry_task, registry.pk)


def start_batch(*, batch: DeletionBatch) -> None:
    """Ask a worker to run (or resume) a confirmed deletion batch."""
    _send(execute_deletion_batch_task, batch.pk)


def _send(task: Task, *args: object) -> None:
    # A broker that is down is logged, and the page shows that no worker started the
    # work (a sync "not picked up", a batch left queued) instead of failing the request.
    transaction.on_commit(partial(task.delay, *args), robust=True)
