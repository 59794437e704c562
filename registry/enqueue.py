"""The one door to the worker: every "start a sync" and "run a batch" goes through here.

Work is handed to Celery once the current transaction commits, so a worker never
looks for rows that are not there yet. Nothing else in the app imports the tasks:
pages, selectors and domain modules stay free of Celery.

Called outside a transaction (as the views do), a broker that cannot be reached
raises QueueUnavailable at once, so the page can say so; nothing is lost either
way: a sync is asked for again by the next click or beat, and a confirmed batch
stays queued until a worker takes it (see `registry.tasks.requeue_stuck_batches`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from celery import Task
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from .deletion.lease import note_handed_over
from .models import CleanupPolicy, DeletionBatch, PolicyNotice, PolicyRun, Registry
from .tasks import (
    apply_events_task,
    deliver_policy_notice_task,
    execute_deletion_batch_task,
    run_policy_task,
    sync_registry_task,
)

logger = logging.getLogger(__name__)

# Publishing gives up after about a second when the broker is down: a page must not hang.
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.4}


SYNC_NOT_SENT_MESSAGE = (
    "The task queue (Redis) could not be reached, so no worker was asked to sync {name}. "
    "Check that Redis and the Celery worker are running, then try again."
)
BATCH_NOT_SENT_MESSAGE = (
    "The deletion is confirmed, but the task queue (Redis) could not be reached, so no "
    "worker has it yet. Nothing has been deleted. It starts by itself once the queue is "
    "back, or hand it to a worker again from this page."
)


POLICY_NOT_SENT_MESSAGE = (
    "The task queue (Redis) could not be reached, so no worker was asked to run policy "
    "{name}. Check that Redis and the Celery worker are running, then try again."
)
EVENTS_NOT_SENT_MESSAGE = "The task queue (Redis) could not be reached to apply registry events."


class QueueUnavailable(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def start_sync(*, registry: Registry) -> None:
    """Ask a worker to sync the registry. Raises QueueUnavailable."""
    _send(sync_registry_task, registry.pk, failure=SYNC_NOT_SENT_MESSAGE.format(name=registry.name))


def start_batch(*, batch: DeletionBatch) -> None:
    """Ask a worker to run (or resume) a confirmed deletion batch. Raises QueueUnavailable."""
    sent = partial(note_handed_over, batch_id=batch.pk, now=timezone.now())
    _send(execute_deletion_batch_task, batch.pk, failure=BATCH_NOT_SENT_MESSAGE, then=sent)


def start_applying_events(*, registry_id: int) -> None:
    """Ask a worker to apply the registry's received events (registry.events.apply).

    Never raises: the events are stored, and the periodic sweep
    (`tasks.apply_stalled_events`) hands them to a worker once the queue is back.
    """
    with contextlib.suppress(QueueUnavailable):  # logged by _publish
        _send(apply_events_task, registry_id, failure=EVENTS_NOT_SENT_MESSAGE)


def start_policy_run(*, policy: CleanupPolicy) -> None:
    """Ask a worker to run a policy now (its "Run now" button). Raises QueueUnavailable."""
    failure = POLICY_NOT_SENT_MESSAGE.format(name=policy.name)
    _send(run_policy_task, policy.pk, PolicyRun.Trigger.MANUAL, failure=failure)


def start_notices(*, notices: list[PolicyNotice]) -> None:
    """Ask a worker to deliver a policy's notices. Never raises: a notice never fails a run."""
    for notice in notices:
        transaction.on_commit(partial(_publish_quietly, deliver_policy_notice_task, notice.pk))


def _publish_quietly(task: Task[Any, Any], *args: object) -> None:
    with contextlib.suppress(QueueUnavailable):  # logged by _publish
        _publish(task, args, failure="", then=None)


def _send(
    task: Task[Any, Any], *args: object, failure: str, then: Callable[[], None] | None = None
) -> None:
    transaction.on_commit(partial(_publish, task, args, failure=failure, then=then))


def _publish(
    task: Task[Any, Any], args: tuple[object, ...], *, failure: str, then: Callable[[], None] | None
) -> None:
    try:
        task.apply_async(args, retry=True, retry_policy=PUBLISH_RETRY_POLICY)
    except OperationalError as exc:
        logger.warning("Could not hand %s%r to the broker: %s", task.name, args, exc)
        raise QueueUnavailable(failure) from exc
    if then is not None:
        then()
