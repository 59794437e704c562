from __future__ import annotations

import secrets
import signal
import time
from pathlib import Path
from types import FrameType
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from devtools.demo import HOST, DemoError, DemoPorts, DemoStack, busy_ports, parse_addrport
from devtools.demo_gitlab import seed_standin_gitlab
from devtools.demo_seed import seed_demo_images
from devtools.gitlab_standin import StandInGitLab
from registry.client import RegistryClient
from registry.events.endpoint import endpoint_config, ensure_endpoint
from registry.management.commands.sync_registry import describe_run
from registry.models import StalenessRules
from registry.registries import save_registry
from registry.sync import sync_registry

DEMO_USERNAME = "demo"
BRANCH_PATTERN = r"^review-(?P<branch>.+)-\d+$"
# How often the running demo looks whether one of its processes has died.
WATCH_INTERVAL = 0.5


class Stop(Exception):
    """SIGTERM or SIGHUP: leave the way Ctrl-C does, stopping every process."""


class Command(BaseCommand):
    help = (
        "Run the dashboard on the embedded defaults: a local registry seeded with demo "
        "images, SQLite, and a Celery worker and beat on a Redis of their own. For `make demo`."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--registry-port", type=int, default=5001)
        parser.add_argument("--redis-port", type=int, default=0, help="Default: any free port.")
        parser.add_argument("--addrport", default="127.0.0.1:8000", help="The web server's.")
        parser.add_argument("--repos", type=int, default=6)
        parser.add_argument("--tags", type=int, default=40)
        parser.add_argument(
            "--workdir",
            type=Path,
            default=None,
            help="Registry data, logs and the beat schedule. Default: var/demo.",
        )
        parser.add_argument(
            "--no-serve",
            action="store_true",
            help="Start only the registry, seed and sync it, print the login, then stop.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        serve = not options["no_serve"]
        try:
            web_host, web_port = parse_addrport(options["addrport"])
        except DemoError as exc:
            raise CommandError(str(exc)) from exc
        ports = DemoPorts(options["registry_port"], options["redis_port"], web_host, web_port)
        # Before anything acts: a busy port means someone else's process would answer there.
        if busy := busy_ports(ports, serve=serve):
            raise CommandError("The demo did not start:\n" + "\n".join(busy))
        call_command("migrate", verbosity=0)
        workdir = options["workdir"] or Path(settings.VAR_DIR) / "demo"
        previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
        try:
            with DemoStack(workdir=workdir.resolve(), ports=ports) as stack:
                self._run(stack, options, serve=serve)
        except (KeyboardInterrupt, Stop):
            self.stdout.write("\nStopped the demo and all its processes.")
        except DemoError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _run(self, stack: DemoStack, options: dict[str, Any], *, serve: bool) -> None:
        # The registry tells the demo's web server of every push, pull and delete, so the
        # dashboard is live from the first push; its secret is in the dashboard's database.
        notifications = [self._notifications(stack)] if serve else None
        registry = stack.start_registry(notifications=notifications)
        self.stdout.write(f"Registry: {registry.url} (data in {stack.workdir / 'registry'})")
        gitlab = stack.start_gitlab()
        self.stdout.write(f"GitLab:   {gitlab.url} (a stand-in API with made-up data)")
        if serve:
            redis = stack.start_redis()
            self.stdout.write(f"Redis:    {redis.url}")
            stack.start_worker()
            stack.start_beat()
            self.stdout.write(f"Worker and beat: logs in {stack.workdir}/worker.log, beat.log")
            stack.start_web()
        # Only now, with every process started here and answering as ours.
        self._prepare(registry.url, gitlab, options)
        password = self._demo_login()
        web_url = stack.ports.web_url
        self.stdout.write(
            self.style.SUCCESS(
                f"\nDashboard: {web_url}  (admin: {web_url}admin/)\n"
                f"Log in as {DEMO_USERNAME!r} with password {password!r}\n"
                f"Or from a shell: DEBUG=1 .venv/bin/python manage.py list_tags --registry demo\n"
            )
        )
        if serve:
            self.stdout.write("Ctrl-C stops the demo and every process it started.")
            self._watch(stack)

    def _prepare(self, url: str, gitlab: StandInGitLab, options: dict[str, Any]) -> None:
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
            stand_in = seed_standin_gitlab(gitlab=gitlab, client=client)
        # The registry has no auth: the token only reaches the stand-in GitLab.
        registry, _ = save_registry(
            name="demo",
            url=url,
            username="demo",
            password=stand_in.token,
            gitlab_url=gitlab.url,
            gitlab_group=stand_in.group,
            gitlab_projects=stand_in.projects,
        )
        # The branch in a review tag's name, for images whose commit GitLab cannot place.
        StalenessRules.objects.get_or_create(
            registry=registry, defaults={"branch_pattern": BRANCH_PATTERN}
        )
        self.stdout.write(describe_run(sync_registry(registry=registry)))

    def _notifications(self, stack: DemoStack) -> dict[str, Any]:
        url = f"http://{HOST}:{stack.ports.registry}"
        registry, _ = save_registry(name="demo", url=url)
        endpoint, _ = ensure_endpoint(registry=registry)
        return endpoint_config(
            registry=registry, secret=endpoint.secret, base_url=stack.ports.web_url
        )

    def _demo_login(self) -> str:
        """A fresh password each run, so a demo left running is not open to a known one."""
        password = secrets.token_urlsafe(9)
        user, _ = get_user_model().objects.get_or_create(username=DEMO_USERNAME)
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        return password

    def _watch(self, stack: DemoStack) -> None:
        """Until Ctrl-C or SIGTERM; a process that dies ends the demo, with its log."""
        while (problem := stack.stopped_process()) is None:
            time.sleep(WATCH_INTERVAL)
        raise DemoError(problem)


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise Stop(signal.Signals(signum).name)
