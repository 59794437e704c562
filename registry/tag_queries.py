"""Read queries behind the Tags, Stale images and Repositories pages.

A filter is parsed once from the query string into a `TagFilters`, turned into
one queryset by `filter_tags`, and back into a query string by
`filter_querystring`, so that a page, its pager, its sort links and "select all
matching" (registry.selection) all mean the same tags.

Everything here runs in a constant number of queries, paged in SQL
(`DeferredJoinPaginator`): a tag page is a COUNT, then the page's rows found by
a narrow sorted subquery of ids (for costly filters, one statement gives the
count and the ids, then the rows are read); the repositories page is a page
of repositories and their figures from a few GROUP BY queries.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any, Literal
from urllib.parse import urlencode

from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    F,
    Func,
    Max,
    OrderBy,
    OuterRef,
    Q,
    QuerySet,
    Sum,
)
from django.http import QueryDict
from django.utils import timezone

from .client.media_types import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    OCI_MANIFEST,
)
from .models import Manifest, Registry, Repository, StalenessRules, Tag
from .regex_validation import regex_problem
from .staleness import TagFacts, evaluate_tags

NameMode = Literal["substring", "regex"]

PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_PAGE_SIZE = 50
DEFAULT_SORT = "-created"
MAX_OLDER_THAN_DAYS = 36_500
MAX_PATTERN_LENGTH = 200

# Sort key (as it appears in URLs) -> the Tag field it orders by.
TAG_SORTS: dict[str, str] = {
    "name": "name",
    "repository": "repository__name",
    "size": "manifest__size",
    "created": "manifest__created",
    "first_seen": "first_seen",
    "digest": "manifest__digest",
    "media_type": "manifest__media_type",
}
# Where a column's first click sorts descending (biggest, newest first).
DESCENDING_FIRST = frozenset(
    {"size", "created", "first_seen", "tags", "stale_tags", "stale_size", "newest"}
)

MEDIA_TYPE_NAMES = {
    DOCKER_MANIFEST: "Docker image",
    DOCKER_MANIFEST_LIST: "Docker list",
    OCI_MANIFEST: "OCI image",
    OCI_INDEX: "OCI index",
}


def invalid_regex_message(problem: str) -> str:
    return f"That regular expression is not valid: {problem}."


PATTERN_TOO_LONG_MESSAGE = f"Keep the name filter under {MAX_PATTERN_LENGTH} characters."
OLDER_THAN_MESSAGE = f"Older than: enter a whole number of days from 0 to {MAX_OLDER_THAN_DAYS}."


# -- filters ---------------------------------------------------------------------


@dataclass(frozen=True)
class TagFilters:
    repository: str = ""
    name: str = ""
    name_mode: NameMode = "substring"
    # Match the whole name rather than anywhere in it (either mode).
    anchored: bool = False
    older_than_days: int | None = None
    stale_only: bool = False
    protected_only: bool = False
    multi_arch_only: bool = False
    shared_only: bool = False
    sort: str = DEFAULT_SORT
    page_size: int = DEFAULT_PAGE_SIZE

    @property
    def sort_key(self) -> str:
        """The column sorted by, without the direction."""
        return self.sort.removeprefix("-")

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")

    @property
    def is_filtered(self) -> bool:
        """Whether anything narrows the list (sorting and page size do not)."""
        return any(
            [
                self.name,
                self.older_than_days is not None,
                self.stale_only,
                self.protected_only,
                self.multi_arch_only,
                self.shared_only,
            ]
        )


_TRUE = {"1", "on", "true", "yes"}


def parse_tag_filters(params: QueryDict) -> tuple[TagFilters, dict[str, str]]:
    """The filters a query string asks for, and what is wrong with it (field -> message).

    A field with an error is left out of the filters (never applied), so a bad
    regular expression lists everything rather than failing.
    """
    errors: dict[str, str] = {}

    def flag(field: str) -> bool:
        return params.get(field, "").strip().lower() in _TRUE

    name_mode: NameMode = "regex" if params.get("name_mode") == "regex" else "substring"
    name = params.get("name", "").strip()
    if len(name) > MAX_PATTERN_LENGTH:
        errors["name"], name = PATTERN_TOO_LONG_MESSAGE, ""
    elif name and name_mode == "regex":
        problem = regex_problem(name, in_database=True)
        effective = name_regex(name, anchored=flag("anchored"))
        if not problem and effective != name:
            problem = regex_problem(effective, in_database=True)
        if problem:
            errors["name"], name = invalid_regex_message(problem), ""

    older_than_days: int | None = None
    raw_days = params.get("older_than_days", "").strip()
    if raw_days:
        try:
            older_than_days = int(raw_days)
        except ValueError:
            errors["older_than_days"] = OLDER_THAN_MESSAGE
        else:
            if not 0 <= older_than_days <= MAX_OLDER_THAN_DAYS:
                errors["older_than_days"], older_than_days = OLDER_THAN_MESSAGE, None

    sort = params.get("sort", DEFAULT_SORT)
    if sort.removeprefix("-") not in TAG_SORTS:
        sort = DEFAULT_SORT
    try:
        page_size = int(params.get("page_size", DEFAULT_PAGE_SIZE))
    except ValueError:
        page_size = DEFAULT_PAGE_SIZE
    if page_size not in PAGE_SIZES:
        page_size = DEFAULT_PAGE_SIZE

    filters = TagFilters(
        repository=params.get("repository", "").strip(),
        name=name,
        name_mode=name_mode,
        anchored=flag("anchored"),
        older_than_days=older_than_days,
        stale_only=flag("stale_only"),
        protected_only=flag("protected_only"),
        multi_arch_only=flag("multi_arch_only"),
        shared_only=flag("shared_only"),
        sort=sort,
        page_size=page_size,
    )
    return filters, errors


def filter_querystring(filters: TagFilters, **changes: Any) -> str:
    """The query string for `filters` (with `changes` applied), defaults left out."""
    filters = replace(filters, **changes) if changes else filters
    defaults = TagFilters()
    pairs: list[tuple[str, str]] = []
    for field in fields(TagFilters):
        value = getattr(filters, field.name)
        if value == getattr(defaults, field.name) or value is None:
            continue
        if isinstance(value, bool):
            value = "1"
        pairs.append((field.name, str(value)))
    return urlencode(pairs)


def filter_tags(*, registry: Registry, filters: TagFilters) -> QuerySet[Tag]:
    """The registry's tags that match `filters`, in their sort order (then by id)."""
    tags = Tag.objects.filter(repository__registry=registry).select_related(
        "repository", "manifest"
    )
    if filters.repository:
        tags = tags.filter(repository__name=filters.repository)
    if filters.name:
        tags = tags.filter(_name_condition(filters))
    if filters.older_than_days is not None:
        cutoff = timezone.now() - timedelta(days=filters.older_than_days)
        # An image whose created date is unknown counts from first seen, as in the rules.
        tags = tags.filter(
            Q(manifest__created__lt=cutoff)
            | Q(manifest__created__isnull=True, first_seen__lt=cutoff)
        )
    if filters.stale_only:
        tags = tags.filter(is_stale=True)
    if filters.protected_only:
        tags = tags.filter(is_protected=True)
    if filters.multi_arch_only:
        # More than one platform: the second element of the list exists.
        tags = tags.filter(manifest__platforms__1__isnull=False)
    if filters.shared_only:
        tags = tags.filter(manifest__tag_count__gt=1)
    return tags.order_by(*_tag_ordering(filters))


