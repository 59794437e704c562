"""Adding, changing and removing registries, each change written to the audit log.

The audit log says who changed what and when, and never a secret: a password or
token shows only as "set" or "cleared". A registry whose URL moves to another
host loses its stored password: it was given for the old host, and sending it to
the new one unasked would hand it to whoever answers there.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from .client.auth import same_origin
from .models import Registry, RegistryChange

# The settings a change is recorded for, in the order the log shows them.
AUDITED_FIELDS = ("url", "username", "password", "verify_tls", "ca_bundle", "repositories")
SECRET_FIELDS = frozenset({"password"})

PASSWORD_CLEARED_NOTE = (
    "The URL moved to another host, so the stored password was cleared: give it again."
)


def save_registry(
    *,
    name: str,
    url: str,
    username: str = "",
    password: str | None = None,
    verify_tls: bool = True,
    ca_bundle: str = "",
    repositories: list[str] | None = None,
    actor: str = "",
) -> tuple[Registry, bool]:
    """Create or update a registry by name. Returns (registry, created).

    `password=None` keeps a stored password (unless the host changes); "" clears it.
    `actor` is who makes the change, for the audit log (a username, or "command line").
    Raises ValidationError (from Registry.clean) for a bad URL or CA bundle.
    """
    with transaction.atomic():
        registry = Registry.objects.select_for_update().filter(name=name).first()
        created = registry is None
        registry = registry or Registry(name=name)
        before = None if created else audited_values(registry)
        previous_url = registry.url
        registry.url = url.strip().rstrip("/")
        registry.username = username
        if password is not None:
            registry.set_password(password)
        cleared = clear_password_if_host_changed(registry=registry, previous_url=previous_url)
        registry.verify_tls = verify_tls
        registry.ca_bundle = ca_bundle
        registry.repositories = sorted(set(repositories or []))
        registry.full_clean()
        registry.save()
        record_registry_change(
            registry=registry,
            before=before,
            actor=actor,
            note=PASSWORD_CLEARED_NOTE if cleared else "",
        )
    return registry, created


def clear_password_if_host_changed(*, registry: Registry, previous_url: str) -> bool:
    """Clear a stored password that was given for another host; True if it was."""
    if not previous_url or not registry.password_encrypted:
        return False
    if same_origin(registry.url, previous_url):
        return False
    if registry.password_encrypted != _stored_password(registry):
        return False  # a new password came with the new URL
    registry.set_password("")
    return True


def _stored_password(registry: Registry) -> str:
    if registry.pk is None:
        return ""
    stored = Registry.objects.filter(pk=registry.pk).values_list("password_encrypted", flat=True)
    return stored.first() or ""


def audited_values(registry: Registry) -> dict[str, Any]:
    """The registry's settings as the audit log shows them (secrets as set or not)."""
    return {
        "url": registry.url,
        "username": registry.username,
        "password": "set" if registry.password_encrypted else "",
        "verify_tls": registry.verify_tls,
        "ca_bundle": registry.ca_bundle,
        "repositories": list(registry.repositories or []),
    }


def record_registry_change(
    *, registry: Registry, before: dict[str, Any] | None, actor: str, note: str = ""
) -> RegistryChange | None:
    """Write what changed (everything, for a new registry); nothing when nothing did."""
    after = audited_values(registry)
    changes = [
        [field, _shown(field, (before or {}).get(field)), _shown(field, after[field])]
        for field in AUDITED_FIELDS
        if before is None or before[field] != after[field]
    ]
    if before is not None and not changes:
        return None
    return RegistryChange.objects.create(
        registry_name=registry.name,
        action=RegistryChange.Action.ADDED if before is None else RegistryChange.Action.CHANGED,
        changed_by_username=actor or "unknown",
        changes=changes,
        note=note,
    )


def remove_registry(*, registry: Registry, actor: str) -> None:
    """Remove a registry and its cache; its deletion batches stay in the audit log."""
    with transaction.atomic():
        RegistryChange.objects.create(
            registry_name=registry.name,
            action=RegistryChange.Action.REMOVED,
            changed_by_username=actor or "unknown",
            changes=[
                [field, _shown(field, value), None]
                for field, value in audited_values(registry).items()
            ],
        )
        registry.delete()


def _shown(field: str, value: Any) -> Any:
    if field in SECRET_FIELDS:
        return "set" if value else "not set"
    return value
