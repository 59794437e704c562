"""Start a real `docker-registry` (CNCF distribution 2.8) process on 127.0.0.1.

Used by the tests, by `make demo` and by the benchmark. The registry binary comes from
Debian's `docker-registry` package; nothing here talks to Docker.

Each registry answers with a header carrying a random token of its own
(`INSTANCE_HEADER`), and it counts as started only once `/v2/` answers with that token:
when the port is taken, another server's answer is never mistaken for ours.
"""

from __future__ import annotations

import atexit
import http.client
import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from devtools.processes import preexec_for, stop_process

REGISTRY_BINARY = "/usr/bin/docker-registry"
HOST = "127.0.0.1"
STARTUP_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
LOG_TAIL_CHARS = 4000
# A port found free can be taken by someone else before the registry binds it (parallel
# test workers do this); when we chose the port, we try again with a new one.
PORT_ATTEMPTS = 3
# bcrypt's minimum cost. distribution checks the password on every request without caching,
# so the default cost (12, ~0.25 s a check) would make every test request slow.
HTPASSWD_BCRYPT_ROUNDS = 4
INSTANCE_HEADER = "X-Registry-Janitor-Instance"

_running: set[LocalRegistry] = set()


class RegistryBinaryMissing(RuntimeError):
    pass


@dataclass(frozen=True)
class TokenAuthSettings:
    """`auth.token` of the registry config: who issues tokens and how to verify them."""

    realm: str
    service: str
    issuer: str
    rootcertbundle: Path


