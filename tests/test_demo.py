"""`manage.py demo` (`make demo`): one command runs registry, Redis, worker, beat and web,
acts only on processes it started, and leaves none behind however it ends."""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from devtools.image_builder import push_image
from devtools.local_registry import LocalRegistry, find_free_port
from registry.client import RegistryClient
from registry.models import Registry, SyncRun

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 180.0
BANNER_END = "Ctrl-C stops the demo"


def descendants(pid: int) -> set[int]:
    """`pid` and every process below it, from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        found.add(current)
        todo.extend(children.get(current, []))
    return found


def running(pid: int) -> bool:
    """Neither gone nor a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def still_running(pids: set[int], *, within: float = 5.0) -> set[int]:
    deadline = time.monotonic() + within
    while (alive := {pid for pid in pids if running(pid)}) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


def demo_options(tmp_path: Path, **ports: int) -> list[str]:
    """Free ports unless told, and a work directory of the test's own."""
    return [
        "--registry-port", str(ports.get("registry") or find_free_port()),
        "--redis-port", str(ports.get("redis", 0)),
        "--addrport", f"127.0.0.1:{ports.get('web') or find_free_port()}",
        "--workdir", str(tmp_path / "demo"),
        "--repos", "1", "--tags", "4",
    ]  # fmt: skip


def assert_nothing_done(own_processes: set[int]) -> None:
    assert not Registry.objects.exists()
    assert not SyncRun.objects.exists()
    assert not get_user_model().objects.filter(username="demo").exists()
    assert descendants(os.getpid()) - own_processes == set(), "the demo left a process"


# -- it never acts on what it did not start ------------------------------------------------


@pytest.mark.django_db
def test_another_registry_on_the_demo_port_is_neither_synced_nor_seeded(
    local_registry: LocalRegistry, registry_client: RegistryClient, tmp_path: Path
) -> None:
    push_image(registry_client, "theirs/app", "v1", created=datetime(2026, 1, 1, tzinfo=UTC))
    own_processes = descendants(os.getpid())

    with pytest.raises(CommandError) as refused:
        call_command(
            "demo",
            *demo_options(tmp_path, registry=local_registry.port),
            "--no-serve",
            stdout=io.StringIO(),
        )

    assert f"127.0.0.1:{local_registry.port} (the demo's registry) is already in use" in str(
        refused.value
    )
    assert "--registry-port" in str(refused.value)
    assert_nothing_done(own_processes)
    assert registry_client.list_repositories() == ["theirs/app"]


@pytest.mark.django_db
@pytest.mark.parametrize(("which", "option"), [("redis", "--redis-port"), ("web", "--addrport")])
def test_a_busy_redis_or_web_port_stops_the_demo_before_it_starts_anything(
    listening_port: int, tmp_path: Path, which: str, option: str
) -> None:
    own_processes = descendants(os.getpid())
    what = {"redis": "Redis", "web": "web server"}[which]

    with pytest.raises(CommandError) as refused:
        call_command(
            "demo", *demo_options(tmp_path, **{which: listening_port}), stdout=io.StringIO()
        )

    assert f"127.0.0.1:{listening_port} (the demo's {what}) is already in use" in str(refused.value)
    assert option in str(refused.value)
    assert_nothing_done(own_processes)
    assert not (tmp_path / "demo").exists(), "nothing was even written"


# -- one command, every process, and none left after -----------------------------------------


