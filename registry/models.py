"""The registry cache: what each registry holds, as far as the dashboard knows.

Rows here are a copy of the registry. The sync (`registry.sync`) writes it from
the registry's answers, and whatever learns of a change first keeps it current in
between: a deletion run removes the tags and manifests it deleted. The registry
itself stays the source of truth: anything destructive re-checks it.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from .regex_validation import regex_problem
from .secrets import decrypt_secret, encrypt_secret


class Registry(models.Model):
    name = models.SlugField(max_length=64, unique=True)
    url = models.URLField(help_text="Base URL, e.g. https://registry.gitlab.example.com")
    username = models.CharField(max_length=255, blank=True)
    # Fernet ciphertext; use .password / .set_password(). Never shown anywhere.
    password_encrypted = models.TextField(blank=True, editable=False)
    verify_tls = models.BooleanField(default=True)
    ca_bundle = models.CharField(
        max_length=500, blank=True, help_text="Path to a PEM bundle that signs the registry's TLS."
    )
    repositories = models.JSONField(
        default=list,
        blank=True,
        help_text="Repositories to sync when the credentials may not read the catalog "
        "(GitLab grants it to administrators only). Empty: read the catalog.",
    )
    # A conditional UPDATE on these two claims the sync (see registry.locks).
    sync_lock_token = models.UUIDField(null=True, blank=True, editable=False)
    sync_lock_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Ages move on without any tag changing: a sync refreshes every verdict when this is old.
    staleness_refreshed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name_plural = "registries"
        ordering = ["name"]
        permissions = [
            ("sync_registry", "Can sync a registry now"),
            ("delete_images", "Can plan and confirm image deletions"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def password(self) -> str:
        return decrypt_secret(self.password_encrypted)

    def set_password(self, password: str) -> None:
        self.password_encrypted = encrypt_secret(password)

    @property
    def tls_verify(self) -> bool | str:
        """The value requests takes for `verify`."""
        if not self.verify_tls:
            return False
        return self.ca_bundle or True


class Repository(models.Model):
    registry = models.ForeignKey(Registry, on_delete=models.CASCADE, related_name="repos")
    name = models.CharField(max_length=255)
    last_synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "repositories"
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["registry", "name"], name="unique_repository_name"),
        ]

    def __str__(self) -> str:
        return f"{self.registry.name}/{self.name}"


digest_validator = RegexValidator(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")


class Manifest(models.Model):
    """One manifest (image, or index of images) as stored in one repository."""

    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="manifests")
    digest = models.CharField(max_length=135, validators=[digest_validator])
    media_type = models.CharField(max_length=120)
    # Sum of layer sizes (config excluded, as GitLab counts); an index: its children's.
    size = models.BigIntegerField(default=0)
    # The config's `created`; for an index, its newest child's.
    created = models.DateTimeField(null=True, blank=True)
    config_digest = models.CharField(max_length=135, blank=True)
    config_size = models.BigIntegerField(default=0)
    platforms = models.JSONField(default=list, blank=True)  # ["linux/amd64", "linux/arm64/v8"]
    # How many tags point here: deleting the digest deletes all of them. Kept by the sync.
    tag_count = models.PositiveIntegerField(default=0)
    children = models.ManyToManyField("self", symmetrical=False, related_name="parents", blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["repository", "digest"], name="unique_manifest_digest"),
        ]
        indexes = [
            models.Index(fields=["created"], name="manifest_created_idx"),
            models.Index(fields=["size"], name="manifest_size_idx"),
            models.Index(fields=["digest"], name="manifest_digest_idx"),
            # Covers the per-repository figures: size, newest image, tagged or not.
            models.Index(
                fields=["repository", "tag_count", "size", "created"],
                name="manifest_repo_figures_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.repository}@{self.digest}"

    @property
    def is_index(self) -> bool:
        from .client.media_types import INDEX_MEDIA_TYPES

        return self.media_type in INDEX_MEDIA_TYPES


class Layer(models.Model):
    """A blob a manifest references (its layers), for estimating what a deletion frees."""

    manifest = models.ForeignKey(Manifest, on_delete=models.CASCADE, related_name="layers")
    digest = models.CharField(max_length=135)
    size = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["digest"], name="layer_digest_idx")]

    def __str__(self) -> str:
        return self.digest


class Tag(models.Model):
    repository = models.ForeignKey(Repository, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=128)
    # RESTRICT, not PROTECT: deleting a repository cascades to both tags and manifests.
    manifest = models.ForeignKey(Manifest, on_delete=models.RESTRICT, related_name="tags")
    first_seen = models.DateTimeField()
    last_changed = models.DateTimeField()
    # Written only by registry.staleness.refresh_staleness, so the stale list is one indexed query.
    is_stale = models.BooleanField(default=False)
    is_protected = models.BooleanField(default=False)
    # Why the tag is, or is not, stale, in plain words for the dashboard.
    stale_reason = models.CharField(max_length=200, blank=True)
    # For signature/attestation/SBOM tags (sha256-<hex>.sig …): the image they belong to.
    subject_digest = models.CharField(max_length=135, blank=True)

    class Meta:
        ordering = ["repository", "name"]
        constraints = [
            models.UniqueConstraint(fields=["repository", "name"], name="unique_tag_name"),
        ]
        indexes = [
            models.Index(fields=["first_seen"], name="tag_first_seen_idx"),
            models.Index(fields=["repository", "is_stale"], name="tag_repository_stale_idx"),
            # "Is every tag on this manifest stale?" from the index alone (stale sizes).
            models.Index(fields=["manifest", "is_stale"], name="tag_manifest_stale_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.repository}:{self.name}"


class SyncRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        PARTIAL = "partial", "Partly failed"
        FAILED = "failed"

    registry = models.ForeignKey(Registry, on_delete=models.CASCADE, related_name="sync_runs")
    repository_name = models.CharField(
        max_length=255, blank=True, help_text="Set when only one repository was synced."
    )
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    # Progress, for the dashboard: updated as each repository finishes.
    repositories_total = models.PositiveIntegerField(default=0)
    repositories_done = models.PositiveIntegerField(default=0)
    repositories_added = models.PositiveIntegerField(default=0)
    repositories_removed = models.PositiveIntegerField(default=0)
    tags_added = models.PositiveIntegerField(default=0)
    tags_changed = models.PositiveIntegerField(default=0)
    tags_removed = models.PositiveIntegerField(default=0)
    manifests_fetched = models.PositiveIntegerField(default=0)
    requests_made = models.PositiveIntegerField(default=0)
    # What stopped the whole run, in plain words.
    error = models.TextField(blank=True)
    # [{"repository": name, "error": plain words}] for repositories that failed.
    repository_errors = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["registry", "-started_at"], name="syncrun_recent_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(finished_at__isnull=True) | Q(finished_at__gte=models.F("started_at")),
                name="syncrun_finishes_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.registry} sync {self.started_at:%Y-%m-%d %H:%M} ({self.status})"

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


SEMVER_PATTERN = r"^v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$"


def default_protected_patterns() -> list[str]:
    return ["^latest$", "^main$", "^master$", "^stable$", "^production$", SEMVER_PATTERN]


def invalid_pattern_message(pattern: str, error: str) -> str:
    return f"{pattern!r} is not a valid regular expression: {error}."


EMPTY_PATTERN_MESSAGE = "An empty pattern would match every tag; remove it."
PATTERNS_NOT_A_LIST_MESSAGE = "Protected patterns must be a list of regular expressions."


def pattern_problem(pattern: str) -> str | None:
    """What is wrong with one of the rules' regular expressions, in plain words, or None.

    The rules run in Python (registry.staleness), so Python's `re` decides.
    """
    problem = regex_problem(pattern)
    return invalid_pattern_message(pattern, problem) if problem else None


class StalenessRules(models.Model):
    """Which tags of a registry are stale; see registry.staleness for how they apply.

    A registry without a row uses the defaults (an unsaved instance).
    """

    class AgeBasis(models.TextChoices):
        CREATED = "created", "Image created date"
        FIRST_SEEN = "first_seen", "First seen by the dashboard"

    registry = models.OneToOneField(
        Registry, on_delete=models.CASCADE, related_name="staleness_rules"
    )
    protected_patterns = models.JSONField(
        default=default_protected_patterns,
        blank=True,
        help_text="Regular expressions (searched, so anchor them: ^latest$). "
        "A tag whose name matches one is never stale, nor is any tag sharing its digest.",
    )
    max_age_days = models.PositiveIntegerField(
        default=14, help_text="A tag is stale only when it is older than this."
    )
    branch_pattern = models.CharField(
        max_length=200,
        blank=True,
        help_text="When set, only tags matching it can be stale (e.g. ^review-). "
        "A named group keeps the newest builds of every branch: ^review-(?P<branch>.+)-\\d+$",
    )
    keep_newest = models.PositiveIntegerField(
        default=0,
        help_text="Never stale: the newest this many tags of the repository "
        "(of each branch, when the branch pattern names a group).",
    )
    age_basis = models.CharField(max_length=16, choices=AgeBasis.choices, default=AgeBasis.CREATED)

    class Meta:
        verbose_name_plural = "staleness rules"

    def __str__(self) -> str:
        return f"staleness rules of {self.registry}"

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        protected = self._protected_pattern_problems()
        if protected:
            errors["protected_patterns"] = protected
        branch = pattern_problem(self.branch_pattern) if self.branch_pattern else None
        if branch:
            errors["branch_pattern"] = [branch]
        if errors:
            raise ValidationError(errors)

    def _protected_pattern_problems(self) -> list[str]:
        patterns = self.protected_patterns
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            return [PATTERNS_NOT_A_LIST_MESSAGE]
        problems = [EMPTY_PATTERN_MESSAGE] if any(not p for p in patterns) else []
        problems += [problem for p in patterns if p and (problem := pattern_problem(p))]
        return problems


class SelectedTag(models.Model):
    """One tag in a user's selection on one registry; see registry.selection.

    Server-side, so that "select all matching" is one INSERT … SELECT rather than
    thousands of checkboxes, and the selection survives paging and filtering.

    The row remembers the manifest the tag pointed at when it was selected, and its
    size: the selection bar sums them without reading tags or manifests, and the
    deletion can tell a tag that moved since. A sync that removes the tag removes
    the row (Django's CASCADE).
    """

    # Keyed (user, registry, tag): the count, the bar, the tag pages' checkboxes and
    # the selection page all read one user's rows from this one index.
    pk = models.CompositePrimaryKey("user_id", "registry_id", "tag_id")
    # No database-level foreign keys and no index but the key and the tag's: checking
    # them would cost a 50,000-tag "select all" more than writing its rows (see
    # docs/benchmarks.md). Rows are only written from the registry's own tags by
    # registry.selection, and Django's CASCADE removes them.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="selected_tags",
        db_index=False,
        db_constraint=False,
    )
    registry = models.ForeignKey(
        Registry,
        on_delete=models.CASCADE,
        related_name="selected_tags",
        db_index=False,
        db_constraint=False,
    )
    # The tag's repository, copied: the per-repository totals need no join.
    repository = models.ForeignKey(
        Repository,
        on_delete=models.DO_NOTHING,  # its tags, and with them these rows, go first
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    # Indexed: a sync deletes the selections of the tags it removes.
    tag = models.ForeignKey(
        Tag, on_delete=models.CASCADE, related_name="selections", db_constraint=False
    )
    # The manifest when selected; it may have been removed since, if the tag moved.
    manifest = models.ForeignKey(
        Manifest,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    size = models.BigIntegerField(help_text="The manifest's size when the tag was selected.")

    def __str__(self) -> str:
        return f"{self.user_id} selected {self.tag_id}"


# -- deletions and their audit trail ---------------------------------------------------


class AuditLogIsAppendOnly(Exception):
    """Raised on any attempt to change a finished audit row or to delete one."""


class AppendOnlyQuerySet(models.QuerySet):
    """Rows that are history once finished: `update()` touches only open rows, and
    `delete()` is refused. On PostgreSQL triggers enforce the same (migration 0009)."""

    def delete(self):  # type: ignore[no-untyped-def]
        raise AuditLogIsAppendOnly(f"{self.model.__name__} rows are never deleted.")

    def update(self, **kwargs):  # type: ignore[no-untyped-def]
        return super(AppendOnlyQuerySet, self.filter(self.model.open_rows())).update(**kwargs)


class AppendOnlyModel(models.Model):
    """A row that may change while open (planned, running, pending) and never after."""

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        stored = type(self).objects.filter(pk=self.pk)
        if not self._state.adding and not stored.filter(self.open_rows()).exists():
            raise AuditLogIsAppendOnly(f"{self} is finished: the audit log is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise AuditLogIsAppendOnly(f"{self} is part of the audit log and is never deleted.")

    @classmethod
    def open_rows(cls) -> Q:
        raise NotImplementedError


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

    class Source(models.TextChoices):
        WEB = "web", "Dashboard"
        CLI = "cli", "Command line"

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
    confirmed_by_username = models.CharField(max_length=150, blank=True)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.WEB)
    reason = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PLANNED)
    planned_at = models.DateTimeField(auto_now_add=True)
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

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES

    @property
    def is_finished(self) -> bool:
        return not self.is_open

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
