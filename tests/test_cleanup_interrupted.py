"""`cleanup --apply` interrupted (Ctrl-C, SIGTERM, SIGKILL) and resumed: the audit log's
counts equal what the registry lost, and nothing is deleted twice.

The command runs in its own process against the real registry behind a proxy that slows
every DELETE down, so that the interrupt lands mid-batch.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from devtools.image_builder import push_image
from registry.deletion.plan import plan_deletion
from registry.models import DeletionBatch, DeletionItem, StalenessRules, Tag
from registry.registries import save_registry
from registry.sync import sync_registry
from tests.support.celery_worker import database_url_for_current_test_db
from tests.support.deletion import JAN
from tests.support.fault_proxy import Delay

ROOT = Path(__file__).resolve().parents[1]
IMAGES = 24
Outcome = DeletionItem.Outcome
Status = DeletionBatch.Status

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def slow_batch(local_registry, registry_client, fault_proxy, janitor):
    """A planned batch of 24 images whose DELETEs each take 0.3 s; returns (batch, proxy)."""
    for n in range(IMAGES):
        push_image(registry_client, "acme/web", f"review-{n:02d}", created=JAN)
    proxy = fault_proxy(local_registry.url)
    registry, _ = save_registry(name="local", url=proxy.url)
    StalenessRules.objects.create(registry=registry, protected_patterns=[])
    assert sync_registry(registry=registry).status == "succeeded"
    tags = Tag.objects.filter(repository__registry=registry)
    batch = plan_deletion(registry=registry, tags=tags, actor=janitor, reason="cleanup")
    proxy.add_fault("DELETE", "/manifests/", Delay(0.3))
    return batch, proxy


def apply_in_a_process(batch: DeletionBatch) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "janitor_site.settings",
        "DEBUG": "1",
        "DATABASE_URL": database_url_for_current_test_db(),
    }
    command = [
        sys.executable, "manage.py", "cleanup", "--registry", "local", "--apply", str(batch.pk),
        "--reason", "stale review images", "--actor", "jan-janitor",
    ]  # fmt: skip
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def wait_for_deletes(proxy, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while len(proxy.requests_matching("DELETE", "/manifests/")) < count:
        assert time.monotonic() < deadline, "the batch did not start deleting"
        time.sleep(0.05)


def resume(batch: DeletionBatch) -> str:
    out = io.StringIO()
    call_command(
        "cleanup", "--registry", "local", "--apply", str(batch.pk),
        "--reason", "stale review images", "--actor", "jan-janitor", stdout=out,
    )  # fmt: skip
    return out.getvalue()


def assert_the_log_matches_the_registry(batch: DeletionBatch, registry_client, proxy) -> None:
    batch.refresh_from_db()
    assert batch.status == Status.SUCCEEDED
    assert batch.deleted_count == IMAGES
    assert registry_client.list_tags("acme/web") == []
    deletes = [path for _, path in proxy.requests_matching("DELETE", "/manifests/")]
    assert len(deletes) == len(set(deletes)) == IMAGES, "every digest deleted exactly once"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_apply_saves_what_it_did_and_resumes_where_it_stopped(
    slow_batch, registry_client, signum
) -> None:
    batch, proxy = slow_batch
    process = apply_in_a_process(batch)
    wait_for_deletes(proxy, 3)

    process.send_signal(signum)
    output = process.communicate(timeout=60)[0].decode()

    assert process.returncode == 130, output
    assert "Interrupted." in output
    assert f"--apply {batch.pk}" in output, "it says how to finish"
    batch.refresh_from_db()
    assert batch.status == Status.RUNNING
    done = batch.items.exclude(outcome=Outcome.PENDING).count()
    assert 0 < done < IMAGES, "outcomes known before the interrupt were saved"
    assert registry_client.list_tags("acme/web"), "the batch did not finish"

    assert "Resuming batch" in resume(batch)  # at once: the interrupt let the lease go

    assert_the_log_matches_the_registry(batch, registry_client, proxy)


def test_a_killed_apply_is_held_until_its_lease_expires_then_resumes(
    slow_batch, registry_client
) -> None:
    batch, proxy = slow_batch
    process = apply_in_a_process(batch)
    wait_for_deletes(proxy, 3)

    process.kill()  # SIGKILL: nothing is saved on the way out
    process.wait(timeout=30)
    time.sleep(1)  # its requests in flight land (long before a real lease would expire)

    with pytest.raises(CommandError, match="being run by another process right now"):
        resume(batch)
    DeletionBatch.objects.filter(pk=batch.pk).update(lease_expires_at=JAN)  # time passes

    resume(batch)

    assert_the_log_matches_the_registry(batch, registry_client, proxy)


def test_cancelling_a_batch_after_a_crash_checks_what_its_requests_did(
    slow_batch, registry_client
) -> None:
    batch, proxy = slow_batch
    process = apply_in_a_process(batch)
    wait_for_deletes(proxy, 3)
    process.kill()
    process.wait(timeout=30)
    time.sleep(1)  # its requests in flight land
    DeletionBatch.objects.filter(pk=batch.pk).update(lease_expires_at=JAN, cancel_requested=True)

    # The next run (a worker's, or this one) takes the cancelled batch over and closes it.
    with pytest.raises(CommandError, match="did not fully succeed: cancelled"):
        resume(batch)

    batch.refresh_from_db()
    assert batch.status == Status.CANCELLED
    gone = IMAGES - len(registry_client.list_tags("acme/web"))
    assert gone > 0
    assert batch.deleted_count == gone, "every image the registry lost is in the log as deleted"
    assert batch.deleted_count + batch.not_attempted_count == IMAGES
