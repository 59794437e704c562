"""Paging a big sorted listing in SQL, without sorting whole rows."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import F, OrderBy, QuerySet


class DeferredJoinPaginator(Paginator[Any]):
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
        self.rows = object_list  # as a QuerySet: Paginator types object_list as any sequence
        self.one_pass = one_pass

    def page(self, number: int | float | str) -> Page[Any]:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        ids = self.rows.values("pk")[bottom:top]
        return Page(self.rows.filter(pk__in=ids), number, self)

    def get_page(self, number: int | float | str | None) -> Page[Any]:
        if not self.one_pass or self.orphans:
            return super().get_page(number)
        try:
            wanted = max(int(number or 1), 1)
        except (TypeError, ValueError):
            wanted = 1
        count, ids = _count_and_page_ids(
            self.rows, offset=(wanted - 1) * self.per_page, limit=self.per_page
        )
        if count is None and wanted > 1:
            return super().get_page(number)  # past the end: count, then show the last page
        self.__dict__["count"] = count or 0  # Paginator.count is a cached_property
        return Page(self.rows.filter(pk__in=ids), wanted, self)


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
