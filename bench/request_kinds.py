"""What each kind of registry request costs: why a first sync cannot reach the HEAD floor.

`python -m bench requests [--tags 500]` seeds one repository on a fresh local registry, then
times, with a bare client and 8 keep-alive connections, one HEAD per tag (the sync floor),
one manifest GET per tag and one config-blob GET per image: the two GETs a first sync must
make for every new image (the created date lives only in the config blob).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter

CONNECTIONS = 8


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench requests", description=__doc__)
    parser.add_argument("--tags", type=int, default=500)
    options = parser.parse_args(argv)

    from registry.client import RegistryClient
    from registry.client.media_types import MANIFEST_ACCEPT
    from registry.demo_seed import seed_demo_images
    from registry.local_registry import start_local_registry

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
            rows = [
                _time("HEAD manifest (the floor)", tags, lambda t: session.head(
                    f"{base}/manifests/{t}", headers=accept, timeout=30)),
                _time("GET manifest", tags, lambda t: session.get(
                    f"{base}/manifests/{t}", headers=accept, timeout=30).content),
                _time("GET config blob", configs, lambda d: session.get(
                    f"{base}/blobs/{d}", timeout=30).content),
            ]  # fmt: skip
        finally:
            registry.stop()
    floor = rows[0][1]
    print()
    print(f"Registry request costs, {CONNECTIONS} connections, {options.tags} tags")
    print(f"{'request':<28} {'ms/request':>10} {'x floor':>8}")
    for name, ms in rows:
        print(f"{name:<28} {ms:>10.2f} {ms / floor:>7.2f}x")
    least = (rows[1][1] + rows[2][1]) / floor
    print(f"A first sync needs GET manifest + GET config per new image: {least:.2f}x the floor")
    print("before it parses or stores anything.")
    return 0


def _time(name: str, items: list, request: Callable) -> tuple[str, float]:
    with ThreadPoolExecutor(CONNECTIONS) as pool:
        list(pool.map(request, items[:20]))  # warm the connections
        started = time.perf_counter()
        list(pool.map(request, items))
        elapsed = time.perf_counter() - started
    return name, 1000 * elapsed / len(items)