def name_regex(pattern: str, *, anchored: bool) -> str:
    """The regular expression the database runs: anchored means the whole name matches.

    Leading flags such as (?i) must stay at the very start, in Python and PostgreSQL alike.
    """
    if not anchored:
        return pattern
    flags = _LEADING_FLAGS.match(pattern)
    prefix = flags.group(0) if flags else ""
    return f"{prefix}^(?:{pattern[len(prefix) :]})$"


_LEADING_FLAGS = re.compile(r"^\(\?[aiLmsux]+\)")
# Back-references need their groups; POSIX classes ([[:alpha:]]) nest brackets.
_NEEDS_CAPTURES = re.compile(r"\\[1-9]|\(\?P=|\\k<|\[[:.=]")


def without_captures(pattern: str) -> str:
    """The same filter with its groups made non-capturing: `(a|b)` becomes `(?:a|b)`.

    A filter only asks whether a name matches, never what a group caught, and
    PostgreSQL's regex engine takes about twice as long over 100,000 names when the
    pattern has capturing groups. Patterns with back-references, or with bracket
    expressions this scanner does not follow, are left as they are.
    """
    if _NEEDS_CAPTURES.search(pattern):
        return pattern
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            out.append(pattern[index : index + 2])
            index += 2
            continue
        if char == "[":
            end = _bracket_end(pattern, index)
            out.append(pattern[index:end])
            index = end
            continue
        if char == "(" and not pattern.startswith("?", index + 1):
            out.append("(?:")
        else:
            out.append(char)
        index += 1
    return "".join(out)


