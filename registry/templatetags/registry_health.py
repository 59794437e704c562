"""What every page of a registry says about its cache (registry.sync_health)."""

from __future__ import annotations

from django import template

from registry.models import Registry
from registry.sync_health import SyncTrouble, empty_cache_message, sync_trouble

register = template.Library()


@register.simple_tag
def sync_trouble_of(registry: Registry | None) -> SyncTrouble | None:
    """`{% sync_trouble_of registry as trouble %}`: None for a page of no registry."""
    if not isinstance(registry, Registry) or registry.pk is None:
        return None
    return sync_trouble(registry=registry)


@register.simple_tag
def empty_cache_message_of(registry: Registry) -> str:
    """`{% empty_cache_message_of registry as message %}`: for an empty listing."""
    return empty_cache_message(registry=registry)
