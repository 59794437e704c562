"""The dashboard's figures: one card per registry, aggregated in SQL.

The page costs the same seven queries however many registries, repositories and
tags there are. Four of them read the cache, each a GROUP BY repository with
conditional aggregates, and none loads a tag or a manifest row:

- tagged manifests: their size, and the age histogram (a manifest's tags share
  its created date, so it counts `tag_count` tags in its bucket);
- tagged manifests that some kept (not stale) tag points at: their size;
- tags: how many, how many stale (from the index on repository and is_stale);
- tags whose image has no created date: the age histogram by first seen.

The page adds up those rows per registry (a few hundred repositories, not
100,000 tags) and picks each registry's biggest repositories.

Sizes count each manifest once per repository, however many tags share it, and
only manifests a tag points at (`tag_count > 0`, kept by the sync; an index's
children are inside its size). A manifest's size is stale when every tag on it
is stale (no kept tag points at it): only then would deleting the stale tags
free it. The repositories page counts the same way.

Why not one query over the tags joined to their manifests: it reads every tag
row, and PostgreSQL prices the per-row subqueries it needs (is this the
manifest's first tag? is any tag on it kept?) so high that its JIT sets out to
compile the query. Scanning the manifests and tags apart reads less and plans
simply on both (figures in docs/benchmarks.md).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Aggregate, Count, OuterRef, Q, QuerySet, Subquery, Sum
from django.template.defaultfilters import filesizeformat

from .charts import (
    BarValue,
    Histogram,
    HorizontalBarChart,
    SplitBar,
    histogram,
    horizontal_bars,
    split_bar,
)
from .events.freshness import Freshness, endpoint_of, freshness_of, missed_message
from .models import GitLabConnection, Manifest, Registry, Repository, SyncRun, Tag
from .models.cache import without_userinfo
from .sync_requests import SyncState, sync_state_of

TOP_REPOSITORIES = 15

# The charts' size in SVG units. Their text is 13 units (janitor.css), and a chart is
# never drawn narrower than 340 px (a 390 px phone), so it never shows below 12 px.
CHART_WIDTH = 360
BAR_CHART = {
    "width": CHART_WIDTH,
    "label_width": 140,
    "value_width": 64,
    "label_chars": 20,
    "bar_height": 18,
}
HISTOGRAM = {"width": CHART_WIDTH, "height": 170, "bottom": 34}


@dataclass(frozen=True)
class AgeBucket:
    label: str
    max_days: int | None  # younger than this many days (and not younger than the bucket before)

    @property
    def key(self) -> str:
        return f"younger_than_{self.max_days}"


# Age counts from the image's created date, or from first seen when it is unknown.
AGE_BUCKETS = [
    AgeBucket("< 7 days", 7),
    AgeBucket("7–14 days", 14),  # noqa: RUF001
    AgeBucket("14–30 days", 30),  # noqa: RUF001
    AgeBucket("1–3 months", 90),  # noqa: RUF001
    AgeBucket("3–6 months", 180),  # noqa: RUF001
    AgeBucket("> 6 months", None),
]


@dataclass(frozen=True)
class RegistryCard:
    registry: Registry
    repositories: int
    tags: int
    stale_tags: int
    total_size: int
    stale_size: int
    sync: SyncState
    sizes: HorizontalBarChart  # the biggest repositories, stale part highlighted
    ages: Histogram
    stale_split: SplitBar
    # "live (last event 4 s ago)" or "synced 12 min ago" (registry.events.freshness).
    freshness: Freshness | None = None
    differences_missed: int | None = None  # by the last sync, where notifications are live

    @property
    def missed_message(self) -> str:
        return missed_message(self.differences_missed) if self.differences_missed else ""

    @property
    def kept_size(self) -> int:
        return self.total_size - self.stale_size

    @property
    def repositories_shown(self) -> int:
        return len(self.sizes.bars)

    @property
    def public_url(self) -> str:
        return without_userinfo(self.registry.url)

    @property
    def gitlab(self) -> GitLabConnection | None:
        """The registry's GitLab connection, read with the registry (select_related)."""
        return getattr(self.registry, "gitlab", None)


def human_size(size: int) -> str:
    return str(filesizeformat(size))


def registry_cards(*, now: datetime, registry: Registry | None = None) -> list[RegistryCard]:
    """Every registry's card (or only `registry`'s), in name order. Seven queries.

    With `registry`, the figures' queries still read every registry and the page
    keeps that one's rows: the plans stay the ones measured for the full page.
    """
    registries = _registries_with_runs(registry)
    if not registries:
        return []
    # latest_run_id and latest_finished_run_id: annotations of _registries_with_runs.
    runs = SyncRun.objects.in_bulk(
        {r.latest_run_id for r in registries if r.latest_run_id}  # type: ignore[attr-defined]
        | {r.latest_finished_run_id for r in registries if r.latest_finished_run_id}  # type: ignore[attr-defined]
    )
    repositories = Repository.objects.filter(registry__in=registries).order_by("name")
    by_repository = _figures_by_repository(now=now)
    figures: dict[int, Counter[str]] = defaultdict(Counter)
    repository_count: Counter[int] = Counter()
    bars: dict[int, list[BarValue]] = defaultdict(list)
    for pk, registry_id, name in repositories.values_list("pk", "registry_id", "name"):
        repository_count[registry_id] += 1
        repository = by_repository.get(pk)
        if repository is None:  # no tags
            continue
        figures[registry_id].update(repository)
        if repository["total_size"]:
            stale = repository["total_size"] - repository["kept_size"]
            bars[registry_id].append(
                BarValue(name, value=repository["total_size"], part=stale, key=name)
            )
    return [
        _card(
            r,
            repositories=repository_count[r.pk],
            figures=figures[r.pk],
            sizes=bars[r.pk],
            sync=sync_state_of(
                registry=r,
                latest=runs.get(r.latest_run_id),  # type: ignore[attr-defined]
                latest_finished=runs.get(r.latest_finished_run_id),  # type: ignore[attr-defined]
                request=None,
                now=now,
            ),
            last_finished=runs.get(r.latest_finished_run_id),  # type: ignore[attr-defined]
            now=now,
        )
        for r in registries
    ]


