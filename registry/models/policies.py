"""Cleanup policies: a registry's staleness rules on a schedule, and what each run did.

A policy proposes (saves a plan a Janitor approves) or applies within its caps; see
registry.policies for how a run goes. The batches it plans are ordinary deletion
batches (the audit log): a run only points at its batch.
"""

from __future__ import annotations

from datetime import time

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from registry.secrets import decrypt_secret, encrypt_secret

from .audit import DeletionBatch
from .cache import Registry
from .rules import (
    EMPTY_PATTERN_MESSAGE,
    PATTERNS_NOT_A_LIST_MESSAGE,
    StalenessRules,
    default_protected_patterns,
    pattern_problem,
)

# The staleness rule fields a policy carries, named as on StalenessRules.
RULE_FIELDS = [
    "protected_patterns",
    "max_age_days",
    "branch_pattern",
    "keep_newest",
    "age_basis",
    "unpulled_days",
    "gitlab_rules",
    "gitlab_grace_days",
]


class CleanupPolicy(models.Model):
    """Which repositories of a registry, judged by which rules, cleaned up when and how."""

    class Frequency(models.TextChoices):
        DAILY = "daily"
        WEEKLY = "weekly"

    class Weekday(models.IntegerChoices):
        MONDAY = 0
        TUESDAY = 1
        WEDNESDAY = 2
        THURSDAY = 3
        FRIDAY = 4
        SATURDAY = 5
        SUNDAY = 6

    class Mode(models.TextChoices):
        PROPOSE = "propose", "Propose (a Janitor approves)"
        APPLY = "apply", "Apply (within the caps)"

    name = models.SlugField(max_length=64, unique=True)
    registry = models.ForeignKey(Registry, on_delete=models.CASCADE, related_name="policies")
    enabled = models.BooleanField(default=True, help_text="A disabled policy never runs by itself.")
    include_patterns = models.JSONField(
        default=list,
        blank=True,
        help_text="Repository names to clean (regular expressions, searched). Empty: all.",
    )
    exclude_patterns = models.JSONField(
        default=list,
        blank=True,
        help_text="Repository names to leave alone, even when included.",
    )
    # The staleness rules, as on StalenessRules (see registry.staleness).
    protected_patterns = models.JSONField(default=default_protected_patterns, blank=True)
    max_age_days = models.PositiveIntegerField(default=14)
    branch_pattern = models.CharField(max_length=200, blank=True)
    keep_newest = models.PositiveIntegerField(default=0)
    age_basis = models.CharField(
        max_length=16,
        choices=StalenessRules.AgeBasis.choices,
        default=StalenessRules.AgeBasis.CREATED,
    )
    unpulled_days = models.PositiveIntegerField(null=True, blank=True)
    gitlab_rules = models.BooleanField(default=True)
    gitlab_grace_days = models.PositiveIntegerField(default=1)
    # The schedule, in the site's TIME_ZONE.
    frequency = models.CharField(max_length=8, choices=Frequency.choices, default=Frequency.WEEKLY)
    weekday = models.PositiveSmallIntegerField(
        choices=Weekday.choices, default=Weekday.MONDAY, help_text="For a weekly schedule."
    )
    at = models.TimeField(default=time(6, 0), help_text="Time of day, in the site's time zone.")
    next_run_at = models.DateTimeField(null=True, blank=True, editable=False)
    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.PROPOSE)
    max_tags_per_run = models.PositiveIntegerField(
        default=100, help_text="Apply mode: a run removing more tags than this only proposes."
    )
    max_repository_percent = models.PositiveSmallIntegerField(
        default=50,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Apply mode: a run removing more than this share of any repository's tags "
        "only proposes.",
    )
    approval_reason = models.CharField(
        max_length=300,
        blank=True,
        help_text="The reason an approval is prefilled with (and the schedule's, when it "
        "applies). Empty: “Cleanup policy NAME”.",
    )
    notify_emails = models.JSONField(default=list, blank=True)
    # Fernet ciphertext; use .webhook_url / .set_webhook_url(). Never shown, logged or audited.
    webhook_url_encrypted = models.TextField(blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "cleanup policies"
        ordering = ["name"]
        indexes = [models.Index(fields=["enabled", "next_run_at"], name="policy_due_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def webhook_url(self) -> str:
        return decrypt_secret(self.webhook_url_encrypted)

    def set_webhook_url(self, url: str) -> None:
        self.webhook_url_encrypted = encrypt_secret(url)

    @property
    def reason(self) -> str:
        return self.approval_reason or f"Cleanup policy {self.name}"

    def staleness_rules(self) -> StalenessRules:
        """The policy's rules as an unsaved StalenessRules, which registry.staleness takes."""
        return StalenessRules(
            registry=self.registry, **{name: getattr(self, name) for name in RULE_FIELDS}
        )

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        for name in ("include_patterns", "exclude_patterns", "protected_patterns"):
            if problems := pattern_list_problems(getattr(self, name)):
                errors[name] = problems
        if self.branch_pattern and (problem := pattern_problem(self.branch_pattern)):
            errors["branch_pattern"] = [problem]
        if errors:
            raise ValidationError(errors)


def pattern_list_problems(patterns: object) -> list[str]:
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        return [PATTERNS_NOT_A_LIST_MESSAGE]
    problems = [EMPTY_PATTERN_MESSAGE] if any(not p for p in patterns) else []
    return problems + [problem for p in patterns if p and (problem := pattern_problem(p))]


class PolicyRun(models.Model):
    """One run of a policy: when, how long, what it planned, and what became of it."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule"
        MANUAL = "manual", "Run now (web)"
        CLI = "cli", "Command line"

    class Status(models.TextChoices):
        RUNNING = "running"
        NOTHING = "nothing", "Nothing stale"
        PROPOSED = "proposed", "Proposed"
        APPLIED = "applied", "Applied by the schedule"
        SUPERSEDED = "superseded", "Superseded (never applied)"
        FAILED = "failed"

    policy = models.ForeignKey(CleanupPolicy, on_delete=models.CASCADE, related_name="runs")
    trigger = models.CharField(max_length=8, choices=Trigger.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    # The batch is the audit log's: no constraint, so that history outlives either side.
    batch = models.OneToOneField(
        DeletionBatch,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="policy_run",
    )
    tags_proposed = models.PositiveIntegerField(default=0)  # tags the plan removes
    bytes_proposed = models.BigIntegerField(default=0)
    # Against the previous run's plan: tags new to this one, and tags no longer in it.
    newly_stale = models.PositiveIntegerField(default=0)
    no_longer_stale = models.PositiveIntegerField(default=0)
    # Stale under this policy, kept because another policy covering them keeps them.
    kept_by_other_policies = models.PositiveIntegerField(default=0)
    # Why an apply-mode run only proposed (over a cap), in plain words.
    fallback_reason = models.CharField(max_length=300, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["policy", "-started_at"], name="policyrun_recent_idx")]

    def __str__(self) -> str:
        return f"run {self.pk} of policy {self.policy_id} ({self.status})"

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class PolicyNotice(models.Model):
    """One message about a run, to one channel: delivered by a worker, retried with backoff.

    `error` says what went wrong in plain words and never holds the webhook's URL.
    """

    class Kind(models.TextChoices):
        PROPOSAL = "proposal", "Proposal ready"
        FINISHED = "finished", "Batch finished"
        FAILURE = "failure"

    class Channel(models.TextChoices):
        EMAIL = "email"
        WEBHOOK = "webhook"

    class State(models.TextChoices):
        PENDING = "pending"
        SENT = "sent"
        FAILED = "failed", "Gave up"

    run = models.ForeignKey(PolicyRun, on_delete=models.CASCADE, related_name="notices")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.kind} by {self.channel} for {self.run}"
