"""Build registry and GitLab clients from saved rows."""

from __future__ import annotations

from django.conf import settings

from .client import RegistryClient
from .gitlab.rest import GitLabClient
from .models import GitLabConnection, Registry


def client_for(registry: Registry) -> RegistryClient:
    """The registry's client. For a registry connected to GitLab, its credentials go to
    no token service but GitLab's own (`/jwt/auth` on the GitLab URL)."""
    connection = GitLabConnection.objects.filter(registry=registry).first()
    return RegistryClient(
        registry.url,
        username=registry.username,
        password=registry.password,
        verify=registry.tls_verify,
        timeout=settings.REGISTRY_TIMEOUT_SECONDS,
        max_retries=settings.REGISTRY_MAX_RETRIES,
        concurrency=settings.REGISTRY_CONCURRENCY,
        max_response_bytes=settings.REGISTRY_MAX_RESPONSE_MB * 1024 * 1024,
        credential_origins=[connection.url] if connection else None,
    )


def gitlab_client_for(connection: GitLabConnection) -> GitLabClient:
    """GitLab's REST client: the registry's password is the GitLab access token."""
    registry = connection.registry
    return GitLabClient(
        connection.url,
        token=registry.password,
        verify=registry.tls_verify,
        timeout=settings.REGISTRY_TIMEOUT_SECONDS,
        max_retries=settings.REGISTRY_MAX_RETRIES,
        concurrency=settings.GITLAB_CONCURRENCY,
        max_response_bytes=settings.REGISTRY_MAX_RESPONSE_MB * 1024 * 1024,
    )
