"""Cleanup policies against a real registry: what a run plans, proposes, applies and keeps."""

from __future__ import annotations

import io
from datetime import UTC, datetime, time, timedelta

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from devtools.image_builder import push_image
from registry import tasks
from registry.client import RegistryClient
from registry.deletion.batches import ConfirmationError
from registry.deletion.run import execute_batch
from registry.models import (
    CleanupPolicy,
    DeletionBatch,
    DeletionItem,
    PolicyRun,
    StalenessRules,
    Tag,
)
from registry.models.audit import SCHEDULE_ACTOR
from registry.policies.approval import NOT_A_PROPOSAL_MESSAGE, approve_proposal
from registry.policies.caps import over_share_cap_reason, over_tags_cap_reason
from registry.policies.run import run_policy
from registry.policies.schedule import claim_due_policies, next_run_after
from registry.sync import sync_registry
from tests.support.policy_runs import batch_of
from tests.test_cleanup_command import cleanup, days_ago, tags_in_registry

Status = PolicyRun.Status
Trigger = PolicyRun.Trigger
REVIEWS = {"review-1", "review-2", "review-3", "review-4"}


def sync(registry) -> None:
    run = sync_registry(registry=registry)
    assert run.status == "succeeded", run.error


def make_policy(registry, name: str = "weekly", **fields) -> CleanupPolicy:
    """A policy with the rules of the `reviews` registry: protect latest, stale after 14 days."""
    values = {"protected_patterns": ["^latest$"], "max_age_days": 14, **fields}
    return CleanupPolicy.objects.create(name=name, registry=registry, **values)


@pytest.fixture
def reviews(cached_registry, registry_client: RegistryClient, janitor):
    """acme/web: review-1..4 (36 to 39 days old) and latest (2 days); acme/api: two old
    builds and a new one. Rules: latest protected, stale after 14 days. Synced."""
    StalenessRules.objects.create(
        registry=cached_registry, protected_patterns=["^latest$"], max_age_days=14
    )
    for n in range(1, 5):
        push_image(registry_client, "acme/web", f"review-{n}", created=days_ago(40 - n))
    push_image(registry_client, "acme/web", "latest", created=days_ago(2), label="latest")
    for n, age in enumerate([60, 50, 1]):
        push_image(registry_client, "acme/api", f"build-{n}", created=days_ago(age))
    sync(cached_registry)
    return cached_registry


def planned(batch: DeletionBatch) -> list[tuple[str, str, str, str, str]]:
    return list(
        batch.items.order_by("position").values_list(
            "repository_name", "tag", "digest", "action", "note"
        )
    )


# -- what a run plans --------------------------------------------------------------------


def test_a_run_plans_what_the_equivalent_cleanup_plan_plans(reviews) -> None:
    policy = make_policy(reviews, include_patterns=["^acme/web$"])

    run = run_policy(policy=policy, trigger=Trigger.CLI)
    cleanup("--plan", "--stale", "--repository", "^acme/web$", "--reason", "same")

    by_cleanup = DeletionBatch.objects.get(source=DeletionBatch.Source.CLI)
    assert run.status == Status.PROPOSED
    assert planned(batch_of(run)) == planned(by_cleanup)
    assert {tag for _, tag, *_ in planned(batch_of(run))} == REVIEWS


def test_exclude_patterns_leave_repositories_alone(reviews) -> None:
    policy = make_policy(reviews, exclude_patterns=["/web$"])

    run = run_policy(policy=policy, trigger=Trigger.CLI)

    assert {(r, t) for r, t, *_ in planned(batch_of(run))} == {
        ("acme/api", "build-0"),
        ("acme/api", "build-1"),
    }


def test_a_run_judges_by_its_own_rules_not_the_registrys(reviews) -> None:
    policy = make_policy(reviews, include_patterns=["^acme/web$"], keep_newest=2)

    run = run_policy(policy=policy, trigger=Trigger.CLI)

    assert {tag for _, tag, *_ in planned(batch_of(run))} == {"review-1", "review-2"}
    assert Tag.objects.filter(is_stale=True, name="review-4").exists()  # the cache is untouched


