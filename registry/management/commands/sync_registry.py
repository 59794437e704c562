from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from registry.locks import SyncAlreadyRunning
from registry.models import Registry, SyncRun
from registry.sync import sync_registry


class Command(BaseCommand):
    help = "Sync the cache with one registry (or all). Exits non-zero when a sync fails."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", nargs="?", help="Registry name (default: all registries)")
        parser.add_argument("--repository", help="Sync only this repository")

    def handle(self, *args: Any, **options: Any) -> None:
        registries = Registry.objects.all()
        if options["name"]:
            registries = registries.filter(name=options["name"])
            if not registries.exists():
                raise CommandError(f"No registry named {options['name']!r} (see add_registry).")
        if not registries.exists():
            raise CommandError("No registries yet: add one with `manage.py add_registry`.")
        failures = 0
        for registry in registries:
            try:
                run = sync_registry(
                    registry=registry,
                    repository=options["repository"],
                    progress=self._progress if sys.stderr.isatty() else None,
                )
            except SyncAlreadyRunning as exc:
                self.stderr.write(str(exc))
                failures += 1
                continue
            self.stdout.write(describe_run(run))
            failures += run.status != SyncRun.Status.SUCCEEDED
        if failures:
            raise CommandError(f"{failures} sync(s) did not fully succeed.")

    def _progress(self, done: int, total: int, name: str) -> None:
        sys.stderr.write(f"\r\033[K[{done}/{total}] {name}")
        if done == total:
            sys.stderr.write("\r\033[K")
        sys.stderr.flush()


def describe_run(run: SyncRun) -> str:
    lines = [
        f"{run.registry.name}: {run.get_status_display().lower()} in "
        f"{run.duration_seconds or 0:.1f}s — tags +{run.tags_added} ~{run.tags_changed} "
        f"-{run.tags_removed}, repositories +{run.repositories_added} "
        f"-{run.repositories_removed}, {run.manifests_fetched} manifests fetched, "
        f"{run.requests_made} requests."
    ]
    if run.error:
        lines.append(f"  Error: {run.error}")
    lines.extend(f"  {item['repository']}: {item['error']}" for item in run.repository_errors)
    return "\n".join(lines)
