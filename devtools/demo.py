"""What `make demo` runs: a registry, Redis, a Celery worker, Celery beat and the web server.

Each is a child process of the `demo` command, in a session of its own
(devtools.processes), and `DemoStack` stops them all, newest first, however the
command ends: Ctrl-C, SIGTERM or an exception.

The demo acts only on processes it started itself: every port it is told to use must
be free before anything starts (`busy_ports`), and the registry and Redis count as
started only when they prove to be the processes started here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from django.conf import settings

from devtools.demo_gitlab import PREFIX
from devtools.gitlab_standin import StandInGitLab
from devtools.local_registry import LocalRegistry, start_local_registry
from devtools.processes import own_session_dying_with_parent, port_is_free, stop_process
from devtools.redis_server import RedisServer

HOST = "127.0.0.1"
READY_TIMEOUT = 60.0
LOG_TAIL_CHARS = 3000


class DemoError(RuntimeError):
    """The demo cannot start or a part of it stopped; the message says which and why."""


@dataclass(frozen=True)
class DemoPorts:
    registry: int
    redis: int  # 0: any free port
    web_host: str
    web_port: int

    @property
    def web_url(self) -> str:
        return f"http://{self.web_host}:{self.web_port}/"


def parse_addrport(addrport: str) -> tuple[str, int]:
    """`127.0.0.1:8000` or `8000` (on 127.0.0.1), as runserver takes it."""
    host, _, port = addrport.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise DemoError(f"{addrport!r} is not HOST:PORT, such as 127.0.0.1:8000.") from None
    return host or HOST, number


def busy_ports(ports: DemoPorts, *, serve: bool) -> list[str]:
    """One sentence per port the demo was told to use that something already listens on."""
    wanted = [(HOST, ports.registry, "registry", "--registry-port")]
    if serve:
        if ports.redis:
            wanted.append((HOST, ports.redis, "Redis", "--redis-port"))
        wanted.append((ports.web_host, ports.web_port, "web server", "--addrport"))
    return [
        f"{host}:{port} (the demo's {what}) is already in use, perhaps by another demo; "
        f"stop that, or choose another port with {option}."
        for host, port, what, option in wanted
        if not port_is_free(host, port)
    ]


@dataclass(eq=False)
class Child:
    """A Django or Celery process of the demo, with its output in a log file (or inherited)."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path | None

    def log_tail(self) -> str:
        if self.log_path is None:
            return "(its output went to the terminal)"
        try:
            return self.log_path.read_text(errors="replace")[-LOG_TAIL_CHARS:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        stop_process(self.process, own_session=True)


@dataclass(eq=False)
class DemoStack:
    """The demo's processes. Use as a context manager: leaving it stops every one."""

    workdir: Path
    ports: DemoPorts
    registry: LocalRegistry | None = None
    redis: RedisServer | None = None
    # A thread of the demo's own process, not a child: the stand-in GitLab API.
    gitlab: StandInGitLab | None = None
    children: list[Child] = field(default_factory=list)

    def __enter__(self) -> DemoStack:
        self.workdir.mkdir(parents=True, exist_ok=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- starting -----------------------------------------------------------------------

    def start_registry(self, *, notifications: list[dict[str, Any]] | None = None) -> LocalRegistry:
        """`notifications`: where the registry sends its events (the demo's web server)."""
        try:
            self.registry = start_local_registry(
                root_dir=self.workdir / "registry",
                port=self.ports.registry,
                own_session=True,
                notifications=notifications,
            )
        except RuntimeError as exc:
            raise DemoError(f"The demo's registry did not start: {exc}") from exc
        return self.registry

    def start_gitlab(self) -> StandInGitLab:
        """The stand-in GitLab API (made-up data), on a free port, under /stand-in-gitlab."""
        self.gitlab = StandInGitLab(prefix=PREFIX).start()
        return self.gitlab

    def start_redis(self) -> RedisServer:
        redis = RedisServer(workdir=self.workdir / "redis", port=self.ports.redis, own_session=True)
        try:
            self.redis = redis.start()
        except RuntimeError as exc:
            raise DemoError(f"The demo's Redis did not start: {exc}") from exc
        return self.redis

    def start_worker(self) -> Child:
        worker = self._start_child(
            "worker",
            ["-m", "celery", "-A", "janitor_site", "worker", "--loglevel=INFO",
             "--concurrency=2", "--without-gossip", "--without-mingle"],
        )  # fmt: skip
        self._wait_for_log(worker, " ready.")
        return worker

    def start_beat(self) -> Child:
        beat = self._start_child(
            "beat",
            ["-m", "celery", "-A", "janitor_site", "beat", "--loglevel=INFO",
             "--schedule", str(self.workdir / "celerybeat-schedule")],
        )  # fmt: skip
        self._wait_for_log(beat, "beat: Starting")
        return beat

    def start_web(self, *, log_to_terminal: bool = True) -> Child:
        address = f"{self.ports.web_host}:{self.ports.web_port}"
        web = self._start_child(
            "web",
            [str(Path(settings.BASE_DIR) / "manage.py"), "runserver", "--noreload", address],
            log_to_terminal=log_to_terminal,
        )
        self._wait_for_port(web, self.ports.web_host, self.ports.web_port)
        return web

    def child_environment(self) -> dict[str, str]:
        """The demo's own environment, with the web server and Celery on the demo's Redis."""
        if self.redis is None:
            raise DemoError("Start Redis before the processes that use it.")
        return {**os.environ, "REDIS_URL": self.redis.url, "PYTHONUNBUFFERED": "1"}

    # -- running and stopping ------------------------------------------------------------

    def stopped_process(self) -> str | None:
        """What has exited of the demo, with its output; None while all run."""
        for child in self.children:
            if child.process.poll() is not None:
                return (
                    f"The demo's {child.name} stopped (exit code {child.process.returncode}). "
                    f"Its output:\n{child.log_tail()}"
                )
        if self.redis is not None and self.redis.process and self.redis.process.poll() is not None:
            return f"The demo's Redis stopped. Its log:\n{self.redis.log_tail()}"
        if self.registry is not None and self.registry.process.poll() is not None:
            return f"The demo's registry stopped. Its log:\n{self.registry.log_tail()}"
        return None

    def stop(self) -> None:
        """Stop every process, newest first: the web server and Celery before Redis."""
        with _signals_held():
            while self.children:
                self.children.pop().stop()
            if self.redis is not None:
                self.redis.stop()
                self.redis = None
            if self.registry is not None:
                self.registry.stop()
                self.registry = None
            if self.gitlab is not None:
                self.gitlab.stop()
                self.gitlab = None

    def _start_child(self, name: str, args: list[str], *, log_to_terminal: bool = False) -> Child:
        log_path = None if log_to_terminal else self.workdir / f"{name}.log"
        log = log_path.open("wb") if log_path is not None else None
        try:
            process = subprocess.Popen(
                [sys.executable, *args],
                cwd=settings.BASE_DIR,
                env=self.child_environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,  # None: the terminal, as the demo's own output
                stderr=subprocess.STDOUT if log is not None else None,
                preexec_fn=own_session_dying_with_parent,
            )
        finally:
            if log is not None:
                log.close()
        child = Child(name=name, process=process, log_path=log_path)
        self.children.append(child)
        return child

    def _wait_for_log(self, child: Child, marker: str) -> None:
        self._wait(child, lambda: marker in child.log_tail(), f"{marker!r} in its log")

    def _wait_for_port(self, child: Child, host: str, port: int) -> None:
        def accepts() -> bool:
            try:
                socket.create_connection((host, port), timeout=1).close()
            except OSError:
                return False
            return True

        self._wait(child, accepts, f"a connection to {host}:{port}")

    def _wait(self, child: Child, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if child.process.poll() is not None:
                raise DemoError(
                    f"The demo's {child.name} exited with code {child.process.returncode} "
                    f"while starting. Its output:\n{child.log_tail()}"
                )
            # And still running: an answer from whoever else took the port does not count.
            if ready() and child.process.poll() is None:
                return
            time.sleep(0.1)
        raise DemoError(
            f"The demo's {child.name} did not get ready within {READY_TIMEOUT:.0f} s "
            f"(waited for {what}). Its output:\n{child.log_tail()}"
        )


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Ignore Ctrl-C and SIGTERM meanwhile: a second one must not cut the stopping short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in held}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
