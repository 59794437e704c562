"""Pytest fixtures that start real processes: registries, a token issuer, a fault proxy,
Redis. Registered from tests/conftest.py with `pytest_plugins = ["tests.support.fixtures"]`.

Everything binds 127.0.0.1 on free ports, so tests can run in parallel (pytest -n auto).
A registry starts in about 25 ms, so every test gets its own, empty one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from devtools.local_registry import (
    LocalRegistry,
    TokenAuthSettings,
    start_local_registry,
    write_htpasswd,
)
from devtools.redis_server import RedisServer
from tests.support.celery_worker import CeleryWorker
from tests.support.fault_proxy import FaultProxy
from tests.support.token_issuer import IssuerUser, TokenIssuer

BASIC_USERNAME = "ci"
BASIC_PASSWORD = "ci-password"


def token_users() -> dict[str, IssuerUser]:
    """A fresh copy each time, so a test may change a user's rights."""
    return {
        "maintainer": IssuerUser("maintainer-pw", {"*": {"pull", "push", "delete"}}, catalog=True),
        "developer": IssuerUser("developer-pw", {"*": {"pull", "push"}}, catalog=False),
        "reader": IssuerUser("reader-pw", {"*": {"pull"}}, catalog=False),
    }


@dataclass(frozen=True)
class BasicAuthRegistry:
    url: str
    username: str
    password: str
    registry: LocalRegistry


@dataclass(frozen=True)
class TokenRegistry:
    url: str
    issuer: TokenIssuer
    registry: LocalRegistry

    def password_of(self, username: str) -> str:
        return self.issuer.users[username].password


@pytest.fixture
def local_registry(tmp_path: Path) -> Iterator[LocalRegistry]:
    """A fresh, empty registry without auth, with delete enabled."""
    registry = start_local_registry(root_dir=tmp_path / "registry")
    try:
        yield registry
    finally:
        registry.stop()


@pytest.fixture
def basic_auth_registry(tmp_path: Path) -> Iterator[BasicAuthRegistry]:
    """A registry behind htpasswd auth with one user, ci / ci-password."""
    htpasswd = tmp_path / "htpasswd"
    write_htpasswd(htpasswd, {BASIC_USERNAME: BASIC_PASSWORD})
    registry = start_local_registry(root_dir=tmp_path / "basic-registry", htpasswd_path=htpasswd)
    try:
        yield BasicAuthRegistry(registry.url, BASIC_USERNAME, BASIC_PASSWORD, registry)
    finally:
        registry.stop()


@pytest.fixture
def token_issuer(tmp_path: Path) -> Iterator[TokenIssuer]:
    """A GitLab-like `/jwt/auth` with maintainer, developer and reader (see token_users)."""
    workdir = tmp_path / "token-issuer"
    workdir.mkdir()
    issuer = TokenIssuer(users=token_users(), workdir=workdir).start()
    try:
        yield issuer
    finally:
        issuer.stop()


@pytest.fixture
def token_registry(tmp_path: Path, token_issuer: TokenIssuer) -> Iterator[TokenRegistry]:
    """A registry whose token realm is `token_issuer`."""
    settings = TokenAuthSettings(
        realm=token_issuer.realm,
        service=token_issuer.service,
        issuer=token_issuer.issuer,
        rootcertbundle=token_issuer.cert_path,
    )
    registry = start_local_registry(root_dir=tmp_path / "token-registry", token_auth=settings)
    try:
        yield TokenRegistry(registry.url, token_issuer, registry)
    finally:
        registry.stop()


@pytest.fixture
def fault_proxy() -> Iterator[Callable[[str], FaultProxy]]:
    """A factory: `fault_proxy(upstream_url)` gives a started proxy, stopped at teardown."""
    proxies: list[FaultProxy] = []

    def start(upstream_url: str) -> FaultProxy:
        proxy = FaultProxy(upstream_url)
        proxies.append(proxy)
        return proxy.start()

    try:
        yield start
    finally:
        for proxy in proxies:
            proxy.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the session (per xdist worker); `.url` is redis://…/0."""
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def celery_worker(transactional_db, redis_server: RedisServer, tmp_path: Path):
    """A worker process consuming from `redis_server`; tasks sent in the test go there."""
    worker = CeleryWorker(broker_url=redis_server.url, log_path=tmp_path / "worker.log").start()
    try:
        with tasks_sent_to(redis_server.url):
            yield worker
    finally:
        worker.stop()


@contextmanager
def tasks_sent_to(broker_url: str) -> Iterator[None]:
    """Within the block, `.delay()` publishes to this broker instead of running eagerly."""
    from kombu import pools as kombu_pools

    from janitor_site.celery import app

    previous = (app.conf.broker_url, app.conf.task_always_eager)

    def use_broker(url: str, eager: bool) -> None:
        app.conf.update(broker_url=url, task_always_eager=eager)
        # Producer and connection pools are kept per broker URL by kombu, process-wide:
        # drop them all, so the next send connects afresh (to this broker).
        kombu_pools.reset()
        # The app's own pools are private attributes: no public call resets them.
        app._pool = None  # type: ignore[attr-defined]
        app.amqp._producer_pool = None  # type: ignore[attr-defined]

    use_broker(broker_url, False)
    try:
        yield
    finally:
        use_broker(*previous)
