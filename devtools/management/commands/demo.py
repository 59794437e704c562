from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from devtools.demo_seed import seed_demo_images
from devtools.local_registry import start_local_registry
from registry.client import RegistryClient
from registry.management.commands.sync_registry import describe_run
from registry.registries import save_registry
from registry.sync import sync_registry

DEMO_USERNAME = "demo"


class Command(BaseCommand):
    help = (
        "Run the dashboard on the embedded defaults: a local registry seeded with demo "
        "images, SQLite, tasks in-process. For `make demo`."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--registry-port", type=int, default=5001)
        parser.add_argument("--addrport", default="127.0.0.1:8000")
        parser.add_argument("--repos", type=int, default=6)
        parser.add_argument("--tags", type=int, default=40)
        parser.add_argument(
            "--no-serve", action="store_true", help="Prepare everything, then stop."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", verbosity=0)
        root = settings.VAR_DIR / "demo-registry"
        root.mkdir(parents=True, exist_ok=True)
        local = start_local_registry(root_dir=root, port=options["registry_port"])
        try:
            self._prepare(local.url, options)
            if not options["no_serve"]:
                call_command("runserver", options["addrport"], use_reloader=False)
        finally:
            local.stop()

    def _prepare(self, url: str, options: dict[str, Any]) -> None:
        self.stdout.write(f"Local registry: {url} (data in var/demo-registry)")
        with RegistryClient(url) as client:
            if not client.list_repositories():
                self.stdout.write("Seeding demo images…")
                summary = seed_demo_images(
                    client=client,
                    repositories=options["repos"],
                    tags_per_repository=options["tags"],
                )
                self.stdout.write(
                    f"Pushed {summary.tags} tags in {len(summary.repositories)} repositories."
                )
        registry, _ = save_registry(name="demo", url=url)
        self.stdout.write(describe_run(sync_registry(registry=registry)))
        password = self._demo_login()
        self.stdout.write(
            self.style.SUCCESS(
                f"\nDashboard: http://{options['addrport']}/  "
                f"(admin: http://{options['addrport']}/admin/)\n"
                f"Log in as {DEMO_USERNAME!r} with password {password!r}\n"
                f"Or from a shell: .venv/bin/python manage.py list_tags --registry demo\n"
            )
        )

    def _demo_login(self) -> str:
        """A fresh password each run, so a demo left running is not open to a known one."""
        password = secrets.token_urlsafe(9)
        user, _ = get_user_model().objects.get_or_create(username=DEMO_USERNAME)
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        return password