@dataclass
class RunningDemo:
    process: subprocess.Popen[bytes]
    output_path: Path
    workdir: Path
    web_url: str

    def output(self) -> str:
        return self.output_path.read_text(errors="replace")

    def password(self) -> str:
        found = re.search(r"Log in as 'demo' with password '([^']+)'", self.output())
        assert found, self.output()
        return found.group(1)

    def worker_log(self) -> str:
        return (self.workdir / "worker.log").read_text(errors="replace")


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[RunningDemo]:
    """`manage.py demo` in its own process, as `make demo` runs it, once it is ready."""
    env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
    env.update(
        DJANGO_SETTINGS_MODULE="janitor_site.settings",
        DEBUG="1",
        DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}",
    )
    web_port = find_free_port()
    output_path = tmp_path / "demo.out"
    with output_path.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "demo", *demo_options(tmp_path, web=web_port)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    running_demo = RunningDemo(
        process, output_path, tmp_path / "demo", f"http://127.0.0.1:{web_port}"
    )
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while BANNER_END not in running_demo.output():
            assert process.poll() is None, running_demo.output()
            assert time.monotonic() < deadline, running_demo.output()
            time.sleep(0.2)
        yield running_demo
    finally:
        if process.poll() is None:
            pids = descendants(process.pid)
            process.kill()
            process.wait()
            for pid in still_running(pids - {process.pid}, within=0):
                os.kill(pid, signal.SIGKILL)


def stop_and_collect(demo: RunningDemo, how: signal.Signals) -> tuple[dict[int, str], int]:
    """Every process of the demo with its command line, then `how` to the demo; its exit code."""
    pids = {pid: " ".join(command_lines({pid})) for pid in descendants(demo.process.pid)}
    demo.process.send_signal(how)
    return pids, demo.process.wait(timeout=60)


def command_lines(pids: set[int]) -> list[str]:
    lines = []
    for pid in pids:
        try:
            lines.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return lines


def demo_child(demo: RunningDemo, part: str) -> int:
    """The pid of the demo's own child (not a grandchild) whose command line has `part`."""
    for pid in descendants(demo.process.pid) - {demo.process.pid}:
        try:
            parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if parent == demo.process.pid and any(part in line for line in command_lines({pid})):
            return pid
    raise AssertionError(f"no {part!r} below the demo")


@pytest.mark.slow
def test_sync_now_reaches_the_demo_worker_and_ctrl_c_stops_every_process(
    demo: RunningDemo,
) -> None:
    session = requests.Session()
    login_url = f"{demo.web_url}/accounts/login/"
    session.get(login_url, timeout=10)
    logged_in = session.post(
        login_url,
        data={
            "username": "demo",
            "password": demo.password(),
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        timeout=10,
    )
    assert logged_in.url == f"{demo.web_url}/", "the demo login works"

    clicked = session.post(
        f"{demo.web_url}/registries/demo/sync/",
        headers={"X-CSRFToken": session.cookies["csrftoken"], "HX-Request": "true"},
        timeout=10,
    )
    assert clicked.status_code == 200

    deadline = time.monotonic() + 60
    while not re.search(
        r"Task registry\.tasks\.sync_registry_task\[\S+\] succeeded", log := demo.worker_log()
    ):
        assert time.monotonic() < deadline, log
        time.sleep(0.2)

    pids, code = stop_and_collect(demo, signal.SIGINT)

    started = " | ".join(pids.values())
    for part in (
        "docker-registry serve",
        "redis-server",
        "janitor_site worker",
        "janitor_site beat",
        "runserver",
    ):
        assert part in started
    assert code == 0, demo.output()
    assert "Stopped the demo and all its processes." in demo.output()
    assert still_running(set(pids)) == set()


@pytest.mark.slow
def test_sigterm_stops_every_process_of_the_demo(demo: RunningDemo) -> None:
    pids, code = stop_and_collect(demo, signal.SIGTERM)

    assert code == 0, demo.output()
    assert len(pids) >= 6, "demo, registry, redis, worker and its pool, beat, web"
    assert still_running(set(pids)) == set()


@pytest.mark.slow
def test_a_dead_worker_ends_the_demo_with_its_log_and_stops_the_rest(demo: RunningDemo) -> None:
    worker = demo_child(demo, "janitor_site worker")  # the main process, not its pool
    pids = descendants(demo.process.pid)

    os.kill(worker, signal.SIGKILL)
    code = demo.process.wait(timeout=60)

    assert code != 0
    assert "The demo's worker stopped (exit code -9)" in demo.output()
    assert "celery@" in demo.output(), "the worker's log is shown"
    assert still_running(pids) == set()
