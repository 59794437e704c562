"""Seed a registry with synthetic, CI-like images: what a team's registry looks like.

Per repository: review-branch builds (several pipelines per branch, each image labelled
with the commit it was built from, `org.opencontainers.image.revision`), merge-request
builds (unlabelled), a `latest`/`master` pair sharing one digest, `main`, semver releases with
`stable` on the newest, one Docker manifest list and one OCI index (amd64 and
arm64/v8), OCI image manifests, and a cosign-style signature tag for `latest`.
The first repository also has a tag at the 128-character limit. Created dates
spread over six months. Deterministic for a given `random_seed`.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from devtools.image_builder import Pushed, push_image, push_index, retag, upload_layer
from registry.client import Descriptor, RegistryClient

BRANCHES = [
    "feature-login", "feature-signup", "fix-payment-rounding", "chore-deps", "feature-search",
    "fix-timezone", "feature-dark-mode", "refactor-api-client", "feature-export-csv",
    "fix-memory-leak", "feature-notifications", "spike-graphql",
]  # fmt: skip
PROJECTS = ["web", "api", "worker", "tools/ci-runner", "docs", "billing", "auth", "search"]
REVIEW_TAG = re.compile(r"^review-(?P<branch>.+)-(?P<pipeline>\d+)$")
REVISION_LABEL = "org.opencontainers.image.revision"
MAX_TAG = "release-candidate-" + "x" * 110  # 128 characters: the tag grammar's limit


@dataclass(frozen=True)
class PlannedImage:
    tag: str
    created: datetime
    oci: bool = False
    revision: str = ""  # the commit it was built from, as its label says


def demo_revision(branch: str, pipeline: int) -> str:
    """The commit a demo image was built from: made up, stable, and the same one the
    demo's stand-in GitLab names (devtools.demo_gitlab)."""
    return hashlib.sha1(f"{branch}:{pipeline}".encode()).hexdigest()


def revision_of(tag: str) -> str:
    """The commit of a demo image, from its tag (review builds and the main line)."""
    if tag in ("latest", "main", "master"):
        return demo_revision("main", 0)
    match = REVIEW_TAG.match(tag)
    return demo_revision(match["branch"], int(match["pipeline"])) if match else ""


@dataclass
class SeedSummary:
    repositories: list[str] = field(default_factory=list)
    tags: int = 0
    manifests: int = 0
    # (repository, tag) → what was pushed, for tests that compare the cache with it.
    expected: dict[tuple[str, str], Pushed] = field(default_factory=dict)


def repository_names(count: int) -> list[str]:
    names = [f"acme/{project}" for project in PROJECTS]
    names += [f"team-{i // 8:02d}/service-{i % 8:02d}" for i in range(max(0, count - len(names)))]
    return names[:count]


def seed_demo_images(
    *,
    client: RegistryClient,
    repositories: int = 6,
    tags_per_repository: int = 40,
    now: datetime | None = None,
    random_seed: int = 1,
    progress: Callable[[int, int], None] | None = None,
    keep_expected: bool = True,
) -> SeedSummary:
    """Push the demo images; returns what was pushed. Safe to run again on the same registry."""
    now = now or datetime.now(UTC).replace(microsecond=0)
    summary = SeedSummary()
    for index, name in enumerate(repository_names(repositories)):
        rng = random.Random(f"{random_seed}:{name}")
        pushed = _seed_repository(
            client=client, name=name, tags=tags_per_repository, now=now, rng=rng, first=index == 0
        )
        summary.repositories.append(name)
        summary.tags += len(pushed)
        summary.manifests += len({image.digest for image in pushed.values()})
        if keep_expected:
            summary.expected.update({(name, tag): image for tag, image in pushed.items()})
        if progress:
            progress(index + 1, repositories)
    return summary


