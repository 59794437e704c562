"""Approving a policy's proposal: one click, the reason prefilled from the policy.

Approval is `confirm_batch` with that reason: the batch then runs as any other, reading
the registry again before every delete (a tag pushed again since the run is skipped).
There is no count to type back: the proposal's size was set by the policy an admin
wrote, and its page shows every tag before the click.
"""

from __future__ import annotations

from django.contrib.auth.models import User

from registry.deletion.batches import ConfirmationError, confirm_batch
from registry.models import DeletionBatch, PolicyRun

NOT_A_PROPOSAL_MESSAGE = (
    "This run has no proposal waiting: it was approved, superseded by a later run, or "
    "proposed nothing."
)


def approve_proposal(*, run: PolicyRun, actor: User, reason: str = "") -> DeletionBatch:
    """Confirm the run's plan as `actor`; the caller hands it to a worker.

    Raises ConfirmationError (NOT_A_PROPOSAL_MESSAGE, or confirm_batch's).
    """
    if run.status != PolicyRun.Status.PROPOSED or run.batch is None:
        raise ConfirmationError(NOT_A_PROPOSAL_MESSAGE)
    return confirm_batch(batch=run.batch, actor=actor, reason=reason or run.policy.reason)
