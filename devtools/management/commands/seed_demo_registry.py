from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from devtools.demo_seed import seed_demo_images
from registry.client import RegistryClient, RegistryError


class Command(BaseCommand):
    help = "Push synthetic CI-like images (review branches, releases, multi-arch) to a registry."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("url")
        parser.add_argument("--repos", type=int, default=6)
        parser.add_argument("--tags", type=int, default=40, help="tags per repository")
        parser.add_argument("--username", default="")
        parser.add_argument("--password-stdin", action="store_true")
        parser.add_argument("--insecure", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        password = sys.stdin.readline().rstrip("\r\n") if options["password_stdin"] else ""
        client = RegistryClient(
            options["url"],
            username=options["username"],
            password=password,
            verify=not options["insecure"],
        )
        try:
            with client:
                summary = seed_demo_images(
                    client=client,
                    repositories=options["repos"],
                    tags_per_repository=options["tags"],
                    progress=self._progress if sys.stderr.isatty() else None,
                    keep_expected=False,
                )
        except RegistryError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Pushed {summary.tags} tags ({summary.manifests} images) in "
            f"{len(summary.repositories)} repositories to {options['url']}."
        )

    def _progress(self, done: int, total: int) -> None:
        sys.stderr.write(f"\r\033[K[{done}/{total}] repositories seeded")
        if done == total:
            sys.stderr.write("\r\033[K")
        sys.stderr.flush()
