"""A real `redis-server` on 127.0.0.1 and a free port, with nothing saved to disk."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from devtools.local_registry import find_free_port

REDIS_BINARY = "/usr/bin/redis-server"
HOST = "127.0.0.1"
STARTUP_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
PORT_ATTEMPTS = 3


class RedisServer:
    def __init__(self, *, workdir: Path | None = None) -> None:
        self._own_tmp = None if workdir else tempfile.TemporaryDirectory(prefix="redis-test-")
        self.workdir = Path(workdir or self._own_tmp.name)  # type: ignore[union-attr]
        self.log_path = self.workdir / "redis.log"
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def start(self) -> RedisServer:
        binary = _binary()
        for attempt in range(1, PORT_ATTEMPTS + 1):
            self.port = find_free_port()
            self.process = self._spawn(binary)
            try:
                self._wait_until_ready()
                return self
            except RuntimeError:
                self._terminate()
                if attempt == PORT_ATTEMPTS or "Address already in use" not in self.log_tail():
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
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
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
            if self.ping():
                return
            time.sleep(0.02)
        raise RuntimeError(
            f"redis-server did not answer PING on port {self.port} within "
            f"{STARTUP_TIMEOUT:.0f} s. Log tail:\n{self.log_tail()}"
        )

    def _terminate(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)

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
