"""The one door to the worker: work is sent once the transaction that asked for it commits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import transaction

from devtools.image_builder import push_image
from registry.enqueue import start_sync
from registry.models import SyncRun, Tag

JAN = datetime(2026, 1, 5, tzinfo=UTC)


@pytest.mark.django_db
def test_a_sync_is_sent_once_the_transaction_commits(
    cached_registry, registry_client, django_capture_on_commit_callbacks
) -> None:
    push_image(registry_client, "acme/web", "review-1", created=JAN)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        with transaction.atomic():
            start_sync(registry=cached_registry)
        assert not SyncRun.objects.exists()  # nothing is sent before the commit

    assert len(callbacks) == 1
    callbacks[0]()  # the commit: the task goes to the worker (in-process in the tests)
    assert SyncRun.objects.get().status == SyncRun.Status.SUCCEEDED
    assert list(Tag.objects.values_list("name", flat=True)) == ["review-1"]


def test_only_the_enqueue_module_imports_the_tasks() -> None:
    """Pages, selectors and domain modules stay free of Celery: one door to the worker."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "registry"
    importers = sorted(
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if "tasks import" in path.read_text() or "import tasks" in path.read_text()
    )
    assert importers == ["enqueue.py"]
