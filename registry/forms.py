"""Forms for the pages that change something."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.validators import validate_email

from .client.auth import same_origin
from .deletion.batches import (
    REASON_REQUIRED_MESSAGE,
    actionable_count,
    needs_typed_count,
    typed_count_matches,
    typed_count_message,
)
from .models import CleanupPolicy, DeletionBatch, GitLabConnection, Registry, StalenessRules
from .models.cache import (
    URL_WITH_CREDENTIALS_MESSAGE,
    ca_bundle_problem,
    registry_url_problem,
    without_userinfo,
)
from .registries import (
    GITLAB_SCOPE_MESSAGE,
    GITLAB_WITH_REPOSITORIES_MESSAGE,
    save_registry,
)

GITLAB_RULE_FIELDS = ["gitlab_rules", "gitlab_grace_days"]


class StalenessRulesForm(forms.ModelForm[StalenessRules]):
    """A registry's staleness rules; the model's clean() checks every pattern.

    Protected patterns are edited as text, one regular expression a line. The GitLab
    rules are there only for a registry connected to GitLab (`gitlab=True`): elsewhere
    they would mean nothing, and a form without them leaves them as they are.
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
            *GITLAB_RULE_FIELDS,
        ]
        labels = {
            "max_age_days": "Stale after (days)",
            "branch_pattern": "Branch tag pattern",
            "keep_newest": "Keep the newest",
            "age_basis": "Age counts from",
            "unpulled_days": "Not pulled for (days)",
            "gitlab_rules": "Judge review images by GitLab",
            "gitlab_grace_days": "Stale this many days after the branch is gone",
        }
        widgets = {
            "branch_pattern": forms.TextInput(attrs={"spellcheck": "false", "class": "mono"}),
            "age_basis": forms.RadioSelect,
        }

    def __init__(self, *args: Any, gitlab: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not gitlab:
            for name in GITLAB_RULE_FIELDS:
                del self.fields[name]
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


HOST_CHANGED_NEEDS_PASSWORD = (
    "The URL moves to another host: give the password again (the stored one was for the "
    "old host, and is not sent anywhere else), or tick “no password”."
)
NAME_TAKEN_MESSAGE = "A registry with this name exists already."


class RegistryForm(forms.Form):
    """Adding or editing a registry. The password is written once and never shown again:
    left empty on an edit, the stored one stays."""

    name = forms.SlugField(
        max_length=64, help_text="A short name for the pages and commands, e.g. gitlab."
    )
    url = forms.URLField(
        assume_scheme="https",
        help_text="Base URL of the registry, e.g. https://registry.gitlab.example.com.",
    )
    username = forms.CharField(max_length=255, required=False)
    password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Password or access token. Stored encrypted; never shown again.",
    )
    no_password = forms.BooleanField(
        required=False, label="No password", help_text="Forget the stored password."
    )
    verify_tls = forms.BooleanField(required=False, initial=True, label="Check the TLS certificate")
    ca_bundle = forms.CharField(
        max_length=500,
        required=False,
        label="CA bundle",
        help_text="Path, on the server, to a PEM file of the CA that signs the registry's TLS.",
    )
    repositories = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "class": "mono"}),
        help_text="Only for credentials that may not list the catalog (GitLab, unless an "
        "administrator's): the repositories to sync, one a line.",
    )
    gitlab_url = forms.URLField(
        assume_scheme="https",
        required=False,
        label="GitLab",
        help_text="For a GitLab registry: GitLab's address, e.g. https://gitlab.example.com. "
        "The password above is then a GitLab access token (api scope and the Maintainer "
        "role to delete), used for the registry and for GitLab's API.",
    )
    gitlab_group = forms.CharField(
        max_length=255,
        required=False,
        label="GitLab group",
        help_text="Sync the repositories of this group and its subgroups, e.g. acme/web.",
    )
    gitlab_projects = forms.CharField(
        required=False,
        label="GitLab projects",
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false", "class": "mono"}),
        help_text="Or of these projects, one path a line.",
    )

    def __init__(self, *args: Any, instance: Registry | None = None, **kwargs: Any) -> None:
        if instance is not None:
            kwargs.setdefault("initial", registry_initial(instance))
        super().__init__(*args, **kwargs)
        self.instance = instance
        if instance is not None:
            self.fields["name"].disabled = True  # pages and the audit log use it

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"]
        if self.instance is None and Registry.objects.filter(name=name).exists():
            raise forms.ValidationError(NAME_TAKEN_MESSAGE)
        return name

    def clean_url(self) -> str:
        return clean_registry_url(self, self.cleaned_data["url"])

    def clean_ca_bundle(self) -> str:
        path: str = self.cleaned_data["ca_bundle"].strip()
        if path and (problem := ca_bundle_problem(path)):
            raise forms.ValidationError(problem)
        return path

    def clean_repositories(self) -> list[str]:
        return _lines(self.cleaned_data["repositories"])

    def clean_gitlab_projects(self) -> list[str]:
        return _lines(self.cleaned_data["gitlab_projects"])

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        stored = self.instance
        url = data.get("url")
        new_password = data.get("password") or data.get("no_password")
        if stored is not None and stored.password_encrypted and not new_password:
            moved = url and not same_origin(url, stored.url)
            gitlab_before = _gitlab_url_of(stored)
            gitlab_after = data.get("gitlab_url")
            gitlab_moved = (
                gitlab_before and gitlab_after and not same_origin(gitlab_after, gitlab_before)
            )
            if moved or gitlab_moved:
                self.add_error("password", HOST_CHANGED_NEEDS_PASSWORD)
        if data.get("gitlab_url"):
            if not data.get("gitlab_group") and not data.get("gitlab_projects"):
                self.add_error("gitlab_group", GITLAB_SCOPE_MESSAGE)
            if data.get("repositories"):
                self.add_error("repositories", GITLAB_WITH_REPOSITORIES_MESSAGE)
        return data

    def save(self, *, actor: str) -> Registry:
        data = self.cleaned_data
        password: str | None = data["password"] or None
        if data["no_password"]:
            password = ""
        registry, _ = save_registry(
            name=self.instance.name if self.instance else data["name"],
            url=data["url"],
            username=data["username"],
            password=password,
            verify_tls=data["verify_tls"],
            ca_bundle=data["ca_bundle"],
            repositories=data["repositories"],
            gitlab_url=data["gitlab_url"],
            gitlab_group=data["gitlab_group"],
            gitlab_projects=data["gitlab_projects"],
            actor=actor,
        )
        return registry


