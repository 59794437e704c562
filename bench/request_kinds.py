"""What each kind of registry request costs: why a first sync cannot reach the HEAD floor.

`python -m bench requests [--tags 500]` seeds one repository on a fresh local registry, then
times, with a bare client and 8 keep-alive connections, one HEAD per tag (the sync floor),
one manifest GET per tag and one config-blob GET per image: the two GETs a first sync must
make for every new image (the created date lives only in the config blob). Beside the wall
time it prints the CPU each request costs the registry process and the client: on a small
machine they share the cores, so CPU, not the network, sets the sync's pace.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

CONNECTIONS = 8


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench requests", description=__doc__)
    parser.add_argument("--tags", type=int, default=500)
    options = parser.parse_args(argv)

    from devtools.demo_seed import seed_demo_images
    from devtools.local_registry import start_local_registry
    from registry.client import RegistryClient
    from registry.client.media_types import MANIFEST_ACCEPT

    shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
    with tempfile.TemporaryDirectory(prefix="janitor-bench-", dir=shm) as tmp:
        registry = start_local_registry(root_dir=Path(tmp) / "registry")
        try:
            with RegistryClient(registry.url) as client:
                seed_demo_images(client=client, repositories=1, tags_per_repository=options.tags)
            session = requests.Session()
            session.mount("http://", HTTPAdapter(pool_maxsize=CONNECTIONS))
            base = f"{registry.url}/v2/acme/web"
            accept = {"Accept": MANIFEST_ACCEPT}
            tags = session.get(f"{base}/tags/list", timeout=30).json()["tags"]
            bodies = [session.get(f"{base}/manifests/{t}", headers=accept).json() for t in tags]
            configs = [body["config"]["digest"] for body in bodies if "config" in body]
            server = registry.process.pid
            rows = [
                _time("HEAD manifest (the floor)", tags, server, lambda t: session.head(
                    f"{base}/manifests/{t}", headers=accept, timeout=30)),
                _time("GET manifest", tags, server, lambda t: session.get(
                    f"{base}/manifests/{t}", headers=accept, timeout=30).content),
                _time("GET config blob", configs, server, lambda d: session.get(
                    f"{base}/blobs/{d}", timeout=30).content),
            ]  # fmt: skip
        finally:
            registry.stop()
    floor = rows[0].wall_ms
    print()
    print(f"Registry request costs, {CONNECTIONS} connections, {options.tags} tags")
    print(
        f"{'request':<28} {'ms/request':>10} {'x floor':>8} {'registry CPU ms':>16} "
        f"{'client CPU ms':>14}"
    )
    for row in rows:
        server_cpu = f"{row.server_cpu_ms:.2f}" if row.server_cpu_ms is not None else "n/a"
        print(
            f"{row.name:<28} {row.wall_ms:>10.2f} {row.wall_ms / floor:>7.2f}x "
            f"{server_cpu:>16} {row.client_cpu_ms:>14.2f}"
        )
    least = (rows[1].wall_ms + rows[2].wall_ms) / floor
    print(f"A first sync needs GET manifest + GET config per new image: {least:.2f}x the floor")
    print("before it parses or stores anything.")
    if all(row.server_cpu_ms is not None for row in rows):
        cpu = [row.client_cpu_ms + (row.server_cpu_ms or 0) for row in rows]
        print(
            f"CPU, registry + client: {cpu[1] + cpu[2]:.2f} ms per new image against "
            f"{cpu[0]:.2f} ms per HEAD ({(cpu[1] + cpu[2]) / cpu[0]:.2f}x)."
        )
    return 0


@dataclass
class Cost:
    name: str
    wall_ms: float
    client_cpu_ms: float
    server_cpu_ms: float | None  # None where /proc is not there to ask


def _time(name: str, items: list[Any], server_pid: int, request: Callable[..., Any]) -> Cost:
    with ThreadPoolExecutor(CONNECTIONS) as pool:
        list(pool.map(request, items[:20]))  # warm the connections
        server_before = _process_cpu_seconds(server_pid)
        client_before = time.process_time()
        started = time.perf_counter()
        list(pool.map(request, items))
        elapsed = time.perf_counter() - started
        client = time.process_time() - client_before
        server_after = _process_cpu_seconds(server_pid)
    server = None
    if server_before is not None and server_after is not None:
        server = 1000 * (server_after - server_before) / len(items)
    return Cost(name, 1000 * elapsed / len(items), 1000 * client / len(items), server)


def _process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU of another process, from /proc (Linux), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")
