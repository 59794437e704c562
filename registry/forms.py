"""Forms for the pages that change something."""

from __future__ import annotations

from typing import Any

from django import forms

from .deletion.batches import (
    REASON_REQUIRED_MESSAGE,
    actionable_count,
    needs_typed_count,
    typed_count_matches,
    typed_count_message,
)
from .models import DeletionBatch, StalenessRules


class StalenessRulesForm(forms.ModelForm):
    """A registry's staleness rules; the model's clean() checks every pattern.

    Protected patterns are edited as text, one regular expression a line.
    """

    protected_patterns = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 7, "spellcheck": "false", "class": "mono"}),
        help_text=StalenessRules._meta.get_field("protected_patterns").help_text
        + " One a line; blank lines are ignored.",
    )

    class Meta:
        model = StalenessRules
        fields = [
            "protected_patterns",
            "max_age_days",
            "branch_pattern",
            "keep_newest",
            "age_basis",
            "unpulled_days",
        ]
        labels = {
            "max_age_days": "Stale after (days)",
            "branch_pattern": "Branch tag pattern",
            "keep_newest": "Keep the newest",
            "age_basis": "Age counts from",
            "unpulled_days": "Not pulled for (days)",
        }
        widgets = {
            "branch_pattern": forms.TextInput(attrs={"spellcheck": "false", "class": "mono"}),
            "age_basis": forms.RadioSelect,
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial["protected_patterns"] = "\n".join(self.instance.protected_patterns or [])

    def clean_protected_patterns(self) -> list[str]:
        text: str = self.cleaned_data["protected_patterns"]
        return [line.strip() for line in text.splitlines() if line.strip()]


class ConfirmBatchForm(forms.Form):
    """Confirming a planned batch: why (for the audit log) and, for a big batch, its size
    typed back, so that nobody deletes thousands of images with one stray click."""

    reason = forms.CharField(max_length=2000, error_messages={"required": REASON_REQUIRED_MESSAGE})
    typed_count = forms.CharField(required=False, max_length=20)

    def __init__(self, *args: Any, batch: DeletionBatch, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batch = batch

    def clean_typed_count(self) -> str:
        typed: str = self.cleaned_data["typed_count"]
        if needs_typed_count(self.batch) and not typed_count_matches(self.batch, typed):
            raise forms.ValidationError(typed_count_message(actionable_count(self.batch)))
        return typed

    @property
    def first_error(self) -> str:
        """The message the page shows above the form."""
        return next((str(e) for errors in self.errors.values() for e in errors), "")