def _card(
    registry: Registry,
    *,
    repositories: int,
    figures: Counter[str],
    sizes: list[BarValue],
    sync: SyncState,
    last_finished: SyncRun | None = None,
    now: datetime | None = None,
) -> RegistryCard:
    biggest = sorted(sizes, key=lambda bar: (-bar.value, bar.label))[:TOP_REPOSITORIES]
    total_size = figures["total_size"]
    stale_size = total_size - figures["kept_size"]
    return RegistryCard(
        registry=registry,
        repositories=repositories,
        tags=figures["tags"],
        stale_tags=figures["stale_tags"],
        total_size=total_size,
        stale_size=stale_size,
        sync=sync,
        sizes=horizontal_bars(biggest, format_value=human_size, **BAR_CHART),
        ages=histogram(age_histogram(figures), **HISTOGRAM),
        # Stale first, as in the bars by repository (and their legends).
        stale_split=split_bar(
            [("Stale", stale_size, "stale"), ("Kept", total_size - stale_size, "kept")],
            format_value=human_size,
            width=CHART_WIDTH,
        ),
        freshness=freshness_of(endpoint=endpoint_of(registry), last_sync=last_finished, now=now)
        if now is not None
        else None,
        differences_missed=last_finished.differences_missed if last_finished else None,
    )


def age_histogram(figures: Counter[str]) -> list[tuple[str, int]]:
    """The buckets' counts, from the cumulative "younger than N days" counts."""
    counts = []
    counted = 0
    for bucket in AGE_BUCKETS:
        younger = figures[bucket.key] if bucket.max_days is not None else figures["tags"]
        counts.append((bucket.label, younger - counted))
        counted = younger
    return counts


def _registries_with_runs(registry: Registry | None) -> list[Registry]:
    runs = SyncRun.objects.filter(registry=OuterRef("pk")).order_by("-started_at", "-pk")
    # With its notification endpoint (registry.events), for the card's freshness.
    registries: QuerySet[Registry] = (
        Registry.objects.order_by("name")
        .select_related("event_endpoint", "gitlab")
        .annotate(
            latest_run_id=Subquery(runs.values("pk")[:1]),
            latest_finished_run_id=Subquery(
                runs.exclude(status=SyncRun.Status.RUNNING).values("pk")[:1]
            ),
        )
    )
    if registry is not None:
        registries = registries.filter(pk=registry.pk)
    return list(registries)


# -- the four GROUP BY repository queries ----------------------------------------------


def _figures_by_repository(*, now: datetime) -> dict[int, Counter[str]]:
    """Repository id → tags, stale_tags, total_size, kept_size, younger_than_N."""
    tagged = Manifest.objects.order_by().filter(tag_count__gt=0).values("repository_id")
    kept_manifests = Tag.objects.filter(is_stale=False).values("manifest_id")
    sources: list[Iterable[Mapping[str, Any]]] = [
        tagged.annotate(
            total_size=Sum("size"),
            **_younger_than(
                "created", now=now, aggregate=lambda when: Sum("tag_count", filter=when)
            ),
        ),
        tagged.filter(pk__in=kept_manifests).annotate(kept_size=Sum("size")),
        Tag.objects.order_by()
        .values("repository_id")
        .annotate(tags=Count("pk"), stale_tags=Count("pk", filter=Q(is_stale=True))),
        Tag.objects.order_by()
        .filter(manifest__created__isnull=True)
        .values("repository_id")
        .annotate(
            **_younger_than("first_seen", now=now, aggregate=lambda when: Count("pk", filter=when))
        ),
    ]
    figures: dict[int, Counter[str]] = defaultdict(Counter)
    for rows in sources:
        for row in rows:
            figures[row["repository_id"]].update(
                {key: value or 0 for key, value in row.items() if key != "repository_id"}
            )
    return figures


def _younger_than(
    field: str, *, now: datetime, aggregate: Callable[[Q], Aggregate]
) -> dict[str, Aggregate]:
    """One conditional aggregate per age bucket: what is younger than its upper bound."""
    return {
        bucket.key: aggregate(Q(**{f"{field}__gt": now - timedelta(days=bucket.max_days)}))
        for bucket in AGE_BUCKETS
        if bucket.max_days is not None
    }
