"""Each user's selection of tags on a registry: what a deletion will be planned from.

The selection lives in the database (`SelectedTag`), not in checkboxes, so that
"select all matching" over tens of thousands of tags is one `INSERT … SELECT` and
the selection survives paging and filtering. It is bounded (`MAX_SELECTED_TAGS`):
adding past the bound adds what fits, in the list's order, and says how many were
left out.

Sizes count each manifest once: tags that share a digest (in one repository) are
one image, and deleting it frees its size once. Each row keeps the manifest and
size the tag had when selected, so the totals never read the tag or manifest tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import connection, models, transaction
from django.db.models import Count, F, Max, OrderBy, QuerySet, Sum

from .filter_forms import FilterForm, LenientChoiceField, sort_choices
from .models import Registry, Repository, SelectedTag, Tag

MAX_SELECTED_TAGS = 50_000

SIZE_COUNTS_EACH_IMAGE_ONCE = (
    "Total size counts each image once: tags that share a digest are not counted twice."
)
SELECTION_CLEARED_MESSAGE = "Selection cleared."
TAG_GONE_MESSAGE = "That tag is no longer in the registry (a sync removed it): reload the page."


def added_message(added: int) -> str:
    if added == 0:
        return "Nothing new to add: those tags were already selected."
    return f"Added {added:,} tag{'' if added == 1 else 's'} to the selection."


def over_limit_message(skipped: int) -> str:
    return (
        f"The selection is limited to {MAX_SELECTED_TAGS:,} tags: {skipped:,} "
        f"tag{' was' if skipped == 1 else 's were'} not added. "
        "Deal with these first, or narrow the filter."
    )


def removed_message(removed: int) -> str:
    return f"Removed {removed:,} tag{'' if removed == 1 else 's'} from the selection."


@dataclass(frozen=True)
class SelectionSummary:
    count: int
    total_size: int  # bytes, each manifest once

    @property
    def is_full(self) -> bool:
        return self.count >= MAX_SELECTED_TAGS


@dataclass(frozen=True)
class AddResult:
    added: int
    skipped_over_limit: int


@dataclass(frozen=True)
class ToggleResult:
    selected: bool  # whether the tag is selected now
    refused: bool = False  # it was to be added, but the selection is full
    missing: bool = False  # it was to be added, but it is not one of the registry's tags


@dataclass(frozen=True)
class RepositoryTotal:
    repository_id: int
    repository: str
    count: int
    total_size: int


def _selection(*, user: User, registry: Registry) -> QuerySet[SelectedTag]:
    return SelectedTag.objects.filter(user=user, registry=registry)


# -- reading ---------------------------------------------------------------------------


def selection_summary(*, user: User, registry: Registry) -> SelectionSummary:
    """How many tags are selected, and their size with each manifest counted once.

    One query over the selection's own rows (grouped by manifest, then summed).
    """
    totals = (
        _selection(user=user, registry=registry)
        .values("manifest_id")
        .annotate(tags=Count("tag_id"), manifest_size=Max("size"))
        .order_by()
        .aggregate(count=Sum("tags"), total_size=Sum("manifest_size"))
    )
    return SelectionSummary(count=totals["count"] or 0, total_size=totals["total_size"] or 0)


def selected_ids_among(*, user: User, registry: Registry, tag_ids: list[int]) -> set[int]:
    """Which of `tag_ids` (one page of rows) are selected: the page checks their boxes."""
    if not tag_ids:
        return set()
    return set(
        _selection(user=user, registry=registry)
        .filter(tag_id__in=tag_ids)
        .values_list("tag_id", flat=True)
    )


def selected_tags(*, user: User, registry: Registry) -> QuerySet[Tag]:
    """The selected tags, by repository and name, with their repository and manifest."""
    return (
        Tag.objects.filter(selections__user=user, selections__registry=registry)
        .select_related("repository", "manifest")
        .order_by("repository__name", "name", "pk")
    )


# The selection page's sort keys (as URLs carry them) -> what a selected row orders by.
SELECTION_SORTS: dict[str, str] = {
    "repository": "repository__name",
    "name": "tag__name",
    "size": "size",
    "created": "tag__manifest__created",
}


@dataclass(frozen=True)
class SelectionOrder:
    """How the selection page lists the tags: "" is the order they were first seen in."""

    sort: str = ""

    @property
    def sort_key(self) -> str:
        return self.sort.removeprefix("-")

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")


class SelectionOrderForm(FilterForm[SelectionOrder]):
    filters_class = SelectionOrder

    sort = LenientChoiceField(choices=sort_choices(SELECTION_SORTS))


def selected_tag_ids_page(
    *, user: User, registry: Registry, offset: int, limit: int, sort: str = ""
) -> list[int]:
    """Tag ids of one page of the selection in `sort` order (a SELECTION_SORTS key, "-" for
    descending); unsorted, oldest tags first, read from the selection key's index."""
    rows = _selection(user=user, registry=registry)
    key = sort.removeprefix("-")
    if key in SELECTION_SORTS:
        field = F(SELECTION_SORTS[key])
        order: OrderBy = (
            field.desc(nulls_last=True) if sort.startswith("-") else field.asc(nulls_last=True)
        )
        rows = rows.order_by(order, F("tag_id").desc() if order.descending else "tag_id")
    else:
        rows = rows.order_by("tag_id")
    return list(rows.values_list("tag_id", flat=True)[offset : offset + limit])


