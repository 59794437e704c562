"""The selection's URLs: who may use them, what the bar and the page show, CSRF.

The `registry` (main) and `web` (acme/web) fixtures are in tests/conftest.py.
"""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from registry import selection
from registry.models import SelectedTag
from registry.selection import (
    SELECTION_CLEARED_MESSAGE,
    SIZE_COUNTS_EACH_IMAGE_ONCE,
    TAG_GONE_MESSAGE,
    add_tags,
    added_message,
    over_limit_message,
    selection_summary,
)
from registry.views.selection import SELECTION_CHANGED_EVENT, SELECTION_PAGE_SIZE
from tests.factories import ManifestFactory, RegistryFactory, RepositoryFactory, TagFactory
from tests.support.htmx import HTMX

pytestmark = pytest.mark.django_db

MIB = 1024 * 1024


@pytest.fixture
def tags(web):
    """Three review builds and two releases in acme/web, 1 MiB each."""
    names = ["review-a-1", "review-b-2", "review-c-3", "v1.0.0", "v1.1.0"]
    return [
        TagFactory.create(name=name, manifest=ManifestFactory.create(repository=web, size=MIB))
        for name in names
    ]


def url(name: str, registry_name: str = "main") -> str:
    return reverse(name, args=[registry_name])


def selected_names(user, registry) -> set[str]:
    return set(
        SelectedTag.objects.filter(user=user, registry=registry).values_list("tag__name", flat=True)
    )


POST_URLS = ["selection_toggle", "selection_page", "selection_matching", "selection_clear"]


# -- who may ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [*POST_URLS, "selection"])
def test_anonymous_users_are_sent_to_the_login(client, registry, name):
    response = client.post(url(name)) if name != "selection" else client.get(url(name))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_an_expired_session_redirects_the_whole_page_to_the_login(client, registry):
    response = client.post(url("selection_toggle"), {"tag": "1"}, **HTMX)
    assert response["HX-Redirect"].startswith("/accounts/login/")


@pytest.mark.parametrize("name", [*POST_URLS, "selection"])
def test_users_without_a_role_get_403(client, outsider, registry, tags, name):
    client.force_login(outsider)
    if name == "selection":
        response = client.get(url(name))
    else:
        response = client.post(url(name), {"tag": str(tags[0].pk)}, **HTMX)
    assert response.status_code == 403
    assert not SelectedTag.objects.exists()


def test_an_unknown_registry_is_404(client, viewer):
    client.force_login(viewer)
    assert client.post(url("selection_clear", "nope"), **HTMX).status_code == 404
    assert client.get(url("selection", "nope")).status_code == 404


@pytest.mark.parametrize("name", POST_URLS)
def test_changing_the_selection_needs_a_post(client, viewer, registry, name):
    client.force_login(viewer)
    assert client.get(url(name)).status_code == 405


def test_viewers_may_select(client, viewer, registry, tags):
    client.force_login(viewer)
    response = client.post(url("selection_toggle"), {"tag": str(tags[0].pk)}, **HTMX)
    assert response.status_code == 200
    assert selected_names(viewer, registry) == {"review-a-1"}


def test_only_users_who_may_delete_see_preview_deletion(client, viewer, janitor, registry, tags):
    client.force_login(viewer)
    as_viewer = client.post(url("selection_toggle"), {"tag": str(tags[0].pk)}, **HTMX)
    assert "Preview deletion" not in as_viewer.content.decode()
    assert "Show selection" in as_viewer.content.decode()

    client.force_login(janitor)
    as_janitor = client.post(url("selection_toggle"), {"tag": str(tags[0].pk)}, **HTMX)
    assert "Preview deletion" in as_janitor.content.decode()
    assert f'href="{url("selection")}"' in as_janitor.content.decode()


# -- CSRF ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", POST_URLS)
def test_a_post_without_the_csrf_token_is_403(viewer, registry, tags, name):
    client = Client(enforce_csrf_checks=True)
    client.force_login(viewer)
    response = client.post(url(name), {"tag": str(tags[0].pk)}, **HTMX)
    assert response.status_code == 403
    assert not SelectedTag.objects.exists()


def test_a_post_with_the_token_in_the_htmx_header_is_accepted(viewer, registry, tags):
    client = Client(enforce_csrf_checks=True)
    client.force_login(viewer)
    page = client.get(url("selection"))  # the body's hx-headers carry the token; so does the cookie
    token = page.cookies["csrftoken"].value
    assert "x-csrftoken" in page.content.decode()

    response = client.post(
        url("selection_toggle"), {"tag": str(tags[0].pk)}, HTTP_X_CSRFTOKEN=token, **HTMX
    )

    assert response.status_code == 200
    assert selected_names(viewer, registry) == {"review-a-1"}


