"""The staleness rules page: admins only, inline errors, saving applies, preview writes nothing."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from registry.models import (
    EMPTY_PATTERN_MESSAGE,
    SEMVER_PATTERN,
    StalenessRules,
    Tag,
    invalid_pattern_message,
)
from registry.staleness import StaleFigures
from registry.views.rules import saved_message
from tests.factories import ManifestFactory, RepositoryFactory, TagFactory
from tests.support.htmx import HTMX

pytestmark = pytest.mark.django_db


def url(registry: str = "main") -> str:
    return reverse("rules", args=[registry])


def make_tag(repository, name: str, days: float) -> Tag:
    created = timezone.now() - timedelta(days=days)
    return TagFactory.create(
        name=name, manifest=ManifestFactory.create(repository=repository, created=created)
    )


@pytest.fixture
def tags(registry):
    """Review builds 20 and 40 days old, an MR build 30 days old, and latest: none stale yet."""
    repository = RepositoryFactory.create(registry=registry, name="acme/web")
    return [
        make_tag(repository, "review-a-1", 40),
        make_tag(repository, "review-a-2", 20),
        make_tag(repository, "mr-7", 30),
        make_tag(repository, "latest", 90),
    ]


def form_data(**changes: str) -> dict[str, str]:
    data = {
        "protected_patterns": "^latest$\n^main$\n",
        "max_age_days": "14",
        "branch_pattern": "",
        "keep_newest": "0",
        "age_basis": "created",
        "action": "save",
    }
    return {**data, **changes}


def stale_names() -> set[str]:
    return set(Tag.objects.filter(is_stale=True).values_list("name", flat=True))


# -- who may -------------------------------------------------------------------------------


def test_anonymous_users_are_sent_to_the_login(client: Client, registry) -> None:
    response = client.get(url())
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("user", ["outsider", "viewer", "janitor"])
def test_only_registry_admins_may_see_or_change_the_rules(
    client: Client, registry, request, user
) -> None:
    client.force_login(request.getfixturevalue(user))
    assert client.get(url()).status_code == 403
    assert client.post(url(), form_data(max_age_days="1")).status_code == 403
    assert not StalenessRules.objects.exists()


def test_an_unknown_registry_is_404(client: Client, registry_admin, registry) -> None:
    client.force_login(registry_admin)
    assert client.get(url("nope")).status_code == 404


def test_saving_without_a_csrf_token_is_refused(registry_admin, registry) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(registry_admin)
    assert client.post(url(), form_data(max_age_days="1")).status_code == 403
    assert not StalenessRules.objects.exists()


# -- the form --------------------------------------------------------------------------------


def test_admins_see_the_default_rules_one_pattern_a_line(
    client: Client, registry_admin, tags
) -> None:
    client.force_login(registry_admin)
    response = client.get(url())
    assert response.status_code == 200
    html = response.content.decode()
    assert "^latest$\n^main$\n^master$\n^stable$\n^production$\n" + SEMVER_PATTERN in html
    assert 'name="max_age_days" value="14"' in html
    assert 'name="keep_newest" value="0"' in html
    assert re.search(r'<input type="radio" name="age_basis" value="created"[^>]* checked>', html)
    assert "<b>0</b> of 4 tags are stale under the saved rules." in html
    assert 'aria-current="page">Staleness rules</a>' in html


def test_saving_applies_the_rules_and_says_how_many_tags_changed(
    client: Client, registry_admin, registry, tags
) -> None:
    client.force_login(registry_admin)
    response = client.post(url(), form_data(branch_pattern="^review-"), follow=True)
    assert response.redirect_chain == [(url(), 302)]
    rules = StalenessRules.objects.get(registry=registry)
    assert rules.protected_patterns == ["^latest$", "^main$"]
    assert rules.branch_pattern == "^review-"
    # Older than 14 days and a review build: only these two.
    assert stale_names() == {"review-a-1", "review-a-2"}
    html = response.content.decode()
    message = saved_message(changed=4, figures=StaleFigures(total=4, stale=2))
    assert message in html
    assert "4 tags changed their verdict; 2 of 4 tags are stale now." in message
    assert "<b>2</b> of 4 tags are stale under the saved rules." in html


def test_keep_newest_and_age_basis_are_saved(
    client: Client, registry_admin, registry, tags
) -> None:
    client.force_login(registry_admin)
    client.post(url(), form_data(keep_newest="1", age_basis="first_seen", max_age_days="0"))
    rules = StalenessRules.objects.get(registry=registry)
    assert (rules.keep_newest, rules.age_basis, rules.max_age_days) == (1, "first_seen", 0)


def test_blank_lines_between_patterns_are_ignored(
    client: Client, registry_admin, registry, tags
) -> None:
    client.force_login(registry_admin)
    client.post(url(), form_data(protected_patterns="\n  ^latest$  \n\n^v\\d+\n"))
    assert StalenessRules.objects.get(registry=registry).protected_patterns == [
        "^latest$",
        "^v\\d+",
    ]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "protected_patterns",
            "^latest$\n^v(\\d+",
            invalid_pattern_message("^v(\\d+", "missing ), unterminated subpattern at position 2"),
        ),
        (
            "branch_pattern",
            "^review-(?P<branch>",
            invalid_pattern_message(
                "^review-(?P<branch>", "missing ), unterminated subpattern at position 8"
            ),
        ),
        ("max_age_days", "-3", "Ensure this value is greater than or equal to 0."),
        ("keep_newest", "many", "Enter a whole number."),
    ],
)
def test_invalid_rules_show_inline_errors_and_change_nothing(
    client: Client, registry_admin, registry, tags, field, value, message
) -> None:
    client.force_login(registry_admin)
    response = client.post(url(), form_data(**{field: value}))
    assert response.status_code == 200
    html = response.content.decode()
    escaped = message.replace("'", "&#x27;").replace("<", "&lt;").replace(">", "&gt;")
    assert f'id="id_{field}_errors" role="alert"><li>{escaped}</li>' in html
    assert not StalenessRules.objects.exists()
    assert stale_names() == set()


def test_the_models_own_checks_apply(client: Client, registry_admin, registry) -> None:
    client.force_login(registry_admin)
    rules = StalenessRules(registry=registry, protected_patterns=[""])
    with pytest.raises(Exception, match="empty pattern"):
        rules.full_clean()
    assert "empty pattern" in EMPTY_PATTERN_MESSAGE


# -- preview ----------------------------------------------------------------------------------


def test_preview_counts_what_would_be_stale_and_saves_nothing(
    client: Client, registry_admin, registry, tags
) -> None:
    client.force_login(registry_admin)
    response = client.post(url(), form_data(action="preview", max_age_days="25"), **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="rules-form"')
    assert "<html" not in html
    assert "These rules would make <b>2</b> of 4 tags stale" in html
    assert "2 more become stale, 0 stop being stale." in html
    assert 'name="max_age_days" value="25"' in html  # the form keeps what was typed
    assert not StalenessRules.objects.exists()
    assert stale_names() == set()


def test_preview_works_without_javascript(client: Client, registry_admin, registry, tags) -> None:
    client.force_login(registry_admin)
    response = client.post(url(), form_data(action="preview", max_age_days="100"))
    html = response.content.decode()
    assert "<html" in html
    assert "These rules would make <b>0</b> of 4 tags stale" in html
    assert not StalenessRules.objects.exists()


def test_preview_of_invalid_rules_shows_the_errors(
    client: Client, registry_admin, registry
) -> None:
    client.force_login(registry_admin)
    response = client.post(url(), form_data(action="preview", branch_pattern="("), **HTMX)
    assert response.status_code == 200
    assert 'id="id_branch_pattern_errors"' in response.content.decode()
    assert "would make" not in response.content.decode()


def test_the_preview_button_posts_with_htmx_into_the_form(
    client: Client, registry_admin, registry
) -> None:
    client.force_login(registry_admin)
    html = client.get(url()).content.decode()
    assert f'hx-post="{url()}" hx-vals=\'{{"action": "preview"}}\'' in html
    assert 'hx-target="#rules-form"' in html
