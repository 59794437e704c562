"""The deployment files agree with each other, with the settings they feed and with the locks.

Plain file checks: no database, no Docker (the last test runs the image's files as a
Python process of their own).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

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


def test_web_runs_gunicorn_on_the_wsgi_module_after_the_migrations(
    compose: dict[str, Any],
) -> None:
    command = command_line(compose["services"]["web"])

    assert "gunicorn" in command
    assert "janitor_site.wsgi" in command
    depends_on = compose["services"]["web"]["depends_on"]
    assert depends_on["migrate"]["condition"] == "service_completed_successfully"
    assert "manage.py migrate" in command_line(compose["services"]["migrate"])


def test_only_the_migrations_connect_as_the_owner_of_the_tables(compose: dict[str, Any]) -> None:
    def database_user(service: str) -> str:
        url = environment(compose["services"][service])["DATABASE_URL"]
        return url.removeprefix("postgres://").split(":", 1)[0]

    assert database_user("migrate") == "janitor"
    for service in APP_SERVICES:
        assert database_user(service) == "janitor_app"
    postgres = compose["services"]["postgres"]
    assert environment(postgres)["POSTGRES_USER"] == "postgres"
    assert any("roles.sql" in volume for volume in postgres["volumes"])


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


# The locks and what ships -----------------------------------------------------------------


def pins(lock: str) -> dict[str, str]:
    """`name==version` lines of a pip-compile lock, by normalised name."""
    found = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", read(lock), re.MULTILINE)
    return {canonicalize_name(name): version for name, version in found}


def pyproject() -> dict[str, Any]:
    return tomllib.loads(read("pyproject.toml"))


@pytest.mark.parametrize(
    ("lock", "groups"), [("requirements.txt", []), ("requirements-dev.txt", ["test", "dev"])]
)
def test_each_lock_pins_every_dependency_within_its_range(lock: str, groups: list[str]) -> None:
    project = pyproject()["project"]
    wanted = [Requirement(line) for line in project["dependencies"]]
    wanted += [
        Requirement(line) for group in groups for line in project["optional-dependencies"][group]
    ]
    pinned = pins(lock)

    unlocked = [str(r) for r in wanted if canonicalize_name(r.name) not in pinned]
    out_of_range = [
        f"{r} (locked {pinned[canonicalize_name(r.name)]})"
        for r in wanted
        if canonicalize_name(r.name) in pinned
        and not r.specifier.contains(pinned[canonicalize_name(r.name)], prereleases=True)
    ]
    assert unlocked == [], f"run `make lock`: {lock} lacks these"
    assert out_of_range == [], f"run `make lock`: {lock} is outside pyproject.toml"


def test_the_dev_lock_pins_the_app_at_the_versions_of_the_app_lock() -> None:
    app, dev = pins("requirements.txt"), pins("requirements-dev.txt")

    assert {name: dev.get(name) for name in app} == app


def test_the_locks_name_no_index_of_this_machine() -> None:
    for lock in ("requirements.txt", "requirements-dev.txt"):
        text = read(lock)
        assert "--index-url" not in text
        assert "--extra-index-url" not in text
        assert "--find-links" not in text


def test_django_celery_kombu_are_capped_and_redis_comes_with_kombu() -> None:
    dependencies: dict[str, Requirement] = {
        canonicalize_name(r.name): r
        for r in map(Requirement, pyproject()["project"]["dependencies"])
    }

    for name, next_major in [("django", "5.3"), ("celery", "6"), ("kombu", "6")]:
        assert not dependencies[name].specifier.contains(next_major), name
    assert "redis" in dependencies["celery"].extras
    assert "redis" not in dependencies, "celery[redis] brings it"
    assert "redis" in pins("requirements.txt")


def test_make_install_installs_the_dev_lock_and_reinstalls_when_it_changes() -> None:
    makefile = read("Makefile")
    stamp_rule = re.search(r"^\$\(INSTALL_STAMP\):(.*)$", makefile, re.MULTILINE)

    assert stamp_rule is not None
    for prerequisite in ("pyproject.toml", "$(APP_LOCK)", "$(DEV_LOCK)"):
        assert prerequisite in stamp_rule.group(1)
    assert "DEV_LOCK := requirements-dev.txt" in makefile
    assert "pip install --disable-pip-version-check -r $(DEV_LOCK)" in makefile


def test_the_image_installs_the_app_lock_and_leaves_the_kits_out() -> None:
    dockerfile = read("Dockerfile")
    copied = re.findall(r"^COPY (.+?) \S+$", dockerfile, re.MULTILINE)

    assert "RUN pip install -r requirements.txt" in dockerfile
    assert "RUN pip install --no-deps ." in dockerfile
    assert not [c for c in copied if re.search(r"\b(devtools|bench|tests)\b", c)], copied
    assert pyproject()["tool"]["setuptools"]["packages"]["find"]["include"] == [
        "janitor_site*",
        "registry*",
    ]


def test_the_files_the_image_ships_run_without_devtools(tmp_path: Path) -> None:
    """What the Dockerfile copies, alone: settings load, `demo` and `seed_demo_registry`
    do not exist, and nothing imports the kit."""
    for line in re.findall(r"^COPY (.+)$", read("Dockerfile"), re.MULTILINE):
        *sources, _ = line.split()
        for source in sources:
            if (ROOT / source).is_dir():
                shutil.copytree(ROOT / source, tmp_path / source)
            else:
                shutil.copy(ROOT / source, tmp_path / source)
    assert not (tmp_path / "devtools").exists()
    env = {key: value for key, value in os.environ.items() if key in ("PATH", "HOME", "LANG")}
    env.update(
        DJANGO_SETTINGS_MODULE="janitor_site.settings",
        DEBUG="0",
        SECRET_KEY="x",
        CREDENTIALS_KEY="y",
        REDIS_URL="redis://redis.invalid:6379/0",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        PYTHONPATH=str(tmp_path),
    )

    listed = subprocess.run(
        [sys.executable, "manage.py", "help", "--commands"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert listed.returncode == 0, listed.stderr
    commands = listed.stdout.split()
    assert {"sync_registry", "cleanup", "add_registry"} <= set(commands)
    assert "demo" not in commands
    assert "seed_demo_registry" not in commands


def test_pre_commit_runs_ruff_check_and_format_from_the_locked_venv() -> None:
    config = yaml.safe_load(read(".pre-commit-config.yaml"))
    entries = [hook["entry"] for repo in config["repos"] for hook in repo["hooks"]]

    assert any(entry.startswith(".venv/bin/ruff check") for entry in entries)
    assert any(entry.startswith(".venv/bin/ruff format") for entry in entries)


# The production environment README's "Production" section documents, behind a TLS proxy.
PRODUCTION_ENVIRONMENT = {
    "DEBUG": "0",
    "SECRET_KEY": "k3Z9-" + "x7Qp2" * 10,
    "CREDENTIALS_KEY": "ZmVybmV0LWtleS1mb3ItdGhlLWRlcGxveS1jaGVjay0hIQ==",
    "REDIS_URL": "redis://redis:6379/0",
    "ALLOWED_HOSTS": "janitor.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://janitor.example.com",
    "BEHIND_TLS_PROXY": "1",
    "SECURE_SSL_REDIRECT": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
}


def test_check_deploy_passes_with_the_documented_production_environment(tmp_path) -> None:
    import os
    import subprocess
    import sys

    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DEBUG", "DATABASE_URL"))
    }
    env.update(PRODUCTION_ENVIRONMENT, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    readme = read("README.md")
    for key in PRODUCTION_ENVIRONMENT.keys() - {"SECRET_KEY", "CREDENTIALS_KEY", "DEBUG"}:
        assert key in readme, f"README's Production section names {key}"
