"""Forms for the pages that change something."""

from __future__ import annotations

from typing import Any

from django import forms

from .models import StalenessRules


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
        ]
        labels = {
            "max_age_days": "Stale after (days)",
            "branch_pattern": "Branch tag pattern",
            "keep_newest": "Keep the newest",
            "age_basis": "Age counts from",
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
