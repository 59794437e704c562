"""A real `redis-server` on 127.0.0.1 and a free port, with nothing saved to disk.

Used by the worker tests and by `make demo`. The server counts as started only once
it answers PING and `INFO server` gives the pid of the process started here: when the
port is taken, another Redis is never mistaken for ours.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from devtools.local_registry import find_free_port
from devtools.processes import preexec_for, stop_process

REDIS_BINARY = "/usr/bin/redis-server"
HOST = "127.0.0.1"
STARTUP_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
PORT_ATTEMPTS = 3
_PROCESS_ID = re.compile(rb"\bprocess_id:(\d+)")


class RedisServer:
    def __init__(
        self, *, workdir: Path | None = None, port: int = 0, own_session: bool = False
    ) -> None:
        """`port` 0: a free one. `own_session`: see devtools.processes (the demo)."""
        self._own_tmp = None if workdir else tempfile.TemporaryDirectory(prefix="redis-test-")
        self.workdir = Path(workdir or self._own_tmp.name)  # type: ignore[union-attr]  # set when workdir is not
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "redis.log"
        self.requested_port = port
        self.port = port
        self.own_session = own_session
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def start(self) -> RedisServer:
        binary = _binary()
        # A port we chose can be taken before redis binds it: then try another one.
        attempts = 1 if self.requested_port else PORT_ATTEMPTS
        for attempt in range(1, attempts + 1):
            self.port = self.requested_port or find_free_port()
            self.process = self._spawn(binary)
            try:
                self._wait_until_ready()
                return self
            except RuntimeError:
                self._terminate()
                if attempt == attempts or "Address already in use" not in self.log_tail():
                    self._cleanup_dir()
                    raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        self._terminate()
        self._cleanup_dir()

    def ping(self) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def is_ours(self) -> bool:
        """Whether the Redis answering on the port is the process started here."""
        if self.process is None:
            return False
        try:
            with socket.create_connection((HOST, self.port), timeout=1) as sock:
                sock.sendall(b"INFO server\r\n")
                answer = b""
                while b"process_id:" not in answer or not answer.endswith(b"\r\n"):
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    answer += chunk
        except OSError:
            return False
        found = _PROCESS_ID.search(answer)
        return found is not None and int(found.group(1)) == self.process.pid

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _spawn(self, binary: str) -> subprocess.Popen[bytes]:
        args = [
            binary,
            "--port", str(self.port),
            "--bind", HOST,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.workdir),
            "--daemonize", "no",
            "--loglevel", "warning",
            "--logfile", "",
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            return subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=preexec_for(own_session=self.own_session),
            )

    def _wait_until_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited with code {self.process.returncode} on port "
                    f"{self.port}. Log tail:\n{self.log_tail()}"
                )
            if self.ping() and self.is_ours():
                return
            time.sleep(0.02)
        raise RuntimeError(
            f"redis-server did not answer PING on port {self.port} within "
            f"{STARTUP_TIMEOUT:.0f} s. Log tail:\n{self.log_tail()}"
        )

    def _terminate(self) -> None:
        if self.process is not None:
            stop_process(self.process, own_session=self.own_session, timeout=STOP_TIMEOUT)

    def _cleanup_dir(self) -> None:
        if self._own_tmp is not None:
            self._own_tmp.cleanup()
            self._own_tmp = None


def _binary() -> str:
    if os.access(REDIS_BINARY, os.X_OK):
        return REDIS_BINARY
    found = shutil.which("redis-server")
    if found is None:
        raise RuntimeError(
            f"{REDIS_BINARY} is missing: `make install` installs it "
            "(or `sudo apt-get install redis-server`)."
        )
    return found