def clean_registry_url(form: forms.BaseForm, url: str) -> str:
    """The URL, checked; one that carries credentials is refused and not shown back."""
    url = url.strip().rstrip("/")
    problem = registry_url_problem(url)
    if problem == URL_WITH_CREDENTIALS_MESSAGE:
        # The page shows the URL without what was typed in it.
        form.data = {**dict(form.data.items()), form.add_prefix("url"): without_userinfo(url)}
    if problem:
        raise forms.ValidationError(problem)
    return url


class RegistryAdminForm(forms.ModelForm[Registry]):
    """The Django admin's registry form, with the app's URL rule."""

    url = forms.URLField(assume_scheme="https", max_length=200)

    class Meta:
        model = Registry
        # The password is set in the app or with add_registry: its ciphertext never shows.
        fields = ["name", "url", "username", "verify_tls", "ca_bundle", "repositories"]

    def clean_url(self) -> str:
        return clean_registry_url(self, self.cleaned_data["url"])


def registry_initial(registry: Registry) -> dict[str, Any]:
    connection = GitLabConnection.objects.filter(registry=registry).first()
    return {
        "name": registry.name,
        "url": registry.url,
        "username": registry.username,
        "verify_tls": registry.verify_tls,
        "ca_bundle": registry.ca_bundle,
        "repositories": "\n".join(registry.repositories or []),
        "gitlab_url": connection.url if connection else "",
        "gitlab_group": connection.group_path if connection else "",
        "gitlab_projects": "\n".join(connection.project_paths or []) if connection else "",
    }


