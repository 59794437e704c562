"""One measured step of the sync benchmark, run in its own process; prints one JSON line."""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urljoin

import requests
from requests.adapters import HTTPAdapter

CONNECTIONS = 8


def seed(url: str, repositories: int, tags: int) -> dict[str, Any]:
    from devtools.demo_seed import seed_demo_images
    from registry.client import RegistryClient

    with RegistryClient(url, concurrency=CONNECTIONS) as client:
        summary = seed_demo_images(
            client=client, repositories=repositories, tags_per_repository=tags
        )
    return {"tags": summary.tags}


def floor(url: str, repositories: int, tags: int) -> dict[str, Any]:
    """The least a sync must do: list every repository and HEAD every tag, 8 connections."""
    from registry.client.media_types import MANIFEST_ACCEPT

    session = requests.Session()
    session.mount("http://", HTTPAdapter(pool_maxsize=CONNECTIONS))
    count = 0

    def get_all(path: str, key: str) -> list[str]:
        nonlocal count
        items: list[str] = []
        next_url: str | None = urljoin(url, path)
        while next_url:
            response = session.get(next_url, timeout=30)
            count += 1
            response.raise_for_status()
            items.extend(response.json().get(key) or [])
            link = response.links.get("next", {}).get("url")
            next_url = urljoin(url, link) if link else None
        return items

    def head(repository_and_tag: tuple[str, str]) -> str:
        repository, tag = repository_and_tag
        response = session.head(
            f"{url}/v2/{repository}/manifests/{tag}",
            headers={"Accept": MANIFEST_ACCEPT},
            timeout=30,
        )
        response.raise_for_status()
        return response.headers["Docker-Content-Digest"]

    with ThreadPoolExecutor(CONNECTIONS) as pool:
        for repository in get_all("/v2/_catalog?n=1000", "repositories"):
            tag_names = get_all(f"/v2/{repository}/tags/list", "tags")
            digests = list(pool.map(head, [(repository, tag) for tag in tag_names]))
            count += len(digests)
    return {"requests": count}


def sync(url: str, *, first: bool) -> dict[str, Any]:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "janitor_site.settings")
    django.setup()
    from django.core.management import call_command

    from registry.models import Registry, SyncRun
    from registry.registries import save_registry
    from registry.sync import sync_registry

    if first:
        call_command("migrate", verbosity=0)
        Registry.objects.filter(name="bench").delete()  # the cache of an earlier first sync
    registry, _ = save_registry(name="bench", url=url)
    started = time.perf_counter()
    run = sync_registry(registry=registry)
    seconds = time.perf_counter() - started
    if run.status != SyncRun.Status.SUCCEEDED:
        raise SystemExit(f"sync failed: {run.error} {run.repository_errors}")
    return {"seconds": seconds, "requests": run.requests_made, "tags_added": run.tags_added}


def main() -> None:
    step, url, repositories, tags = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    started = time.perf_counter()
    if step == "seed":
        result = seed(url, repositories, tags)
    elif step == "floor":
        result = floor(url, repositories, tags)
    else:
        result = sync(url, first=step == "first")
    result.setdefault("seconds", time.perf_counter() - started)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


if __name__ == "__main__":
    main()