def test_nothing_stale_plans_nothing(reviews) -> None:
    policy = make_policy(reviews, max_age_days=365)

    run = run_policy(policy=policy, trigger=Trigger.CLI)

    assert run.status == Status.NOTHING
    assert run.batch is None
    assert not DeletionBatch.objects.exists()


def test_a_run_that_fails_is_recorded_not_raised(reviews) -> None:
    policy = make_policy(reviews, branch_pattern="(")  # saved around the form's checks

    run = run_policy(policy=policy, trigger=Trigger.CLI)

    assert run.status == Status.FAILED
    assert run.error
    assert run.finished_at is not None


# -- propose and approve -----------------------------------------------------------------


def test_propose_deletes_nothing_until_a_janitor_approves(
    reviews, registry_client, janitor
) -> None:
    policy = make_policy(reviews, include_patterns=["^acme/web$"], approval_reason="Weekly")

    run = run_policy(policy=policy, trigger=Trigger.SCHEDULE)

    assert batch_of(run).status == DeletionBatch.Status.PLANNED
    assert batch_of(run).planned_by_username == SCHEDULE_ACTOR
    assert batch_of(run).policy_name == "weekly"
    assert tags_in_registry(registry_client) == {*REVIEWS, "latest"}

    batch = approve_proposal(run=run, actor=janitor)
    assert batch.reason == "Weekly"  # prefilled from the policy
    assert batch.confirmed_by_username == "jan-janitor"
    assert not batch.applied_by_schedule
    execute_batch(batch=batch)

    assert tags_in_registry(registry_client) == {"latest"}


def test_approval_rechecks_a_tag_pushed_again_since_the_run_survives(
    reviews, registry_client, janitor
) -> None:
    policy = make_policy(reviews, include_patterns=["^acme/web$"])
    run = run_policy(policy=policy, trigger=Trigger.SCHEDULE)

    # A pipeline pushes review-2 again (a new image) between the run and the approval.
    push_image(registry_client, "acme/web", "review-2", created=days_ago(0), label="again")
    batch = execute_batch(batch=approve_proposal(run=run, actor=janitor))

    assert batch.items.get(tag="review-2").outcome == DeletionItem.Outcome.SKIPPED
    assert tags_in_registry(registry_client) == {"review-2", "latest"}


def test_the_next_run_supersedes_a_proposal_nobody_approved(reviews, janitor) -> None:
    policy = make_policy(reviews, include_patterns=["^acme/web$"])
    first = run_policy(policy=policy, trigger=Trigger.SCHEDULE)

    second = run_policy(policy=policy, trigger=Trigger.SCHEDULE)

    first.refresh_from_db()
    assert first.status == Status.SUPERSEDED
    assert batch_of(first).status == DeletionBatch.Status.DISCARDED
    assert set(batch_of(first).items.values_list("outcome", flat=True)) == {"not_attempted"}
    assert second.status == Status.PROPOSED
    with pytest.raises(ConfirmationError, match=NOT_A_PROPOSAL_MESSAGE):
        approve_proposal(run=first, actor=janitor)


def test_a_run_says_what_changed_since_the_previous_one(reviews, registry_client, janitor) -> None:
    policy = make_policy(reviews, include_patterns=["^acme/web$"])
    first = run_policy(policy=policy, trigger=Trigger.SCHEDULE)
    assert (first.newly_stale, first.no_longer_stale) == (4, 0)
    # review-5 turns stale; review-1 is pushed again (young, no longer stale).
    push_image(registry_client, "acme/web", "review-5", created=days_ago(20))
    push_image(registry_client, "acme/web", "review-1", created=days_ago(0), label="new")
    sync(reviews)

    second = run_policy(policy=policy, trigger=Trigger.SCHEDULE)

    assert (second.newly_stale, second.no_longer_stale) == (1, 1)


# -- apply and its caps ------------------------------------------------------------------


