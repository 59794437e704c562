"""One measured step of the delete benchmark, run in its own process; prints one JSON line.

python -m bench.delete_steps seed URL REPOS TAGS IMAGES_JSON
python -m bench.delete_steps floor URL IMAGES_JSON
python -m bench.delete_steps batch URL NAME TAGS [PROFILE_PATH]
python -m bench.delete_steps preview NAME TAGS REPOS RUNS
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

CONNECTIONS = 8
BUILD_PREFIX = "build-"
KEPT_PREFIX = "release-"


# -- the registry side (no Django) ------------------------------------------------------


def repository_names(count: int) -> list[str]:
    return [f"bench/service-{i:02d}" for i in range(count)]


def seed(url: str, repositories: int, tags: int, images_path: Path) -> dict[str, Any]:
    """Push `tags` single-platform images, each with its own digest, over `repositories`.

    Each image: two base layers shared within its repository, one layer of its own.
    Writes [[repository, tag, digest], …] to `images_path` for the floor.
    """
    from devtools.image_builder import push_image, upload_layer
    from registry.client import RegistryClient

    names = repository_names(repositories)
    now = datetime.now(UTC).replace(microsecond=0)
    rng = random.Random(4)
    planned = [
        (
            names[n % repositories],
            f"{BUILD_PREFIX}{n:05d}",
            now - timedelta(days=rng.uniform(1, 90)),
        )
        for n in range(tags)
    ]
    with RegistryClient(url, concurrency=CONNECTIONS) as client:
        base = {
            name: tuple(
                upload_layer(client, name, f"{name}:base-{i}".encode() * 64) for i in range(2)
            )
            for name in names
        }

        def push(image: tuple[str, str, datetime]) -> str:
            repository, tag, created = image
            return push_image(
                client,
                repository,
                tag,
                created=created,
                layers=(f"{repository}:{tag}".encode() * 40,),
                shared_layers=base[repository],
                label=tag,
            ).digest

        images = []
        for image, digest, error in client.map_concurrently(push, planned):
            if error is not None:
                raise error
            images.append([image[0], image[1], digest])
    if len({digest for _, _, digest in images}) != tags:
        raise SystemExit("seeding made images that share a digest; every tag needs its own")
    images_path.write_text(json.dumps(sorted(images)))
    return {"tags": len(images)}


def floor(url: str, images_path: Path) -> dict[str, Any]:
    """The least a deletion must do: one DELETE per digest, 8 keep-alive connections.

    Before it, untimed in the floor, a HEAD per tag: what a safe deletion adds (the
    re-check), timed on its own for the table.
    """
    from registry.client.media_types import MANIFEST_ACCEPT

    images = json.loads(images_path.read_text())
    session = requests.Session()
    session.mount("http://", HTTPAdapter(pool_maxsize=CONNECTIONS))

    def head(image: list[str]) -> str:
        repository, tag, _ = image
        response = session.head(
            f"{url}/v2/{repository}/manifests/{tag}",
            headers={"Accept": MANIFEST_ACCEPT},
            timeout=30,
        )
        response.raise_for_status()
        return response.headers["Docker-Content-Digest"]

    def delete(image: list[str]) -> int:
        repository, _, digest = image
        response = session.delete(f"{url}/v2/{repository}/manifests/{digest}", timeout=30)
        return response.status_code

    with ThreadPoolExecutor(CONNECTIONS) as pool:
        started = time.perf_counter()
        digests = list(pool.map(head, images))
        head_seconds = time.perf_counter() - started
        started, cpu = time.perf_counter(), time.process_time()
        statuses = list(pool.map(delete, images))
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    if digests != [digest for _, _, digest in images]:
        raise SystemExit("floor: the registry's digests differ from the seeded ones")
    refused = [status for status in statuses if status != 202]
    if refused:
        raise SystemExit(f"floor: {len(refused)} DELETEs did not answer 202: {set(refused)}")
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "requests": len(statuses),
        "head_seconds": head_seconds,
    }


# -- the Django side ----------------------------------------------------------------------


def _setup_django() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "janitor_site.settings")
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _janitor():
    from django.contrib.auth.models import Group, User

    from registry.roles import JANITORS

    user, created = User.objects.get_or_create(username="bench-janitor")
    if created:
        user.set_unusable_password()
        user.save()
        user.groups.add(Group.objects.get(name=JANITORS))
    return user


def batch(url: str, name: str, tags: int, profile_path: Path | None) -> dict[str, Any]:
    """Sync, select everything, plan, confirm (untimed); time execute_batch."""
    _setup_django()
    from registry.connect import client_for
    from registry.deletion.batches import confirm_batch
    from registry.deletion.plan import plan_deletion
    from registry.deletion.run import execute_batch
    from registry.models import DeletionBatch, StalenessRules, SyncRun, Tag
    from registry.registries import save_registry
    from registry.selection import add_matching, selected_tags
    from registry.sync import sync_registry

    registry, _ = save_registry(name=name, url=url)
    StalenessRules.objects.update_or_create(registry=registry, defaults={"protected_patterns": []})
    run = sync_registry(registry=registry)
    if run.status != SyncRun.Status.SUCCEEDED:
        raise SystemExit(f"sync failed: {run.error} {run.repository_errors}")
    user = _janitor()
    added = add_matching(
        user=user, registry=registry, queryset=Tag.objects.filter(repository__registry=registry)
    ).added
    if added != tags:
        raise SystemExit(f"selected {added} tags, expected {tags}")
    planned = plan_deletion(
        registry=registry, tags=selected_tags(user=user, registry=registry), actor=user
    )
    if planned.manifests_planned != tags or planned.refused_planned:
        raise SystemExit(
            f"plan: {planned.manifests_planned} manifest deletes and "
            f"{planned.refused_planned} refusals, expected {tags} and 0"
        )
    queued = confirm_batch(batch=planned, actor=user, reason="delete benchmark")
    client = client_for(registry)
    profiler = None
    if profile_path is not None:
        import cProfile

        profiler = cProfile.Profile()
    started, cpu = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    try:
        done = execute_batch(batch=queued, client=client)
    finally:
        if profiler is not None:
            profiler.disable()
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
        client.close()
    if profiler is not None and profile_path is not None:
        profiler.dump_stats(str(profile_path))
    if done.status != DeletionBatch.Status.SUCCEEDED or done.deleted_count != tags:
        raise SystemExit(
            f"batch {done.pk} ended {done.status} with {done.deleted_count} deleted "
            f"(expected succeeded with {tags}): skipped {done.skipped_count}, failed "
            f"{done.failed_count}, not attempted {done.not_attempted_count}. {done.error}"
        )
    left = Tag.objects.filter(repository__registry=registry).count()
    if left:
        raise SystemExit(f"the cache still holds {left} tags after the batch")
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "requests": client.requests_made,
        "deleted": done.deleted_count,
    }


def fill_preview(*, name: str, tags: int, repos: int):
    """A cache of `tags` build tags over `repos` repositories, plus one kept release tag for
    every ten builds (survivors, so the reclaimable-bytes query has something to compare
    with). Each tag has its own manifest: a config, a base layer shared by every
    repository, one shared within the repository, and one of its own (every fifth
    manifest shares its own layer with the previous one)."""
    from django.db import transaction
    from django.utils import timezone

    from registry.client.media_types import DOCKER_MANIFEST
    from registry.models import Layer, Manifest, Registry, Repository, StalenessRules, Tag
    from registry.staleness import refresh_staleness

    rng = random.Random(11)
    now = timezone.now()
    registry = Registry.objects.create(name=name, url="http://127.0.0.1:1")
    StalenessRules.objects.create(registry=registry, protected_patterns=[])
    repositories = Repository.objects.bulk_create(
        Repository(registry=registry, name=f"team-{i // 10:02d}/service-{i % 10:02d}")
        for i in range(repos)
    )
    common = f"sha256:{rng.getrandbits(256):064x}"

    def digest() -> str:
        return f"sha256:{rng.getrandbits(256):064x}"

    for index, repository in enumerate(repositories):
        builds = tags // repos + (1 if index < tags % repos else 0)
        names = [f"{BUILD_PREFIX}{n:05d}" for n in range(builds)]
        names += [f"{KEPT_PREFIX}{n}" for n in range(max(1, builds // 10))]
        repo_base = digest()
        manifests = []
        layers: list[list[tuple[str, int]]] = []
        own = ""
        for n, _ in enumerate(names):
            own = own if n % 5 == 4 else digest()
            rows = [
                (common, 30_000_000),
                (repo_base, 12_000_000),
                (own, rng.randint(1, 90) * 10**6),
            ]
            layers.append(rows)
            manifests.append(
                Manifest(
                    repository=repository,
                    digest=digest(),
                    media_type=DOCKER_MANIFEST,
                    size=sum(size for _, size in rows),
                    created=now - timedelta(days=rng.uniform(0, 120)),
                    config_digest=digest(),
                    config_size=1500,
                    platforms=["linux/amd64"],
                    tag_count=1,
                )
            )
        with transaction.atomic():
            Manifest.objects.bulk_create(manifests)
            ids = dict(Manifest.objects.filter(repository=repository).values_list("digest", "pk"))
            Layer.objects.bulk_create(
                (
                    Layer(manifest_id=ids[manifest.digest], digest=layer, size=size)
                    for manifest, rows in zip(manifests, layers, strict=True)
                    for layer, size in rows
                ),
                batch_size=2000,
            )
            Tag.objects.bulk_create(
                Tag(
                    repository=repository,
                    name=tag,
                    manifest_id=ids[manifest.digest],
                    first_seen=manifest.created or now,
                    last_changed=manifest.created or now,
                )
                for tag, manifest in zip(names, manifests, strict=True)
            )
    refresh_staleness(registry=registry, now=now)
    return registry


def preview(name: str, tags: int, repos: int, runs: int) -> dict[str, Any]:
    """Time planning the selection, and the batch page, `runs` times (a new batch each)."""
    _setup_django()
    from django.core.management import call_command
    from django.test import Client
    from django.urls import NoReverseMatch, reverse

    from registry.deletion.plan import plan_deletion
    from registry.models import Tag
    from registry.selection import add_matching, selected_tags

    call_command("collectstatic", interactive=False, verbosity=0)  # DEBUG off: the manifest
    registry = fill_preview(name=name, tags=tags, repos=repos)
    user = _janitor()
    added = add_matching(
        user=user,
        registry=registry,
        queryset=Tag.objects.filter(repository__registry=registry, name__startswith=BUILD_PREFIX),
    ).added
    if added != tags:
        raise SystemExit(f"selected {added} tags, expected {tags}")
    client = Client()
    client.force_login(user)
    try:
        reverse("batch", args=[1])
        has_page = True
    except NoReverseMatch:
        has_page = False

    def one() -> tuple[float, float | None]:
        started = time.perf_counter()
        planned = plan_deletion(
            registry=registry, tags=selected_tags(user=user, registry=registry), actor=user
        )
        plan_seconds = time.perf_counter() - started
        if planned.tags_planned != tags:
            raise SystemExit(f"planned {planned.tags_planned} tags, expected {tags}")
        if not has_page:
            return plan_seconds, None
        started = time.perf_counter()
        response = client.get(reverse("batch", args=[planned.pk]))
        page_seconds = time.perf_counter() - started
        if response.status_code != 200:
            raise SystemExit(f"the batch page answered HTTP {response.status_code}")
        if f"{tags:,}" not in response.content.decode():
            raise SystemExit(f"the batch page does not show the plan's {tags:,} tags")
        return plan_seconds, page_seconds

    one()  # warm caches, compile templates
    timings = [one() for _ in range(runs)]
    plans = [plan for plan, _ in timings]
    result: dict[str, Any] = {"plan_s": statistics.median(plans), "plan_all": plans, "page_s": None}
    if has_page:
        pages = [page or 0.0 for _, page in timings]
        result["page_s"] = statistics.median(pages)
        result["page_all"] = pages
        result["sum_s"] = statistics.median(
            plan + page for plan, page in zip(plans, pages, strict=True)
        )
    return result


def main() -> None:
    step, args = sys.argv[1], sys.argv[2:]
    if step == "seed":
        result = seed(args[0], int(args[1]), int(args[2]), Path(args[3]))
    elif step == "floor":
        result = floor(args[0], Path(args[1]))
    elif step == "batch":
        profile = Path(args[3]) if len(args) > 3 else None
        result = batch(args[0], args[1], int(args[2]), profile)
    elif step == "preview":
        result = preview(args[0], int(args[1]), int(args[2]), int(args[3]))
    else:
        raise SystemExit(f"unknown step {step}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
