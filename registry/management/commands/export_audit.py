from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from registry.audit import AuditFilterForm, date_message, filter_items
from registry.audit_exports import audit_rows, write_csv, write_json


class Command(BaseCommand):
    help = (
        "Export the deletion audit log, one row per tag, newest batch first. "
        "--since is a day the batches were planned on or after (site time zone)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=["csv", "json"], default="csv")
        parser.add_argument("--since", metavar="YYYY-MM-DD")
        parser.add_argument("--registry", metavar="NAME")
        parser.add_argument("--output", metavar="FILE", help="Write here instead of stdout.")

    def handle(self, *args: Any, **options: Any) -> None:
        form = AuditFilterForm(
            {"date_from": options["since"] or "", "registry": options["registry"] or ""}
        )
        errors = form.field_errors()
        if "date_from" in errors:
            errors["date_from"] = date_message("--since")
        if errors:
            raise CommandError(" ".join(errors.values()))
        rows = audit_rows(filter_items(form.filters()))
        write = write_csv if options["format"] == "csv" else write_json
        if options["output"]:
            # newline="": the CSV writer ends its lines itself (CRLF).
            with Path(options["output"]).open("w", encoding="utf-8", newline="") as out:
                write(rows, out)
        else:
            # Every chunk ends a line, so the wrapper adds no line ends of its own.
            write(rows, self.stdout)
