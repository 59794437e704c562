"""Each registry's notification endpoint: its secret, and the block for config.yml.

The block is what distribution reads under `notifications:` (its
docs/content/about/notifications.md): header values are lists, blob events are left
out by media type, and the registry retries a delivery until it gets a 2xx.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from django.urls import reverse

from registry.models import EventEndpoint, Registry

SECRET_BYTES = 32
AUTH_SCHEME = "Bearer"
# The registry gives up on one attempt after TIMEOUT; after THRESHOLD failures in a
# row it waits BACKOFF before trying again (events queue in its memory meanwhile).
TIMEOUT = "5s"
THRESHOLD = 5
BACKOFF = "2s"
IGNORED_MEDIA_TYPES = ["application/octet-stream"]


def endpoint_name(registry: Registry) -> str:
    return f"registry-janitor-{registry.name}"


def new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def ensure_endpoint(*, registry: Registry) -> tuple[EventEndpoint, bool]:
    """The registry's endpoint, and whether it was created now (with a new secret)."""
    endpoint = EventEndpoint.objects.filter(registry=registry).first()
    if endpoint is not None:
        return endpoint, False
    endpoint = EventEndpoint(registry=registry)
    endpoint.set_secret(new_secret())
    endpoint.save()
    return endpoint, True


def rotate_secret(*, endpoint: EventEndpoint) -> None:
    """A new secret: deliveries with the old one get 401 until config.yml has the new one."""
    endpoint.set_secret(new_secret())
    endpoint.save(update_fields=["secret_encrypted"])


def events_url(*, base_url: str, registry: Registry) -> str:
    """Where the registry POSTs, on the dashboard at `base_url` (scheme and host)."""
    return base_url.rstrip("/") + reverse("receive_events", args=[registry.name])


def endpoint_config(
    *, registry: Registry, secret: str, base_url: str, backoff: str = BACKOFF
) -> dict[str, Any]:
    """One entry of `notifications.endpoints` in distribution's config.yml."""
    return {
        "name": endpoint_name(registry),
        "url": events_url(base_url=base_url, registry=registry),
        "headers": {"Authorization": [f"{AUTH_SCHEME} {secret}"]},
        "timeout": TIMEOUT,
        "threshold": THRESHOLD,
        "backoff": backoff,
        "ignore": {"mediatypes": list(IGNORED_MEDIA_TYPES)},
    }


def config_block(*, registry: Registry, secret: str, base_url: str) -> str:
    """The `notifications:` block to paste into the registry's config.yml, as YAML.

    Written by hand (the app has no YAML library): every scalar is a JSON string or
    number, which YAML reads as the same value.
    """
    entry = endpoint_config(registry=registry, secret=secret, base_url=base_url)

    def scalar(value: object) -> str:
        return json.dumps(value)

    lines = [
        "notifications:",
        "  endpoints:",
        f"    - name: {scalar(entry['name'])}",
        f"      url: {scalar(entry['url'])}",
        "      headers:",
        f"        Authorization: [{scalar(entry['headers']['Authorization'][0])}]",
        f"      timeout: {scalar(entry['timeout'])}",
        f"      threshold: {scalar(entry['threshold'])}",
        f"      backoff: {scalar(entry['backoff'])}",
        "      ignore:",
        f"        mediatypes: [{', '.join(scalar(t) for t in entry['ignore']['mediatypes'])}]",
    ]
    return "\n".join(lines) + "\n"
