"""Sync through Celery: a real worker process on a real Redis."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from django.conf import settings

from devtools.image_builder import push_image
from registry.models import SyncRun, Tag
from registry.registries import save_registry
from registry.tasks import sync_all_registries, sync_registry_task

JAN = datetime(2026, 1, 5, tzinfo=UTC)


def wait_for_finished_run(timeout: float = 30.0) -> SyncRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = SyncRun.objects.exclude(status=SyncRun.Status.RUNNING).first()
        if run is not None:
            return run
        time.sleep(0.1)
    raise AssertionError("no sync finished in time")


@pytest.mark.slow
def test_a_worker_syncs_a_registry_sent_through_redis(
    celery_worker, local_registry, registry_client
) -> None:
    push_image(registry_client, "acme/web", "review-a-1", created=JAN)
    push_image(registry_client, "acme/web", "latest", created=JAN)
    registry, _ = save_registry(name="local", url=local_registry.url)

    sync_registry_task.delay(registry.pk)
    run = wait_for_finished_run()

    assert run.status == SyncRun.Status.SUCCEEDED, run.error + celery_worker.log()[-2000:]
    assert set(Tag.objects.values_list("name", flat=True)) == {"review-a-1", "latest"}
    assert "registry.tasks.sync_registry_task" in celery_worker.log()


@pytest.mark.django_db
def test_beat_syncs_every_registry_on_the_configured_interval(local_registry) -> None:
    save_registry(name="one", url=local_registry.url)
    save_registry(name="two", url=local_registry.url)

    entry = settings.CELERY_BEAT_SCHEDULE["sync-all-registries"]
    assert entry["task"] == "registry.tasks.sync_all_registries"
    assert entry["schedule"] == settings.SYNC_INTERVAL_MINUTES * 60

    sync_all_registries.delay()  # in-process here: each registry gets its own sync task
    assert sorted(SyncRun.objects.values_list("registry__name", "status")) == [
        ("one", SyncRun.Status.SUCCEEDED),
        ("two", SyncRun.Status.SUCCEEDED),
    ]


@pytest.mark.django_db
def test_a_sync_task_for_a_deleted_registry_does_nothing() -> None:
    assert sync_registry_task.delay(987654).get() is None
    assert not SyncRun.objects.exists()


def test_beat_hands_stuck_deletion_batches_to_a_worker_every_minute() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["requeue-stuck-batches"]
    assert entry["task"] == "registry.tasks.requeue_stuck_batches"
    assert entry["schedule"] == 60
