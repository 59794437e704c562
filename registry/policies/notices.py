"""What a policy tells people, and how: email (Django's mail settings) and a webhook.

Three notices: a proposal is ready (counts, size, link), a batch finished, a run
failed. Each is a PolicyNotice row per channel, delivered by a worker
(`tasks.deliver_policy_notice_task`), which retries with backoff; a delivery that
keeps failing is recorded and never touches the run or its batch.

The webhook gets `{"text": …}`, which Slack's, Mattermost's and Teams' incoming
webhooks all take. Its URL holds a secret: it is stored encrypted, and no error, log
line or page shows it (only the host's answer, or the kind of error).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import timezone

from registry.models import CleanupPolicy, DeletionBatch, PolicyNotice, PolicyRun
from registry.secrets import CredentialsKeyMismatch

logger = logging.getLogger(__name__)

Kind = PolicyNotice.Kind
Channel = PolicyNotice.Channel
WEBHOOK_TIMEOUT_SECONDS = 10


class DeliveryFailed(Exception):
    """A notice did not get through; `str()` is safe to store (no URL, no secret)."""


def notices_for_run(*, run: PolicyRun) -> list[PolicyNotice]:
    """The notices a finished run sends (saved, pending): a proposal, or a failure."""
    if run.status == PolicyRun.Status.PROPOSED:
        return _create(run=run, kind=Kind.PROPOSAL)
    if run.status == PolicyRun.Status.FAILED:
        return _create(run=run, kind=Kind.FAILURE)
    return []


def notices_for_batch(*, batch: DeletionBatch) -> list[PolicyNotice]:
    """The notices of a policy's batch that has finished (none for other batches)."""
    run = PolicyRun.objects.filter(batch=batch).select_related("policy").first()
    if run is None or batch.is_open or batch.status == DeletionBatch.Status.DISCARDED:
        return []
    return _create(run=run, kind=Kind.FINISHED)


def _create(*, run: PolicyRun, kind: str) -> list[PolicyNotice]:
    policy = run.policy
    channels = []
    if policy.notify_emails:
        channels.append(Channel.EMAIL)
    if policy.webhook_url_encrypted:
        channels.append(Channel.WEBHOOK)
    return [PolicyNotice.objects.create(run=run, kind=kind, channel=c) for c in channels]


# A notice never tried this long after it was made lost its task (the queue was down).
NOTICE_PATIENCE = timedelta(minutes=10)


def stalled_notices(*, now: datetime) -> list[int]:
    """Notices no worker has tried since long enough: their task was lost."""
    return list(
        PolicyNotice.objects.filter(
            state=PolicyNotice.State.PENDING, attempts=0, created_at__lt=now - NOTICE_PATIENCE
        ).values_list("pk", flat=True)
    )


def deliver_notice(*, notice: PolicyNotice) -> None:
    """Send the notice once; records the attempt. Raises DeliveryFailed."""
    run = notice.run
    policy = run.policy
    PolicyNotice.objects.filter(pk=notice.pk).update(attempts=notice.attempts + 1)
    notice.attempts += 1
    subject, text = notice_text(run=run, kind=notice.kind)
    try:
        if notice.channel == Channel.EMAIL:
            _send_email(policy=policy, subject=subject, text=text)
        else:
            _post_webhook(policy=policy, text=f"*{subject}*\n{text}")
    except DeliveryFailed as exc:
        PolicyNotice.objects.filter(pk=notice.pk).update(error=str(exc)[:300])
        raise
    PolicyNotice.objects.filter(pk=notice.pk).update(
        state=PolicyNotice.State.SENT, sent_at=timezone.now(), error=""
    )


def give_up(*, notice: PolicyNotice) -> None:
    PolicyNotice.objects.filter(pk=notice.pk).update(state=PolicyNotice.State.FAILED)
    logger.warning(
        "Gave up sending the %s notice of policy run %s by %s after %s attempts",
        notice.kind,
        notice.run_id,
        notice.channel,
        notice.attempts,
    )


def _send_email(*, policy: CleanupPolicy, subject: str, text: str) -> None:
    try:
        send_mail(
            subject=f"[Registry Janitor] {subject}",
            message=text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=list(policy.notify_emails),
        )
    except Exception as exc:  # SMTP errors, refused connections, timeouts
        raise DeliveryFailed(f"Email not sent: {type(exc).__name__}") from exc


def _post_webhook(*, policy: CleanupPolicy, text: str) -> None:
    try:
        url = policy.webhook_url
    except CredentialsKeyMismatch as exc:
        raise DeliveryFailed("The webhook URL cannot be decrypted (CREDENTIALS_KEY).") from exc
    try:
        response = requests.post(url, json={"text": text}, timeout=WEBHOOK_TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        # The exception's text names the URL, and the URL is the secret.
        raise DeliveryFailed(f"Webhook not reached: {type(exc).__name__}") from None
    if not 200 <= response.status_code < 300:
        raise DeliveryFailed(f"Webhook answered HTTP {response.status_code}")


# -- the words -------------------------------------------------------------------


def page_url(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def _size(size: int) -> str:
    return str(filesizeformat(size)).replace("\xa0", " ")


def notice_text(*, run: PolicyRun, kind: str) -> tuple[str, str]:
    """(subject, text) of a notice about `run`."""
    policy = run.policy
    history = page_url(reverse("policy_detail", args=[policy.name]))
    batch = run.batch
    batch_link = page_url(reverse("batch", args=[batch.pk])) if batch else history
    if kind == Kind.FAILURE:
        return (
            f"Cleanup policy {policy.name} failed",
            f"The run of {_when(run)} failed: {run.error}\nHistory: {history}",
        )
    assert batch is not None
    if kind == Kind.PROPOSAL:
        fallback = f"\nNot applied: {run.fallback_reason}" if run.fallback_reason else ""
        return (
            f"Cleanup policy {policy.name}: {run.tags_proposed:,} tags to approve",
            f"Policy {policy.name} on {policy.registry.name} proposes removing "
            f"{run.tags_proposed:,} tags ({_size(run.bytes_proposed)}): "
            f"{run.newly_stale:,} newly stale, {run.no_longer_stale:,} no longer since the "
            f"last run.{fallback}\nReview and approve: {batch_link}",
        )
    return (
        f"Cleanup policy {policy.name}: batch {batch.pk} {batch.get_status_display().lower()}",
        f"Batch {batch.pk} of policy {policy.name} on {policy.registry.name} finished: "
        f"{batch.deleted_count:,} deleted, {batch.untagged_count:,} untagged, "
        f"{batch.skipped_count:,} skipped, {batch.failed_count:,} failed "
        f"({_size(batch.bytes_deleted)} deleted). {_approval(batch)}\nDetails: {batch_link}",
    )


def _when(run: PolicyRun) -> str:
    return timezone.localtime(run.started_at).strftime("%Y-%m-%d %H:%M %Z")


def _approval(batch: DeletionBatch) -> str:
    if batch.applied_by_schedule:
        return "Applied by the schedule."
    return f"Approved by {batch.confirmed_by_username}."
