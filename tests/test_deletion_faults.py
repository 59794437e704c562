"""Deletion batches when the registry misbehaves, and when the worker dies mid-batch.

Faults come from a proxy in front of the real registry; the worker is a real
`celery worker` process on a real Redis, killed with SIGKILL.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from devtools.image_builder import push_image
from registry.deletion import run as deletion_run
from registry.models import DeletionBatch, DeletionItem, StalenessRules, Tag
from registry.registries import save_registry
from registry.sync import sync_registry
from tests.support.deletion import deletes_of, plan_and_confirm
from tests.support.fault_proxy import Delay, Respond, distribution_error

JAN = datetime(2026, 1, 5, tzinfo=UTC)
Outcome = DeletionItem.Outcome


def test_a_500_and_a_429_mid_batch_give_exact_outcomes_and_nothing_is_deleted_twice(
    proxied, registry_client, janitor
) -> None:
    registry, proxy, pushed = proxied
    failing, limited = pushed["review-2"], pushed["review-4"]
    proxy.add_fault(
        "DELETE",
        f"/manifests/{failing.digest}$",
        Respond(500, distribution_error("UNKNOWN", "disk")),
    )
    proxy.add_fault(
        "DELETE",
        f"/manifests/{limited.digest}$",
        Respond(429, distribution_error("TOOMANYREQUESTS", "slow down"), {"Retry-After": "0"}),
        times=1,
    )
    batch = plan_and_confirm(registry, janitor, list(pushed))

    batch = deletion_run.execute_batch(batch=batch)

    outcomes = {item.tag: (item.outcome, item.http_status) for item in batch.items.all()}
    assert outcomes == {
        "review-0": (Outcome.DELETED, 202),
        "review-1": (Outcome.DELETED, 202),
        "review-2": (Outcome.FAILED, 500),
        "review-3": (Outcome.DELETED, 202),
        "review-4": (Outcome.DELETED, 202),
        "review-5": (Outcome.DELETED, 202),
    }
    assert batch.status == DeletionBatch.Status.PARTIAL
    assert "fault on the registry's side" in batch.items.get(tag="review-2").detail
    assert set(registry_client.list_tags("acme/web")) == {"review-2"}
    assert deletes_of(proxy, limited) == 2, "the 429 was retried once"

    # Running the finished batch again (a redelivered task) sends nothing.
    before = len(proxy.requests_matching("DELETE", "/manifests/"))
    deletion_run.execute_batch(batch=batch)
    assert len(proxy.requests_matching("DELETE", "/manifests/")) == before

    # Once the registry recovers, a new plan of what is left deletes only that.
    proxy.clear_faults()
    retry = deletion_run.execute_batch(batch=plan_and_confirm(registry, janitor, ["review-2"]))
    assert retry.items.get().outcome == Outcome.DELETED
    assert {tag: deletes_of(proxy, image) for tag, image in pushed.items()} == {
        "review-0": 1,
        "review-1": 1,
        "review-2": 2,  # the 500 (not retried: only 429/502/503/504 are), then the retry
        "review-3": 1,
        "review-4": 2,
        "review-5": 1,
    }
    assert registry_client.list_tags("acme/web") == []


def test_a_registry_down_before_the_recheck_attempts_nothing_and_deletes_nothing(
    proxied, registry_client, janitor
) -> None:
    registry, proxy, _ = proxied
    batch = plan_and_confirm(registry, janitor, ["review-0", "review-1"])
    proxy.set_down(True)

    batch = deletion_run.execute_batch(batch=batch)

    proxy.set_down(False)
    assert batch.status == DeletionBatch.Status.PARTIAL
    assert set(batch.items.values_list("outcome", flat=True)) == {Outcome.NOT_ATTEMPTED}
    assert not proxy.requests_matching("DELETE", "/manifests/")
    details = set(batch.items.values_list("detail", flat=True))
    assert len(details) == 1
    assert details.pop().startswith("Could not re-check acme/web before deleting")
    assert len(registry_client.list_tags("acme/web")) == 6
    assert Tag.objects.filter(repository__registry=registry).count() == 6, "cache intact"


# -- a worker killed mid-batch -----------------------------------------------------------


@pytest.mark.slow
def test_a_worker_killed_mid_batch_is_resumed_without_repeating_finished_items(
    transactional_db,
    local_registry,
    registry_client,
    fault_proxy,
    redis_server,
    janitor,
    tmp_path: Path,
) -> None:
    from registry.tasks import execute_deletion_batch_task
    from tests.support.celery_worker import CeleryWorker
    from tests.support.fixtures import tasks_sent_to

    names = [f"review-{n:02}" for n in range(40)]
    for name in names:
        push_image(registry_client, "acme/web", name, created=JAN)
    proxy = fault_proxy(local_registry.url)
    registry, _ = save_registry(name="proxied", url=proxy.url)
    StalenessRules.objects.create(registry=registry, protected_patterns=[])
    assert sync_registry(registry=registry).status == "succeeded"
    # Slow deletes, so that the kill lands mid-batch.
    proxy.add_fault("DELETE", "/manifests/", Delay(0.4))
    batch = plan_and_confirm(registry, janitor, names)

    # Redis hands the unacknowledged task to the next worker after 2 s; the dead
    # worker's lease on the batch expires after 2 s.
    quick = {
        "CELERY_VISIBILITY_TIMEOUT_SECONDS": "2",
        "CELERY_RESTORE_INTERVAL_SECONDS": "1",
        "DELETION_LEASE_SECONDS": "2",
    }
    first = CeleryWorker(
        broker_url=redis_server.url, log_path=tmp_path / "first.log", environment=quick
    ).start()
    try:
        with tasks_sent_to(redis_server.url):
            execute_deletion_batch_task.delay(batch.pk)
        wait_until(lambda: batch.items.filter(outcome=Outcome.DELETED).count() >= 3, first.log)
        first.kill()
        done_before_kill = set(
            batch.items.exclude(outcome=Outcome.PENDING).values_list("pk", flat=True)
        )
        assert 0 < len(done_before_kill) < len(names), "the kill landed mid-batch"
        second = CeleryWorker(
            broker_url=redis_server.url, log_path=tmp_path / "second.log", environment=quick
        ).start()
        try:
            wait_until(lambda: _finished(batch), second.log, timeout=60)
        finally:
            second.stop()
    finally:
        first.stop()

    batch.refresh_from_db()
    assert batch.status == DeletionBatch.Status.SUCCEEDED, batch.error
    assert batch.items.count() == len(names), "one audit row per tag: no duplicates"
    assert set(batch.items.values_list("outcome", flat=True)) == {Outcome.DELETED}
    assert registry_client.list_tags("acme/web") == []
    # Items finished before the kill were not touched again.
    deletes = Counter(path for _, path in proxy.requests_matching("DELETE", "/manifests/"))
    finished = batch.items.filter(pk__in=done_before_kill)
    assert all(deletes[f"/v2/acme/web/manifests/{item.digest}"] == 1 for item in finished)
    assert batch.deleted_count == len(names)


def _finished(batch: DeletionBatch) -> bool:
    return (
        DeletionBatch.objects.filter(pk=batch.pk)
        .exclude(status__in=DeletionBatch.OPEN_STATUSES)
        .exists()
    )


def wait_until(condition, log, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out; worker log:\n{log()[-3000:]}")
