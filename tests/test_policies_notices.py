"""Policy notices: email and incoming webhooks, retried, never failing the run."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.core import mail
from django.test import override_settings

from registry import tasks
from registry.deletion.run import execute_batch
from registry.models import CleanupPolicy, PolicyNotice, PolicyRun
from registry.policies.approval import approve_proposal
from registry.policies.notices import notice_text, notices_for_run
from registry.policies.run import run_policy
from tests.support.capture_server import CaptureServer
from tests.support.policy_runs import batch_of
from tests.test_policies import make_policy, reviews  # noqa: F401 (a fixture)

Kind = PolicyNotice.Kind
SECRET_PATH = "/hooks/T000/B000/very-secret-token"


@pytest.fixture
def webhook():
    with CaptureServer() as server:
        yield server


def with_webhook(policy: CleanupPolicy, server: CaptureServer) -> CleanupPolicy:
    policy.set_webhook_url(server.origin + SECRET_PATH)
    policy.save()
    return policy


def run_now(policy: CleanupPolicy) -> PolicyRun:
    tasks.run_policy_task(policy.pk, PolicyRun.Trigger.SCHEDULE)
    return PolicyRun.objects.get(policy=policy)


@override_settings(POLICY_NOTICE_BACKOFF_SECONDS=0)
def test_a_proposal_is_posted_as_text_with_counts_size_and_link(reviews, webhook) -> None:  # noqa: F811
    policy = with_webhook(make_policy(reviews, include_patterns=["^acme/web$"]), webhook)

    run = run_now(policy)

    (body,) = webhook.posted
    text = json.loads(body)["text"]
    assert "4 tags to approve" in text
    assert "4 newly stale, 0 no longer" in text
    assert f"http://127.0.0.1:8000/deletions/{run.batch_id}/" in text
    assert PolicyNotice.objects.get().state == PolicyNotice.State.SENT


@override_settings(POLICY_NOTICE_BACKOFF_SECONDS=0)
def test_webhook_failures_are_retried_and_never_fail_the_run(reviews, webhook) -> None:  # noqa: F811
    webhook.post_statuses = [500, 503]
    policy = with_webhook(make_policy(reviews, include_patterns=["^acme/web$"]), webhook)

    run = run_now(policy)

    assert run.status == PolicyRun.Status.PROPOSED
    assert len(webhook.posted) == 3
    notice = PolicyNotice.objects.get()
    assert (notice.state, notice.attempts, notice.error) == ("sent", 3, "")


@override_settings(POLICY_NOTICE_BACKOFF_SECONDS=0, POLICY_NOTICE_RETRIES=2)
def test_a_webhook_that_keeps_failing_is_given_up_and_the_url_never_shows(
    reviews,  # noqa: F811
    webhook,
    caplog,
) -> None:
    webhook.post_statuses = [500] * 10
    policy = with_webhook(make_policy(reviews, include_patterns=["^acme/web$"]), webhook)

    with caplog.at_level(logging.INFO):
        run = run_now(policy)

    notice = PolicyNotice.objects.get()
    assert run.status == PolicyRun.Status.PROPOSED
    assert batch_of(run).status == "planned"
    assert (notice.state, notice.attempts) == ("failed", 3)
    assert notice.error == "Webhook answered HTTP 500"
    assert "very-secret-token" not in caplog.text
    assert "very-secret-token" not in policy.webhook_url_encrypted


@override_settings(POLICY_NOTICE_BACKOFF_SECONDS=0)
def test_an_unreachable_webhook_does_not_name_its_url(reviews) -> None:  # noqa: F811
    policy = make_policy(reviews, include_patterns=["^acme/web$"])
    policy.set_webhook_url("http://127.0.0.1:9" + SECRET_PATH)
    policy.save()

    run = run_now(policy)

    notice = PolicyNotice.objects.get()
    assert run.status == PolicyRun.Status.PROPOSED
    assert notice.state == "failed"
    assert notice.error == "Webhook not reached: ConnectionError"


def test_a_proposal_is_emailed(reviews) -> None:  # noqa: F811
    policy = make_policy(
        reviews, include_patterns=["^acme/web$"], notify_emails=["lead@example.com"]
    )

    run = run_now(policy)

    (message,) = mail.outbox
    assert message.to == ["lead@example.com"]
    assert message.subject == "[Registry Janitor] Cleanup policy weekly: 4 tags to approve"
    assert f"/deletions/{run.batch_id}/" in message.body


def test_a_finished_batch_is_told_with_who_approved_it(reviews, janitor) -> None:  # noqa: F811
    policy = make_policy(
        reviews, include_patterns=["^acme/web$"], notify_emails=["lead@example.com"]
    )
    run = run_now(policy)
    mail.outbox.clear()

    batch = approve_proposal(run=run, actor=janitor)
    tasks.execute_deletion_batch_task(batch.pk)

    (message,) = mail.outbox
    assert f"batch {batch.pk} succeeded" in message.subject
    assert "4 deleted" in message.body
    assert "Approved by jan-janitor." in message.body


def test_a_failed_run_is_told(reviews) -> None:  # noqa: F811
    policy = make_policy(reviews, branch_pattern="(", notify_emails=["lead@example.com"])

    run_now(policy)

    (message,) = mail.outbox
    assert message.subject == "[Registry Janitor] Cleanup policy weekly failed"


def test_a_run_that_proposes_nothing_tells_nobody(reviews) -> None:  # noqa: F811
    make_policy(reviews, max_age_days=999, notify_emails=["lead@example.com"])

    run_now(CleanupPolicy.objects.get())

    assert mail.outbox == []


def test_applied_by_the_schedule_says_so(reviews) -> None:  # noqa: F811
    policy = make_policy(
        reviews,
        include_patterns=["^acme/web$"],
        mode="apply",
        max_repository_percent=100,
    )
    run = run_now(policy)
    execute_batch(batch=batch_of(run))
    batch_of(run).refresh_from_db()

    _, text = notice_text(run=run, kind=Kind.FINISHED)

    assert "Applied by the schedule." in text


@pytest.mark.django_db(transaction=True)
def test_a_queue_that_is_down_loses_the_notice_not_the_run(reviews, webhook) -> None:  # noqa: F811
    from django.core.management import call_command

    from tests.support.fixtures import tasks_sent_to

    with_webhook(make_policy(reviews, include_patterns=["^acme/web$"]), webhook)
    out = io.StringIO()

    with tasks_sent_to("redis://127.0.0.1:1/0"):
        call_command("run_policy", "weekly", stdout=out)

    assert "is proposed; nothing has been deleted" in out.getvalue()
    assert PolicyRun.objects.get().status == PolicyRun.Status.PROPOSED
    assert PolicyNotice.objects.get().state == PolicyNotice.State.PENDING


def test_a_notice_whose_task_was_lost_is_sent_by_the_next_look_for_due_policies(
    reviews,  # noqa: F811
    webhook,
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from registry.policies.notices import NOTICE_PATIENCE

    policy = with_webhook(make_policy(reviews, include_patterns=["^acme/web$"]), webhook)
    run = run_policy(policy=policy, trigger=PolicyRun.Trigger.CLI)
    notices_for_run(run=run)  # made, and never handed to a worker
    PolicyNotice.objects.update(created_at=timezone.now() - NOTICE_PATIENCE - timedelta(1))

    tasks.run_due_policies()

    assert PolicyNotice.objects.get().state == PolicyNotice.State.SENT
    assert len(webhook.posted) == 1
