"""One measured step of the GitLab benchmark, in its own process; prints one JSON line."""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

CONNECTIONS = 8
BRANCH_PATTERN = r"^review-(?P<branch>.+)-\d+$"


def seed(registry_url: str, names: list[str], tags: int, branches: int) -> dict[str, Any]:
    """Two builds a branch (labelled with their commits), `tags` images a repository."""
    from bench.gitlab import commit
    from devtools.image_builder import push_image
    from registry.client import RegistryClient

    created = datetime.now(UTC) - timedelta(days=3)
    plan = [
        (
            name,
            f"review-branch-{n // 2 % branches:02d}-{n}",
            commit(p, n // 2 % branches, n % 2 + 1),
        )
        for p, name in enumerate(names)
        for n in range(tags)
    ]

    def push(item: tuple[str, str, str]) -> None:
        name, tag, revision = item
        push_image(
            client,
            name,
            tag,
            created=created,
            layers=(f"{name}:{tag}".encode(),),
            labels={"org.opencontainers.image.revision": revision},
        )

    with RegistryClient(registry_url, concurrency=CONNECTIONS) as client:
        for _, _, error in client.map_concurrently(push, plan):
            if error is not None:
                raise error
    return {"tags": len(plan)}


def sync(registry_url: str, gitlab_url: str, *, step: str) -> dict[str, Any]:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "janitor_site.settings")
    django.setup()
    from django.core.management import call_command

    from bench.gitlab import GROUP, TOKEN
    from registry.models import GitLabConnection, Registry, StalenessRules, SyncRun, Tag
    from registry.registries import save_registry
    from registry.sync import sync_registry

    if step != "refresh":
        call_command("migrate", verbosity=0)
        Registry.objects.all().delete()  # every first sync starts from an empty cache
    baseline = step == "baseline"
    registry, _ = save_registry(
        name="bench",
        url=registry_url,
        password=TOKEN,
        gitlab_url=None if baseline else gitlab_url,
        gitlab_group="" if baseline else GROUP,
    )
    StalenessRules.objects.get_or_create(
        registry=registry, defaults={"branch_pattern": BRANCH_PATTERN}
    )
    started, cpu_started = time.perf_counter(), time.process_time()
    run = sync_registry(registry=registry)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if run.status != SyncRun.Status.SUCCEEDED:
        raise SystemExit(f"sync failed: {run.error} {run.repository_errors}")
    connection = GitLabConnection.objects.filter(registry=registry).first()
    tags = Tag.objects.filter(repository__registry=registry)
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "requests": run.requests_made,
        "gitlab_requests": connection.requests_made if connection else 0,
        "tags": tags.count(),
        "stale": tags.filter(is_stale=True).count(),
        "in_use": tags.filter(gitlab__in_use=True).count(),
    }


def main() -> None:
    step, registry_url, gitlab_url, extra = sys.argv[1:5]
    if step == "seed":
        names, tags, branches = json.loads(extra)
        result = seed(registry_url, names, tags, branches)
    else:
        result = sync(registry_url, gitlab_url, step=step)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
