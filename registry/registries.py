"""Adding and changing registries."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import transaction

from .models import Registry


def save_registry(
    *,
    name: str,
    url: str,
    username: str = "",
    password: str | None = None,
    verify_tls: bool = True,
    ca_bundle: str = "",
    repositories: list[str] | None = None,
) -> tuple[Registry, bool]:
    """Create or update a registry by name. Returns (registry, created).

    `password=None` keeps a stored password; "" clears it.
    """
    url = url.strip().rstrip("/")
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise ValidationError(f"{url!r} is not a registry URL: give http(s)://host[:port].")
    if urlsplit(url).username or urlsplit(url).password:
        raise ValidationError(
            "Put the username and password in their own fields, not in the URL: "
            "a URL is shown on pages and in messages, a password must never be."
        )
    if ca_bundle and not Path(ca_bundle).is_file():
        raise ValidationError(f"The CA bundle {ca_bundle} does not exist.")
    with transaction.atomic():
        registry = Registry.objects.select_for_update().filter(name=name).first()
        created = registry is None
        registry = registry or Registry(name=name)
        registry.url = url
        registry.username = username
        if password is not None:
            registry.set_password(password)
        registry.verify_tls = verify_tls
        registry.ca_bundle = ca_bundle
        registry.repositories = sorted(set(repositories or []))
        registry.full_clean()
        registry.save()
    return registry, created