def _bracket_end(pattern: str, start: int) -> int:
    """The index just past the bracket expression opening at `start` (or the end)."""
    index = start + 1
    if pattern.startswith("^", index):
        index += 1
    if pattern.startswith("]", index):  # a leading ] is a literal
        index += 1
    while index < len(pattern) and pattern[index] != "]":
        index += 2 if pattern[index] == "\\" else 1
    return index + 1


class RegexSearch(Func):
    """True where the text matches the regular expression: the `regex` lookup, but fast on SQLite.

    Django's SQLite REGEXP calls re.search(pattern, value) on every row, passing
    the pattern in and finding it in re's cache each time; over 100,000 tags that
    was most of a regex-filtered page's time. On SQLite each pattern here becomes
    a one-argument SQL function bound to the compiled pattern (2-3x faster).
    PostgreSQL runs its own `~` operator.
    """

    output_field = BooleanField()

    def __init__(self, expression: Any, pattern: str) -> None:
        super().__init__(expression)
        self.pattern = pattern

    def as_sql(self, compiler: Any, connection: Any, **extra_context: Any) -> tuple[str, list]:
        sql, params = compiler.compile(self.source_expressions[0])
        return f"{sql} {connection.operators['regex'] % '%s'}", [*params, self.pattern]

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> tuple[str, list]:
        search = re.compile(self.pattern).search
        name = "janitor_regex_" + hashlib.sha256(self.pattern.encode()).hexdigest()[:20]
        connection.ensure_connection()
        connection.connection.create_function(
            name,
            1,
            lambda value: value is not None and search(value) is not None,
            deterministic=True,
        )
        sql, params = compiler.compile(self.source_expressions[0])
        return f"{name}({sql})", list(params)


class TextMatch(Func):
    """Case-insensitive LIKE: the text contains `text` (or, `whole`, is it).

    Django's icontains is UPPER(name) LIKE UPPER(…) on PostgreSQL, an expression
    it keeps no statistics on: it guessed 32 matching rows where 50,000 matched,
    and joined the manifests row by row (5x slower). ILIKE on the column itself
    is estimated from the column's statistics. SQLite's LIKE already ignores case.
    """

    output_field = BooleanField()

    def __init__(self, expression: Any, text: str, *, whole: bool = False) -> None:
        super().__init__(expression)
        self.text = text
        self.whole = whole

    def _pattern(self, connection: Any) -> str:
        escaped = connection.ops.prep_for_like_query(self.text)
        return escaped if self.whole else f"%{escaped}%"

    def as_sql(self, compiler: Any, connection: Any, **extra_context: Any) -> tuple[str, list]:
        sql, params = compiler.compile(self.source_expressions[0])
        return f"{sql} LIKE %s ESCAPE '\\'", [*params, self._pattern(connection)]

    def as_postgresql(
        self, compiler: Any, connection: Any, **extra_context: Any
    ) -> tuple[str, list]:
        sql, params = compiler.compile(self.source_expressions[0])
        return f"{sql}::text ILIKE %s", [*params, self._pattern(connection)]


def _name_condition(filters: TagFilters) -> RegexSearch | TextMatch:
    if filters.name_mode == "regex":
        pattern = name_regex(filters.name, anchored=filters.anchored)
        return RegexSearch(F("name"), without_captures(pattern))
    return TextMatch(F("name"), filters.name, whole=filters.anchored)


