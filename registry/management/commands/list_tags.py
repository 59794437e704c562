from __future__ import annotations

import csv
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.template.defaultfilters import filesizeformat

from registry.selectors import tag_listing

COLUMNS = ["registry", "repository", "tag", "digest", "media_type", "size", "created"]


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
        writer = csv.DictWriter(
            self.stdout, fieldnames=[*COLUMNS, "platforms", "first_seen", "last_pulled"]
        )
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "platforms": " ".join(row["platforms"])})

    def _table(self, rows: Any) -> None:
        for row in rows:
            self.stdout.write(
                f"{row['registry']}/{row['repository']}:{row['tag']}  "
                f"{row['digest'][:19]}  {filesizeformat(row['size']):>9}  "
                f"{(row['created'] or '-')[:10]}  {','.join(row['platforms'])}"
            )
