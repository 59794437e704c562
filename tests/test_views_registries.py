"""Registry admins add, edit, test and remove registries in the app; nobody else may.

*Test connection* asks real registries: an open one, one behind htpasswd with a wrong
password, one with deletion turned off, and one whose token may not delete.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from devtools.image_builder import push_image
from devtools.local_registry import start_local_registry
from registry.client import RegistryClient
from registry.forms import HOST_CHANGED_NEEDS_PASSWORD, NAME_TAKEN_MESSAGE
from registry.models import DeletionBatch, Registry, RegistryChange
from registry.registries import save_registry
from registry.views.registries import removed_message
from tests.factories import DeletionBatchFactory
from tests.support.deletion import JAN

pytestmark = pytest.mark.django_db

SECRET = "glpat-very-secret-token"


def form(**changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "gitlab", "url": "https://registry.example.com", "username": "ci",
        "password": "", "verify_tls": "on", "ca_bundle": "", "repositories": "",
    }  # fmt: skip
    data.update(changes)
    return data


def text(response) -> str:
    return response.content.decode().replace("&#x27;", "'").replace("&quot;", '"')


@pytest.mark.parametrize(
    ("name", "method", "args"),
    [
        ("registry_list", "get", []),
        ("registry_add", "get", []),
        ("registry_edit", "get", ["main"]),
        ("registry_test", "post", ["main"]),
        ("registry_remove", "get", ["main"]),
        ("registry_remove", "post", ["main"]),
    ],
)
def test_only_registry_admins_manage_registries(
    client: Client, registry, viewer, janitor, name, method, args
) -> None:
    url = reverse(name, args=args)
    assert getattr(client, method)(url).status_code == 302  # to the login
    for user in (viewer, janitor):
        client.force_login(user)
        assert getattr(client, method)(url).status_code == 403
    assert Registry.objects.filter(name="main").exists()


def test_an_admin_adds_a_registry_whose_password_is_never_shown_again(
    client: Client, registry_admin
) -> None:
    client.force_login(registry_admin)

    response = client.post(reverse("registry_add"), form(password=SECRET), follow=True)

    assert "Registry gitlab added" in text(response)
    registry = Registry.objects.get(name="gitlab")
    assert registry.password == SECRET
    assert SECRET not in registry.password_encrypted
    for url in (reverse("registry_list"), reverse("registry_edit", args=["gitlab"])):
        assert SECRET not in text(client.get(url))
    assert RegistryChange.objects.get().changed_by_username == registry_admin.username


def test_a_name_that_exists_and_a_url_with_credentials_are_refused(
    client: Client, registry_admin, registry
) -> None:
    client.force_login(registry_admin)

    taken = client.post(reverse("registry_add"), form(name="main"))
    with_credentials = client.post(
        reverse("registry_add"), form(url=f"https://ci:{SECRET}@registry.example.com")
    )

    assert NAME_TAKEN_MESSAGE in text(taken)
    assert "their own fields" in text(with_credentials)
    assert SECRET not in text(with_credentials)
    assert not Registry.objects.filter(name="gitlab").exists()


def test_editing_keeps_the_password_unless_the_host_changes(client: Client, registry_admin) -> None:
    save_registry(name="gitlab", url="https://registry.example.com", password=SECRET, actor="a")
    client.force_login(registry_admin)
    edit = reverse("registry_edit", args=["gitlab"])

    client.post(edit, form(username="deploy"))
    assert Registry.objects.get().password == SECRET

    moved = client.post(edit, form(url="https://evil.example.net"))
    assert HOST_CHANGED_NEEDS_PASSWORD.replace("“", "").split(":")[0] in text(moved)
    assert Registry.objects.get().url == "https://registry.example.com"

    client.post(edit, form(url="https://other.example.com", password="new-token"))
    registry = Registry.objects.get()
    assert (registry.url, registry.password) == ("https://other.example.com", "new-token")


def test_removing_a_registry_keeps_its_deletions_in_the_audit_log(
    client: Client, registry_admin, registry
) -> None:
    batch = DeletionBatchFactory.create(registry=registry)
    client.force_login(registry_admin)

    response = client.post(reverse("registry_remove", args=["main"]), follow=True)

    assert removed_message("main") in text(response)
    assert not Registry.objects.filter(name="main").exists()
    assert DeletionBatch.objects.get(pk=batch.pk).registry_name == "main"
    assert "main" in text(client.get(reverse("audit_batches")))
    assert RegistryChange.objects.filter(action="removed", registry_name="main").exists()


# -- Test connection, against real registries --------------------------------------


def test_an_open_registry_answers_every_question(
    client: Client, registry_admin, local_registry, registry_client: RegistryClient
) -> None:
    push_image(registry_client, "acme/web", "v1", created=JAN)
    save_registry(name="local", url=local_registry.url, actor="a")
    client.force_login(registry_admin)

    report = text(client.post(reverse("registry_test", args=["local"]), HTTP_HX_REQUEST="true"))

    assert "The registry answers the registry API" in report
    assert "The catalog lists 1 repositories" in report
    assert "These credentials may delete images" in report
    assert registry_client.list_tags("acme/web") == ["v1"], "nothing was deleted"


def test_a_wrong_password_is_said_plainly(
    client: Client, registry_admin, basic_auth_registry
) -> None:
    save_registry(name="basic", url=basic_auth_registry.url, username="ci",
                  password="wrong", actor="a")  # fmt: skip
    client.force_login(registry_admin)

    report = text(client.post(reverse("registry_test", args=["basic"]), HTTP_HX_REQUEST="true"))

    assert "refused the username and password" in report


def test_a_registry_with_deletion_turned_off_says_so(
    client: Client, registry_admin, tmp_path: Path
) -> None:
    local = start_local_registry(root_dir=tmp_path / "no-delete", delete_enabled=False)
    try:
        with RegistryClient(local.url) as seeder:
            push_image(seeder, "acme/web", "v1", created=JAN)
        save_registry(name="nodelete", url=local.url, actor="a")
        client.force_login(registry_admin)

        response = client.post(reverse("registry_test", args=["nodelete"]), HTTP_HX_REQUEST="true")
    finally:
        local.stop()

    assert "deletion turned off" in text(response)


def test_a_token_that_may_not_delete_says_what_gitlab_needs(
    client: Client, registry_admin, token_registry
) -> None:
    with RegistryClient(
        token_registry.url, username="maintainer", password=token_registry.password_of("maintainer")
    ) as seeder:
        push_image(seeder, "acme/web", "v1", created=JAN)
    save_registry(name="gitlab", url=token_registry.url, username="developer",
                  password=token_registry.password_of("developer"),
                  repositories=["acme/web"], actor="a")  # fmt: skip
    client.force_login(registry_admin)

    report = text(client.post(reverse("registry_test", args=["gitlab"]), HTTP_HX_REQUEST="true"))

    assert "1 repositories are listed by hand" in report
    assert "may not delete images" in report
    assert "api scope and the Maintainer role" in report