# -- the bar (HTMX) ------------------------------------------------------------------------


def test_toggling_returns_the_bar_with_count_and_size(client, viewer, registry, tags):
    client.force_login(viewer)
    response = client.post(url("selection_toggle"), {"tag": str(tags[0].pk)}, **HTMX)

    html = response.content.decode()
    assert html.lstrip().startswith('<div id="selection-bar"')
    assert "<html" not in html
    assert "1 tag selected" in html
    assert "1.0\xa0MB" in html


def test_toggling_twice_unselects(client, viewer, registry, tags):
    client.force_login(viewer)
    client.post(url("selection_toggle"), {"tag": str(tags[0].pk)}, **HTMX)
    response = client.post(url("selection_toggle"), {"tag": str(tags[0].pk)}, **HTMX)

    assert "0 tags selected" in response.content.decode()
    assert selected_names(viewer, registry) == set()


def test_a_plain_toggle_does_not_ask_the_page_to_reread_its_boxes(client, viewer, registry, tags):
    client.force_login(viewer)
    response = client.post(url("selection_toggle"), {"tag": str(tags[0].pk)}, **HTMX)
    assert "HX-Trigger" not in response
    assert "HX-Trigger-After-Swap" not in response


def test_an_explicit_state_sets_rather_than_toggles(client, viewer, registry, tags):
    client.force_login(viewer)
    for _ in range(2):
        client.post(url("selection_toggle"), {"tag": str(tags[0].pk), "selected": "1"}, **HTMX)
    assert selected_names(viewer, registry) == {"review-a-1"}

    response = client.post(
        url("selection_toggle"), {"tag": str(tags[0].pk), "selected": "0"}, **HTMX
    )

    assert selected_names(viewer, registry) == set()
    assert SELECTION_CHANGED_EVENT in response["HX-Trigger-After-Swap"]


def test_toggling_a_tag_a_sync_removed_says_so(client, viewer, registry, tags):
    client.force_login(viewer)
    response = client.post(url("selection_toggle"), {"tag": "987654"}, **HTMX)
    assert TAG_GONE_MESSAGE in response.content.decode()


@pytest.mark.parametrize("values", [{"tag": "abc"}, {}, {"tag": ["1", "2"]}])
def test_toggle_needs_exactly_one_tag_id(client, viewer, registry, values):
    client.force_login(viewer)
    assert client.post(url("selection_toggle"), values, **HTMX).status_code == 400


def test_select_page_selects_every_id_sent(client, viewer, registry, tags):
    client.force_login(viewer)
    response = client.post(url("selection_page"), {"tag": [str(t.pk) for t in tags[:3]]}, **HTMX)

    html = response.content.decode()
    assert selected_names(viewer, registry) == {"review-a-1", "review-b-2", "review-c-3"}
    assert "3 tags selected" in html
    assert added_message(3) in html
    assert SELECTION_CHANGED_EVENT in response["HX-Trigger-After-Swap"]


def test_select_page_ignores_tags_of_other_registries(client, viewer, registry, tags):
    elsewhere = TagFactory.create(
        manifest=ManifestFactory.create(
            repository=RepositoryFactory.create(registry=RegistryFactory.create(name="b"))
        )
    )
    client.force_login(viewer)
    client.post(url("selection_page"), {"tag": [str(tags[0].pk), str(elsewhere.pk)]}, **HTMX)
    assert selected_names(viewer, registry) == {"review-a-1"}


def test_select_matching_selects_what_the_filter_in_the_url_matches(client, viewer, registry, tags):
    client.force_login(viewer)
    response = client.post(url("selection_matching") + "?name=review", **HTMX)

    assert selected_names(viewer, registry) == {"review-a-1", "review-b-2", "review-c-3"}
    html = response.content.decode()
    assert "3 tags selected" in html
    assert "3.0\xa0MB" in html
    assert added_message(3) in html


def test_select_matching_with_a_regex_filter(client, viewer, registry, tags):
    client.force_login(viewer)
    client.post(url("selection_matching") + "?name=%5Ev1%5C.&name_mode=regex", **HTMX)
    assert selected_names(viewer, registry) == {"v1.0.0", "v1.1.0"}


def test_select_matching_refuses_a_filter_with_an_error(client, viewer, registry, tags):
    client.force_login(viewer)
    response = client.post(url("selection_matching") + "?name=%5B&name_mode=regex", **HTMX)

    assert response.status_code == 200
    assert "fix the filter first" in response.content.decode()
    assert selected_names(viewer, registry) == set()


def test_the_selection_survives_filtering(client, viewer, registry, tags):
    client.force_login(viewer)
    client.post(url("selection_matching") + "?name=review", **HTMX)
    response = client.post(url("selection_matching") + "?name=v1.", **HTMX)

    assert "5 tags selected" in response.content.decode()
    assert added_message(2) in response.content.decode()


