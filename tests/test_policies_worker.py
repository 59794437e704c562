"""Beat and a worker as real processes: a missed schedule runs once, its proposal is
posted to a webhook that fails twice first, and an approval deletes on the worker."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from registry.enqueue import start_batch
from registry.models import CleanupPolicy, DeletionBatch, PolicyNotice, PolicyRun
from registry.policies.approval import approve_proposal
from tests.support.capture_server import CaptureServer
from tests.support.celery_worker import CeleryBeat, CeleryWorker
from tests.support.events import wait_until
from tests.support.fixtures import tasks_sent_to
from tests.test_cleanup_command import tags_in_registry
from tests.test_policies import REVIEWS, make_policy, reviews  # noqa: F401 (a fixture)

pytestmark = pytest.mark.slow

FAST = {"POLICY_CHECK_SECONDS": "1", "POLICY_NOTICE_BACKOFF_SECONDS": "0.5"}


@pytest.fixture
def processes(transactional_db, redis_server, tmp_path):
    """A worker and beat on the test's Redis, looking for due policies every second."""
    worker = CeleryWorker(
        broker_url=redis_server.url, log_path=tmp_path / "worker.log", environment=FAST
    )
    beat = CeleryBeat(broker_url=redis_server.url, log_path=tmp_path / "beat.log", environment=FAST)
    try:
        worker.start()
        with tasks_sent_to(redis_server.url):
            yield worker, beat
    finally:
        beat.stop()
        worker.stop()


def test_beat_runs_a_missed_schedule_once_and_the_webhook_is_retried(
    transactional_db,
    reviews,  # noqa: F811
    registry_client,
    janitor,
    processes,
) -> None:
    worker, beat = processes
    with CaptureServer(post_statuses=[500, 503]) as webhook:
        policy = make_policy(reviews, include_patterns=["^acme/web$"], frequency="daily")
        policy.set_webhook_url(webhook.origin + "/hooks/secret")
        policy.save()
        # Due two weeks ago: the worker was down for fourteen daily slots.
        CleanupPolicy.objects.filter(pk=policy.pk).update(
            next_run_at=timezone.now() - timedelta(days=14)
        )

        beat.start()
        run = wait_until(
            lambda: PolicyRun.objects.filter(status=PolicyRun.Status.PROPOSED).first(),
            timeout=60,
        )
        notice = wait_until(
            lambda: PolicyNotice.objects.filter(state=PolicyNotice.State.SENT).first(),
            timeout=60,
        )
        time.sleep(3)  # beat looks every second: a second run would show by now

        assert PolicyRun.objects.count() == 1
        assert notice.attempts == 3
        assert len(webhook.posted) == 3
        assert "4 tags to approve" in json.loads(webhook.posted[-1])["text"]
        assert tags_in_registry(registry_client) == {*REVIEWS, "latest"}
        assert "run_due_policies" in beat.log()
        policy.refresh_from_db()
        assert policy.next_run_at is not None
        assert policy.next_run_at > timezone.now()

        # A Janitor approves; the worker deletes, re-checking first, and says so.
        batch = approve_proposal(run=run, actor=janitor)
        start_batch(batch=batch)
        wait_until(
            lambda: DeletionBatch.objects.filter(pk=batch.pk, status="succeeded").exists(),
            timeout=60,
        )
        wait_until(lambda: len(webhook.posted) == 4, timeout=30)

    assert tags_in_registry(registry_client) == {"latest"}
    assert f"batch {batch.pk} succeeded" in json.loads(webhook.posted[-1])["text"]
    assert "Approved by jan-janitor" in json.loads(webhook.posted[-1])["text"]
    assert "execute_deletion_batch_task" in worker.log()
