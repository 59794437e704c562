"""Deletions and their audit trail: append-only once a row is finished."""

from __future__ import annotations

from typing import Any, NoReturn, TypeVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .cache import Registry

# Who plans and confirms what a cleanup policy does on its own. Django usernames cannot
# hold parentheses, so no person can be mistaken for it.
SCHEDULE_ACTOR = "(schedule)"


class AuditLogIsAppendOnly(Exception):
    """Raised on any attempt to change a finished audit row or to delete one."""


_Row = TypeVar("_Row", bound="AppendOnlyModel")


class AppendOnlyQuerySet(models.QuerySet[_Row]):
    """Rows that are history once finished: `update()` touches only open rows, and
    `delete()` is refused. On PostgreSQL triggers enforce the same (migrations 0010
    and 0012).

    A model may also name fields that never change (FIXED_FIELDS: who planned, when),
    and fields that never change once a confirmation is recorded (CONFIRMATION_FIELDS).
    """

    def delete(self) -> NoReturn:
        raise AuditLogIsAppendOnly(f"{self.model.__name__} rows are never deleted.")

    def update(self, **kwargs: Any) -> int:
        model = self.model
        fixed = _field_names(kwargs) & set(model.FIXED_FIELDS)
        if fixed:
            raise AuditLogIsAppendOnly(
                f"{model.__name__} keeps {', '.join(sorted(fixed))} as first recorded."
            )
        rows = self.filter(model.open_rows())
        if _field_names(kwargs) & set(model.CONFIRMATION_FIELDS):
            rows = rows.filter(model.unconfirmed_rows())  # a confirmation is recorded once
        return super(AppendOnlyQuerySet, rows).update(**kwargs)


def _field_names(values: dict[str, object]) -> set[str]:
    """Field names of an update's keywords (`planned_by_id` counts as `planned_by`)."""
    return {name.removesuffix("_id") for name in values}


class AppendOnlyModel(models.Model):
    """A row that may change while open (planned, running, pending) and never after."""

    objects = AppendOnlyQuerySet.as_manager()

    FIXED_FIELDS: tuple[str, ...] = ()
    CONFIRMATION_FIELDS: tuple[str, ...] = ()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            stored = type(self).objects.filter(pk=self.pk, **self._open_filter()).first()
            if stored is None:
                raise AuditLogIsAppendOnly(f"{self} is finished: the audit log is append-only.")
            self._refuse_rewriting(stored)
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AuditLogIsAppendOnly(f"{self} is part of the audit log and is never deleted.")

    @classmethod
    def open_rows(cls) -> Q:
        raise NotImplementedError

    @classmethod
    def unconfirmed_rows(cls) -> Q:
        return Q()

    def _open_filter(self) -> dict[str, object]:
        return {"pk__in": type(self).objects.filter(self.open_rows()).values("pk")}

    def _refuse_rewriting(self, stored: AppendOnlyModel) -> None:
        fields = list(self.FIXED_FIELDS)
        if not type(self).objects.filter(pk=self.pk).filter(self.unconfirmed_rows()).exists():
            fields += self.CONFIRMATION_FIELDS
        for name in fields:
            field = self._meta.get_field(name)
            assert isinstance(field, models.Field), f"{name} is a column of {type(self)}"
            attname = field.attname
            if getattr(self, attname) != getattr(stored, attname):
                raise AuditLogIsAppendOnly(f"{self} keeps its {name} as first recorded.")


