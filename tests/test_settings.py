"""The settings' environment readers: good values read, bad values stop with the name.

The readers are called directly; the last tests load the real settings module in a
fresh interpreter, as the web server, the worker and `manage.py` do.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from janitor_site.settings import (
    env_bool,
    env_database,
    env_float,
    env_int,
    env_list,
    env_str,
)

ROOT = Path(__file__).resolve().parent.parent
NAME = "JANITOR_TEST_VARIABLE"


@pytest.fixture
def variable(monkeypatch: pytest.MonkeyPatch):
    """Sets NAME for the test: `variable("1")`."""

    def set_to(value: str) -> None:
        monkeypatch.setenv(NAME, value)

    monkeypatch.delenv(NAME, raising=False)
    return set_to


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", True),
        ("true", True),
        ("True", True),
        ("YES", True),
        ("on", True),
        ("0", False),
        ("false", False),
        ("No", False),
        ("off", False),
        (" true ", True),
    ],
)
def test_env_bool_reads_the_usual_spellings(variable, value: str, expected: bool) -> None:
    variable(value)

    assert env_bool(NAME, default=not expected) is expected


@pytest.mark.parametrize("value", ["ture", "2", "y", "enabled", "-1"])
def test_env_bool_refuses_anything_else_and_names_the_variable(variable, value: str) -> None:
    variable(value)

    with pytest.raises(ImproperlyConfigured, match=rf"^{NAME}={value!r} is not a boolean"):
        env_bool(NAME, default=False)


def test_unset_or_empty_variables_take_the_default(variable) -> None:
    assert env_bool(NAME, default=True) is True
    assert env_int(NAME, default=7) == 7
    assert env_float(NAME, default=1.5) == 1.5
    assert env_str(NAME, default="x") == "x"
    assert env_list(NAME, default=["a"]) == ["a"]

    variable("  ")

    assert env_bool(NAME, default=True) is True
    assert env_int(NAME, default=7) == 7
    assert env_list(NAME, default=["a"]) == ["a"]


def test_env_int_reads_whole_numbers(variable) -> None:
    variable(" 42 ")

    assert env_int(NAME, default=0) == 42


@pytest.mark.parametrize("value", ["ten", "1.5", "1e3", "0x10", "30s"])
def test_env_int_refuses_what_is_not_a_whole_number(variable, value: str) -> None:
    variable(value)

    with pytest.raises(ImproperlyConfigured, match=rf"^{NAME}={value!r} is not a whole number"):
        env_int(NAME, default=0)


def test_env_int_refuses_a_number_below_its_minimum(variable) -> None:
    variable("0")

    with pytest.raises(ImproperlyConfigured, match=rf"^{NAME}='0' is below its minimum of 1"):
        env_int(NAME, default=8, minimum=1)


def test_env_float_reads_numbers(variable) -> None:
    variable("2.5")
    assert env_float(NAME, default=0.0) == 2.5

    variable("3")
    assert env_float(NAME, default=0.0) == 3.0


@pytest.mark.parametrize(("value", "problem"), [("fast", "is not a number"), ("nan", "below")])
def test_env_float_refuses_what_is_not_a_usable_number(variable, value: str, problem: str) -> None:
    variable(value)

    with pytest.raises(ImproperlyConfigured, match=rf"^{NAME}={value!r} .*{problem}"):
        env_float(NAME, default=1.0, minimum=0.1)


def test_env_list_splits_on_commas_and_drops_blanks(variable) -> None:
    variable(" janitor.example.com, ,localhost ")

    assert env_list(NAME, default=[]) == ["janitor.example.com", "localhost"]


def test_env_database_reads_sqlite_and_postgres_urls(variable) -> None:
    sqlite = env_database(NAME, default="sqlite:////tmp/janitor.sqlite3")

    assert (sqlite["ENGINE"], sqlite["NAME"]) == (
        "django.db.backends.sqlite3",
        "/tmp/janitor.sqlite3",
    )

    variable("postgres://janitor:secret@db.example.com:5433/janitor")
    config = env_database(NAME, default="")

    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["USER"], config["PASSWORD"], config["HOST"]) == (
        "janitor",
        "secret",
        "db.example.com",
    )
    assert (config["PORT"], config["NAME"]) == (5433, "janitor")


@pytest.mark.parametrize(
    "value",
    [
        "janitor.sqlite3",  # a path, not a URL
        "mysql://root@127.0.0.1/janitor",  # not a database the project runs on
        "postgres://janitor@db:port/janitor",
        "postgres://janitor@db:5432/",  # no database name
    ],
)
def test_env_database_refuses_other_urls_and_names_the_variable(variable, value: str) -> None:
    variable(value)

    with pytest.raises(ImproperlyConfigured, match=rf"^{NAME} "):
        env_database(NAME, default="")


def load_settings(**environment: str) -> subprocess.CompletedProcess[str]:
    """Import janitor_site.settings in a fresh interpreter with only these variables set
    (and no .env file: the checkout's own must not decide the outcome)."""
    env = {key: value for key, value in os.environ.items() if key in ("PATH", "HOME", "LANG")}
    code = (
        "import environ; environ.Env.read_env = staticmethod(lambda *a, **k: None)\n"
        "import janitor_site.settings as s; print(s.DEBUG, s.CELERY_TASK_ALWAYS_EAGER, s.REDIS_URL)"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, **environment},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_misspelt_debug_stops_the_settings_with_its_name() -> None:
    loaded = load_settings(DEBUG="ture", SECRET_KEY="x", CREDENTIALS_KEY="y", REDIS_URL="redis://r")

    assert loaded.returncode != 0
    assert "ImproperlyConfigured: DEBUG='ture' is not a boolean" in loaded.stderr


def test_a_malformed_number_stops_the_settings_with_its_name() -> None:
    loaded = load_settings(DEBUG="1", REGISTRY_CONCURRENCY="eight")

    assert loaded.returncode != 0
    assert "REGISTRY_CONCURRENCY='eight' is not a whole number" in loaded.stderr


def test_production_needs_a_redis_url_and_never_runs_tasks_in_process() -> None:
    keys = {"DEBUG": "0", "SECRET_KEY": "x", "CREDENTIALS_KEY": "y"}

    missing = load_settings(**keys)
    given = load_settings(**keys, REDIS_URL="redis://redis:6379/0")

    assert missing.returncode != 0
    assert "REDIS_URL must be set when DEBUG is off" in missing.stderr
    assert given.returncode == 0, given.stderr
    assert given.stdout.split() == ["False", "False", "redis://redis:6379/0"]


def test_development_defaults_to_a_local_redis_and_a_worker() -> None:
    loaded = load_settings(DEBUG="1")

    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split() == ["True", "False", "redis://127.0.0.1:6379/0"]