def _tag_ordering(filters: TagFilters) -> list[OrderBy]:
    field = TAG_SORTS[filters.sort_key]
    if filters.descending:
        # Unknown created dates go last either way (PostgreSQL puts NULL first when descending).
        return [F(field).desc(nulls_last=True), F("pk").desc()]
    return [F(field).asc(nulls_last=True), F("pk").asc()]


def media_type_name(media_type: str) -> str:
    """A short name for a manifest media type (the full one goes in a tooltip)."""
    return MEDIA_TYPE_NAMES.get(media_type, media_type)


class DeferredJoinPaginator(Paginator):
    """Pages of a big sorted queryset, without sorting whole rows.

    The page's ids come from a narrow query (only what the ORDER BY needs goes
    through the sort: no joined columns, no annotations it does not sort by), and
    the full rows are read for those ids only, however deep the page.

    With `one_pass`, the count and the page's ids come from a single statement
    (the matching rows are gathered once, then counted and sorted): for filters
    that are costly to evaluate, such as a regular expression run on every tag,
    that halves the work. Without it the count is a separate COUNT, cheaper when
    an index answers it.
    """

    def __init__(self, object_list: QuerySet[Any], per_page: int, *, one_pass: bool = False):
        super().__init__(object_list, per_page)
        self.one_pass = one_pass

    def page(self, number: int | str) -> Page:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        ids = self.object_list.values("pk")[bottom:top]
        return self._get_page(self.object_list.filter(pk__in=ids), number, self)

    def get_page(self, number: int | str | None) -> Page:
        if not self.one_pass or self.orphans:
            return super().get_page(number)
        try:
            wanted = max(int(number or 1), 1)
        except (TypeError, ValueError):
            wanted = 1
        count, ids = _count_and_page_ids(
            self.object_list, offset=(wanted - 1) * self.per_page, limit=self.per_page
        )
        if count is None and wanted > 1:
            return super().get_page(number)  # past the end: count, then show the last page
        self.__dict__["count"] = count or 0  # Paginator.count is a cached_property
        return self._get_page(self.object_list.filter(pk__in=ids), wanted, self)


def _count_and_page_ids(
    rows: QuerySet[Any], *, offset: int, limit: int
) -> tuple[int | None, list[int]]:
    """How many rows match, and the ids of rows offset..offset+limit, in one statement.

    The count is None when the page is empty (it comes with the page's rows).
    """
    ordering = [_as_order_by(item) for item in rows.query.order_by]
    keys = {f"sort_{n}": order.expression for n, order in enumerate(ordering)}
    narrow = rows.order_by().annotate(**keys).values_list("pk", *keys)
    sql, params = narrow.query.sql_with_params()
    quote = connection.ops.quote_name
    columns = ", ".join(quote(name) for name in ["pk", *keys])
    order = ", ".join(
        f"{quote(name)} {'DESC' if o.descending else 'ASC'}"
        + (" NULLS LAST" if o.nulls_last else " NULLS FIRST" if o.nulls_first else "")
        for name, o in zip(keys, ordering, strict=True)
    )
    statement = (
        f"WITH matching ({columns}) AS MATERIALIZED ({sql}) "
        f"SELECT (SELECT COUNT(*) FROM matching), page.{quote('pk')} FROM ("
        f"SELECT {quote('pk')} FROM matching ORDER BY {order} LIMIT %s OFFSET %s"
        ") page"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [*params, limit, offset])
        found = cursor.fetchall()
    if not found:
        return (0 if offset == 0 else None), []
    return found[0][0], [pk for _, pk in found]


def _as_order_by(item: Any) -> OrderBy:
    if isinstance(item, OrderBy):
        return item
    if isinstance(item, str):
        descending = item.startswith("-")
        return OrderBy(F(item.removeprefix("-")), descending=descending)
    raise TypeError(f"Cannot page in one pass over an ordering by {item!r}.")


def counting_is_costly(filters: TagFilters) -> bool:
    """Whether counting the matching tags costs about as much as sorting them.

    A regular expression runs on every tag, and the age, multi-arch and shared
    filters join every tag's manifest: then one pass for both is cheaper. The
    other filters are counted from indexes.
    """
    return bool(
        (filters.name and filters.name_mode == "regex")
        or filters.older_than_days is not None
        or filters.multi_arch_only
        or filters.shared_only
    )


