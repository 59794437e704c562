"""The page benchmark's measuring process: fill the cache, request pages, print one JSON line."""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "janitor_site.settings")
django.setup()

from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.pages import TARGET_P95_MS, TARGET_SELECT_ALL_MS  # noqa: E402
from registry.client.media_types import DOCKER_MANIFEST, OCI_INDEX  # noqa: E402
from registry.models import Manifest, Registry, Repository, Tag  # noqa: E402
from registry.roles import JANITORS  # noqa: E402
from registry.staleness import refresh_staleness  # noqa: E402

BATCH = 5000
BRANCHES = ["login", "signup", "payments", "search", "export", "dark-mode", "api-v2", "deps"]


def fill(*, name: str, tags: int, repos: int, seed: int = 7) -> Registry:
    """A cache shaped like a CI registry: half review builds, the rest MR builds and releases."""
    rng = random.Random(seed)
    now = timezone.now()
    registry = Registry.objects.create(name=name, url="http://127.0.0.1:1")
    repositories = Repository.objects.bulk_create(
        Repository(registry=registry, name=f"team-{i // 10:02d}/service-{i % 10:02d}")
        for i in range(repos)
    )
    per_repo = tags // repos
    for repository in repositories:
        manifests: list[Manifest] = []
        rows: list[tuple[str, int, datetime]] = []  # (tag name, manifest index, created)
        for n in range(per_repo):
            if n % 10 == 9:  # every tenth tag shares the previous tag's digest
                rows.append((f"stable-{n}", len(manifests) - 1, rows[-1][2]))
                manifests[-1].tag_count = 2
                continue
            created = now - timedelta(days=rng.uniform(0, 365))
            multi = n % 25 == 0
            manifests.append(
                Manifest(
                    repository=repository,
                    digest=f"sha256:{rng.getrandbits(256):064x}",
                    media_type=OCI_INDEX if multi else DOCKER_MANIFEST,
                    size=rng.randint(20, 900) * 1_000_000,
                    created=created,
                    platforms=["linux/amd64", "linux/arm64"] if multi else ["linux/amd64"],
                    tag_count=1,
                )
            )
            if n % 2 == 0:
                tag = f"review-{BRANCHES[n % len(BRANCHES)]}-{n}"
            elif n % 50 == 1:
                tag = f"v1.{n // 50}.{n % 7}"
            else:
                tag = f"mr-{n}-build"
            rows.append((tag, len(manifests) - 1, created))
        with transaction.atomic():
            Manifest.objects.bulk_create(manifests, batch_size=BATCH)
            ids = dict(Manifest.objects.filter(repository=repository).values_list("digest", "pk"))
            Tag.objects.bulk_create(
                (
                    Tag(
                        repository=repository,
                        name=tag,
                        manifest_id=ids[manifests[index].digest],
                        first_seen=created + timedelta(hours=1),
                        last_changed=created + timedelta(hours=1),
                    )
                    for tag, index, created in rows
                ),
                batch_size=BATCH,
            )
    refresh_staleness(registry=registry, now=now)
    if connection.vendor == "postgresql":
        # What autovacuum would have done by the time anyone looks at a page.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    return registry


def pages(registry: Registry) -> list[tuple[str, Callable[[Client], object], float]]:
    name = registry.name
    repository = registry.repos.order_by("name").first()
    assert repository is not None
    matching = "name=review"  # half of all tags
    return [
        ("baseline: login page", lambda c: c.get("/accounts/login/"), TARGET_P95_MS),
        ("dashboard", lambda c: c.get("/"), TARGET_P95_MS),
        (
            "repositories (sorted by stale size)",
            lambda c: c.get(f"/registries/{name}/repositories/?sort=-stale_size"),
            TARGET_P95_MS,
        ),
        (
            "tags of a repo (filtered, sorted)",
            lambda c: c.get(
                f"/registries/{name}/tags/?repository={repository.name}"
                "&name=review&older_than_days=30&sort=-size"
            ),
            TARGET_P95_MS,
        ),
        (
            "stale view, all repos (by size)",
            lambda c: c.get(f"/registries/{name}/stale/?sort=-size"),
            TARGET_P95_MS,
        ),
        (
            "tags, regex filter, all repos",
            lambda c: c.get(
                f"/registries/{name}/tags/?name=%5Ereview-(login%7Csearch)-&name_mode=regex"
            ),
            TARGET_P95_MS,
        ),
        (
            "select all matching (50% of tags)",
            lambda c: c.post(
                f"/registries/{name}/selection/matching/?{matching}", HTTP_HX_REQUEST="true"
            ),
            TARGET_SELECT_ALL_MS,
        ),
    ]


def measure(
    client: Client, request: Callable[[Client], object], times: int
) -> tuple[list[float], int]:
    durations = []
    queries = 0
    for _ in range(times):
        client.post(f"/registries/{REGISTRY}/selection/clear/")  # untimed: select-all starts empty
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = request(client)
            durations.append((time.perf_counter() - started) * 1000)
        status = getattr(response, "status_code", 0)
        if status >= 400:
            raise SystemExit(f"HTTP {status} from a benchmarked page")
        queries = len(captured)
    return durations, queries


def query_count(client: Client, request: Callable[[Client], object]) -> int:
    with CaptureQueriesContext(connection) as captured:
        request(client)
    return len(captured)


REGISTRY = "bench"


def main() -> None:
    database, tags, repos, times = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)  # DEBUG off: the manifest
    user = User.objects.create_user("bench", password="unused-password")
    user.groups.add(Group.objects.get(name=JANITORS))
    client = Client()
    client.force_login(user)

    small = fill(name="small", tags=max(tags // 100, 10), repos=max(repos // 100, 1))
    small_counts = {label: query_count(client, request) for label, request, _ in pages(small)}
    registry = fill(name=REGISTRY, tags=tags, repos=repos)
    rows: list[dict[str, Any]] = []
    for label, request, target in pages(registry):
        request(client)  # warm caches, compile templates
        durations, queries = measure(client, request, times)
        median = statistics.median(durations)
        p95 = statistics.quantiles(durations, n=20)[-1] if len(durations) >= 2 else durations[0]
        rows.append(
            {
                "page": label,
                "db": database,
                "median_ms": median,
                "p95_ms": p95,
                "queries": queries,
                "queries_small": small_counts[label],
                "target_ms": target,
            }
        )
    base = rows[0]["median_ms"]
    for row in rows:
        row["ratio"] = row["median_ms"] / base
        row["ok"] = row["p95_ms"] <= row["target_ms"] and (
            row["page"] == "dashboard" or row["queries"] == row["queries_small"]
        )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