class DeletionBatch(AppendOnlyModel):
    """One deletion: planned (the preview), then confirmed, executed and finished.

    The batch and its items are the audit log. They name the registry, the people
    and the repositories by value, so that the record outlives all of them.
    """

    class Status(models.TextChoices):
        PLANNED = "planned"
        QUEUED = "queued", "Waiting for a worker"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        PARTIAL = "partial", "Finished with failures"
        FAILED = "failed", "Stopped"
        CANCELLED = "cancelled"
        DISCARDED = "discarded", "Plan discarded"

    OPEN_STATUSES = (Status.PLANNED, Status.QUEUED, Status.RUNNING)
    # Who planned it, from where and when: never rewritten, even while it is open.
    FIXED_FIELDS = (
        "planned_by",
        "planned_by_username",
        "planned_at",
        "registry_name",
        "source",
        "policy_name",
        "retry_of",
    )
    # Who confirmed it, when and why: never rewritten once recorded.
    CONFIRMATION_FIELDS = ("confirmed_by_username", "confirmed_at", "reason")

    class Source(models.TextChoices):
        WEB = "web", "Dashboard"
        CLI = "cli", "Command line"
        POLICY = "policy", "Cleanup policy"

    # No database constraint: deleting a registry or a user must not touch history.
    registry = models.ForeignKey(
        Registry,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="deletion_batches",
    )
    registry_name = models.CharField(max_length=64)
    planned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        related_name="+",
    )
    planned_by_username = models.CharField(max_length=150)
    # A plan of the tags an earlier batch failed or never attempted ("Retry failed").
    retry_of = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="retries"
    )
    confirmed_by_username = models.CharField(max_length=150, blank=True)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.WEB)
    reason = models.TextField(blank=True)
    # The cleanup policy whose run planned the batch (by name, as the record outlives it).
    policy_name = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PLANNED)
    planned_at = models.DateTimeField(default=timezone.now, editable=False)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The plan, as previewed.
    tags_planned = models.PositiveIntegerField(default=0)
    manifests_planned = models.PositiveIntegerField(default=0)  # digests to DELETE
    untags_planned = models.PositiveIntegerField(default=0)
    refused_planned = models.PositiveIntegerField(default=0)
    bytes_planned = models.BigIntegerField(default=0)  # sizes of the images deleted
    bytes_reclaimable = models.BigIntegerField(default=0)  # blobs nothing else references
    # The outcome, counted from the items when the batch finishes.
    deleted_count = models.PositiveIntegerField(default=0)
    untagged_count = models.PositiveIntegerField(default=0)
    absent_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    refused_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    not_attempted_count = models.PositiveIntegerField(default=0)
    bytes_deleted = models.BigIntegerField(default=0)
    # Execution bookkeeping.
    current_repository = models.CharField(max_length=255, blank=True)
    cancel_requested = models.BooleanField(default=False)
    # A worker holds the batch while its lease is live (see registry.deletion.lease).
    lease_token = models.UUIDField(null=True, blank=True, editable=False)
    lease_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    # When a task for the batch was last handed to the broker: a batch whose task was
    # lost is handed over again, at most once per QUEUE_PATIENCE (registry.deletion.lease).
    handed_over_at = models.DateTimeField(null=True, blank=True, editable=False)
    error = models.TextField(blank=True, help_text="What stopped the batch, in plain words.")

    class Meta:
        ordering = ["-planned_at", "-pk"]
        verbose_name_plural = "deletion batches"
        indexes = [
            models.Index(fields=["registry", "-planned_at"], name="batch_registry_recent_idx"),
            models.Index(fields=["status"], name="batch_status_idx"),
        ]

    def __str__(self) -> str:
        return f"deletion batch {self.pk} on {self.registry_name} ({self.status})"

    @classmethod
    def open_rows(cls) -> Q:
        return Q(status__in=cls.OPEN_STATUSES)

    @classmethod
    def unconfirmed_rows(cls) -> Q:
        return Q(confirmed_by_username="")

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    @property
    def is_finished(self) -> bool:
        return not self.is_open

    @property
    def applied_by_schedule(self) -> bool:
        """Confirmed by a policy within its caps, not by a person."""
        return self.confirmed_by_username == SCHEDULE_ACTOR

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class DeletionItem(AppendOnlyModel):
    """One tag of a batch: what the plan said, and what happened to it."""

    class Action(models.TextChoices):
        DELETE = "delete", "Delete manifest"
        UNTAG = "untag", "Untag only"
        REFUSE = "refuse", "Refused"

    class Outcome(models.TextChoices):
        PENDING = "pending"
        DELETED = "deleted"
        UNTAGGED = "untagged"
        ABSENT = "absent", "Already absent"
        SKIPPED = "skipped"
        REFUSED = "refused"
        FAILED = "failed"
        NOT_ATTEMPTED = "not_attempted", "Not attempted"

    SUCCESSFUL_OUTCOMES = (Outcome.DELETED, Outcome.UNTAGGED, Outcome.ABSENT)

    batch = models.ForeignKey(DeletionBatch, on_delete=models.PROTECT, related_name="items")
    position = models.PositiveIntegerField()
    repository_name = models.CharField(max_length=255)
    tag = models.CharField(max_length=128)
    digest = models.CharField(max_length=135)  # what the tag pointed at when planned
    media_type = models.CharField(max_length=120, blank=True)
    size = models.BigIntegerField(default=0)
    created = models.DateTimeField(null=True, blank=True)
    # The cache's Manifest row when planned (no constraint: the cache changes, this does not).
    planned_manifest_id = models.BigIntegerField(null=True, blank=True)
    action = models.CharField(max_length=8, choices=Action.choices)
    # Why this action, in plain words ("also tagged latest", "protected: matches ^main$").
    note = models.CharField(max_length=300, blank=True)
    # Tags outside the plan on the same digest, when planned.
    shared_with = models.JSONField(default=list, blank=True)
    # For signature/attestation tags: the image digest they go with.
    companion_of = models.CharField(max_length=135, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.PENDING)
    # Set just before the request that acts on the item: after a crash, an item that
    # was attempted and is now absent was deleted by this batch.
    attempted_at = models.DateTimeField(null=True, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    detail = models.TextField(blank=True, help_text="Why skipped or failed, in plain words.")
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["batch", "position"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "position"], name="unique_item_position"),
            models.UniqueConstraint(
                fields=["batch", "repository_name", "tag"], name="unique_item_tag"
            ),
        ]
        indexes = [
            models.Index(fields=["batch", "outcome"], name="item_batch_outcome_idx"),
            models.Index(fields=["repository_name"], name="item_repository_idx"),
            models.Index(fields=["finished_at"], name="item_finished_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.repository_name}:{self.tag} in batch {self.batch_id}"

    @classmethod
    def open_rows(cls) -> Q:
        return Q(outcome=cls.Outcome.PENDING)

    @property
    def short_digest(self) -> str:
        return self.digest.split(":", 1)[-1][:12]


class RegistryChange(models.Model):
    """One change to a registry's settings: who, when, and what (never a secret's value).

    Append-only as soon as it is written: the model refuses to change or delete a row,
    and so do PostgreSQL triggers (migration 0013).
    """

    class Action(models.TextChoices):
        ADDED = "added"
        CHANGED = "changed"
        REMOVED = "removed"

    registry_name = models.CharField(max_length=64)
    action = models.CharField(max_length=8, choices=Action.choices)
    changed_by_username = models.CharField(max_length=150)
    changed_at = models.DateTimeField(default=timezone.now, editable=False)
    # [[field, before, after], …]; a password or token shows only as "set" or "cleared".
    changes = models.JSONField(default=list, blank=True)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-changed_at", "-pk"]
        indexes = [
            models.Index(fields=["registry_name", "-changed_at"], name="regchange_recent_idx")
        ]

    def __str__(self) -> str:
        return f"{self.registry_name} {self.action} by {self.changed_by_username}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AuditLogIsAppendOnly(f"{self} is part of the audit log: it never changes.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AuditLogIsAppendOnly(f"{self} is part of the audit log and is never deleted.")
