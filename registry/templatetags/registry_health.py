"""What every page of a registry says about its cache (registry.sync_health)."""

from __future__ import annotations

from django import template

from registry.models import Registry
from registry.sync_health import SyncTrouble, sync_trouble

register = template.Library()


@register.simple_tag
def sync_trouble_of(registry: Registry | None) -> SyncTrouble | None:
    """`{% sync_trouble_of registry as trouble %}`: None for a page of no registry."""
    if not isinstance(registry, Registry) or registry.pk is None:
        return None
    return sync_trouble(registry=registry)