def test_apply_within_the_caps_confirms_as_the_schedule(reviews, registry_client) -> None:
    policy = make_policy(reviews, mode="apply", max_tags_per_run=10, max_repository_percent=100)

    run = run_policy(policy=policy, trigger=Trigger.SCHEDULE)

    assert run.status == Status.APPLIED
    assert batch_of(run).status == DeletionBatch.Status.QUEUED
    assert batch_of(run).applied_by_schedule
    execute_batch(batch=batch_of(run))
    assert tags_in_registry(registry_client) == {"latest"}
    assert tags_in_registry(registry_client, "acme/api") == {"build-2"}


def test_apply_over_the_tags_cap_falls_back_to_propose_and_says_why(
    reviews, registry_client
) -> None:
    policy = make_policy(reviews, mode="apply", max_tags_per_run=3, max_repository_percent=100)

    run = run_policy(policy=policy, trigger=Trigger.SCHEDULE)

    assert run.status == Status.PROPOSED
    assert run.fallback_reason == over_tags_cap_reason(6, 3)
    assert batch_of(run).status == DeletionBatch.Status.PLANNED
    assert tags_in_registry(registry_client) == {*REVIEWS, "latest"}


def test_apply_over_the_share_of_a_repository_falls_back_to_propose(reviews) -> None:
    policy = make_policy(reviews, mode="apply", max_tags_per_run=100, max_repository_percent=70)

    run = run_policy(policy=policy, trigger=Trigger.SCHEDULE)

    assert run.status == Status.PROPOSED
    assert run.fallback_reason == over_share_cap_reason("acme/web", 4, 5, 70)


# -- several policies ----------------------------------------------------------------------


def test_a_tag_another_policy_keeps_is_kept(reviews) -> None:
    make_policy(reviews, name="keep-review-1", protected_patterns=["^latest$", "^review-1$"])
    make_policy(reviews, name="other-repo", include_patterns=["^acme/api$"], max_age_days=1000)
    policy = make_policy(reviews, include_patterns=["^acme/web$"])

    run = run_policy(policy=policy, trigger=Trigger.SCHEDULE)

    assert {tag for _, tag, *_ in planned(batch_of(run))} == {"review-2", "review-3", "review-4"}
    assert run.kept_by_other_policies == 1


def test_a_disabled_policy_keeps_nothing(reviews) -> None:
    make_policy(reviews, name="off", enabled=False, max_age_days=1000)
    policy = make_policy(reviews, include_patterns=["^acme/web$"])

    run = run_policy(policy=policy, trigger=Trigger.SCHEDULE)

    assert run.tags_proposed == 4


# -- the schedule ----------------------------------------------------------------------------


@override_settings(TIME_ZONE="Europe/Berlin")
def test_a_weekly_slot_is_the_next_such_weekday_at_its_time_in_the_site_zone(db) -> None:
    policy = CleanupPolicy(frequency="weekly", weekday=CleanupPolicy.Weekday.MONDAY, at=time(6))
    wednesday = datetime(2026, 7, 1, 12, tzinfo=UTC)

    slot = next_run_after(policy=policy, moment=wednesday)

    assert slot == datetime(2026, 7, 6, 4, tzinfo=UTC)  # 06:00 in Berlin (summer time)
    assert next_run_after(policy=policy, moment=slot) == slot + timedelta(days=7)


def test_a_daily_slot_later_today_is_today(db) -> None:
    policy = CleanupPolicy(frequency="daily", at=time(18, 30))

    slot = next_run_after(policy=policy, moment=datetime(2026, 7, 1, 12, tzinfo=UTC))

    assert slot == datetime(2026, 7, 1, 18, 30, tzinfo=UTC)


def test_a_schedule_missed_for_weeks_runs_once(reviews) -> None:
    policy = make_policy(reviews, frequency="daily", at=time(6))
    CleanupPolicy.objects.filter(pk=policy.pk).update(next_run_at=timezone.now() - timedelta(21))

    assert tasks.run_due_policies() == 1
    assert tasks.run_due_policies() == 0

    assert PolicyRun.objects.filter(policy=policy).count() == 1
    policy.refresh_from_db()
    assert policy.next_run_at is not None
    assert timezone.now() < policy.next_run_at <= timezone.now() + timedelta(days=1)


