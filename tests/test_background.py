"""Without a worker, tasks asked for from a page run in a thread of the web process."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from devtools.image_builder import push_image
from registry.background import run_in_background
from registry.models import SyncRun, Tag
from registry.tasks import sync_registry_task

JAN = datetime(2026, 1, 5, tzinfo=UTC)


@pytest.mark.django_db(transaction=True)
def test_a_task_runs_in_a_thread_after_the_request_returns(
    settings, local_registry, registry_client
) -> None:  # type: ignore[no-untyped-def]
    from registry.registries import save_registry

    settings.TASKS_IN_THREADS = True
    push_image(registry_client, "acme/web", "review-1", created=JAN)
    registry, _ = save_registry(name="local", url=local_registry.url)

    run_in_background(sync_registry_task, registry.pk)  # no transaction: starts at once

    deadline = time.monotonic() + 20
    while not SyncRun.objects.filter(status=SyncRun.Status.SUCCEEDED).exists():
        assert time.monotonic() < deadline, "the sync thread did not finish"
        time.sleep(0.05)
    assert list(Tag.objects.values_list("name", flat=True)) == ["review-1"]