def _gitlab_url_of(registry: Registry) -> str:
    connection = GitLabConnection.objects.filter(registry=registry).first()
    return connection.url if connection else ""


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


WEBHOOK_SET_HELP = (
    "An incoming webhook (Slack, Mattermost or Teams): a message for each proposal, "
    "finished batch and failure. Stored encrypted and never shown again; leave empty to "
    "keep the one set."
)
INVALID_EMAIL_MESSAGE = "{address!r} is not an email address."


class PolicyForm(forms.ModelForm[CleanupPolicy]):
    """A cleanup policy. Patterns and addresses are edited one a line; the webhook URL
    is written once and never shown (it holds the secret)."""

    include_patterns = forms.CharField(
        required=False,
        label="Repositories to include",
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "class": "mono"}),
        help_text="Regular expressions searched in repository names, one a line "
        "(^acme/web$). Empty: every repository of the registry.",
    )
    exclude_patterns = forms.CharField(
        required=False,
        label="Repositories to leave alone",
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false", "class": "mono"}),
        help_text="Regular expressions, one a line; they win over the included ones.",
    )
    protected_patterns = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false", "class": "mono"}),
        help_text=StalenessRules._meta.get_field("protected_patterns").help_text + " One a line.",
    )
    notify_emails = forms.CharField(
        required=False,
        label="Email",
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
        help_text="Addresses told of each proposal, finished batch and failure, one a line.",
    )
    webhook_url = forms.URLField(
        required=False,
        max_length=500,
        assume_scheme="https",
        label="Webhook URL",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=WEBHOOK_SET_HELP,
    )
    clear_webhook = forms.BooleanField(required=False, label="No webhook")

    class Meta:
        model = CleanupPolicy
        fields = [
            "name",
            "registry",
            "enabled",
            "include_patterns",
            "exclude_patterns",
            "protected_patterns",
            "max_age_days",
            "branch_pattern",
            "keep_newest",
            "age_basis",
            "unpulled_days",
            "gitlab_rules",
            "gitlab_grace_days",
            "frequency",
            "weekday",
            "at",
            "mode",
            "max_tags_per_run",
            "max_repository_percent",
            "approval_reason",
            "notify_emails",
        ]
        labels = {
            **StalenessRulesForm.Meta.labels,
            "at": "At",
            "max_tags_per_run": "Apply at most (tags a run)",
            "max_repository_percent": "Apply at most (% of any repository)",
            "approval_reason": "Reason",
        }
        widgets = {
            "branch_pattern": forms.TextInput(attrs={"spellcheck": "false", "class": "mono"}),
            "at": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "mode": forms.RadioSelect,
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["name"].disabled = True  # the command line and the audit log use it
        if not self.is_bound:
            for name in ("include_patterns", "exclude_patterns", "protected_patterns"):
                self.initial[name] = "\n".join(getattr(self.instance, name) or [])
            self.initial["notify_emails"] = "\n".join(self.instance.notify_emails or [])

    def clean_include_patterns(self) -> list[str]:
        return _lines(self.cleaned_data["include_patterns"])

    def clean_exclude_patterns(self) -> list[str]:
        return _lines(self.cleaned_data["exclude_patterns"])

    def clean_protected_patterns(self) -> list[str]:
        return _lines(self.cleaned_data["protected_patterns"])

    def clean_notify_emails(self) -> list[str]:
        addresses = _lines(self.cleaned_data["notify_emails"])
        for address in addresses:
            try:
                validate_email(address)
            except forms.ValidationError:
                raise forms.ValidationError(INVALID_EMAIL_MESSAGE.format(address=address)) from None
        return addresses

    def save(self, commit: bool = True) -> CleanupPolicy:
        policy: CleanupPolicy = super().save(commit=False)
        if self.cleaned_data.get("clear_webhook"):
            policy.set_webhook_url("")
        elif self.cleaned_data.get("webhook_url"):
            policy.set_webhook_url(self.cleaned_data["webhook_url"])
        if commit:
            policy.save()
        return policy