@dataclass(eq=False)
class LocalRegistry:
    url: str
    port: int
    root_dir: Path
    config_path: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    instance: str = field(default="", repr=False)  # the INSTANCE_HEADER it answers with
    own_session: bool = False
    _log_file: IO[bytes] | None = field(default=None, repr=False)

    def stop(self) -> None:
        """Terminate the process; kill it if it does not exit within a few seconds."""
        stop_process(self.process, own_session=self.own_session, timeout=STOP_TIMEOUT)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        _running.discard(self)

    def log_tail(self) -> str:
        return _read_tail(self.log_path)

    def __enter__(self) -> LocalRegistry:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def find_free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def write_htpasswd(
    path: Path, users: dict[str, str], *, rounds: int = HTPASSWD_BCRYPT_ROUNDS
) -> None:
    """Write an htpasswd file with bcrypt hashes, the only kind distribution accepts."""
    import bcrypt  # in the `dev` extra: only the tests write htpasswd files

    lines = []
    for username, password in users.items():
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds))
        lines.append(f"{username}:{hashed.decode()}\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines))


def start_local_registry(
    *,
    root_dir: Path,
    port: int | None = None,
    htpasswd_path: Path | None = None,
    token_auth: TokenAuthSettings | None = None,
    delete_enabled: bool = True,
    readonly: bool = False,
    log_path: Path | None = None,
    own_session: bool = False,
    notifications: list[dict[str, Any]] | None = None,
) -> LocalRegistry:
    """Write a config in `root_dir`, start the registry and wait until `/v2/` answers.

    Blobs and manifests live in `root_dir / "data"`, so a second start on the same
    `root_dir` finds the images of the first. Raises RuntimeError with the end of the
    registry's log if it exits or does not answer within STARTUP_TIMEOUT seconds.
    `own_session`: see devtools.processes (the demo stops its children itself).
    `notifications`: endpoints the registry sends its events to, each as
    `registry.events.endpoint.endpoint_config` gives it (distribution's
    `notifications.endpoints` entries).
    """
    if htpasswd_path is not None and token_auth is not None:
        raise ValueError("Choose htpasswd_path or token_auth, not both.")
    _check_binary()
    root_dir = Path(root_dir).resolve()
    root_dir.mkdir(parents=True, exist_ok=True)
    log_path = Path(log_path) if log_path is not None else root_dir / "registry.log"
    attempts = 1 if port is not None else PORT_ATTEMPTS
    for attempt in range(1, attempts + 1):
        chosen_port = port if port is not None else find_free_port()
        instance = secrets.token_hex(16)
        config = registry_config(
            root_dir=root_dir,
            port=chosen_port,
            instance=instance,
            htpasswd_path=htpasswd_path,
            token_auth=token_auth,
            delete_enabled=delete_enabled,
            readonly=readonly,
            notifications=notifications,
        )
        config_path = root_dir / "config.yml"
        # JSON is YAML, and this way the app needs no YAML library.
        config_path.write_text(json.dumps(config, indent=2))
        registry = _spawn(
            root_dir, chosen_port, config_path, log_path, instance=instance, own_session=own_session
        )
        try:
            _wait_until_ready(registry)
        except RuntimeError:
            registry.stop()
            if attempt < attempts and "address already in use" in registry.log_tail():
                continue
            raise
        return registry
    raise AssertionError("unreachable")


def registry_config(
    *,
    root_dir: Path,
    port: int,
    instance: str = "",
    htpasswd_path: Path | None = None,
    token_auth: TokenAuthSettings | None = None,
    delete_enabled: bool = True,
    readonly: bool = False,
    notifications: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    storage: dict[str, Any] = {
        "filesystem": {"rootdirectory": str(root_dir / "data")},
        "delete": {"enabled": delete_enabled},
    }
    if readonly:
        storage["maintenance"] = {"readonly": {"enabled": True}}
    config: dict[str, Any] = {
        "version": "0.1",
        "log": {"level": "warn", "formatter": "text"},
        "storage": storage,
        # A fixed secret keeps the "no HTTP secret provided" warning out of the log.
        "http": {"addr": f"{HOST}:{port}", "secret": secrets.token_hex(16)},
    }
    if instance:
        # Header values are lists in distribution's config.
        config["http"]["headers"] = {INSTANCE_HEADER: [instance]}
    if notifications:
        config["notifications"] = {"endpoints": notifications}
    if htpasswd_path is not None:
        config["auth"] = {
            "htpasswd": {"realm": "registry-janitor", "path": str(Path(htpasswd_path).resolve())}
        }
    elif token_auth is not None:
        config["auth"] = {
            "token": {
                "realm": token_auth.realm,
                "service": token_auth.service,
                "issuer": token_auth.issuer,
                "rootcertbundle": str(Path(token_auth.rootcertbundle).resolve()),
            }
        }
    return config


def _check_binary() -> None:
    if not os.access(REGISTRY_BINARY, os.X_OK) and shutil.which("docker-registry") is None:
        raise RegistryBinaryMissing(
            f"{REGISTRY_BINARY} is missing: `make install` installs it "
            "(or `sudo apt-get install docker-registry`)."
        )


def _binary() -> str:
    if os.access(REGISTRY_BINARY, os.X_OK):
        return REGISTRY_BINARY
    return shutil.which("docker-registry") or REGISTRY_BINARY


def _spawn(
    root_dir: Path,
    port: int,
    config_path: Path,
    log_path: Path,
    *,
    instance: str,
    own_session: bool,
) -> LocalRegistry:
    # REGISTRY_* variables override the config file; the caller's must not leak in.
    env = {key: value for key, value in os.environ.items() if not key.startswith("REGISTRY_")}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_file = log_path.open("ab")
    process = subprocess.Popen(
        [_binary(), "serve", str(config_path)],
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=root_dir,
        preexec_fn=preexec_for(own_session=own_session),
    )
    registry = LocalRegistry(
        url=f"http://{HOST}:{port}",
        port=port,
        root_dir=root_dir,
        config_path=config_path,
        process=process,
        log_path=log_path,
        instance=instance,
        own_session=own_session,
        _log_file=log_file,
    )
    _running.add(registry)
    return registry


def _wait_until_ready(registry: LocalRegistry) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if registry.process.poll() is not None:
            raise RuntimeError(
                f"docker-registry exited with code {registry.process.returncode} while "
                f"starting on port {registry.port}. Log tail ({registry.log_path}):\n"
                f"{registry.log_tail()}"
            )
        if _answers(registry.port, instance=registry.instance):
            return
        time.sleep(0.02)
    raise RuntimeError(
        f"docker-registry did not answer GET /v2/ on port {registry.port} within "
        f"{STARTUP_TIMEOUT:.0f} s. Log tail ({registry.log_path}):\n{registry.log_tail()}"
    )


def _answers(port: int, *, instance: str) -> bool:
    """True once `GET /v2/` answers 200 (anonymous) or 401 (auth configured), with our
    INSTANCE_HEADER: another server on the port does not count."""
    connection = http.client.HTTPConnection(HOST, port, timeout=1)
    try:
        connection.request("GET", "/v2/")
        response = connection.getresponse()
        return response.status in (200, 401) and response.getheader(INSTANCE_HEADER) == instance
    except OSError:
        return False
    finally:
        connection.close()


def _read_tail(path: Path) -> str:
    try:
        with path.open("rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - LOG_TAIL_CHARS))
            return log.read().decode(errors="replace")
    except OSError:
        return "(no log)"


@atexit.register
def _stop_leftovers() -> None:
    """Stop registries a caller forgot, so an interrupted run leaves no process behind."""
    for registry in list(_running):
        registry.stop()