# -- repositories ------------------------------------------------------------------

REPOSITORY_SORTS: dict[str, str] = {
    "name": "name",
    "tags": "tag_total",
    "size": "size",
    "stale_tags": "stale_tags",
    "stale_size": "stale_size",
    "newest": "newest",
}
DEFAULT_REPOSITORY_SORT = "name"
REPOSITORY_PAGE_SIZE = 50


@dataclass(frozen=True)
class RepositoryFilters:
    search: str = ""
    sort: str = DEFAULT_REPOSITORY_SORT

    @property
    def sort_key(self) -> str:
        return self.sort.removeprefix("-")

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")


def parse_repository_filters(params: QueryDict) -> RepositoryFilters:
    sort = params.get("sort", DEFAULT_REPOSITORY_SORT)
    if sort.removeprefix("-") not in REPOSITORY_SORTS:
        sort = DEFAULT_REPOSITORY_SORT
    return RepositoryFilters(search=params.get("q", "").strip()[:255], sort=sort)


def repository_querystring(filters: RepositoryFilters, **changes: Any) -> str:
    filters = replace(filters, **changes) if changes else filters
    pairs = []
    if filters.search:
        pairs.append(("q", filters.search))
    if filters.sort != DEFAULT_REPOSITORY_SORT:
        pairs.append(("sort", filters.sort))
    return urlencode(pairs)


@dataclass(frozen=True)
class RepositoryRow:
    """One line of the repositories table.

    Sizes count the manifests tags point at, each once however many tags share
    it; a manifest's size is stale when every tag on it is (as on the dashboard).
    `newest` is the newest image's created date.
    """

    repository: Repository
    tag_total: int = 0
    stale_tags: int = 0
    size: int = 0
    stale_size: int = 0
    newest: datetime | None = None

    @property
    def name(self) -> str:
        return self.repository.name


def repository_page(
    *, registry: Registry, filters: RepositoryFilters, number: int | str | None
) -> tuple[Page, list[RepositoryRow]]:
    """One page of the registry's repositories matching the search, with their figures.

    Every figure is a GROUP BY over all the repositories at once (one pass over
    the tags or manifests, which PostgreSQL runs as hash joins); the figures are
    only computed for the page's repositories, except the one sorted by, which
    is computed for all of them and sorted in Python (a registry has hundreds or
    thousands of repositories, not millions), and not asked again for the page.
    """
    repositories = Repository.objects.filter(registry=registry).order_by("name", "pk")
    if filters.search:
        repositories = repositories.filter(name__icontains=filters.search)
    if filters.sort_key == "name":
        ordered = repositories.reverse() if filters.descending else repositories
        page = Paginator(ordered, REPOSITORY_PAGE_SIZE).get_page(number)
        page_repositories = list(page.object_list)
        figures = _figures([r.pk for r in page_repositories])
    else:
        ids, sorted_by = _ids_by_figure(repositories, filters)
        page = Paginator(ids, REPOSITORY_PAGE_SIZE).get_page(number)
        in_page = Repository.objects.in_bulk(list(page.object_list))
        page_repositories = [in_page[pk] for pk in page.object_list]
        # The figure sorted by is known for every repository already: not asked again.
        query = _FIGURE_QUERY[REPOSITORY_SORTS[filters.sort_key]]
        figures = _figures(list(page.object_list), queries=ALL_FIGURE_QUERIES - {query})
        for pk in page.object_list:
            figures.setdefault(pk, {}).update(sorted_by.get(pk, {}))
    rows = [RepositoryRow(r, **figures.get(r.pk, {})) for r in page_repositories]
    return page, rows


def _ids_by_figure(
    repositories: QuerySet[Repository], filters: RepositoryFilters
) -> tuple[list[int], dict[int, dict[str, Any]]]:
    """The repositories' ids, sorted by the figure `filters` sorts by, then by name;
    and the figures of the query that figure comes from, by id."""
    field = REPOSITORY_SORTS[filters.sort_key]
    computed = _figures(repositories.values("pk"), queries={_FIGURE_QUERY[field]})
    values = {pk: row.get(field) for pk, row in computed.items()}
    named = list(repositories.values_list("pk", "name"))
    known = [(pk, name, values[pk]) for pk, name in named if values.get(pk) is not None]
    unknown = [(pk, name) for pk, name in named if values.get(pk) is None]
    default = None if field == "newest" else 0
    if default is not None:  # no tags: a zero, sorted among the others
        known += [(pk, name, default) for pk, name in unknown]
        unknown = []
    # Stable sorts: by name first, then by the figure (its direction only).
    known.sort(key=itemgetter(1))
    known.sort(key=itemgetter(2), reverse=filters.descending)
    ids = [pk for pk, _, _ in known] + [pk for pk, _ in unknown]  # unknown dates last
    return ids, computed