def test_a_policy_is_claimed_by_one_caller_only(reviews) -> None:
    policy = make_policy(reviews)
    CleanupPolicy.objects.filter(pk=policy.pk).update(next_run_at=timezone.now())
    now = timezone.now()

    assert claim_due_policies(now=now) == [policy.pk]
    assert claim_due_policies(now=now) == []


def test_a_disabled_policy_never_runs(reviews) -> None:
    policy = make_policy(reviews, enabled=False)
    CleanupPolicy.objects.filter(pk=policy.pk).update(next_run_at=timezone.now() - timedelta(1))

    assert tasks.run_due_policies() == 0


# -- the command line ------------------------------------------------------------------------


def run_policy_command(*args: str) -> str:
    out = io.StringIO()
    call_command("run_policy", *args, stdout=out, stderr=out)
    return out.getvalue()


def test_run_policy_prints_the_cleanup_table_and_the_batch_id(reviews, registry_client) -> None:
    make_policy(reviews, include_patterns=["^acme/web$"])

    output = run_policy_command("weekly")

    batch = DeletionBatch.objects.get()
    table = cleanup("--plan", "--stale", "--repository", "^acme/web$", "--reason", "same")
    assert f"batch {batch.pk} (policy weekly)" in output
    assert "4 tags: 4 deleted (4 digests), 0 untag only, 0 refused." in output
    rows = [line for line in output.splitlines() if line.startswith("acme/web")]
    assert rows == [line for line in table.splitlines() if line.startswith("acme/web")]
    assert f"Batch {batch.pk} is proposed; nothing has been deleted." in output
    assert tags_in_registry(registry_client) == {*REVIEWS, "latest"}


def test_run_policy_apply_applies_within_the_caps(reviews, registry_client) -> None:
    make_policy(reviews, include_patterns=["^acme/web$"], max_repository_percent=100)

    output = run_policy_command("weekly", "--apply")

    assert "succeeded" in output
    assert tags_in_registry(registry_client) == {"latest"}
    assert DeletionBatch.objects.get().applied_by_schedule


def test_run_policy_apply_over_the_cap_only_proposes(reviews, registry_client) -> None:
    make_policy(reviews, include_patterns=["^acme/web$"], max_tags_per_run=2)

    output = run_policy_command("weekly", "--apply")

    assert f"Not applied: {over_tags_cap_reason(4, 2)}" in output
    assert tags_in_registry(registry_client) == {*REVIEWS, "latest"}


def test_list_policies(reviews) -> None:
    make_policy(reviews, frequency="weekly", weekday=4, at=time(7, 30))
    out = io.StringIO()

    call_command("list_policies", stdout=out)

    line = out.getvalue().splitlines()[1]
    assert line.split()[:3] == ["weekly", "local", "propose"]
    assert "Fridays at 07:30" in line


# -- the audit log -----------------------------------------------------------------------------


def test_the_audit_log_names_the_policy_and_who_approved(reviews, janitor) -> None:
    from registry.audit import AuditFilters, filter_items
    from registry.audit_exports import audit_rows

    applying = make_policy(
        reviews, name="apply-api", include_patterns=["^acme/api$"], mode="apply",
        max_repository_percent=100,
    )  # fmt: skip
    proposing = make_policy(reviews, include_patterns=["^acme/web$"])
    run_policy(policy=applying, trigger=Trigger.SCHEDULE)
    approve_proposal(run=run_policy(policy=proposing, trigger=Trigger.SCHEDULE), actor=janitor)

    rows = {row["tag"]: row for row in audit_rows(filter_items(AuditFilters()))}

    assert (rows["build-0"]["policy"], rows["build-0"]["applied_by_schedule"]) == (
        "apply-api",
        True,
    )
    assert rows["build-0"]["confirmed_by"] == SCHEDULE_ACTOR
    assert (rows["review-1"]["policy"], rows["review-1"]["confirmed_by"]) == (
        "weekly",
        "jan-janitor",
    )
    assert rows["review-1"]["applied_by_schedule"] is False
