from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from registry.deletion.batches import saved_progress
from registry.deletion.lease import BatchHeld, RepositoriesBusy
from registry.deletion.run import execute_batch
from registry.enqueue import start_batch, start_notices
from registry.management.plan_output import size_text, write_plan
from registry.models import CleanupPolicy, DeletionBatch, PolicyRun
from registry.policies.notices import notices_for_batch, notices_for_run, page_url
from registry.policies.run import run_policy

NOTHING_STALE_MESSAGE = "Nothing is stale under this policy: nothing planned."


def unknown_policy_message(name: str) -> str:
    return f"No cleanup policy named {name!r} (see list_policies)."


def changes_line(run: PolicyRun) -> str:
    return (
        f"Since the previous run: {run.newly_stale:,} newly stale, "
        f"{run.no_longer_stale:,} no longer."
    )


def kept_line(run: PolicyRun) -> str:
    return f"{run.kept_by_other_policies:,} stale tags kept: another policy keeps them."


class Command(BaseCommand):
    help = (
        "Run one cleanup policy now: plan from the dashboard's cache (sync first) and print "
        "the plan and its batch id. Nothing is deleted unless --apply is given and the "
        "policy's caps allow it; otherwise the plan waits for a Janitor's approval."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Policy name")
        parser.add_argument(
            "--apply",
            action="store_true",
            help="Apply the plan here and now when it is within the policy's caps.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        policies = CleanupPolicy.objects.select_related("registry")
        policy = policies.filter(name=options["name"]).first()
        if policy is None:
            raise CommandError(unknown_policy_message(options["name"]))
        run = run_policy(policy=policy, trigger=PolicyRun.Trigger.CLI, apply=options["apply"])
        start_notices(notices=notices_for_run(run=run))
        if run.status == PolicyRun.Status.FAILED:
            raise CommandError(f"Policy {policy.name} failed: {run.error}")
        if run.kept_by_other_policies:
            self.stdout.write(kept_line(run))
        if run.batch is None or run.status == PolicyRun.Status.NOTHING:
            self.stdout.write(NOTHING_STALE_MESSAGE)
            return
        batch = run.batch
        self.stdout.write(
            f"Plan for {policy.registry.name}, batch {batch.pk} (policy {policy.name}):\n"
        )
        write_plan(self.stdout, batch)
        self.stdout.write(changes_line(run))
        if run.status == PolicyRun.Status.APPLIED:
            self._apply(batch)
            return
        if run.fallback_reason:
            self.stdout.write(f"\nNot applied: {run.fallback_reason}")
        link = page_url(reverse("batch", args=[batch.pk]))
        self.stdout.write(
            f"\nBatch {batch.pk} is proposed; nothing has been deleted. "
            f"A Janitor approves it at {link}"
        )

    def _apply(self, batch: DeletionBatch) -> None:
        self.stdout.write(f"\nApplying batch {batch.pk} within the policy's caps…")
        try:
            batch = execute_batch(batch=batch)
        except (BatchHeld, RepositoriesBusy) as exc:
            start_batch(batch=batch)
            raise CommandError(f"{exc} Batch {batch.pk} is queued for the workers.") from exc
        start_notices(notices=notices_for_batch(batch=batch))
        outcomes = saved_progress(batch=batch).summary(with_zeros=True, separator=", ")
        self.stdout.write(
            f"Batch {batch.pk}: {batch.get_status_display().lower()}. {outcomes}. "
            f"Size of the images deleted: {size_text(batch.bytes_deleted)}."
        )
        if batch.status != DeletionBatch.Status.SUCCEEDED:
            raise CommandError(f"Batch {batch.pk} did not fully succeed: {batch.error}")
