"""Reading a policy run in tests."""

from __future__ import annotations

from registry.models import DeletionBatch, PolicyRun


def batch_of(run: PolicyRun) -> DeletionBatch:
    """The batch the run saved; the test fails if it saved none."""
    assert run.batch is not None, f"the run saved no batch ({run.status}: {run.error})"
    return run.batch
