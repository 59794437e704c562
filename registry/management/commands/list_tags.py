from __future__ import annotations

import csv
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.template.defaultfilters import filesizeformat

from registry.selectors import tag_listing

COLUMNS = ["registry", "repository", "tag", "digest", "media_type", "size", "created"]
STALENESS_COLUMNS = ["stale", "stale_reason", "protected"]
# For registries connected to GitLab; the merge request and environment flattened.
GITLAB_COLUMNS = [
    "project",
    "branch",
    "merge_request",
    "merge_request_state",
    "merge_request_url",
    "environment",
    "environment_state",
]


class Command(BaseCommand):
    help = "List the cached tags (run sync_registry first)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--registry")
        parser.add_argument("--repository")
        parser.add_argument("--format", choices=["table", "json", "csv"], default="table")

    def handle(self, *args: Any, **options: Any) -> None:
        rows = tag_listing(registry=options["registry"], repository=options["repository"])
        write = {"table": self._table, "json": self._json, "csv": self._csv}[options["format"]]
        write(rows)

    def _json(self, rows: Any) -> None:
        self.stdout.write(json.dumps(list(rows), indent=2))

    def _csv(self, rows: Any) -> None:
        rows = list(rows)
        columns = [*COLUMNS, "platforms", "first_seen", *STALENESS_COLUMNS, "last_pulled"]
        if any("project" in row for row in rows):
            columns += GITLAB_COLUMNS
        writer = csv.DictWriter(self.stdout, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow(_flat(row))

    def _table(self, rows: Any) -> None:
        for row in rows:
            self.stdout.write(
                f"{row['registry']}/{row['repository']}:{row['tag']}  "
                f"{row['digest'][:19]}  {filesizeformat(row['size']):>9}  "
                f"{(row['created'] or '-')[:10]}  {','.join(row['platforms'])}"
            )


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    """A row as CSV takes it: lists joined, the merge request and environment spread out."""
    flat = {**row, "platforms": " ".join(row["platforms"])}
    mr = flat.pop("merge_request", None) or {}
    environment = flat.pop("environment", None) or {}
    if "project" in row:
        flat["merge_request"] = f"!{mr['iid']}" if mr else ""
        flat["merge_request_state"] = mr.get("state", "")
        flat["merge_request_url"] = mr.get("web_url", "")
        flat["environment"] = environment.get("name", "")
        flat["environment_state"] = environment.get("state", "")
    return flat
