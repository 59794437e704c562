"""Registries change only in the open: no credentials in URLs, a password never follows its
registry to another host, every change is in the audit log (never a secret), and a CA bundle
must be a readable PEM file. Through the domain function and the Django admin alike."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from registry.models import Registry, RegistryChange
from registry.models.cache import URL_WITH_CREDENTIALS_MESSAGE
from registry.registries import PASSWORD_CLEARED_NOTE, remove_registry, save_registry

pytestmark = pytest.mark.django_db

SECRET = "glpat-very-secret-token"


@pytest.fixture
def admin_client(client: Client, django_user_model) -> Client:
    admin = django_user_model.objects.create_superuser("root", password="password")
    client.force_login(admin)
    return client


def registry_form(**changes: str) -> dict[str, str]:
    form = {"name": "gitlab", "url": "https://registry.example.com", "username": "ci",
            "verify_tls": "on", "ca_bundle": "", "repositories": "[]",
            # The GitLab connection inline, left empty.
            "gitlab-TOTAL_FORMS": "0", "gitlab-INITIAL_FORMS": "0",
            "gitlab-MIN_NUM_FORMS": "0", "gitlab-MAX_NUM_FORMS": "1"}  # fmt: skip
    form.update(changes)
    return form


@pytest.mark.parametrize(
    "url", ["https://ci:pw@registry.example.com", "https://ci@registry.example.com"]
)
def test_a_url_with_credentials_is_refused_by_the_domain_function(url: str) -> None:
    with pytest.raises(ValidationError, match="their own fields"):
        save_registry(name="gitlab", url=url, actor="ada")
    assert not Registry.objects.exists()
    assert not RegistryChange.objects.exists()


def test_a_url_with_credentials_is_refused_by_the_admin_too(admin_client: Client) -> None:
    response = admin_client.post(
        reverse("admin:registry_registry_add"),
        registry_form(url=f"https://ci:{SECRET}@registry.example.com"),
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert URL_WITH_CREDENTIALS_MESSAGE in html.replace("&#x27;", "'")
    assert SECRET not in html, "the typed URL is not shown back with its password"
    assert not Registry.objects.exists()


def test_moving_a_registry_to_another_host_clears_its_password() -> None:
    save_registry(name="gitlab", url="https://registry.example.com", password=SECRET, actor="ada")

    registry, _ = save_registry(name="gitlab", url="https://evil.example.net", actor="mallory")

    assert registry.password == ""
    change = RegistryChange.objects.order_by("pk").last()
    assert change is not None
    assert change.note == PASSWORD_CLEARED_NOTE
    assert ["password", "set", "not set"] in change.changes


def test_the_same_host_keeps_the_password_and_a_new_host_keeps_a_new_password() -> None:
    save_registry(name="gitlab", url="https://registry.example.com", password=SECRET, actor="a")

    same, _ = save_registry(name="gitlab", url="https://registry.example.com/", actor="a")
    assert same.password == SECRET
    moved, _ = save_registry(
        name="gitlab", url="https://other.example.com", password="new-token", actor="a"
    )
    assert moved.password == "new-token"


def test_moving_a_registry_in_the_admin_clears_its_password_and_says_so(
    admin_client: Client,
) -> None:
    registry, _ = save_registry(
        name="gitlab", url="https://registry.example.com", password=SECRET, actor="ada"
    )

    response = admin_client.post(
        reverse("admin:registry_registry_change", args=[registry.pk]),
        registry_form(url="https://evil.example.net"),
        follow=True,
    )

    assert PASSWORD_CLEARED_NOTE in response.content.decode()
    registry.refresh_from_db()
    assert registry.password == ""
    assert RegistryChange.objects.filter(changed_by_username="root").exists()


def test_every_change_is_audited_and_no_secret_is_kept(admin_client: Client) -> None:
    save_registry(
        name="gitlab", url="https://registry.example.com", username="ci", password=SECRET,
        actor="ada",
    )  # fmt: skip
    save_registry(name="gitlab", url="https://registry.example.com", username="deploy",
                  password="other-" + SECRET, actor="bob")  # fmt: skip
    remove_registry(registry=Registry.objects.get(), actor="carol")

    log = list(RegistryChange.objects.order_by("pk").values_list("action", "changed_by_username"))
    assert log == [("added", "ada"), ("changed", "bob"), ("removed", "carol")]
    changed = RegistryChange.objects.get(action="changed").changes
    assert ["username", "ci", "deploy"] in changed
    page = admin_client.get(reverse("audit_registry_changes")).content.decode()
    for text in (str(list(RegistryChange.objects.values_list("changes", flat=True))), page):
        assert SECRET not in text
    assert "deploy" in page
    assert "carol" in page


def test_a_viewer_reads_the_registry_changes_and_an_outsider_may_not(
    client: Client, viewer, outsider
) -> None:
    save_registry(name="gitlab", url="https://registry.example.com", actor="ada")
    url = reverse("audit_registry_changes")

    client.force_login(viewer)
    assert "ada" in client.get(url).content.decode()
    client.force_login(outsider)
    assert client.get(url).status_code == 403


def test_the_registry_change_log_is_append_only() -> None:
    save_registry(name="gitlab", url="https://registry.example.com", actor="ada")
    change = RegistryChange.objects.get()
    from registry.models import AuditLogIsAppendOnly

    change.changed_by_username = "mallory"
    with pytest.raises(AuditLogIsAppendOnly):
        change.save()
    with pytest.raises(AuditLogIsAppendOnly):
        change.delete()


def test_a_ca_bundle_must_be_a_readable_pem_file(tmp_path: Path) -> None:
    not_pem = tmp_path / "bundle.txt"
    not_pem.write_text("hello")
    pem = tmp_path / "ca.pem"
    pem.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")

    for bad, message in [(tmp_path / "missing.pem", "cannot be read"), (not_pem, "no PEM")]:
        with pytest.raises(ValidationError, match=message):
            save_registry(name="r", url="https://r.example.com", ca_bundle=str(bad), actor="a")
    registry, _ = save_registry(
        name="r", url="https://r.example.com", ca_bundle=str(pem), actor="a"
    )
    assert registry.ca_bundle == str(pem)