def test_past_the_bound_the_bar_says_how_many_were_not_added(
    client, viewer, registry, tags, monkeypatch
):
    monkeypatch.setattr(selection, "MAX_SELECTED_TAGS", 2)
    client.force_login(viewer)

    response = client.post(url("selection_matching"), **HTMX)

    html = response.content.decode()
    assert over_limit_message(3) in html
    assert "2 tags selected" in html
    assert "50,000" not in over_limit_message(3)  # the patched bound is what the user reads


def test_the_real_bound_is_fifty_thousand_tags():
    assert selection.MAX_SELECTED_TAGS == 50_000
    assert "50,000 tags: 12 tags were not added" in over_limit_message(12)


def test_a_full_selection_refuses_a_toggle_and_says_so(client, viewer, registry, tags, monkeypatch):
    monkeypatch.setattr(selection, "MAX_SELECTED_TAGS", 1)
    add_tags(user=viewer, registry=registry, tag_ids=[tags[0].pk])
    client.force_login(viewer)

    response = client.post(url("selection_toggle"), {"tag": str(tags[1].pk)}, **HTMX)

    assert over_limit_message(1) in response.content.decode()
    # The clicked box must uncheck.
    assert SELECTION_CHANGED_EVENT in response["HX-Trigger-After-Swap"]
    assert selected_names(viewer, registry) == {"review-a-1"}


def test_clear_empties_the_selection(client, viewer, registry, tags):
    add_tags(user=viewer, registry=registry, tag_ids=[t.pk for t in tags])
    client.force_login(viewer)

    response = client.post(url("selection_clear"), **HTMX)

    html = response.content.decode()
    assert "0 tags selected" in html
    assert SELECTION_CLEARED_MESSAGE in html
    assert SELECTION_CHANGED_EVENT in response["HX-Trigger-After-Swap"]


def test_the_bars_size_says_each_image_counts_once(client, viewer, registry, web):
    shared = ManifestFactory.create(repository=web, size=2 * MIB, tag_count=2)
    pair = [TagFactory.create(name=n, manifest=shared) for n in ("main-1", "main-2")]
    client.force_login(viewer)

    response = client.post(url("selection_page"), {"tag": [str(t.pk) for t in pair]}, **HTMX)

    html = response.content.decode()
    assert "2 tags selected" in html
    assert "2.0\xa0MB" in html  # once, not twice
    assert f'title="{SIZE_COUNTS_EACH_IMAGE_ONCE}"' in html


def test_the_selection_belongs_to_the_user(client, viewer, janitor, registry, tags):
    add_tags(user=janitor, registry=registry, tag_ids=[t.pk for t in tags])
    client.force_login(viewer)

    response = client.post(url("selection_toggle"), {"tag": str(tags[0].pk)}, **HTMX)

    assert "1 tag selected" in response.content.decode()
    assert selection_summary(user=janitor, registry=registry).count == 5


def test_the_bars_forms_come_back_to_the_page_the_bar_is_on(client, viewer, registry, tags):
    client.force_login(viewer)
    response = client.post(
        url("selection_toggle"),
        {"tag": str(tags[0].pk)},
        HTTP_HX_CURRENT_URL="http://testserver/registries/main/tags/?name=review&page=2",
        **HTMX,
    )
    html = response.content.decode()
    assert 'name="next" value="/registries/main/tags/?name=review&amp;page=2"' in html


# -- without HTMX --------------------------------------------------------------------------


def test_without_htmx_a_change_redirects_back_to_next(client, viewer, registry, tags):
    client.force_login(viewer)
    back = url("selection") + "?page=1"
    response = client.post(url("selection_toggle"), {"tag": str(tags[0].pk), "next": back})
    assert response.status_code == 302
    assert response["Location"] == back


def test_without_htmx_the_message_shows_on_the_next_page(client, viewer, registry, tags):
    client.force_login(viewer)
    response = client.post(
        url("selection_page"),
        {"tag": [str(t.pk) for t in tags[:2]], "next": url("selection")},
        follow=True,
    )
    assert added_message(2) in response.content.decode()


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", ""])
def test_without_htmx_a_foreign_next_goes_to_the_tags_page(client, viewer, registry, target):
    client.force_login(viewer)
    response = client.post(url("selection_clear"), {"next": target})
    assert response["Location"] == url("tags")


# -- the selection page ---------------------------------------------------------------------


