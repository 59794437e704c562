from __future__ import annotations

import getpass
import shlex
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser

from registry.deletion.batches import (
    NOT_PLANNED_MESSAGE,
    REASON_REQUIRED_MESSAGE,
    ConfirmationError,
    actionable_count,
    batch_progress,
    cancel_batch,
    confirm_batch,
    saved_progress,
)
from registry.deletion.cleanup_selection import CleanupFilterForm, select_tags
from registry.deletion.garbage import gc_hint
from registry.deletion.lease import BatchHeld, RepositoriesBusy
from registry.deletion.plan import plan_deletion
from registry.deletion.run import execute_batch
from registry.enqueue import start_batch
from registry.management.plan_output import size_text, write_plan, write_table
from registry.models import DeletionBatch, Registry
from registry.roles import ADMINS, DELETE_PERMISSION, JANITORS
from registry.user_patterns import PatternTooSlow

NOTHING_MATCHES_MESSAGE = "No cached tag matches these filters: nothing to plan."


def unknown_registry_message(name: str) -> str:
    return f"No registry named {name!r} (see add_registry)."


def unknown_actor_message(username: str) -> str:
    return f"No user named {username!r}: give --actor USERNAME, a user in the {JANITORS} role."


def no_login_user_message(login: str) -> str:
    return (
        f"No user named {login!r} (your login name): give --actor USERNAME, a user in the "
        f"{JANITORS} role, to say who deletes."
    )


def actor_not_allowed_message(username: str) -> str:
    return f"{username} may not delete images: only users in the {JANITORS} or {ADMINS} role may."


def unknown_batch_message(batch_id: int, registry: str) -> str:
    return f"No deletion batch {batch_id} on registry {registry!r}."


def not_applied_message(batch: DeletionBatch, problem: str) -> str:
    return f"Batch {batch.pk} was not applied (its status: {_status(batch)}). {problem}"


FILTERS_WITH_APPLY_MESSAGE = (
    "--apply runs a batch exactly as it was planned: leave out --repository, --tag, "
    "--older-than, --keep-last and --stale."
)


def held_message(batch_id: int, until: datetime | None) -> str:
    when = f" (until {until:%H:%M:%S} UTC at the latest)" if until else ""
    return (
        f"Batch {batch_id} is being run by another process right now{when}: a worker, or "
        "another `cleanup --apply`. Nothing was done. Watch it on its page, or run this "
        "command again once that process has stopped."
    )


def interrupted_message(batch: DeletionBatch, command: str) -> str:
    return (
        f"Interrupted. What batch {batch.pk} did so far is saved in the audit log "
        f"({saved_or_live_summary(batch)}). To finish it:\n  {command}"
    )


def saved_or_live_summary(batch: DeletionBatch) -> str:
    return batch_progress(batch=batch).summary() or "nothing done yet"


def apply_command(*, registry: str, batch_id: int, reason: str) -> str:
    return (
        f"manage.py cleanup --registry {shlex.quote(registry)} --apply {batch_id} "
        f"--reason {shlex.quote(reason)}"
    )


