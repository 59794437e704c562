from __future__ import annotations

import getpass
import sys
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from registry.client import RegistryError
from registry.connect import client_for
from registry.gitlab.errors import GitLabError
from registry.gitlab.token_check import TokenCheck, check_connection
from registry.models import GitLabConnection, Registry
from registry.registries import PASSWORD_CLEARED_NOTE, save_registry


def command_line_actor() -> str:
    """Who runs the command, for the audit log: the login name, marked as the CLI's."""
    try:
        return f"{getpass.getuser()} (command line)"
    except (OSError, KeyError):  # no login name in a bare container
        return "command line"


BROWSE_OK = "The token can browse the repositories, branches, merge requests and environments."
DELETE_OK = "The token can delete images."


def cannot_browse_message(problems: list[str]) -> str:
    return "Saved, but the token cannot browse this GitLab: " + " ".join(problems)


def cannot_delete_message(problems: list[str]) -> str:
    return "Browsing works; deleting will not: " + " ".join(problems)


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
        parser.add_argument(
            "--gitlab",
            metavar="GITLAB_URL",
            help="Find the repositories through this GitLab (e.g. https://gitlab.example.com) "
            "and know each image's branch, merge request and environment. The password is "
            "then a GitLab access token (personal, group or project), used on both sides.",
        )
        parser.add_argument(
            "--gitlab-group",
            default="",
            metavar="GROUP_PATH",
            help="The group whose repositories (subgroups included) are synced.",
        )
        parser.add_argument(
            "--gitlab-project",
            action="append",
            dest="gitlab_projects",
            default=[],
            metavar="PROJECT_PATH",
            help="A project whose repositories are synced (repeatable).",
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
                gitlab_url=options["gitlab"],
                gitlab_group=options["gitlab_group"],
                gitlab_projects=options["gitlab_projects"],
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"{'Added' if created else 'Updated'} registry {registry.name}.")
        if existing and existing.password_encrypted and not registry.password_encrypted:
            self.stderr.write(self.style.WARNING(PASSWORD_CLEARED_NOTE + " (--password-stdin)"))
        if options["no_check"]:
            return
        self._check_gitlab(registry)
        try:
            with client_for(registry) as client:
                client.check()
        except RegistryError as exc:
            self.stderr.write(self.style.WARNING(f"Saved, but the registry check failed: {exc}"))
            return
        self.stdout.write(self.style.SUCCESS(f"{registry.url} answers the registry API."))

    def _check_gitlab(self, registry: Registry) -> None:
        """What the token can do on GitLab, in plain words; refuses a token that cannot browse."""
        connection = GitLabConnection.objects.filter(registry=registry).first()
        if connection is None:
            return
        try:
            check: TokenCheck = check_connection(connection=connection)
        except GitLabError as exc:
            raise CommandError(f"Saved, but GitLab could not check the token: {exc}") from exc
        if not check.can_browse:
            raise CommandError(cannot_browse_message(check.problems))
        self.stdout.write(self.style.SUCCESS(BROWSE_OK))
        if check.can_delete:
            self.stdout.write(self.style.SUCCESS(DELETE_OK))
        else:
            self.stderr.write(self.style.WARNING(cannot_delete_message(check.problems)))
