"""Each user's selection of tags, kept on the server (see registry.selection)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from .cache import Manifest, Registry, Repository, Tag


class SelectedTag(models.Model):
    """One tag in a user's selection on one registry; see registry.selection.

    Server-side, so that "select all matching" is one INSERT … SELECT rather than
    thousands of checkboxes, and the selection survives paging and filtering.

    The row remembers the manifest the tag pointed at when it was selected, and its
    size: the selection bar sums them without reading tags or manifests, and the
    deletion can tell a tag that moved since. A sync that removes the tag removes
    the row (Django's CASCADE).
    """

    # Keyed (user, registry, tag): the count, the bar, the tag pages' checkboxes and
    # the selection page all read one user's rows from this one index.
    pk = models.CompositePrimaryKey("user_id", "registry_id", "tag_id")
    # No database-level foreign keys and no index but the key and the tag's: checking
    # them would cost a 50,000-tag "select all" more than writing its rows (see
    # docs/benchmarks.md). Rows are only written from the registry's own tags by
    # registry.selection, and Django's CASCADE removes them.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="selected_tags",
        db_index=False,
        db_constraint=False,
    )
    registry = models.ForeignKey(
        Registry,
        on_delete=models.CASCADE,
        related_name="selected_tags",
        db_index=False,
        db_constraint=False,
    )
    # The tag's repository, copied: the per-repository totals need no join.
    repository = models.ForeignKey(
        Repository,
        on_delete=models.DO_NOTHING,  # its tags, and with them these rows, go first
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    # Indexed: a sync deletes the selections of the tags it removes.
    tag = models.ForeignKey(
        Tag, on_delete=models.CASCADE, related_name="selections", db_constraint=False
    )
    # The manifest when selected; it may have been removed since, if the tag moved.
    manifest = models.ForeignKey(
        Manifest,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    size = models.BigIntegerField(help_text="The manifest's size when the tag was selected.")

    def __str__(self) -> str:
        return f"{self.user_id} selected {self.tag_id}"