def test_the_selection_page_lists_the_selected_tags_with_totals(client, viewer, registry, tags):
    other = RepositoryFactory.create(registry=registry, name="acme/api")
    api_tag = TagFactory.create(
        name="mr-7", manifest=ManifestFactory.create(repository=other, size=5 * MIB)
    )
    add_tags(user=viewer, registry=registry, tag_ids=[tags[0].pk, tags[1].pk, api_tag.pk])
    client.force_login(viewer)

    response = client.get(url("selection"))

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html
    for shown in ("review-a-1", "review-b-2", "mr-7", "acme/api", "acme/web"):
        assert shown in html
    assert "v1.0.0" not in html
    assert "5.0\xa0MB" in html  # acme/api's total
    assert "2.0\xa0MB" in html  # acme/web's total
    assert "3 tags selected" in html  # the bar


def test_an_empty_selection_page_says_how_to_select(client, viewer, registry):
    client.force_login(viewer)
    response = client.get(url("selection"))
    assert "Nothing is selected" in response.content.decode()


def test_the_selection_page_is_paginated(client, viewer, registry, web):
    many = [
        TagFactory.create(name=f"build-{n:03d}", manifest=ManifestFactory.create(repository=web))
        for n in range(SELECTION_PAGE_SIZE + 3)
    ]
    add_tags(user=viewer, registry=registry, tag_ids=[t.pk for t in many])
    client.force_login(viewer)

    first = client.get(url("selection")).content.decode()
    second = client.get(url("selection") + "?page=2").content.decode()

    last = f"build-{SELECTION_PAGE_SIZE + 2:03d}"
    assert "build-000" in first
    assert last not in first
    assert last in second
    assert "build-000" not in second
    assert "Page 2 of 2" in second
    assert f'hx-get="{url("selection")}?page=1" hx-target="#selection-list"' in second


def test_htmx_gets_only_the_list_of_the_selection_page(client, viewer, registry, tags):
    add_tags(user=viewer, registry=registry, tag_ids=[tags[0].pk])
    client.force_login(viewer)

    response = client.get(url("selection"), **HTMX)

    html = response.content.decode()
    assert html.lstrip().startswith('<section id="selection-list"')
    assert "<html" not in html
    assert "review-a-1" in html


def test_the_selection_page_takes_a_constant_number_of_queries(client, viewer, registry, web):
    def queries_for_the_page() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url("selection")).status_code == 200
        return len(captured)

    def select(count: int, prefix: str, repo) -> None:
        more = [
            TagFactory.create(
                name=f"{prefix}-{n}", manifest=ManifestFactory.create(repository=repo)
            )
            for n in range(count)
        ]
        add_tags(user=viewer, registry=registry, tag_ids=[t.pk for t in more])

    client.force_login(viewer)
    select(2, "few", web)
    few = queries_for_the_page()
    select(60, "many", web)
    select(3, "api", RepositoryFactory.create(registry=registry, name="acme/api"))

    assert queries_for_the_page() == few


def test_a_history_restore_of_the_selection_page_gets_the_whole_page(
    client, viewer, registry, tags
):
    client.force_login(viewer)
    response = client.get(url("selection"), HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HTMX)
    assert "<html" in response.content.decode()
    assert "HX-Request" in response["Vary"]


def test_an_expired_session_sends_an_htmx_action_back_to_the_page_it_came_from(
    client: Client, registry, tags
) -> None:
    """Never to the POST-only action: after the login, the user is on the page again."""
    page = "/registries/main/stale/?name=review&older_than_days=60"
    response = client.post(
        url("selection_toggle"),
        {"tag": str(tags[0].pk)},
        HTTP_HX_CURRENT_URL=f"http://testserver{page}",
        **HTMX,
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == (
        "/accounts/login/?next=/registries/main/stale/%3Fname%3Dreview%26older_than_days%3D60"
    )


def test_an_expired_session_ignores_a_current_url_of_another_site(client: Client, registry) -> None:
    response = client.post(
        url("selection_clear"), HTTP_HX_CURRENT_URL="https://evil.example/phish", **HTMX
    )
    assert response["HX-Redirect"] == "/accounts/login/?next=/"


def test_without_htmx_an_expired_session_redirects_as_before(client: Client, registry) -> None:
    response = client.get(url("selection"))
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/registries/main/selection/"


def test_the_selection_page_sorts_by_its_column_headers(
    client: Client, viewer, registry, tags
) -> None:
    client.force_login(viewer)
    add_tags(user=viewer, registry=registry, tag_ids=[t.pk for t in tags])
    html = client.get(url("selection") + "?sort=-name").content.decode()
    names = re.findall(r'<td><a href="/tags/\d+/">([^<]+)</a></td>', html)
    assert names == sorted(names, reverse=True)
    assert 'aria-sort="descending"' in html
    assert f'href="{url("selection")}?sort=name"' in html  # click again: flip
    assert f'href="{url("selection")}?sort=-size"' in html  # sizes: biggest first
