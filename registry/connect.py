"""Build a registry client from a saved Registry row."""

from __future__ import annotations

from django.conf import settings

from .client import RegistryClient
from .models import Registry


def client_for(registry: Registry) -> RegistryClient:
    return RegistryClient(
        registry.url,
        username=registry.username,
        password=registry.password,
        verify=registry.tls_verify,
        timeout=settings.REGISTRY_TIMEOUT_SECONDS,
        max_retries=settings.REGISTRY_MAX_RETRIES,
        concurrency=settings.REGISTRY_CONCURRENCY,
        max_response_bytes=settings.REGISTRY_MAX_RESPONSE_MB * 1024 * 1024,
    )
