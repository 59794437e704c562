from __future__ import annotations

from collections.abc import Iterator

import pytest

from registry.client import RegistryClient
from registry.models import Registry, Repository
from registry.registries import save_registry
from tests.factories import RegistryFactory, RepositoryFactory

pytest_plugins = [
    "tests.support.fixtures",
    "tests.support.audit_log",
    "tests.support.deletion",
    "tests.support.events",
    "tests.support.fake_gitlab",
]


@pytest.fixture
def registry_client(local_registry) -> Iterator[RegistryClient]:
    """A client for the test's own empty registry, with no waiting between retries."""
    with RegistryClient(local_registry.url, sleep=lambda seconds: None) as client:
        yield client


@pytest.fixture
def cached_registry(db, local_registry) -> Registry:
    """The test's registry, saved as the dashboard knows it (nothing synced yet)."""
    registry, _ = save_registry(name="local", url=local_registry.url)
    return registry


@pytest.fixture
def registry(db: None) -> Registry:
    """The cached registry `main`, rows only: nothing answers at its URL (view tests)."""
    return RegistryFactory.create(name="main")


@pytest.fixture
def web(registry: Registry) -> Repository:
    """The repository acme/web of `registry`, with no tags yet."""
    return RepositoryFactory.create(registry=registry, name="acme/web")


def _user_in(role: str | None, username: str):
    from django.contrib.auth.models import Group, User

    from registry.roles import ensure_roles

    ensure_roles()
    user = User.objects.create_user(username=username, password="password")
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def viewer(db):
    from registry.roles import VIEWERS

    return _user_in(VIEWERS, "vera-viewer")


@pytest.fixture
def janitor(db):
    from registry.roles import JANITORS

    return _user_in(JANITORS, "jan-janitor")


@pytest.fixture
def registry_admin(db):
    from registry.roles import ADMINS

    return _user_in(ADMINS, "ada-admin")


@pytest.fixture
def outsider(db):
    """Logged in, but in no role: sees nothing."""
    return _user_in(None, "otto-outsider")