def _seed_repository(
    *, client: RegistryClient, name: str, tags: int, now: datetime, rng: random.Random, first: bool
) -> dict[str, Pushed]:
    base = [upload_layer(client, name, _blob(f"base-{i}", 2048)) for i in range(2)]
    plan = list(_plan_tags(tags=tags, now=now, rng=rng, first=first))
    pushed: dict[str, Pushed] = {}

    def push(image: PlannedImage) -> Pushed:
        unique = _blob(f"{name}:{image.tag}:{image.created}", rng_size(image.tag))
        return push_image(
            client,
            name,
            image.tag,
            created=image.created,
            oci=image.oci,
            layers=(unique,),
            shared_layers=tuple(base),
            label=image.tag,
            labels={REVISION_LABEL: image.revision} if image.revision else None,
        )

    for image, result, error in client.map_concurrently(push, plan):
        if error is not None:
            raise error
        assert result is not None
        pushed[image.tag] = result
    if tags >= 4:
        pushed["master"] = pushed["latest"]
        retag(client, name, "latest", "master")
        _push_signature(client=client, name=name, subject=pushed["latest"], pushed=pushed)
    if tags >= 20:
        _push_multi_arch(client=client, name=name, now=now, base=base, pushed=pushed)
    semver = sorted((t for t in pushed if t.startswith("v") and t[1:2].isdigit()), key=_version)
    if semver and tags >= 10:
        pushed["stable"] = pushed[semver[-1]]
        retag(client, name, semver[-1], "stable")
    return pushed


def _plan_tags(
    *, tags: int, now: datetime, rng: random.Random, first: bool
) -> Iterator[PlannedImage]:
    """The single-platform images; shared, multi-arch and signature tags come after."""
    fixed = ["latest", "main"] if tags >= 4 else []
    releases = max(1, tags // 20) if tags >= 10 else 0
    # Pushed after these: master and the signature, stable, the two multi-arch tags.
    extra = 2 * (tags >= 4) + (tags >= 10) + 2 * (tags >= 20)
    reviews = max(0, tags - len(fixed) - releases - extra - (1 if first and tags >= 10 else 0))
    for tag in fixed:
        yield PlannedImage(
            tag, now - timedelta(hours=rng.randint(1, 72)), revision=revision_of(tag)
        )
    for minor in range(releases):
        yield PlannedImage(f"v1.{minor}.0", now - timedelta(days=170 - minor * 160 // releases))
    if first and tags >= 10:
        yield PlannedImage(MAX_TAG, now - timedelta(days=30))
    for number in range(reviews):
        branch = BRANCHES[number % len(BRANCHES)]
        pipeline = 1000 + number
        age = (
            timedelta(days=rng.uniform(0, 180))
            if number % 7
            else timedelta(days=rng.uniform(0, 10))
        )
        tag = (
            f"mr-{pipeline % 400}-{pipeline}" if number % 9 == 4 else f"review-{branch}-{pipeline}"
        )
        yield PlannedImage(tag, now - age, oci=number % 10 == 3, revision=revision_of(tag))


def _push_multi_arch(
    *,
    client: RegistryClient,
    name: str,
    now: datetime,
    base: list[Descriptor],
    pushed: dict[str, Pushed],
) -> None:
    for tag, oci, days in (("v2.0.0-multiarch", False, 20), ("v2.1.0-oci-index", True, 5)):
        children = [
            push_image(
                client,
                name,
                None,
                created=now - timedelta(days=days, hours=hours),
                arch=arch,
                variant=variant,
                oci=oci,
                layers=(_blob(f"{name}:{tag}:{arch}", 1024),),
                shared_layers=tuple(base),
                label=f"{tag}-{arch}",
            )
            for arch, variant, hours in (("amd64", "", 1), ("arm64", "v8", 0))
        ]
        pushed[tag] = push_index(client, name, tag, children, oci=oci)


def _push_signature(
    *, client: RegistryClient, name: str, subject: Pushed, pushed: dict[str, Pushed]
) -> None:
    """A cosign-style signature tag, `sha256-<hex>.sig`, pointing at `latest`."""
    tag = subject.digest.replace(":", "-") + ".sig"
    pushed[tag] = push_image(
        client,
        name,
        tag,
        created=subject.created,
        oci=True,
        layers=(_blob(f"signature:{subject.digest}", 256),),
        label="signature",
    )


def rng_size(tag: str) -> int:
    """A layer size between 512 B and 8 KiB, stable for a tag."""
    return 512 + int(hashlib.sha256(tag.encode()).hexdigest()[:4], 16) % 7680


def _blob(seed: str, size: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def _version(tag: str) -> tuple[int, ...]:
    return tuple(int(part) for part in tag[1:].split("-")[0].split(".") if part.isdigit())