class Command(BaseCommand):
    help = (
        "Delete tags of one registry chosen by filters, in two steps: --plan saves a batch "
        "and prints what it would do (nothing is deleted), --apply BATCH_ID runs it; --yes "
        "does both at once. The filters read the dashboard's cache: run "
        "`manage.py sync_registry NAME` first. Exits non-zero when an item fails or the "
        "batch stops."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--registry", required=True, help="Registry name")
        mode = parser.add_mutually_exclusive_group(required=True)
        mode.add_argument(
            "--plan", action="store_true", help="Plan a batch and print it; delete nothing."
        )
        mode.add_argument(
            "--apply",
            type=int,
            metavar="BATCH_ID",
            help="Run the planned batch BATCH_ID (printed by --plan).",
        )
        mode.add_argument("--yes", action="store_true", help="Plan and apply at once.")
        parser.add_argument(
            "--repository", default="", metavar="REGEX", help="Repository names (re.search)"
        )
        parser.add_argument("--tag", default="", metavar="REGEX", help="Tag names (re.search)")
        parser.add_argument(
            "--older-than",
            type=int,
            metavar="DAYS",
            help="Images created more than DAYS ago (an unknown created date never counts)",
        )
        parser.add_argument(
            "--keep-last",
            type=int,
            default=0,
            metavar="N",
            help="Keep the newest N matching tags of each repository out of the plan",
        )
        parser.add_argument(
            "--stale", action="store_true", help="Only tags the staleness rules call stale"
        )
        parser.add_argument(
            "--reason", required=True, help="Why these images go (kept in the audit log)"
        )
        parser.add_argument(
            "--actor",
            metavar="USERNAME",
            help="Who deletes: a user in the Janitors role (default: your login name)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        reason = options["reason"].strip()
        if not reason:
            raise CommandError(REASON_REQUIRED_MESSAGE)
        registry = Registry.objects.filter(name=options["registry"]).first()
        if registry is None:
            raise CommandError(unknown_registry_message(options["registry"]))
        actor = _actor(options["actor"])
        filter_form = CleanupFilterForm(
            {
                "repository": options["repository"],
                "tag": options["tag"],
                "older_than_days": options["older_than"],
                "stale_only": options["stale"],
                "keep_last": options["keep_last"],
            }
        )

        if options["apply"] is not None:
            if filter_form.has_changed():  # a filter differs from its default
                raise CommandError(FILTERS_WITH_APPLY_MESSAGE)
            batch = DeletionBatch.objects.filter(
                pk=options["apply"], registry_id=registry.pk
            ).first()
            if batch is None:
                raise CommandError(unknown_batch_message(options["apply"], registry.name))
            self._apply(batch=batch, actor=actor, reason=reason)
            return

        batch = self._plan(registry=registry, filter_form=filter_form, actor=actor, reason=reason)
        if batch is None:
            return
        if actionable_count(batch) == 0:
            cancel_batch(batch=batch)
            self.stdout.write(
                f"Every tag is refused: nothing to delete. Batch {batch.pk} discarded."
            )
            return
        if options["yes"]:
            self.stdout.write("")
            self._apply(batch=batch, actor=actor, reason=reason)
            return
        self.stdout.write(
            f"\nBatch {batch.pk} is planned; nothing has been deleted. To apply it:\n"
            f"  {apply_command(registry=registry.name, batch_id=batch.pk, reason=reason)}"
        )

    # -- planning ----------------------------------------------------------------------

    def _plan(
        self,
        *,
        registry: Registry,
        filter_form: CleanupFilterForm,
        actor: User,
        reason: str,
    ) -> DeletionBatch | None:
        if problems := filter_form.field_errors():
            raise CommandError(next(iter(problems.values())))  # the first, as options go
        filters = filter_form.filters()
        try:
            selection = select_tags(registry=registry, filters=filters)
        except PatternTooSlow as exc:
            raise CommandError(exc.message) from exc
        kept = (
            f" ({selection.kept:,} kept as the newest {filters.keep_last} of their repository)"
            if selection.kept
            else ""
        )
        if selection.is_empty:
            self.stdout.write(f"{NOTHING_MATCHES_MESSAGE}{kept}")
            return None
        batch = plan_deletion(
            registry=registry,
            tags=selection.tags,
            actor=actor,
            reason=reason,
            source=DeletionBatch.Source.CLI,
        )
        self.stdout.write(f"Plan for {registry.name}, batch {batch.pk}{kept}:\n")
        write_plan(self.stdout, batch)
        return batch

    # -- applying ------------------------------------------------------------------------

    def _apply(self, *, batch: DeletionBatch, actor: User, reason: str) -> None:
        if batch.status == DeletionBatch.Status.PLANNED:
            try:
                # Naming the batch by id on the command line is the confirmation.
                confirm_batch(batch=batch, actor=actor, reason=reason)
            except ConfirmationError as exc:
                batch.refresh_from_db()
                raise CommandError(not_applied_message(batch, exc.message)) from exc
            self.stdout.write(f"Applying batch {batch.pk} as {actor.get_username()}…")
        elif batch.is_open:
            # Confirmed already, and stopped (Ctrl-C, a crash) or waiting for a worker.
            self.stdout.write(f"Resuming batch {batch.pk} where it stopped…")
        else:
            raise CommandError(not_applied_message(batch, NOT_PLANNED_MESSAGE))
        batch = self._execute(batch=batch, reason=reason)

        rows = [
            [
                item.repository_name,
                item.tag,
                item.short_digest,
                item.get_action_display(),
                item.get_outcome_display(),
                item.detail or item.note,
            ]
            for item in batch.items.order_by("position")
        ]
        write_table(
            self.stdout, ["REPOSITORY", "TAG", "DIGEST", "ACTION", "OUTCOME", "DETAIL"], rows
        )
        outcomes = saved_progress(batch=batch).summary(with_zeros=True, separator=", ")
        self.stdout.write(
            f"\nBatch {batch.pk}: {_status(batch)}. {outcomes}. "
            f"Size of the images deleted: {size_text(batch.bytes_deleted)}."
        )
        if batch.error:
            self.stdout.write(f"Error: {batch.error}")
        self._write_gc_hint(batch)
        if batch.status != DeletionBatch.Status.SUCCEEDED:
            raise CommandError(f"Batch {batch.pk} did not fully succeed: {_status(batch)}.")

    def _write_gc_hint(self, batch: DeletionBatch) -> None:
        """How to free the disk, for the kind of registry the batch ran on."""
        hint = gc_hint(batch.registry)
        lines = [hint.explanation, f"  {hint.command}" if hint.command else "", hint.warning]
        self.stdout.write("\n" + "\n".join(line for line in lines if line))

    def _execute(self, *, batch: DeletionBatch, reason: str) -> DeletionBatch:
        """Run the batch here; an interrupt (Ctrl-C, SIGTERM) saves what is known first."""
        resume = apply_command(registry=batch.registry_name, batch_id=batch.pk, reason=reason)
        try:
            with _sigterm_as_interrupt():
                return execute_batch(batch=batch)
        except KeyboardInterrupt:
            batch.refresh_from_db()
            raise CommandError(interrupted_message(batch, resume), returncode=130) from None
        except BatchHeld as exc:
            raise CommandError(held_message(batch.pk, exc.lease_expires_at)) from exc
        except RepositoriesBusy as exc:
            # Confirmed already: the workers run it once the other batch is done.
            start_batch(batch=batch)
            raise CommandError(f"{exc} Batch {batch.pk} is queued for the workers.") from exc


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a `kill`, a container stopping) ends the run as Ctrl-C does: through
    Python's unwinding, so that the outcomes known so far are saved first."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _actor(username: str | None) -> User:
    """The user the batch is recorded under: --actor, or the one named like the OS login."""
    users = get_user_model()._default_manager
    if username:
        user = users.filter(**{get_user_model().USERNAME_FIELD: username}).first()
        if user is None:
            raise CommandError(unknown_actor_message(username))
    else:
        try:
            login = getpass.getuser()
        except (OSError, KeyError) as exc:  # no login name in a bare container
            raise CommandError(no_login_user_message("?")) from exc
        user = users.filter(**{get_user_model().USERNAME_FIELD: login}).first()
        if user is None:
            raise CommandError(no_login_user_message(login))
    if not user.is_active or not user.has_perm(DELETE_PERMISSION):
        raise CommandError(actor_not_allowed_message(user.get_username()))
    return user


def _status(batch: DeletionBatch) -> str:
    return batch.get_status_display().lower()
