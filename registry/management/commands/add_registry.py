from __future__ import annotations

import getpass
import sys
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from registry.client import RegistryError
from registry.connect import client_for
from registry.models import Registry
from registry.registries import PASSWORD_CLEARED_NOTE, save_registry


def command_line_actor() -> str:
    """Who runs the command, for the audit log: the login name, marked as the CLI's."""
    try:
        return f"{getpass.getuser()} (command line)"
    except (OSError, KeyError):  # no login name in a bare container
        return "command line"


class Command(BaseCommand):
    help = "Add a registry (or update one with the same name) and check that it answers."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="A short name, e.g. gitlab")
        parser.add_argument("url", help="Base URL, e.g. https://registry.gitlab.example.com")
        parser.add_argument("--username", default="")
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="Read the password or token from standard input (never from the command line).",
        )
        parser.add_argument("--insecure", action="store_true", help="Do not verify TLS.")
        parser.add_argument("--ca-bundle", default="", help="PEM bundle that signs the TLS.")
        parser.add_argument(
            "--repository",
            action="append",
            dest="repositories",
            default=[],
            metavar="NAME",
            help="Sync only these repositories (repeatable): for credentials that may not read "
            "the catalog, such as GitLab's for non-administrators.",
        )
        parser.add_argument("--no-check", action="store_true", help="Do not contact the registry.")

    def handle(self, *args: Any, **options: Any) -> None:
        password = None
        if options["password_stdin"]:
            password = sys.stdin.readline().rstrip("\r\n")
        existing = Registry.objects.filter(name=options["name"]).first()
        try:
            registry, created = save_registry(
                name=options["name"],
                url=options["url"],
                username=options["username"],
                password=password,
                verify_tls=not options["insecure"],
                ca_bundle=options["ca_bundle"],
                repositories=options["repositories"],
                actor=command_line_actor(),
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"{'Added' if created else 'Updated'} registry {registry.name}.")
        if existing and existing.password_encrypted and not registry.password_encrypted:
            self.stderr.write(self.style.WARNING(PASSWORD_CLEARED_NOTE + " (--password-stdin)"))
        if options["no_check"]:
            return
        try:
            with client_for(registry) as client:
                client.check()
        except RegistryError as exc:
            self.stderr.write(self.style.WARNING(f"Saved, but the registry check failed: {exc}"))
            return
        self.stdout.write(self.style.SUCCESS(f"{registry.url} answers the registry API."))
