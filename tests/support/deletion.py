"""Deletion batches behind a fault proxy: shared by the fault and truth tests.

Registered from tests/conftest.py (`pytest_plugins`).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.utils import timezone

from devtools.image_builder import Pushed, push_image
from registry.client import RegistryClient
from registry.deletion.batches import batch_progress, confirm_batch, counters_of
from registry.deletion.plan import plan_deletion
from registry.models import DeletionBatch, DeletionItem, StalenessRules, Tag
from registry.registries import save_registry
from registry.sync import sync_registry

JAN = datetime(2026, 1, 5, tzinfo=UTC)


@pytest.fixture
def proxied(db, local_registry, registry_client: RegistryClient, fault_proxy):
    """Six review images behind a fault proxy, synced; returns (registry, proxy, pushed)."""
    pushed = {
        f"review-{n}": push_image(registry_client, "acme/web", f"review-{n}", created=JAN)
        for n in range(6)
    }
    proxy = fault_proxy(local_registry.url)
    registry, _ = save_registry(name="proxied", url=proxy.url)
    StalenessRules.objects.create(registry=registry, protected_patterns=[])
    assert sync_registry(registry=registry).status == "succeeded"
    return registry, proxy, pushed


def plan_and_confirm(registry, janitor, names) -> DeletionBatch:
    tags = Tag.objects.filter(repository__registry=registry, name__in=names)
    batch = plan_deletion(registry=registry, tags=tags, actor=janitor, reason="cleanup")
    return confirm_batch(batch=batch, actor=janitor, reason="stale review images")


def deletes_of(proxy, image: Pushed) -> int:
    return len(proxy.requests_matching("DELETE", f"/manifests/{image.digest}$"))


def run_batch_as(
    batch: DeletionBatch, outcomes: dict[str, str], *, error: str = ""
) -> DeletionBatch:
    """Finish a confirmed batch as a worker would, with the outcome of each tag named in
    `outcomes` (the others are deleted): no registry needed (view and browser tests)."""
    Outcome = DeletionItem.Outcome
    DeletionBatch.objects.filter(pk=batch.pk).update(status=DeletionBatch.Status.RUNNING)
    for item in batch.items.filter(outcome=Outcome.PENDING):
        outcome = outcomes.get(item.tag, Outcome.DELETED)
        failed = outcome == Outcome.FAILED
        DeletionItem.objects.filter(pk=item.pk).update(
            outcome=outcome,
            http_status=500 if failed else 202 if outcome == Outcome.DELETED else None,
            detail="The registry answered 500 Internal Server Error." if failed else "",
            finished_at=timezone.now(),
        )
    progress = batch_progress(batch=batch)
    if error:
        status = DeletionBatch.Status.FAILED
    elif progress.failed or progress.not_attempted:
        status = DeletionBatch.Status.PARTIAL
    else:
        status = DeletionBatch.Status.SUCCEEDED
    DeletionBatch.objects.filter(pk=batch.pk).update(
        status=status,
        error=error,
        started_at=batch.confirmed_at,
        finished_at=timezone.now(),
        **counters_of(progress),
    )
    batch.refresh_from_db()
    return batch
