"""A real registry whose notifications reach the test's live server.

Registered from tests/conftest.py (`pytest_plugins`). The registry posts to
pytest-django's `live_server` (the app in a thread, on the test database), where
tasks run eagerly: an event is applied before its delivery is answered.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devtools.local_registry import LocalRegistry, start_local_registry
from registry.client import RegistryClient
from registry.events.endpoint import endpoint_config, ensure_endpoint
from registry.models import EventEndpoint, Registry
from registry.registries import save_registry
from tests.support.live_requests import wait_for_no_requests_in_flight

WAIT_SECONDS = 15.0
# The registry tries a failing endpoint again this soon (distribution's `backoff`).
TEST_BACKOFF = "200ms"


def wait_until(predicate: Callable[[], Any], *, timeout: float = WAIT_SECONDS) -> Any:
    """Poll `predicate` until it returns something truthy; fail the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"Still not true after {timeout:.0f} s: {predicate.__doc__ or predicate}")
        time.sleep(0.05)


@dataclass
class NotifyingRegistry:
    registry: Registry  # the dashboard's row
    local: LocalRegistry  # the docker-registry process
    client: RegistryClient  # pushes and deletes, as the janitor (its user agent)
    endpoint: EventEndpoint
    base_url: str  # where the registry sends its events (the live server, or a proxy)

    def restart(self, root: Path, *, base_url: str | None = None, notify: bool = True) -> None:
        """Stop the registry (its queued events are lost) and start it on the same storage."""
        self.local.stop()
        self.base_url = base_url or self.base_url
        self.local = start_registry(root, self, notify=notify)
        self.client.close()
        self.client = RegistryClient(self.local.url, sleep=lambda seconds: None)
        Registry.objects.filter(pk=self.registry.pk).update(url=self.local.url)
        self.registry.refresh_from_db()


def start_registry(root: Path, notifying: NotifyingRegistry, *, notify: bool) -> LocalRegistry:
    config = endpoint_config(
        registry=notifying.registry,
        secret=notifying.endpoint.secret,
        base_url=notifying.base_url,
        backoff=TEST_BACKOFF,
    )
    return start_local_registry(root_dir=root, notifications=[config] if notify else None)


@pytest.fixture
def notifying_registry(live_server, tmp_path: Path) -> Iterator[NotifyingRegistry]:
    """An empty registry, known to the dashboard as `live`, that notifies the live server."""
    yield from _notifying(tmp_path, base_url=live_server.url)


@pytest.fixture
def notifying_registry_factory(tmp_path: Path) -> Iterator[Callable[[str], NotifyingRegistry]]:
    """`start(base_url)`: the same, notifying `base_url` (a fault proxy, say)."""
    made: list[Iterator[NotifyingRegistry]] = []

    def start(base_url: str) -> NotifyingRegistry:
        generator = _notifying(tmp_path, base_url=base_url)
        made.append(generator)
        return next(generator)

    yield start
    for generator in made:
        next(generator, None)


def _notifying(tmp_path: Path, *, base_url: str) -> Iterator[NotifyingRegistry]:
    # The row first (the secret belongs to it), then the process, then its real URL.
    registry, _ = save_registry(name="live", url="http://127.0.0.1:9")
    endpoint, _ = ensure_endpoint(registry=registry)
    # local and client are set as soon as the registry process runs, just below.
    notifying = NotifyingRegistry(registry, None, None, endpoint, base_url)  # type: ignore[arg-type]
    notifying.local = start_registry(tmp_path / "registry", notifying, notify=True)
    notifying.client = RegistryClient(notifying.local.url, sleep=lambda seconds: None)
    Registry.objects.filter(pk=registry.pk).update(url=notifying.local.url)
    registry.refresh_from_db()
    try:
        yield notifying
    finally:
        notifying.client.close()
        notifying.local.stop()
        wait_for_no_requests_in_flight()
