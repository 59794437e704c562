"""Events benchmark: registry notifications against syncing, on one machine.

`python -m bench events [--pushes 200 --burst 1000 --ingest 300]`

It starts a `docker-registry` whose notifications go to the app under gunicorn, one
Celery worker (solo pool) on a Redis of its own, and a cache in SQLite in a temp
dir (or BENCH_DATABASE_URL). Then, with the baseline of each in the same run:

- latency: push finished → tag in the cache, over --pushes pushes one after the
  other (median, p95); baseline: a sync started right after a push (the least a
  dashboard without notifications can do; the periodic sync comes every
  SYNC_INTERVAL_MINUTES);
- ingest: --ingest pushes made while the worker is stopped (the endpoint stores
  them), then the time one worker takes to apply them all, against the registry's
  own push rate (the same pushes, 8 at a time);
- sync cost: the same registry synced into a cache that notifications kept
  current, and into one they did not (a second registry row, synced before the
  pushes): requests and seconds;
- reconcile: a burst of --burst pushes, pulls and deletes from 8 threads; once the
  worker has applied everything, a sync must find zero differences, and every
  pulled image must have its last pull. The benchmark fails otherwise.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TARGET_P95_S = 1.0
JAN = datetime(2026, 1, 5, tzinfo=UTC)
POLL = 0.005
WAIT_S = 600.0
THREADS = 8


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench events", description=__doc__)
    parser.add_argument("--pushes", type=int, default=200, help="pushes timed for latency")
    parser.add_argument("--ingest", type=int, default=300, help="pushes applied in one go")
    parser.add_argument("--burst", type=int, default=1000, help="operations in the burst")
    parser.add_argument(
        "--keep", type=Path, help="work in this directory and keep it (the processes' logs)"
    )
    options = parser.parse_args(argv)
    shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(prefix="janitor-bench-events-", dir=shm) as tmp:
        workdir = Path(options.keep or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        _environment(workdir)
        with ExitStack() as stack:
            bench = Stack(workdir, stack)
            rows = bench.run(options)
    ok = print_table(rows, options)
    return 0 if ok else 1


def _environment(workdir: Path) -> None:
    """The bench process and every child share one database and these settings."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "janitor_site.settings",
            "DATABASE_URL": os.environ.get(
                "BENCH_DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite3'}"
            ),
            "DEBUG": "0",
            "SECRET_KEY": "bench-only-secret",
            "CREDENTIALS_KEY": "YmVuY2gtb25seS1rZXktMzItYnl0ZXMtbG9uZy4uLi4=",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_LEVEL": "WARNING",
        }
    )


