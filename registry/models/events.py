"""Registry notifications: each registry's endpoint (its secret, when events came) and
the events it received, kept until applied and for a while after (see registry.events)."""

from __future__ import annotations

from django.db import models

from registry.secrets import decrypt_secret, encrypt_secret

from .cache import Registry


class EventEndpoint(models.Model):
    """Where one registry sends its notifications, and what has come of it.

    The secret is encrypted like registry passwords, not hashed: the configuration
    block that carries it is shown again (to Registry admins, and by
    `manage.py notification_config`), and a hash could only be shown once.
    """

    registry = models.OneToOneField(
        Registry, on_delete=models.CASCADE, related_name="event_endpoint"
    )
    # Fernet ciphertext; use .secret / .set_secret(). Never logged, never in the audit log.
    secret_encrypted = models.TextField(editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    # The first event accepted: pull tracking began then (registry.staleness counts an
    # image nobody pulled since from here, or from when it was first seen if later).
    first_event_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Any authenticated delivery, the janitor's own pulls included: it says the registry's
    # notifications reach the dashboard.
    last_event_at = models.DateTimeField(null=True, blank=True, editable=False)
    events_received = models.PositiveBigIntegerField(default=0, editable=False)
    # Set when an "apply the events" task is queued and not yet started: a flood of
    # deliveries queues one task, not one per POST (registry.events.ingest).
    apply_queued = models.BooleanField(default=False, editable=False)
    # Whoever applies events holds this (a conditional UPDATE, as the sync lock); a sync
    # waits for it, and the applier leaves the registry to a running sync.
    apply_lock_token = models.UUIDField(null=True, blank=True, editable=False)
    apply_lock_expires_at = models.DateTimeField(null=True, blank=True, editable=False)

    def __str__(self) -> str:
        return f"notifications of {self.registry}"

    @property
    def secret(self) -> str:
        return decrypt_secret(self.secret_encrypted)

    def set_secret(self, secret: str) -> None:
        self.secret_encrypted = encrypt_secret(secret)


class RegistryEvent(models.Model):
    """One notification, as received: applied to the cache by a worker, then kept a few
    days (EVENTS_RETENTION_DAYS) so that a redelivery of its id changes nothing."""

    class Action(models.TextChoices):
        PUSH = "push"
        PULL = "pull"
        DELETE = "delete"
        OTHER = "other"  # mount, GitLab's rename, anything newer: ignored

    class State(models.TextChoices):
        PENDING = "pending"
        APPLIED = "applied"
        SUPERSEDED = "superseded", "Older than what the cache holds"
        IGNORED = "ignored"
        FAILED = "failed"

    registry = models.ForeignKey(Registry, on_delete=models.CASCADE, related_name="events")
    event_id = models.CharField(max_length=100)
    action = models.CharField(max_length=16, choices=Action.choices)
    repository = models.CharField(max_length=255)
    tag = models.CharField(max_length=128, blank=True)
    digest = models.CharField(max_length=135, blank=True)
    media_type = models.CharField(max_length=120, blank=True)
    # The registry's clock: what orders the events of one tag.
    timestamp = models.DateTimeField()
    received_at = models.DateTimeField()
    actor = models.CharField(max_length=255, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    note = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["registry", "event_id"], name="unique_event_id"),
        ]
        indexes = [
            models.Index(fields=["registry", "state", "timestamp"], name="event_pending_idx"),
            # "Is there a newer event on this tag / digest?"
            models.Index(
                fields=["registry", "repository", "tag", "timestamp"], name="event_tag_idx"
            ),
            models.Index(
                fields=["registry", "repository", "digest", "timestamp"], name="event_digest_idx"
            ),
            models.Index(fields=["received_at"], name="event_received_idx"),
        ]

    def __str__(self) -> str:
        target = f":{self.tag}" if self.tag else f"@{self.digest}"
        return f"{self.action} {self.repository}{target} ({self.state})"