def totals_by_repository(*, user: User, registry: Registry) -> list[RepositoryTotal]:
    """Selected tags and their size per repository, biggest first (one grouped query).

    A manifest belongs to one repository, so grouping by (repository, manifest)
    first counts each manifest's size once.
    """
    # SQL, because the ORM cannot group the rows of a grouped subquery again.
    quote = connection.ops.quote_name
    table = quote(SelectedTag._meta.db_table)
    repositories = quote(Repository._meta.db_table)
    statement = (
        f"SELECT r.id, r.name, SUM(g.tags), SUM(g.size) FROM ("
        f"  SELECT repository_id, manifest_id, COUNT(*) AS tags, MAX(size) AS size"
        f"  FROM {table} WHERE user_id = %s AND registry_id = %s"
        f"  GROUP BY repository_id, manifest_id"
        f") AS g JOIN {repositories} AS r ON r.id = g.repository_id "
        f"GROUP BY r.id, r.name ORDER BY SUM(g.size) DESC, r.name"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [user.pk, registry.pk])
        rows = cursor.fetchall()
    return [
        RepositoryTotal(repository_id=pk, repository=name, count=int(n), total_size=int(size))
        for pk, name, n, size in rows
    ]


# -- changing ----------------------------------------------------------------------------


def add_matching(*, user: User, registry: Registry, queryset: QuerySet[Tag]) -> AddResult:
    """Select every tag of `queryset` (which must be the registry's tags) that fits.

    One `INSERT … SELECT … ON CONFLICT DO NOTHING` built from the queryset's own
    SQL, so no tag row travels to Python. When not all fit, the first ones in the
    queryset's order are taken (what the user sees first in the list).
    """
    if connection.vendor not in {"sqlite", "postgresql"}:
        raise NotImplementedError(
            f"Selecting in bulk needs SQLite or PostgreSQL, not {connection.vendor}."
        )
    selection = _selection(user=user, registry=registry)
    # NOT IN (a hashed subquery) rather than NOT EXISTS: PostgreSQL plans it well even
    # when its statistics still think the selection table is empty.
    unselected = queryset.filter(repository__registry=registry).exclude(
        pk__in=selection.values("tag_id")
    )
    with transaction.atomic():
        _lock_selection_of(user)
        room = max(MAX_SELECTED_TAGS - selection.count(), 0)
        wanted = unselected.order_by().count()
        # When everything fits the order does not matter, and sorting costs time;
        # otherwise the first ones in the list's order are taken, up to the bound.
        chosen = unselected.order_by() if wanted <= room else unselected[:room]
        added = _insert_selected(user=user, registry=registry, tags=chosen) if room else 0
    return AddResult(added=added, skipped_over_limit=wanted - added)


def _lock_selection_of(user: User) -> None:
    """One bulk change at a time per user, so that two tabs cannot pass the bound together.

    On PostgreSQL the commit does not wait for the disk either: a selection lost to
    a crash in the next fraction of a second is harmless, and a 50,000-row commit
    otherwise waits for its WAL flush.
    """
    list(get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk"))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _insert_selected(*, user: User, registry: Registry, tags: QuerySet[Tag]) -> int:
    """Add `tags` to the selection in one statement; returns how many were new."""
    chosen = tags.values(
        chosen_repository=F("repository_id"),
        chosen_tag=F("pk"),
        chosen_manifest=F("manifest_id"),
        chosen_size=F("manifest__size"),
    )
    sql, params = chosen.query.sql_with_params()
    quote = connection.ops.quote_name
    fields = ["user", "registry", "repository", "tag", "manifest", "size"]
    columns = ", ".join(quote(_column(SelectedTag, name)) for name in fields)
    # WHERE 1 = 1: SQLite needs a WHERE before ON CONFLICT in an INSERT … SELECT.
    statement = (
        f"INSERT INTO {quote(SelectedTag._meta.db_table)} ({columns}) "
        f"SELECT %s, %s, chosen.chosen_repository, chosen.chosen_tag, chosen.chosen_manifest, "
        f"chosen.chosen_size FROM ({sql}) AS chosen WHERE 1 = 1 ON CONFLICT DO NOTHING"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [user.pk, registry.pk, *params])
        return max(int(cursor.rowcount), 0)


def add_tags(*, user: User, registry: Registry, tag_ids: list[int]) -> AddResult:
    """Select these tags (one page of rows); ids of other registries' tags are ignored."""
    if not tag_ids:
        return AddResult(added=0, skipped_over_limit=0)
    tags = Tag.objects.filter(pk__in=tag_ids).order_by("pk")
    return add_matching(user=user, registry=registry, queryset=tags)


def remove_tags(*, user: User, registry: Registry, tag_ids: list[int]) -> int:
    """Unselect these tags; returns how many were selected."""
    if not tag_ids:
        return 0
    removed, _ = _selection(user=user, registry=registry).filter(tag_id__in=tag_ids).delete()
    return removed


def toggle_tag(*, user: User, registry: Registry, tag_id: int) -> ToggleResult:
    """Unselect the tag if it is selected, else select it (unless the selection is full).

    An id that is not one of the registry's tags (a sync removed it) stays unselected.
    """
    if remove_tags(user=user, registry=registry, tag_ids=[tag_id]):
        return ToggleResult(selected=False)
    result = add_tags(user=user, registry=registry, tag_ids=[tag_id])
    if result.added:
        return ToggleResult(selected=True)
    if result.skipped_over_limit:
        return ToggleResult(selected=False, refused=True)
    return ToggleResult(selected=False, missing=True)


def clear_selection(*, user: User, registry: Registry) -> int:
    """Unselect everything on the registry; returns how many tags were selected."""
    removed, _ = _selection(user=user, registry=registry).delete()
    return removed


def _column(model: type[models.Model], name: str) -> str:
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field), f"{name} is a column of {model.__name__}"
    assert field.column, f"{name} is a column of {model.__name__}"
    return field.column
