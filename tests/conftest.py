from __future__ import annotations

from collections.abc import Iterator

import pytest

from registry.client import RegistryClient
from registry.models import Registry
from registry.registries import save_registry

pytest_plugins = ["tests.support.fixtures"]


@pytest.fixture
def registry_client(local_registry) -> Iterator[RegistryClient]:  # type: ignore[no-untyped-def]
    """A client for the test's own empty registry, with no waiting between retries."""
    with RegistryClient(local_registry.url, sleep=lambda seconds: None) as client:
        yield client


@pytest.fixture
def cached_registry(db, local_registry) -> Registry:  # type: ignore[no-untyped-def]
    """The test's registry, saved as the dashboard knows it (nothing synced yet)."""
    registry, _ = save_registry(name="local", url=local_registry.url)
    return registry
