"""The plan table that `cleanup --plan` and `run_policy` print: one layout for both."""

from __future__ import annotations

from datetime import datetime

from django.core.management.base import OutputWrapper
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from registry.deletion.batches import deleted_tags_planned
from registry.models import DeletionBatch

PLAN_HEADER = ["REPOSITORY", "TAG", "DIGEST", "SIZE", "AGE", "ACTION", "NOTE"]


def write_plan(stdout: OutputWrapper, batch: DeletionBatch) -> None:
    """Every item of the plan, then its totals."""
    now = timezone.now()
    rows = [
        [
            item.repository_name,
            item.tag,
            item.short_digest,
            size_text(item.size),
            age_text(item.created, now=now),
            item.get_action_display(),
            item.note,
        ]
        for item in batch.items.order_by("position")
    ]
    write_table(stdout, PLAN_HEADER, rows)
    deleting = deleted_tags_planned(batch)
    stdout.write(
        f"\n{batch.tags_planned:,} tags: {deleting:,} deleted "
        f"({count_text(batch.manifests_planned, 'digest')}), "
        f"{batch.untags_planned:,} untag only, {batch.refused_planned:,} refused.\n"
        f"Size of the images deleted: {size_text(batch.bytes_planned)}. "
        f"Space garbage collection would free: {size_text(batch.bytes_reclaimable)}."
    )


def write_table(stdout: OutputWrapper, header: list[str], rows: list[list[str]]) -> None:
    """Columns padded to their widest cell; the last one (notes) left as it is."""
    widths = [max(len(row[n]) for row in [header, *rows]) for n in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        stdout.write("  ".join([*cells, row[-1]]).rstrip())


def count_text(number: int, noun: str) -> str:
    return f"{number:,} {noun}" if number == 1 else f"{number:,} {noun}s"


def size_text(size: int) -> str:
    return str(filesizeformat(size)).replace("\xa0", " ")


def age_text(created: datetime | None, *, now: datetime) -> str:
    if created is None:
        return "unknown"
    days = (now - created).days
    if days < 1:
        return "<1 day"
    return "1 day" if days == 1 else f"{days:,} days"
