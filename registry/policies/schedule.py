"""When a policy runs: daily or weekly at a time of day, in the site's time zone.

Each policy stores its next due time. Beat looks every minute (`run_due_policies`);
a due policy is claimed with a conditional UPDATE that moves its due time to the
next slot after *now*, so two beats never both run it, and a schedule missed for
days (no worker, no beat) runs once when they are back, not once per missed slot.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings

from registry.models import CleanupPolicy

Frequency = CleanupPolicy.Frequency


def next_run_after(*, policy: CleanupPolicy, moment: datetime) -> datetime:
    """The policy's first slot strictly after `moment`, as an aware datetime."""
    zone = ZoneInfo(settings.TIME_ZONE)
    day = moment.astimezone(zone).date()
    for _ in range(9):
        slot = datetime.combine(day, policy.at, tzinfo=zone)
        on_its_day = policy.frequency == Frequency.DAILY or day.weekday() == policy.weekday
        if on_its_day and slot > moment:
            return slot
        day += timedelta(days=1)
    raise AssertionError("a weekly slot is always within 8 days")  # pragma: no cover


def schedule_text(policy: CleanupPolicy) -> str:
    """ "Daily at 06:00" or "Mondays at 06:00" (the site's time zone)."""
    at = policy.at.strftime("%H:%M")
    if policy.frequency == Frequency.DAILY:
        return f"Daily at {at}"
    return f"{CleanupPolicy.Weekday(policy.weekday).label}s at {at}"


def reschedule(*, policy: CleanupPolicy, now: datetime) -> None:
    """Set the next due time from the policy's schedule (after saving it)."""
    policy.next_run_at = next_run_after(policy=policy, moment=now)
    CleanupPolicy.objects.filter(pk=policy.pk).update(next_run_at=policy.next_run_at)


def claim_due_policies(*, now: datetime) -> list[int]:
    """The ids of the enabled policies due by `now`, each claimed by this caller only.

    Claiming moves the due time to the next slot after `now`; a policy that has none
    yet (enabled by hand in the database) gets one and is not due this time.
    """
    claimed = []
    policies = CleanupPolicy.objects.filter(enabled=True)
    for policy in policies.filter(next_run_at__isnull=True):
        reschedule(policy=policy, now=now)
    for policy in policies.filter(next_run_at__lte=now).order_by("next_run_at"):
        moved = CleanupPolicy.objects.filter(pk=policy.pk, next_run_at=policy.next_run_at).update(
            next_run_at=next_run_after(policy=policy, moment=now)
        )
        if moved:
            claimed.append(policy.pk)
    return claimed
