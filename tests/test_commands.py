"""The command line that scripts and CI pipelines use."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command

from devtools.image_builder import push_image, retag
from registry.models import Registry
from registry.registries import save_registry

pytestmark = pytest.mark.django_db

JAN = datetime(2026, 1, 5, 8, 30, tzinfo=UTC)


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def synced(local_registry, registry_client):
    image = push_image(registry_client, "acme/web", "latest", created=JAN)
    retag(registry_client, "acme/web", "latest", "master")
    save_registry(name="local", url=local_registry.url)
    run("sync_registry", "local")
    return image


def test_add_registry_reads_the_password_from_stdin_and_stores_it_encrypted(
    basic_auth_registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(basic_auth_registry.password + "\n"))

    output = run(
        "add_registry",
        "gitlab",
        basic_auth_registry.url,
        "--username",
        basic_auth_registry.username,
        "--password-stdin",
        "--repository",
        "group/project",
    )

    assert "Added registry gitlab." in output
    assert "answers the registry API" in output
    registry = Registry.objects.get(name="gitlab")
    assert registry.password == basic_auth_registry.password
    assert basic_auth_registry.password not in registry.password_encrypted
    assert registry.repositories == ["group/project"]


def test_add_registry_refuses_a_url_that_is_not_one() -> None:
    with pytest.raises(CommandError, match="is not a registry URL"):
        run("add_registry", "bad", "registry.example.com")


def test_sync_registry_prints_a_summary(local_registry, registry_client) -> None:
    push_image(registry_client, "acme/web", "v1", created=JAN)
    save_registry(name="local", url=local_registry.url)

    output = run("sync_registry", "local")

    assert output.startswith("local: succeeded in")
    assert "tags +1 ~0 -0, repositories +1 -0" in output


def test_sync_registry_exits_non_zero_when_the_registry_is_down(local_registry) -> None:
    save_registry(name="local", url=local_registry.url)
    local_registry.stop()

    with pytest.raises(CommandError, match="did not fully succeed"):
        run("sync_registry", "local")


def test_sync_registry_names_an_unknown_registry() -> None:
    with pytest.raises(CommandError, match="No registry named 'nope'"):
        run("sync_registry", "nope")


def test_list_tags_as_json_has_the_fields_scripts_need(synced) -> None:
    rows = json.loads(run("list_tags", "--format", "json"))

    assert rows == [
        {
            "registry": "local",
            "repository": "acme/web",
            "tag": tag,
            "digest": synced.digest,
            "media_type": "application/vnd.docker.distribution.manifest.v2+json",
            "size": synced.size,
            "created": "2026-01-05T08:30:00Z",
            "platforms": ["linux/amd64"],
            "first_seen": rows[0]["first_seen"],
            "last_pulled": None,  # no notifications here: see test_events_commands.py
            "stale": False,
            "stale_reason": f"protected: matches ^{tag}$",
            "protected": True,
        }
        for tag in ("latest", "master")
    ]


def test_list_tags_as_csv_and_table(synced) -> None:
    rows = list(csv.DictReader(io.StringIO(run("list_tags", "--format", "csv"))))
    assert [(row["tag"], row["digest"], row["size"]) for row in rows] == [
        ("latest", synced.digest, str(synced.size)),
        ("master", synced.digest, str(synced.size)),
    ]

    table = run("list_tags", "--repository", "acme/web")
    assert "local/acme/web:latest" in table
    assert synced.digest[:19] in table


def test_list_tags_filters_by_registry(synced) -> None:
    assert json.loads(run("list_tags", "--registry", "other", "--format", "json")) == []


def test_add_registry_refuses_credentials_inside_the_url() -> None:
    with pytest.raises(CommandError, match="not in the URL"):
        run("add_registry", "leaky", "https://bot:secret@registry.example.com")
    assert not Registry.objects.exists()
