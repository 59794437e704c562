"""Adding, changing and removing registries, each change written to the audit log.

The audit log says who changed what and when, and never a secret: a password or
token shows only as "set" or "cleared". A registry whose URL moves to another
host loses its stored password: it was given for the old host, and sending it to
the new one unasked would hand it to whoever answers there.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import transaction

from .client.auth import same_origin
from .models import GitLabConnection, Registry, RegistryChange

# The settings a change is recorded for, in the order the log shows them.
AUDITED_FIELDS = (
    "url",
    "username",
    "password",
    "verify_tls",
    "ca_bundle",
    "repositories",
    "gitlab_url",
    "gitlab_group",
    "gitlab_projects",
)
SECRET_FIELDS = frozenset({"password"})

PASSWORD_CLEARED_NOTE = (
    "The URL moved to another host, so the stored password was cleared: give it again."
)


def gitlab_url_message(url: str) -> str:
    return f"{url!r} is not a GitLab URL: give http(s)://host[:port][/path]."


GITLAB_SCOPE_MESSAGE = (
    "Name what to sync from GitLab: a group (--gitlab-group) or projects (--gitlab-project)."
)
GITLAB_WITH_REPOSITORIES_MESSAGE = (
    "A registry connected to GitLab finds its repositories through GitLab: leave out --repository."
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
    gitlab_url: str | None = None,
    gitlab_group: str = "",
    gitlab_projects: list[str] | None = None,
    actor: str = "",
) -> tuple[Registry, bool]:
    """Create or update a registry by name. Returns (registry, created).

    `password=None` keeps a stored password (unless the registry's or GitLab's host
    changes); "" clears it. `gitlab_url=None` keeps the registry's GitLab connection as it
    is, "" removes it; a URL connects the registry to that GitLab, with `gitlab_group` and/or
    `gitlab_projects` saying what to sync. The password is then a GitLab access token, used
    for both the registry and GitLab. `actor` is who makes the change, for the audit log.
    Raises ValidationError for a bad URL, CA bundle or GitLab scope.
    """
    gitlab_projects = sorted({p.strip().strip("/") for p in gitlab_projects or [] if p.strip()})
    gitlab_group = gitlab_group.strip().strip("/")
    if gitlab_url:
        gitlab_url = _checked_gitlab_url(gitlab_url)
        if not gitlab_group and not gitlab_projects:
            raise ValidationError(GITLAB_SCOPE_MESSAGE)
        if repositories:
            raise ValidationError(GITLAB_WITH_REPOSITORIES_MESSAGE)
    with transaction.atomic():
        registry = Registry.objects.select_for_update().filter(name=name).first()
        created = registry is None
        registry = registry or Registry(name=name)
        before = None if created else audited_values(registry)
        previous_url = registry.url
        previous_gitlab = _gitlab_url_of(registry)
        registry.url = url.strip().rstrip("/")
        registry.username = username
        if password is not None:
            registry.set_password(password)
        cleared = clear_password_if_host_changed(registry=registry, previous_url=previous_url)
        if gitlab_url and previous_gitlab and not same_origin(gitlab_url, previous_gitlab):
            # The token is GitLab's too: it is not sent to another GitLab unasked.
            cleared = (
                clear_password_if_host_changed(
                    registry=registry, previous_url=previous_gitlab, new_url=gitlab_url
                )
                or cleared
            )
        registry.verify_tls = verify_tls
        registry.ca_bundle = ca_bundle
        registry.repositories = sorted(set(repositories or []))
        registry.full_clean()
        registry.save()
        if gitlab_url is not None:
            _save_gitlab(registry, url=gitlab_url, group=gitlab_group, projects=gitlab_projects)
        record_registry_change(
            registry=registry,
            before=before,
            actor=actor,
            note=PASSWORD_CLEARED_NOTE if cleared else "",
        )
    return registry, created


def _checked_gitlab_url(url: str) -> str:
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise ValidationError(gitlab_url_message(url))
    if parts.username or parts.password:
        raise ValidationError(gitlab_url_message(url))
    return url


def _save_gitlab(registry: Registry, *, url: str, group: str, projects: list[str]) -> None:
    """Connect the registry to GitLab (or, with an empty URL, disconnect it)."""
    if not url:
        GitLabConnection.objects.filter(registry=registry).delete()
        return
    connection = GitLabConnection.objects.filter(registry=registry).first()
    if connection is not None and connection.url != url:
        connection.delete()  # another GitLab: its projects and context mean nothing here
        connection = None
    connection = connection or GitLabConnection(registry=registry)
    connection.url, connection.group_path, connection.project_paths = url, group, projects
    connection.full_clean()
    connection.save()


def _gitlab_url_of(registry: Registry) -> str:
    if registry.pk is None:
        return ""
    connection = GitLabConnection.objects.filter(registry=registry).first()
    return connection.url if connection else ""


def clear_password_if_host_changed(
    *, registry: Registry, previous_url: str, new_url: str | None = None
) -> bool:
    """Clear a stored password that was given for another host; True if it was.

    `new_url` is where the password would now go (the registry's own URL by default).
    """
    if not previous_url or not registry.password_encrypted:
        return False
    if same_origin(new_url or registry.url, previous_url):
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
        **_gitlab_values(registry),
    }


def _gitlab_values(registry: Registry) -> dict[str, Any]:
    connection = GitLabConnection.objects.filter(registry=registry).first() if registry.pk else None
    return {
        "gitlab_url": connection.url if connection else "",
        "gitlab_group": connection.group_path if connection else "",
        "gitlab_projects": list(connection.project_paths or []) if connection else [],
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