_FIGURE_QUERY = {
    "tag_total": "tags",
    "stale_tags": "tags",
    "size": "manifests",
    "newest": "manifests",
    "stale_size": "stale",
}
ALL_FIGURE_QUERIES = frozenset(_FIGURE_QUERY.values())


def _figures(
    repository_ids: Any, *, queries: set[str] | frozenset[str] = ALL_FIGURE_QUERIES
) -> dict[int, dict[str, Any]]:
    """Figures by repository id, for `repository_ids` (a list or a values("pk") query)."""
    figures: dict[int, dict[str, Any]] = {}

    def merge(rows: QuerySet[Any]) -> None:
        for row in rows:
            pk = row.pop("repository_id")
            for key in ("size", "stale_size"):  # PostgreSQL sums bigints as numeric
                if row.get(key) is not None:
                    row[key] = int(row[key])
            figures.setdefault(pk, {}).update(row)

    if isinstance(repository_ids, list) and not repository_ids:
        return figures
    tagged = Manifest.objects.filter(repository_id__in=repository_ids, tag_count__gt=0).order_by()
    if "tags" in queries:
        merge(
            Tag.objects.filter(repository_id__in=repository_ids)
            .order_by()
            .values("repository_id")
            .annotate(tag_total=Count("pk"), stale_tags=Count("pk", filter=Q(is_stale=True)))
        )
    if "manifests" in queries:
        merge(tagged.values("repository_id").annotate(size=Sum("size"), newest=Max("created")))
    if "stale" in queries:
        kept = Exists(Tag.objects.filter(manifest=OuterRef("pk"), is_stale=False))
        merge(tagged.exclude(kept).values("repository_id").annotate(stale_size=Sum("size")))
    return figures


# -- staleness figures for the rules page ----------------------------------------


@dataclass(frozen=True)
class StaleFigures:
    total: int
    stale: int
    # Under previewed rules: how many verdicts would flip each way.
    becoming_stale: int = 0
    no_longer_stale: int = 0


def stale_figures(*, registry: Registry) -> StaleFigures:
    """How many of the registry's tags are stale now (one query)."""
    figures = Tag.objects.filter(repository__registry=registry).aggregate(
        total=Count("pk"), stale=Count("pk", filter=Q(is_stale=True))
    )
    return StaleFigures(total=figures["total"], stale=figures["stale"])


def preview_staleness(*, registry: Registry, rules: StalenessRules, now: datetime) -> StaleFigures:
    """How many tags `rules` (saved or not) would make stale; writes nothing.

    Streams the tags repository by repository, as registry.staleness does.
    """
    rows = (
        Tag.objects.filter(repository__registry=registry)
        .order_by("repository_id")
        .values_list(
            "repository_id",
            "pk",
            "name",
            "manifest__digest",
            "manifest__created",
            "first_seen",
            "is_stale",
        )
        .iterator(chunk_size=2000)
    )
    total = stale = becoming = leaving = 0
    for _, group in itertools.groupby(rows, key=itemgetter(0)):
        facts: list[TagFacts] = []
        was_stale: dict[int, bool] = {}
        for _, pk, name, digest, created, first_seen, is_stale in group:
            facts.append(TagFacts(pk, name, digest, created, first_seen))
            was_stale[pk] = is_stale
        for pk, verdict in evaluate_tags(rules=rules, tags=facts, now=now).items():
            total += 1
            stale += verdict.stale
            becoming += verdict.stale and not was_stale[pk]
            leaving += was_stale[pk] and not verdict.stale
    return StaleFigures(total=total, stale=stale, becoming_stale=becoming, no_longer_stale=leaving)
