"""A real Celery worker in its own process, on a real Redis, sharing the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 30.0


def database_url_for_current_test_db() -> str:
    """DATABASE_URL of the database the tests use (test_… on PostgreSQL, a file on SQLite)."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    credentials = f"{user}{password}@" if user else ""
    return f"postgres://{credentials}{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class CeleryWorker:
    """`celery -A janitor_site worker`, started with the test database and broker."""

    def __init__(
        self, *, broker_url: str, log_path: Path, environment: dict[str, str] | None = None
    ) -> None:
        self.broker_url = broker_url
        self.log_path = log_path
        self.environment = environment or {}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> CeleryWorker:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "janitor_site.settings",
            "DEBUG": "1",
            "REDIS_URL": self.broker_url,
            "DATABASE_URL": database_url_for_current_test_db(),
            **self.environment,
        }
        command = [
            sys.executable, "-m", "celery", "-A", "janitor_site", "worker",
            "--pool=solo", "--concurrency=1", "--loglevel=INFO",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        self._wait_until_ready()
        return self

    def kill(self) -> None:
        """SIGKILL, as when the machine or the OOM killer takes the worker mid-task."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"The Celery worker exited:\n{self.log()[-3000:]}")
            if " ready." in self.log():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"The Celery worker did not get ready:\n{self.log()[-3000:]}")


class CeleryBeat(CeleryWorker):
    """`celery -A janitor_site beat`, with its schedule file beside its log."""

    def start(self) -> CeleryBeat:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "janitor_site.settings",
            "DEBUG": "1",
            "REDIS_URL": self.broker_url,
            "DATABASE_URL": database_url_for_current_test_db(),
            **self.environment,
        }
        schedule = self.log_path.with_suffix(".schedule")
        command = [
            sys.executable, "-m", "celery", "-A", "janitor_site", "beat",
            "--loglevel=INFO", "--schedule", str(schedule),
        ]  # fmt: skip
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        self._wait_until_logged("beat: Starting")
        return self

    def _wait_until_logged(self, text: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"Celery beat exited:\n{self.log()[-3000:]}")
            if text in self.log():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Celery beat did not start:\n{self.log()[-3000:]}")
