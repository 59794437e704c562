from __future__ import annotations

import pytest
from django.test import override_settings

from registry.models import Registry
from registry.secrets import CredentialsKeyMismatch


@pytest.mark.django_db
def test_registry_passwords_are_stored_encrypted() -> None:
    registry = Registry(name="gitlab", url="https://registry.example.com", username="ci")
    registry.set_password("glpat-very-secret")
    registry.save()

    stored = Registry.objects.values_list("password_encrypted", flat=True).get()
    assert "glpat-very-secret" not in stored
    assert Registry.objects.get().password == "glpat-very-secret"


@pytest.mark.django_db
def test_a_changed_credentials_key_says_so_instead_of_returning_garbage() -> None:
    registry = Registry(name="gitlab", url="https://registry.example.com")
    registry.set_password("secret")
    registry.save()
    other_key = "x" * 43 + "="
    with override_settings(CREDENTIALS_KEY=other_key), pytest.raises(CredentialsKeyMismatch):
        _ = Registry.objects.get().password
