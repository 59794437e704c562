"""Running a task in the background: on a Celery worker, or in a thread of this process.

With Redis configured, `.delay()` hands the task to the workers. Without it (the
embedded default of `make demo`) Celery would run the task inside the request
that asked for it, and a page could not watch its progress; so the task runs in a
thread of the web process instead (`TASKS_IN_THREADS`). Tests run tasks eagerly.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import Task
from django.conf import settings
from django.db import close_old_connections, transaction

logger = logging.getLogger(__name__)


def run_in_background(task: Task, *args: Any) -> None:
    """Start `task(*args)` once the current transaction commits."""
    if settings.TASKS_IN_THREADS:
        transaction.on_commit(lambda: _start_thread(task, args), robust=True)
    else:
        transaction.on_commit(lambda: task.delay(*args), robust=True)


def _start_thread(task: Task, args: tuple[Any, ...]) -> None:
    thread = threading.Thread(target=_run, args=(task, args), name=f"task-{task.name}", daemon=True)
    thread.start()


def _run(task: Task, args: tuple[Any, ...]) -> None:
    try:
        task.apply(args=args, throw=True)
    except Exception:
        logger.exception("Background task %s%r failed", task.name, args)
    finally:
        close_old_connections()  # this thread's database connection