class Stack:
    """The processes, started in order and stopped by the ExitStack."""

    def __init__(self, workdir: Path, stack: ExitStack) -> None:
        from devtools.local_registry import find_free_port
        from devtools.redis_server import RedisServer

        self.workdir = workdir
        self.stack = stack
        self.redis = RedisServer(workdir=workdir / "redis").start()
        stack.callback(self.redis.stop)
        os.environ["REDIS_URL"] = self.redis.url  # before the settings are read

        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        self.web_port = find_free_port()
        self.web = self._spawn(
            "web",
            ["-m", "gunicorn", "janitor_site.wsgi:application", "-b", f"127.0.0.1:{self.web_port}",
             "-w", "2", "--threads", "4", "--access-logfile", "-",
             "--access-logformat", '%(t)s "%(r)s" %(s)s %(M)sms'],
        )  # fmt: skip
        _wait_for(lambda: _answers(self.web_port), "gunicorn")
        self.worker: subprocess.Popen[bytes] | None = None
        self.starts = 0  # the worker's log is appended to: count its " ready." lines

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        self.stack.callback(_stop, process)
        return process

    def start_worker(self) -> None:
        """Start the worker and return once it consumes (it says " ready." at INFO)."""
        self.worker = self._spawn(
            "worker",
            ["-m", "celery", "-A", "janitor_site", "worker", "--pool=solo", "--concurrency=1",
             "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        )  # fmt: skip
        log = self.workdir / "worker.log"
        _wait_for(lambda: log.read_text(errors="replace").count(" ready.") > self.starts, "ready")
        self.starts += 1

    def stop_worker(self) -> None:
        if self.worker is not None:
            _stop(self.worker)
            self.worker = None

    def run(self, options: argparse.Namespace) -> dict[str, Any]:
        from devtools.local_registry import start_local_registry
        from registry.client import RegistryClient
        from registry.events.endpoint import endpoint_config, ensure_endpoint
        from registry.models import Registry
        from registry.registries import save_registry

        live, _ = save_registry(name="live", url="http://127.0.0.1:9")
        endpoint, _ = ensure_endpoint(registry=live)
        config = endpoint_config(
            registry=live,
            secret=endpoint.secret,
            base_url=f"http://127.0.0.1:{self.web_port}",
            backoff="200ms",
        )
        registry = start_local_registry(root_dir=self.workdir / "registry", notifications=[config])
        self.stack.callback(registry.stop)
        Registry.objects.filter(pk=live.pk).update(url=registry.url)
        live.refresh_from_db()
        plain, _ = save_registry(name="plain", url=registry.url)  # no notifications
        client = RegistryClient(registry.url, concurrency=THREADS)
        self.stack.callback(client.close)
        self.start_worker()
        rows: dict[str, Any] = {}
        rows["latency"] = measure_latency(client, live, options.pushes)
        rows["sync_after_push"] = measure_sync_after_push(client, live)
        _sync(plain)  # the baseline cache, before the pushes it will have to catch up on
        self.stop_worker()
        rows["ingest"] = measure_ingest(self, client, live, options.ingest)
        rows["sync_live"] = _sync(live)
        rows["sync_plain"] = _sync(plain)
        rows["reconcile"] = measure_reconcile(client, live, registry.url, options.burst)
        return rows


# -- the measurements ------------------------------------------------------------------


def measure_latency(client: Any, live: Any, pushes: int) -> dict[str, float]:
    from devtools.image_builder import push_image

    seconds = []
    for n in range(pushes):
        pushed = push_image(client, "latency/app", f"build-{n}", created=JAN)
        finished = time.perf_counter()
        _wait_for(
            lambda n=n, pushed=pushed: _visible(live, "latency/app", f"build-{n}", pushed.digest),
            "a pushed tag",
        )
        seconds.append(time.perf_counter() - finished)
    seconds.sort()
    return {
        "median": statistics.median(seconds),
        "p95": seconds[max(int(len(seconds) * 0.95) - 1, 0)],
        "max": seconds[-1],
    }


def measure_sync_after_push(client: Any, live: Any) -> dict[str, float]:
    """The baseline: without notifications, a push is visible after a sync at best."""
    from devtools.image_builder import push_image

    push_image(client, "latency/app", "by-sync", created=JAN)
    return _sync(live)


def measure_ingest(stack: Stack, client: Any, live: Any, count: int) -> dict[str, float]:
    from devtools.image_builder import push_image
    from registry.models import RegistryEvent

    started = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        list(
            pool.map(
                lambda n: push_image(client, f"ingest/app-{n % 4}", f"build-{n}", created=JAN),
                range(count),
            )
        )
    push_s = time.perf_counter() - started
    _wait_for(lambda: _pending(live) >= count, "the endpoint to store the pushes")
    stack.start_worker()
    worker_up = time.perf_counter()
    _wait_for(lambda: _pending(live) == 0, "the worker to apply the pushes")
    apply_s = time.perf_counter() - worker_up
    applied = RegistryEvent.objects.filter(registry=live, repository__startswith="ingest/").count()
    return {
        "events": applied,
        "push_rate": count / push_s,
        "apply_s": apply_s,
        "apply_rate": applied / apply_s,
    }


def measure_reconcile(client: Any, live: Any, url: str, operations: int) -> dict[str, Any]:
    """A mixed burst: pushes, pulls (as docker), deletes by digest; then a sync."""
    import requests

    from devtools.image_builder import push_image
    from registry.client.media_types import MANIFEST_ACCEPT
    from registry.models import Manifest

    rng = random.Random(13)
    pushed: list[tuple[str, str, str]] = []  # (repository, tag, digest)
    pulled: set[tuple[str, str]] = set()
    session = requests.Session()

    def one(n: int) -> None:
        kind = rng.random()
        if kind < 0.5 or len(pushed) < 20:
            repository = f"burst/app-{n % 10}"
            tag = f"t-{n % 300}"  # tags are pushed again, and move
            image = push_image(client, repository, tag, created=JAN, label=str(n))
            pushed.append((repository, tag, image.digest))
        elif kind < 0.8:
            repository, tag, _ = rng.choice(pushed)
            response = session.get(
                f"{url}/v2/{repository}/manifests/{tag}",
                headers={"Accept": MANIFEST_ACCEPT, "User-Agent": "docker/27.3.1"},
                timeout=30,
            )
            if response.status_code == 200:
                pulled.add((repository, response.headers["Docker-Content-Digest"]))
        else:
            repository, _, digest = rng.choice(pushed)
            response = session.delete(f"{url}/v2/{repository}/manifests/{digest}", timeout=30)
            assert response.status_code in (202, 404), response.text

    started = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(one, range(operations)))
    burst_s = time.perf_counter() - started
    _wait_for(lambda: _settled(live), "the worker to apply the burst")
    settled_s = time.perf_counter() - started
    run = _sync(live)
    unpulled = [
        (repository, digest)
        for repository, digest in pulled
        if Manifest.objects.filter(
            repository__registry=live, repository__name=repository, digest=digest
        )
        .filter(last_pulled__isnull=True)
        .exists()
    ]
    return {
        "operations": operations,
        "burst_s": burst_s,
        "settled_s": settled_s,
        "differences": run["differences"],
        "pulled_images": len(pulled),
        "pulled_without_last_pulled": len(unpulled),
    }


# -- helpers -------------------------------------------------------------------------


def _sync(registry: Any) -> dict[str, Any]:
    from registry.models import SyncRun
    from registry.sync import sync_registry

    started = time.perf_counter()
    run = sync_registry(registry=registry)
    seconds = time.perf_counter() - started
    if run.status != SyncRun.Status.SUCCEEDED:
        raise SystemExit(f"sync of {registry.name} failed: {run.error} {run.repository_errors}")
    changes = run.tags_added + run.tags_changed + run.tags_removed
    return {
        "seconds": seconds,
        "requests": run.requests_made,
        "changes": changes,
        "differences": run.differences_missed,
        "manifests": run.manifests_fetched,
    }


def _visible(live: Any, repository: str, tag: str, digest: str) -> bool:
    from registry.models import Tag

    return Tag.objects.filter(
        repository__registry=live, repository__name=repository, name=tag, manifest__digest=digest
    ).exists()


def _pending(live: Any) -> int:
    from registry.models import RegistryEvent

    return RegistryEvent.objects.filter(registry=live, state="pending").count()


def _settled(live: Any) -> bool:
    """Nothing pending, no task queued or running, and the registry's queue drained (no
    event arrived for a second)."""
    from django.utils import timezone

    from registry.models import EventEndpoint

    endpoint = EventEndpoint.objects.get(registry=live)
    quiet = endpoint.last_event_at and (timezone.now() - endpoint.last_event_at).total_seconds() > 1
    return bool(
        quiet
        and _pending(live) == 0
        and not endpoint.apply_queued
        and endpoint.apply_lock_token is None
    )


def _wait_for(predicate: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"Waited {WAIT_S:.0f} s for {what}.")
        time.sleep(POLL)


def _answers(port: int) -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def print_table(rows: dict[str, Any], options: argparse.Namespace) -> bool:
    latency, baseline = rows["latency"], rows["sync_after_push"]
    ingest, live, plain = rows["ingest"], rows["sync_live"], rows["sync_plain"]
    burst = rows["reconcile"]
    lines = [
        (
            f"push → visible, median ({options.pushes} pushes)",
            f"{latency['median'] * 1000:.0f} ms",
            f"a sync right after the push: {baseline['seconds']:.2f} s",
        ),
        (
            "push → visible, p95 / max",
            f"{latency['p95'] * 1000:.0f} / {latency['max'] * 1000:.0f} ms",
            "or the periodic sync (SYNC_INTERVAL_MINUTES)",
        ),
        (
            f"events applied per second, one worker ({ingest['events']} pushes)",
            f"{ingest['apply_rate']:.0f} events/s",
            f"the registry's push rate: {ingest['push_rate']:.0f}/s",
        ),
        (
            "sync after those pushes: seconds",
            f"{live['seconds']:.2f} s",
            f"cache not notified: {plain['seconds']:.2f} s",
        ),
        (
            "sync after those pushes: requests (manifests read)",
            f"{live['requests']} ({live['manifests']})",
            f"cache not notified: {plain['requests']} ({plain['manifests']})",
        ),
        (
            f"burst of {burst['operations']} pushes, pulls, deletes",
            f"{burst['burst_s']:.1f} s; settled at {burst['settled_s']:.1f} s",
            f"then a sync finds {burst['differences']} differences",
        ),
        (
            "pulled images without a last pull",
            f"{burst['pulled_without_last_pulled']} of {burst['pulled_images']}",
            "",
        ),
    ]
    print()
    print("Events benchmark (one Celery worker, gunicorn -w 2, SQLite unless BENCH_DATABASE_URL)")
    print(f"{'measure':<52} | {'with notifications':<26} | baseline")
    print("-" * 120)
    for measure, with_events, without in lines:
        print(f"{measure:<52} | {with_events:<26} | {without}")
    ok = (
        latency["p95"] <= TARGET_P95_S
        and burst["differences"] == 0
        and burst["pulled_without_last_pulled"] == 0
    )
    print(
        f"Targets: p95 ≤ {TARGET_P95_S:.0f} s; after the burst, a sync finds 0 differences "
        f"and every pulled image has its last pull. {'Met.' if ok else 'NOT MET.'}"
    )
    return ok
