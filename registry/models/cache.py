"""The registry cache: what each registry holds, as far as the dashboard knows.

Rows here are a copy of the registry. The sync (`registry.sync`) writes it from
the registry's answers, and whatever learns of a change first keeps it current in
between: a deletion run removes the tags and manifests it deleted. The registry
itself stays the source of truth: anything destructive re-checks it.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from registry.client.media_types import INDEX_MEDIA_TYPES
from registry.secrets import decrypt_secret, encrypt_secret


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
    # What kind of registry answers at `url`, as its `/v2/` said at the last sync; read it
    # through registry.kinds.kind_of, the one place that tells.
    kind = models.CharField(max_length=16, blank=True, editable=False)
    kind_details = models.JSONField(default=dict, blank=True, editable=False)

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

    def clean(self) -> None:
        """Checked wherever a registry is saved from a form: the admin, the app, the CLI."""
        errors: dict[str, str] = {}
        if problem := registry_url_problem(self.url):
            errors["url"] = problem
        if self.ca_bundle and (problem := ca_bundle_problem(self.ca_bundle)):
            errors["ca_bundle"] = problem
        if errors:
            raise ValidationError(errors)


URL_WITH_CREDENTIALS_MESSAGE = (
    "Put the username and password in their own fields, not in the URL: a URL is shown on "
    "pages and in messages, a password must never be."
)


def registry_url_problem(url: str) -> str | None:
    """What is wrong with a registry's URL, in plain words, or None."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not a registry URL: give http(s)://host[:port]."
    if parts.username or parts.password or "@" in parts.netloc:
        return URL_WITH_CREDENTIALS_MESSAGE
    return None


def without_userinfo(url: str) -> str:
    """The URL without any user:password@ part: never shown back, never stored."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def ca_bundle_problem(path: str) -> str | None:
    """Why a CA bundle path cannot be used, or None: it must be a readable PEM file."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as exc:
        return f"The CA bundle {path} cannot be read: {exc.strerror or exc}."
    if "-----BEGIN CERTIFICATE-----" not in text:
        return f"The CA bundle {path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)."
    return None


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
    # The config's `org.opencontainers.image.revision` label (the commit it was built
    # from); for an index, its children's.
    revision = models.CharField(max_length=100, blank=True)
    platforms = models.JSONField(default=list, blank=True)  # ["linux/amd64", "linux/arm64/v8"]
    # How many tags point here: deleting the digest deletes all of them. Kept by the sync.
    tag_count = models.PositiveIntegerField(default=0)
    # The newest pull a registry notification told of, anyone's but the janitor's own
    # (registry.events); None: none since pull tracking began, or no tracking.
    last_pulled = models.DateTimeField(null=True, blank=True)
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
    # The newest pull through this tag's name (the image's own, by any name or digest,
    # is Manifest.last_pulled).
    last_pulled = models.DateTimeField(null=True, blank=True)

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
    # Tags added, moved or removed that the registry's notifications had not brought in:
    # set only where notifications are live, so that zero means they are working.
    differences_missed = models.PositiveIntegerField(null=True, blank=True)
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
