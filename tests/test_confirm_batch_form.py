"""Confirming a plan on the web: a reason, and a big batch's size typed back."""

from __future__ import annotations

import pytest

from registry.deletion.batches import REASON_REQUIRED_MESSAGE, typed_count_message
from registry.forms import ConfirmBatchForm
from registry.models import DeletionBatch


def batch_of(tags: int, refused: int = 0) -> DeletionBatch:
    return DeletionBatch(tags_planned=tags, refused_planned=refused)


@pytest.mark.parametrize(
    ("tags", "refused", "data", "error"),
    [
        (2, 0, {"reason": "stale review images"}, ""),
        (2, 0, {"reason": ""}, REASON_REQUIRED_MESSAGE),
        (2, 0, {"reason": "   "}, REASON_REQUIRED_MESSAGE),
        (50, 0, {"reason": "cleanup"}, ""),
        (51, 0, {"reason": "cleanup"}, typed_count_message(51)),
        (51, 0, {"reason": "cleanup", "typed_count": "54"}, typed_count_message(51)),
        (51, 0, {"reason": "cleanup", "typed_count": "51"}, ""),
        (1204, 0, {"reason": "cleanup", "typed_count": "1,204"}, ""),
        (1204, 0, {"reason": "cleanup", "typed_count": " 1204 "}, ""),
        (60, 10, {"reason": "cleanup"}, ""),  # refusals do not count: 50 to act on
        (70, 10, {"reason": "cleanup", "typed_count": "70"}, typed_count_message(60)),
    ],
)
def test_the_confirmation_form(tags: int, refused: int, data: dict[str, str], error: str) -> None:
    form = ConfirmBatchForm(data, batch=batch_of(tags, refused))
    assert form.is_valid() is (not error)
    assert form.first_error == error


def test_the_reason_is_kept_without_surrounding_spaces() -> None:
    form = ConfirmBatchForm({"reason": "  merged branches \n"}, batch=batch_of(3))
    assert form.is_valid()
    assert form.cleaned_data["reason"] == "merged branches"
