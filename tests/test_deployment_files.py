"""The deployment files agree with each other and with the settings they feed.

Plain file checks: no database, no Docker.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("web", "worker", "beat")
# `${NAME}`, `${NAME:-default}`, `${NAME:?message}`, … but not `$${NAME}` (a literal `$`).
COMPOSE_VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")


def read(name: str) -> str:
    return (ROOT / name).read_text()


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(read("docker-compose.yml"))


def command_line(service: dict[str, Any]) -> str:
    command = service["command"]
    return command if isinstance(command, str) else " ".join(command)


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service["environment"]
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def documented_variables() -> set[str]:
    """Names set in .env.example, commented out (`# NAME=`) or not."""
    return set(re.findall(r"^#?\s*([A-Z_][A-Z0-9_]*)=", read(".env.example"), re.MULTILINE))


def test_compose_has_the_six_services(compose: dict[str, Any]) -> None:
    assert {"web", "worker", "beat", "redis", "postgres", "registry"} <= set(compose["services"])


def test_web_runs_gunicorn_on_the_wsgi_module(compose: dict[str, Any]) -> None:
    command = command_line(compose["services"]["web"])

    assert "gunicorn" in command
    assert "janitor_site.wsgi" in command
    assert "migrate" in command


@pytest.mark.parametrize(("service", "role"), [("worker", "worker"), ("beat", "beat")])
def test_worker_and_beat_run_celery_on_the_project_app(
    compose: dict[str, Any], service: str, role: str
) -> None:
    words = command_line(compose["services"][service]).split()

    assert words[0] == "celery"
    assert words[words.index("-A") + 1] == "janitor_site"
    assert role in words


def test_registry_is_distribution_2_with_deletes_enabled(compose: dict[str, Any]) -> None:
    registry = compose["services"]["registry"]

    assert registry["image"] == "registry:2"
    assert environment(registry)["REGISTRY_STORAGE_DELETE_ENABLED"] == "true"
    assert any(volume.endswith(":/var/lib/registry") for volume in registry["volumes"])


@pytest.mark.parametrize("service", APP_SERVICES)
def test_app_services_get_database_redis_and_keys(compose: dict[str, Any], service: str) -> None:
    env = environment(compose["services"][service])

    assert env["DATABASE_URL"].startswith("postgres://")
    assert "@postgres:5432/" in env["DATABASE_URL"]
    assert env["REDIS_URL"].startswith("redis://redis:6379")
    assert "SECRET_KEY" in env
    assert "CREDENTIALS_KEY" in env


@pytest.mark.parametrize("service", APP_SERVICES)
def test_app_services_wait_for_healthy_postgres_and_redis(
    compose: dict[str, Any], service: str
) -> None:
    depends_on = compose["services"][service]["depends_on"]

    assert depends_on["postgres"]["condition"] == "service_healthy"
    assert depends_on["redis"]["condition"] == "service_healthy"
    assert "healthcheck" in compose["services"]["postgres"]
    assert "healthcheck" in compose["services"]["redis"]


@pytest.mark.parametrize("name", ["SECRET_KEY", "CREDENTIALS_KEY", "POSTGRES_PASSWORD"])
def test_compose_refuses_to_start_without_secrets(name: str) -> None:
    assert f"${{{name}:?" in read("docker-compose.yml")


def test_every_compose_variable_is_documented_in_env_example() -> None:
    used = set(COMPOSE_VARIABLE.findall(read("docker-compose.yml")))

    assert used, "no ${VAR} found: the pattern or the file is broken"
    assert used - documented_variables() == set()


def test_env_example_documents_every_setting() -> None:
    settings_variables = set(
        re.findall(
            r"env_(?:str|bool|int|float|list|database)\(\s*\"([A-Z_]+)\"",
            read("janitor_site/settings.py"),
        )
    )

    assert settings_variables, "no env_<type>(...) found in settings.py"
    assert settings_variables - documented_variables() == set()


def test_compose_documents_the_garbage_collection_command() -> None:
    text = read("docker-compose.yml")

    assert (
        "docker compose exec registry registry garbage-collect /etc/docker/registry/config.yml"
        in text
    )
    assert "--delete-untagged" in text


def test_dockerfile_collects_static_files_as_a_non_root_user() -> None:
    dockerfile = read("Dockerfile")

    assert "FROM python:3.11-slim" in dockerfile
    assert "collectstatic" in dockerfile
    assert re.search(r"^USER (?!root)\S+", dockerfile, re.MULTILINE)


def test_ci_runs_make_test() -> None:
    ci = read(".ci/run")

    assert re.search(r"\bmake test\b", ci)
    assert "set -euo pipefail" in ci


def test_make_install_provides_registry_and_redis() -> None:
    makefile = read("Makefile")
    install = makefile[makefile.index("\ninstall:") :]

    assert "docker-registry" in install
    assert "redis-server" in install
