"""`manage.py cleanup`: the command-line twin of the deletion pages, against a real registry.

Every test that deletes reads the registry afterwards: what the command prints
must be what the registry holds.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from devtools.image_builder import push_image, retag
from registry.client import RegistryClient, errors
from registry.deletion.batches import GC_COMMAND, REASON_REQUIRED_MESSAGE
from registry.deletion.cleanup_selection import invalid_regex_message
from registry.deletion.garbage import GC_BINARY_COMMAND, GC_BINARY_EXPLANATION
from registry.management.commands.cleanup import (
    NOTHING_MATCHES_MESSAGE,
    actor_not_allowed_message,
    apply_command,
    no_login_user_message,
    unknown_actor_message,
)
from registry.models import DeletionBatch, DeletionItem, Manifest, StalenessRules
from registry.sync import sync_registry

JAN = datetime(2026, 1, 5, tzinfo=UTC)
Outcome = DeletionItem.Outcome


def cleanup(*args: str, actor: str | None = "jan-janitor") -> str:
    """Run the command as a janitor (by default) and return what it printed."""
    out = io.StringIO()
    options = ["--actor", actor] if actor else []
    call_command("cleanup", "--registry", "local", *args, *options, stdout=out, stderr=out)
    return out.getvalue()


def planned_batch_id(output: str) -> int:
    match = re.search(r"--apply (\d+)", output)
    assert match, output
    return int(match.group(1))


def tags_in_registry(client: RegistryClient, repository: str = "acme/web") -> set[str]:
    try:
        return set(client.list_tags(repository))
    except errors.NotFound:
        return set()


def sync(registry) -> None:
    run = sync_registry(registry=registry)
    assert run.status == "succeeded", run.error


def days_ago(days: int) -> datetime:
    return timezone.now() - timedelta(days=days)


@pytest.fixture
def no_protection(cached_registry):
    """Rules that protect nothing, so the command may delete `latest`."""
    StalenessRules.objects.create(registry=cached_registry, protected_patterns=[])
    return cached_registry


@pytest.fixture
def reviews(no_protection, registry_client, janitor):
    """acme/web: review-1..review-4 (38.5 to 35.5 days old) and latest (2 days), synced."""
    for n in range(1, 5):
        created = days_ago(40 - n) + timedelta(hours=12)  # 39.5 - n days old
        push_image(registry_client, "acme/web", f"review-{n}", created=created)
    push_image(registry_client, "acme/web", "latest", created=days_ago(2), label="latest")
    sync(no_protection)
    return no_protection


# -- planning ---------------------------------------------------------------------------


def test_plan_prints_the_table_and_how_to_apply_and_deletes_nothing(
    reviews, registry_client
) -> None:
    output = cleanup("--plan", "--tag", "^review-", "--reason", "stale review images")

    batch = DeletionBatch.objects.get()
    assert batch.status == DeletionBatch.Status.PLANNED
    assert "REPOSITORY  TAG" in output
    for n in range(1, 5):
        item = batch.items.get(tag=f"review-{n}")
        line = next(line for line in output.splitlines() if f" review-{n} " in line)
        assert line.startswith("acme/web")
        assert item.short_digest in line
        assert f"{39 - n} days" in line
        assert "Delete manifest" in line
    assert "4 tags: 4 deleted (4 digests), 0 untag only, 0 refused." in output
    assert "Size of the images deleted:" in output
    assert "Space garbage collection would free:" in output
    assert f"Batch {batch.pk} is planned; nothing has been deleted." in output
    assert (
        apply_command(registry="local", batch_id=batch.pk, reason="stale review images") in output
    )
    assert "--reason 'stale review images'" in output
    assert tags_in_registry(registry_client) == {
        "review-1",
        "review-2",
        "review-3",
        "review-4",
        "latest",
    }


def test_plan_shows_untag_only_and_refusals_with_their_reasons(
    cached_registry, registry_client, janitor
) -> None:
    push_image(registry_client, "acme/web", "review-1", created=JAN)
    retag(registry_client, "acme/web", "review-1", "production")
    push_image(registry_client, "acme/web", "review-2", created=JAN, label="two")
    retag(registry_client, "acme/web", "review-2", "candidate")
    push_image(registry_client, "acme/web", "review-3", created=JAN, label="three")
    sync(cached_registry)

    output = cleanup("--plan", "--tag", "^review-", "--reason", "cleanup")

    refused = next(line for line in output.splitlines() if " review-1 " in line)
    assert "Refused" in refused
    assert "protected tag production" in refused
    untagged = next(line for line in output.splitlines() if " review-2 " in line)
    assert "Untag only" in untagged
    assert "Also tagged candidate" in untagged
    assert "3 tags: 1 deleted (1 digest), 1 untag only, 1 refused." in output


def test_nothing_matching_says_so_and_plans_no_batch(reviews) -> None:
    output = cleanup("--plan", "--tag", "^nightly-", "--reason", "cleanup")

    assert NOTHING_MATCHES_MESSAGE in output
    assert not DeletionBatch.objects.exists()


def test_a_plan_where_every_tag_is_refused_is_discarded(
    cached_registry, registry_client, janitor
) -> None:
    push_image(registry_client, "acme/web", "latest", created=JAN)
    sync(cached_registry)

    output = cleanup("--plan", "--tag", "latest", "--reason", "cleanup")

    assert "Every tag is refused: nothing to delete." in output
    assert DeletionBatch.objects.get().status == DeletionBatch.Status.DISCARDED
    assert "--apply" not in output
    assert tags_in_registry(registry_client) == {"latest"}


# -- applying ---------------------------------------------------------------------------


def test_apply_deletes_the_planned_tags_and_records_the_command_line_and_the_actor(
    reviews, registry_client, janitor
) -> None:
    batch_id = planned_batch_id(cleanup("--plan", "--tag", "^review-[12]$", "--reason", "old"))

    output = cleanup("--apply", str(batch_id), "--reason", "stale review images")

    assert tags_in_registry(registry_client) == {"review-3", "review-4", "latest"}
    batch = DeletionBatch.objects.get(pk=batch_id)
    assert batch.status == DeletionBatch.Status.SUCCEEDED
    assert batch.source == DeletionBatch.Source.CLI
    assert batch.planned_by == janitor
    assert (batch.planned_by_username, batch.confirmed_by_username) == (
        "jan-janitor",
        "jan-janitor",
    )
    assert batch.reason == "stale review images"
    for tag in ("review-1", "review-2"):
        line = next(line for line in output.splitlines() if f" {tag} " in line)
        assert line.split()[-1] == "Deleted"
    assert f"Batch {batch_id}: succeeded. 2 deleted, 0 untagged" in output
    assert "0 failed, 0 not attempted" in output
    # A registry run as a binary (not this repository's compose service): its own command.
    assert GC_BINARY_EXPLANATION in output
    assert f"  {GC_BINARY_COMMAND}" in output
    assert GC_COMMAND not in output
    assert "--delete-untagged" in output


def test_applying_a_batch_twice_refuses_the_second_time(reviews, registry_client) -> None:
    batch_id = planned_batch_id(cleanup("--plan", "--tag", "^review-1$", "--reason", "old"))
    cleanup("--apply", str(batch_id), "--reason", "old")
    push_image(registry_client, "acme/web", "review-1", created=JAN, label="pushed again")

    with pytest.raises(CommandError, match=f"Batch {batch_id} was not applied") as refused:
        cleanup("--apply", str(batch_id), "--reason", "old")

    assert "status: succeeded" in str(refused.value)
    assert "no longer a plan" in str(refused.value)
    assert "review-1" in tags_in_registry(registry_client), "nothing was sent the second time"


def test_apply_names_a_batch_that_is_not_of_this_registry(reviews) -> None:
    with pytest.raises(CommandError, match="No deletion batch 999 on registry 'local'"):
        cleanup("--apply", "999", "--reason", "old")


def test_apply_refuses_filters(reviews) -> None:
    batch_id = planned_batch_id(cleanup("--plan", "--tag", "^review-1$", "--reason", "old"))

    with pytest.raises(CommandError, match="exactly as it was planned"):
        cleanup("--apply", str(batch_id), "--tag", "review", "--reason", "old")


def test_yes_plans_and_applies_at_once(reviews, registry_client) -> None:
    output = cleanup("--yes", "--tag", "^review-", "--reason", "stale review images")

    assert "Delete manifest" in output, "the plan is printed first"
    assert "succeeded. 4 deleted" in output
    assert tags_in_registry(registry_client) == {"latest"}
    batch = DeletionBatch.objects.get()
    assert (batch.status, batch.source) == (DeletionBatch.Status.SUCCEEDED, "cli")


def test_a_registry_with_deletion_disabled_exits_non_zero(db, tmp_path, janitor) -> None:
    from devtools.local_registry import start_local_registry
    from registry.registries import save_registry

    local = start_local_registry(root_dir=tmp_path / "x", delete_enabled=False)
    try:
        with RegistryClient(local.url) as client:
            for n in range(2):
                push_image(client, "acme/web", f"review-{n}", created=JAN)
        registry, _ = save_registry(name="local", url=local.url)
        StalenessRules.objects.create(registry=registry, protected_patterns=[])
        sync(registry)

        with pytest.raises(CommandError, match="did not fully succeed: stopped"):
            cleanup("--yes", "--reason", "cleanup")

        batch = DeletionBatch.objects.get()
        assert batch.status == DeletionBatch.Status.FAILED
        assert sorted(batch.items.values_list("outcome", flat=True)) == [
            Outcome.FAILED,
            Outcome.NOT_ATTEMPTED,
        ]
        with RegistryClient(local.url) as client:
            assert tags_in_registry(client) == {"review-0", "review-1"}
    finally:
        local.stop()


# -- filters ----------------------------------------------------------------------------


def test_keep_last_keeps_the_newest_tags_of_each_repository(reviews, registry_client) -> None:
    for n in range(1, 4):
        push_image(registry_client, "acme/api", f"build-{n}", created=days_ago(30 - n))
    sync(reviews)

    cleanup("--yes", "--tag", "^(review|build)-", "--keep-last", "2", "--reason", "old")

    assert tags_in_registry(registry_client) == {"review-3", "review-4", "latest"}
    assert tags_in_registry(registry_client, "acme/api") == {"build-2", "build-3"}


def test_keep_last_applies_after_the_other_filters(reviews, registry_client) -> None:
    output = cleanup(
        "--yes", "--tag", "^review-", "--older-than", "37", "--keep-last", "1", "--reason", "old"
    )

    # Older than 37 days: review-1 (38.5) and review-2 (37.5); the newer of them stays.
    assert tags_in_registry(registry_client) == {"review-2", "review-3", "review-4", "latest"}
    assert "1 kept as the newest 1 of their repository" in output


def test_older_than_counts_from_the_created_date_and_never_an_unknown_one(
    reviews, registry_client
) -> None:
    Manifest.objects.filter(tags__name="review-1").update(created=None)

    cleanup("--yes", "--older-than", "37", "--reason", "old")

    assert tags_in_registry(registry_client) == {"review-1", "review-3", "review-4", "latest"}


def test_tag_and_repository_are_regular_expressions_searched_in_the_name(
    reviews, registry_client
) -> None:
    push_image(registry_client, "acme/api", "review-1", created=JAN)
    sync(reviews)

    cleanup("--yes", "--repository", "web$", "--tag=-[13]$", "--reason", "old")

    assert tags_in_registry(registry_client) == {"review-2", "review-4", "latest"}
    assert tags_in_registry(registry_client, "acme/api") == {"review-1"}


def test_stale_keeps_only_what_the_rules_call_stale(
    cached_registry, registry_client, janitor
) -> None:
    StalenessRules.objects.create(registry=cached_registry, protected_patterns=[], max_age_days=30)
    push_image(registry_client, "acme/web", "old", created=days_ago(60))
    push_image(registry_client, "acme/web", "young", created=days_ago(5), label="young")
    sync(cached_registry)

    cleanup("--yes", "--stale", "--reason", "stale")

    assert tags_in_registry(registry_client) == {"young"}


def test_an_invalid_regular_expression_is_an_error(reviews) -> None:
    with pytest.raises(CommandError) as error:
        cleanup("--plan", "--tag", "review-(", "--reason", "old")

    assert str(error.value).startswith(invalid_regex_message("--tag", "missing )")[:-1])
    assert not DeletionBatch.objects.exists()


# -- who, and why -------------------------------------------------------------------------


def test_an_unknown_actor_is_an_error(reviews) -> None:
    with pytest.raises(CommandError, match=re.escape(unknown_actor_message("nobody"))):
        cleanup("--plan", "--reason", "old", actor="nobody")


def test_an_actor_without_the_delete_permission_is_an_error(reviews, viewer) -> None:
    with pytest.raises(CommandError) as error:
        cleanup("--plan", "--reason", "old", actor=viewer.username)

    assert str(error.value) == actor_not_allowed_message(viewer.username)
    assert "Janitors" in str(error.value)
    assert not DeletionBatch.objects.exists()


def test_the_actor_defaults_to_the_login_name(
    reviews, janitor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("getpass.getuser", lambda: "jan-janitor")

    cleanup("--plan", "--tag", "^review-1$", "--reason", "old", actor=None)

    assert DeletionBatch.objects.get().planned_by_username == "jan-janitor"


def test_a_login_name_that_is_no_user_asks_for_actor(
    reviews, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("getpass.getuser", lambda: "root")

    with pytest.raises(CommandError, match=re.escape(no_login_user_message("root"))):
        cleanup("--plan", "--reason", "old", actor=None)


def test_a_blank_reason_is_an_error(reviews) -> None:
    with pytest.raises(CommandError, match=re.escape(REASON_REQUIRED_MESSAGE)):
        cleanup("--plan", "--reason", "  ")


def test_an_unknown_registry_is_an_error(db, janitor) -> None:
    with pytest.raises(CommandError, match="No registry named 'local'"):
        cleanup("--plan", "--reason", "old")


def test_help_says_to_sync_first() -> None:
    from registry.management.commands.cleanup import Command

    assert "sync_registry" in Command.help
