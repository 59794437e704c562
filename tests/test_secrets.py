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


def test_a_sync_with_a_changed_credentials_key_fails_and_says_which_setting(
    cached_registry,
) -> None:
    from registry.models import SyncRun
    from registry.secrets import CREDENTIALS_KEY_MISMATCH_MESSAGE
    from registry.sync import sync_registry

    cached_registry.set_password("secret")
    cached_registry.save()

    with override_settings(CREDENTIALS_KEY="x" * 43 + "="):
        run = sync_registry(registry=cached_registry)

    assert (run.status, run.error) == (SyncRun.Status.FAILED, CREDENTIALS_KEY_MISMATCH_MESSAGE)
    assert "CREDENTIALS_KEY" in run.error
    assert SyncRun.objects.get().finished_at is not None, "closed, not left running"
    cached_registry.refresh_from_db()
    assert cached_registry.sync_lock_token is None, "the lock is released"


def test_a_deletion_with_a_changed_credentials_key_stops_and_says_which_setting(
    cached_registry, janitor
) -> None:
    from registry.deletion.batches import confirm_batch
    from registry.deletion.run import execute_batch
    from registry.models import DeletionBatch, DeletionItem

    cached_registry.set_password("secret")
    cached_registry.save()
    batch = DeletionBatch.objects.create(
        registry=cached_registry, registry_name="local", planned_by_username="jan", tags_planned=1
    )
    DeletionItem.objects.create(
        batch=batch, position=1, repository_name="acme/web", tag="review-1",
        digest="sha256:" + "a" * 64, action="delete",
    )  # fmt: skip
    confirm_batch(batch=batch, actor=janitor, reason="cleanup")

    with override_settings(CREDENTIALS_KEY="x" * 43 + "="):
        batch = execute_batch(batch=batch)

    assert batch.status == DeletionBatch.Status.FAILED
    assert "CREDENTIALS_KEY" in batch.error
    assert batch.items.get().outcome == DeletionItem.Outcome.NOT_ATTEMPTED
