from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError, CommandParser

from registry.events.endpoint import config_block, ensure_endpoint, rotate_secret
from registry.models import Registry


def bad_url_message(url: str) -> str:
    return f"{url!r} is not the dashboard's address: give http(s)://host[:port]."


class Command(BaseCommand):
    help = (
        "Print the `notifications:` block for a registry's config.yml, so that it tells the "
        "dashboard of every push, pull and delete. Creates the registry's secret if needed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Registry name")
        parser.add_argument(
            "--url",
            required=True,
            help="The dashboard's address as the registry reaches it, e.g. https://janitor.example.com",
        )
        parser.add_argument(
            "--rotate",
            action="store_true",
            help="Replace the secret: deliveries with the old one are refused from now on",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        registry = Registry.objects.filter(name=options["name"]).first()
        if registry is None:
            raise CommandError(f"No registry named {options['name']!r} (see add_registry).")
        url = options["url"].strip()
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise CommandError(bad_url_message(url))
        endpoint, created = ensure_endpoint(registry=registry)
        if options["rotate"] and not created:
            rotate_secret(endpoint=endpoint)
        # The block carries the secret: it goes to stdout only, for config.yml.
        self.stdout.write(config_block(registry=registry, secret=endpoint.secret, base_url=url))
