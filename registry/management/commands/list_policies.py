from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from registry.management.plan_output import write_table
from registry.models import CleanupPolicy, PolicyRun
from registry.policies.schedule import schedule_text

NO_POLICIES_MESSAGE = "No cleanup policies yet: Registry admins create them on /policies/."
HEADER = ["NAME", "REGISTRY", "MODE", "SCHEDULE", "NEXT RUN", "LAST RUN"]


class Command(BaseCommand):
    help = "List the cleanup policies: registry, mode, schedule, next and last run."

    def handle(self, *args: Any, **options: Any) -> None:
        policies = list(CleanupPolicy.objects.select_related("registry").order_by("name"))
        if not policies:
            self.stdout.write(NO_POLICIES_MESSAGE)
            return
        write_table(self.stdout, HEADER, [_row(policy) for policy in policies])


def _row(policy: CleanupPolicy) -> list[str]:
    next_run = _when(policy.next_run_at) if policy.enabled and policy.next_run_at else "disabled"
    return [
        policy.name,
        policy.registry.name,
        policy.mode,
        schedule_text(policy),
        next_run if policy.enabled else "disabled",
        _last_run(policy),
    ]


def _last_run(policy: CleanupPolicy) -> str:
    run = PolicyRun.objects.filter(policy=policy).order_by("-started_at", "-pk").first()
    if run is None:
        return "never"
    batch = f", batch {run.batch_id}" if run.batch_id else ""
    return f"{_when(run.started_at)} {run.get_status_display().lower()}{batch}"


def _when(moment: Any) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z")
