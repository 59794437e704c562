"""The Tags page, the Stale images view and the tag detail: who may, what they show, HTMX.

The `registry` (main) and `web` (acme/web) fixtures are in tests/conftest.py.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from registry.client.media_types import DOCKER_MANIFEST_LIST, OCI_INDEX
from registry.models import Layer, Tag
from registry.selection import add_tags
from registry.tag_filters import OLDER_THAN_MESSAGE
from registry.views.selection_bar import WHO_CAN_DELETE
from tests.factories import ManifestFactory, RepositoryFactory, TagFactory
from tests.support.html import captured, listed_tags
from tests.support.htmx import HTMX
from tests.support.tag_rows import make_tag

pytestmark = pytest.mark.django_db

MIB = 1024 * 1024


@pytest.fixture
def api(registry):
    return RepositoryFactory.create(registry=registry, name="acme/api")


def ago(days: float):
    return timezone.now() - timedelta(days=days)


@pytest.fixture
def tags(web, api):
    """Review builds (two stale), a release sharing its digest with latest, a multi-arch image."""
    review_old = make_tag(
        web,
        "review-login-1",
        size=50 * MIB,
        created=ago(40),
        first_seen=ago(39),
        is_stale=True,
        stale_reason="stale: older than 14 days",
    )
    review_older = make_tag(
        web,
        "review-signup-7",
        size=70 * MIB,
        created=ago(90),
        is_stale=True,
        stale_reason="stale: older than 30 days",
    )
    review_new = make_tag(web, "review-search-9", size=20 * MIB, created=ago(2))
    release = make_tag(
        web,
        "v1.2.3",
        size=30 * MIB,
        created=ago(60),
        is_protected=True,
        tag_count=2,
        stale_reason="protected: matches ^v?\\d+\\.\\d+\\.\\d+",
    )
    latest = TagFactory.create(
        name="latest",
        manifest=release.manifest,
        is_protected=True,
        stale_reason="protected: matches ^latest$",
    )
    multi = make_tag(
        api,
        "multi-1",
        size=90 * MIB,
        created=ago(10),
        media_type=OCI_INDEX,
        platforms=["linux/amd64", "linux/arm64/v8"],
    )
    return {
        "review_old": review_old,
        "review_older": review_older,
        "review_new": review_new,
        "release": release,
        "latest": latest,
        "multi": multi,
    }


def tags_url(query: str = "", registry: str = "main") -> str:
    url = reverse("tags", args=[registry])
    return f"{url}?{query}" if query else url


def stale_url(query: str = "", registry: str = "main") -> str:
    url = reverse("stale", args=[registry])
    return f"{url}?{query}" if query else url


def listed(response) -> list[str]:
    """The tag names in the table's rows, in order."""
    return listed_tags(response.content.decode())


# -- who may -------------------------------------------------------------------------


@pytest.mark.parametrize("url", [tags_url(), stale_url()])
def test_anonymous_users_are_sent_to_the_login(client: Client, registry, url) -> None:
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_an_expired_session_redirects_the_whole_page_to_the_login(client: Client, registry) -> None:
    response = client.get(tags_url(), **HTMX)
    assert response["HX-Redirect"].startswith("/accounts/login/")


@pytest.mark.parametrize("url", [tags_url(), stale_url()])
def test_users_without_a_role_get_403(client: Client, outsider, registry, url) -> None:
    client.force_login(outsider)
    assert client.get(url).status_code == 403


def test_tag_detail_of_users_without_a_role_is_403(client: Client, outsider, tags) -> None:
    client.force_login(outsider)
    assert client.get(reverse("tag_detail", args=[tags["latest"].pk])).status_code == 403


def test_an_unknown_registry_or_tag_is_404(client: Client, viewer, registry) -> None:
    client.force_login(viewer)
    assert client.get(tags_url(registry="nope")).status_code == 404
    assert client.get(stale_url(registry="nope")).status_code == 404
    assert client.get(reverse("tag_detail", args=[999_999])).status_code == 404


def test_the_pages_only_answer_get(client: Client, viewer, registry) -> None:
    client.force_login(viewer)
    assert client.post(tags_url()).status_code == 405


# -- what the table shows ------------------------------------------------------------


def test_viewers_see_every_tag_of_the_registry_newest_first(client: Client, viewer, tags) -> None:
    client.force_login(viewer)
    response = client.get(tags_url())
    assert response.status_code == 200
    assert listed(response) == [
        "review-search-9",
        "multi-1",
        "review-login-1",
        "latest",  # as old as v1.2.3 (one digest): the later row first
        "v1.2.3",
        "review-signup-7",
    ]
    assert "6</b> tags" in response.content.decode()


def test_a_row_shows_digest_size_age_platforms_media_type_and_badges(
    client: Client, viewer, tags
) -> None:
    client.force_login(viewer)
    html = client.get(tags_url()).content.decode()
    digest = tags["review_old"].manifest.digest
    assert f'<code title="{digest}">{digest[:19]}</code>' in html
    assert f'data-copy="{digest}"' in html
    assert "50.0\xa0MB" in html
    assert re.search(
        r'<time datetime="[^"]+" title="\d{4}-\d\d-\d\d \d\d:\d\d [^"]*">1\xa0month', html
    )
    assert "linux/amd64, linux/arm64/v8" in html
    assert 'title="application/vnd.oci.image.index.v1+json">OCI index</span>' in html
    assert '<span class="badge stale" title="stale: older than 14 days">stale</span>' in html
    assert "protected: matches ^latest$" in html
    assert "shares digest with 1 other tag</span>" in html


def test_the_repository_column_shows_across_repositories_but_not_within_one(
    client: Client, viewer, tags
) -> None:
    client.force_login(viewer)
    across = client.get(tags_url()).content.decode()
    assert ">Repository" in across
    assert "?repository=acme/api" in across
    within = client.get(tags_url("repository=acme/web")).content.decode()
    assert ">Repository" not in within
    assert "Tags of acme/web" in within


def test_each_row_has_the_selection_checkbox(client: Client, janitor, registry, tags) -> None:
    client.force_login(janitor)
    tag = tags["review_old"]
    add_tags(user=janitor, registry=registry, tag_ids=[tag.pk])
    html = client.get(tags_url()).content.decode()
    toggle = reverse("selection_toggle", args=["main"])
    checked = (
        f'<input type="checkbox" class="select-tag" id="select-tag-{tag.pk}" name="tag" '
        f'value="{tag.pk}" aria-label="Select {tag.name}" checked hx-post="{toggle}" '
        f'hx-vals=\'{{"tag": "{tag.pk}"}}\' hx-target="#selection-bar" hx-swap="outerHTML">'
    )
    assert checked in html
    other = tags["review_new"]
    assert f'value="{other.pk}" aria-label="Select {other.name}"  hx-post=' in html


def test_viewers_get_no_selection_controls_but_are_told_who_can_delete(
    client: Client, viewer, tags
) -> None:
    client.force_login(viewer)
    for url in (tags_url(), stale_url()):
        html = client.get(url).content.decode()
        assert 'class="select-tag"' not in html
        assert "Select this page" not in html
        assert "Select all" not in html
        assert 'id="selection-bar"' not in html
        assert "Skip to the selection" not in html
        assert WHO_CAN_DELETE in html
        assert len(listed(client.get(url))) > 0


def test_select_this_page_and_select_all_matching_carry_the_filter(
    client: Client, janitor, tags
) -> None:
    client.force_login(janitor)
    html = client.get(tags_url("name=review&sort=name")).content.decode()
    page_url = reverse("selection_page", args=["main"])
    matching_url = reverse("selection_matching", args=["main"])
    assert f'hx-post="{page_url}" hx-include="#page-tag-ids"' in html
    assert f'hx-post="{matching_url}?name=review&amp;sort=name"' in html
    assert "Select all 3 matching" in html
    assert 'aria-describedby="matching-filters">Select all 3 matching' in html
    assert "Selects the tags that match: name contains “review”." in html
    page_ids = captured(r'<div id="page-tag-ids" hidden>(.*?)</div>', html)
    assert page_ids.count('name="tag"') == 3
    assert 'id="selection-bar"' in html


def test_the_stale_view_preselects_only_stale_in_its_select_all(
    client: Client, janitor, tags
) -> None:
    client.force_login(janitor)
    html = client.get(stale_url()).content.decode()
    matching_url = reverse("selection_matching", args=["main"])
    assert f'hx-post="{matching_url}?stale_only=1"' in html
    assert "Select all 2 matching" in html
    assert "Selects the tags that match: stale." in html


def test_an_empty_registry_says_to_sync(client: Client, viewer, registry) -> None:
    client.force_login(viewer)
    html = client.get(tags_url()).content.decode()
    assert "main has never been synced" in html
    assert "Select all" not in html


def test_the_nav_links_the_registrys_pages(client: Client, viewer, registry) -> None:
    client.force_login(viewer)
    html = client.get(tags_url()).content.decode()
    assert f'href="{reverse("repositories", args=["main"])}"' in html
    assert f'href="{reverse("stale", args=["main"])}"' in html
    assert reverse("rules", args=["main"]) not in html  # viewers may not edit the rules


# -- filters ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("name=SEARCH", ["review-search-9"]),
        ("name=%5Ereview-(login%7Csignup)-&name_mode=regex", ["review-login-1", "review-signup-7"]),
        ("name=review-.*-1&name_mode=regex", ["review-login-1"]),
        ("name=review-&name_mode=regex&anchored=1", []),
        (
            "name=review-.*-%5Cd&name_mode=regex&anchored=1",
            ["review-login-1", "review-search-9", "review-signup-7"],
        ),
        ("name=latest&anchored=1", ["latest"]),
        ("older_than_days=30", ["latest", "review-login-1", "review-signup-7", "v1.2.3"]),
        ("stale_only=1", ["review-login-1", "review-signup-7"]),
        ("protected_only=1", ["latest", "v1.2.3"]),
        ("multi_arch_only=1", ["multi-1"]),
        ("shared_only=1", ["latest", "v1.2.3"]),
        ("repository=acme/api", ["multi-1"]),
        ("name=review&older_than_days=50", ["review-signup-7"]),
    ],
)
def test_filters(client: Client, viewer, tags, query, expected) -> None:
    client.force_login(viewer)
    response = client.get(tags_url(f"{query}&sort=name"))
    assert response.status_code == 200
    assert listed(response) == expected


def test_an_invalid_regex_shows_an_inline_error_and_lists_everything(
    client: Client, viewer, tags
) -> None:
    client.force_login(viewer)
    for headers in ({}, HTMX):
        response = client.get(tags_url("name=review-(&name_mode=regex"), **headers)
        assert response.status_code == 200
        html = response.content.decode()
        assert 'id="name-error">That regular expression is not valid: missing ),' in html
        assert len(listed(response)) == 6
    full_page = client.get(tags_url("name=review-(&name_mode=regex")).content.decode()
    assert 'aria-describedby="name-error" aria-invalid="true"' in full_page


def test_an_invalid_age_shows_an_inline_error(client: Client, viewer, tags) -> None:
    client.force_login(viewer)
    response = client.get(tags_url("older_than_days=soon"))
    assert response.status_code == 200
    assert OLDER_THAN_MESSAGE in response.content.decode()
    assert len(listed(response)) == 6


def test_the_form_shows_the_filters_in_the_url(client: Client, viewer, tags) -> None:
    client.force_login(viewer)
    html = client.get(
        tags_url("name=%5Ereview&name_mode=regex&anchored=1&older_than_days=7&protected_only=1")
    ).content.decode()
    assert 'value="^review"' in html
    assert 'name="name_mode" value="regex" checked' in html
    assert 'name="anchored" value="1" checked' in html
    assert 'value="7" class="days"' in html
    assert 'name="protected_only" value="1" checked' in html
    assert 'name="stale_only" value="1" >' in html


def test_no_match_says_so(client: Client, viewer, tags) -> None:
    client.force_login(viewer)
    html = client.get(tags_url("name=nothing-like-this")).content.decode()
    assert "No tag matches these filters." in html


def test_the_stale_view_lists_only_stale_tags_in_every_repository(
    client: Client, viewer, tags
) -> None:
    client.force_login(viewer)
    response = client.get(stale_url("sort=name"))
    assert response.status_code == 200
    html = response.content.decode()
    assert listed(response) == ["review-login-1", "review-signup-7"]
    assert "<h1>Stale images</h1>" in html
    assert '<input type="hidden" name="stale_only" value="1">' in html
    # stale_only cannot be switched off there
    assert listed(client.get(stale_url("stale_only=0&sort=name"))) == listed(response)


def test_the_stale_view_of_one_repository(client: Client, viewer, tags, api) -> None:
    make_tag(api, "api-old", is_stale=True)
    client.force_login(viewer)
    response = client.get(stale_url("repository=acme/api"))
    assert listed(response) == ["api-old"]
    assert "Stale images in acme/api" in response.content.decode()


# -- sorting ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", ["review-login-1", "review-search-9", "review-signup-7"]),
        ("-name", ["review-signup-7", "review-search-9", "review-login-1"]),
        ("-size", ["review-signup-7", "review-login-1", "review-search-9"]),
        ("size", ["review-search-9", "review-login-1", "review-signup-7"]),
        ("created", ["review-signup-7", "review-login-1", "review-search-9"]),
        ("-created", ["review-search-9", "review-login-1", "review-signup-7"]),
        ("first_seen", ["review-login-1", "review-signup-7", "review-search-9"]),
    ],
)
def test_sort_by_column(client: Client, viewer, tags, sort, expected) -> None:
    client.force_login(viewer)
    assert listed(client.get(tags_url(f"name=review-&sort={sort}"))) == expected


def test_column_headers_link_to_their_sort_and_mark_the_current_one(
    client: Client, viewer, tags
) -> None:
    client.force_login(viewer)
    html = client.get(tags_url("stale_only=1&sort=-size")).content.decode()
    base = reverse("tags", args=["main"])
    sorted_header = captured(r'aria-sort="descending">\s*<a href="([^"]+)"', html)
    assert sorted_header == f"{base}?stale_only=1&amp;sort=size"  # click again: flip
    assert f'href="{base}?stale_only=1&amp;sort=name"' in html  # text sorts A→Z first
    assert f'href="{base}?stale_only=1&amp;sort=-first_seen"' in html  # dates newest first
    assert f'href="{base}?stale_only=1" hx-get=' in html  # newest created: the default
    # With HTMX a header sends the form with its sort, so the form's text is never lost.
    assert (
        f'hx-get="{base}" hx-include="#tag-filters" hx-vals=\'{{"sort": "name"}}\' '
        'hx-target="#tag-results"'
    ) in html
    assert "Size ▼" in html


# -- paging ----------------------------------------------------------------------------


def test_fifty_rows_a_page_and_the_pager_keeps_the_filter(client: Client, viewer, web) -> None:
    for n in range(120):
        make_tag(web, f"build-{n:03d}", is_stale=n % 2 == 0)
    client.force_login(viewer)
    response = client.get(tags_url("sort=name"))
    assert listed(response) == [f"build-{n:03d}" for n in range(50)]
    html = response.content.decode()
    assert "page 1 of 3" in html
    base = reverse("tags", args=["main"])
    assert f'href="{base}?sort=name&amp;page=2"' in html
    assert listed(client.get(tags_url("sort=name&page=3")))[-1] == "build-119"

    stale = client.get(tags_url("stale_only=1&sort=name&page=2"))
    assert listed(stale) == [f"build-{n:03d}" for n in range(100, 120, 2)]
    assert f'href="{base}?stale_only=1&amp;sort=name&amp;page=1"' in stale.content.decode()


@pytest.mark.parametrize("page_size", [25, 100, 200])
def test_the_page_size_is_selectable(client: Client, viewer, web, page_size) -> None:
    Tag.objects.bulk_create(
        TagFactory.build(
            name=f"t{n:03d}", manifest=ManifestFactory.create(repository=web), repository=web
        )
        for n in range(210)
    )
    client.force_login(viewer)
    response = client.get(tags_url(f"page_size={page_size}"))
    assert len(listed(response)) == page_size
    assert f'<option value="{page_size}" selected>' in response.content.decode()


def test_a_page_past_the_end_shows_the_last_page(client: Client, viewer, tags) -> None:
    client.force_login(viewer)
    assert len(listed(client.get(tags_url("page=99")))) == 6
    assert len(listed(client.get(tags_url("page=abc")))) == 6


# -- HTMX --------------------------------------------------------------------------------


def test_htmx_requests_get_the_listing_alone(client: Client, viewer, tags) -> None:
    client.force_login(viewer)
    response = client.get(tags_url("stale_only=1"), **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="tag-results"')
    assert 'id="tag-filters"' not in html  # the form is not redrawn under the typing
    assert "<html" not in html
    assert 'id="selection-bar"' not in html
    assert len(listed(response)) == 2
    assert "HX-Request" in response["Vary"]


def test_the_full_page_has_the_drawer_and_the_filters_push_their_url(
    client: Client, viewer, tags
) -> None:
    client.force_login(viewer)
    html = client.get(tags_url()).content.decode()
    assert '<div id="drawer"' in html
    assert "input changed delay:300ms from:#tag-name-filter" in html
    assert "hx-preserve" not in html
    assert 'hx-push-url="true"' in html
    detail = reverse("tag_detail", args=[tags["latest"].pk])
    assert f'<a href="{detail}" hx-get="{detail}" hx-target="#drawer"' in html


def test_a_history_restore_gets_the_whole_page(client: Client, viewer, tags) -> None:
    client.force_login(viewer)
    response = client.get(tags_url(), HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HTMX)
    assert "<html" in response.content.decode()


# -- queries -------------------------------------------------------------------------------


def fill(repository, count: int) -> None:
    for n in range(count):
        make_tag(repository, f"review-x-{n:02d}", is_stale=True, tag_count=2, platforms=["a", "b"])


def queries_for(client: Client, url: str, **headers) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, **headers)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize(
    "query",
    [
        "",
        "name=review&older_than_days=0&sort=-size&page_size=100",
        "name=%5Ereview-x-%5Cd%2B&name_mode=regex&anchored=1&sort=repository",
        "multi_arch_only=1&shared_only=1&sort=media_type&page_size=25",
    ],
)
def test_the_page_costs_the_same_queries_for_10_or_100_rows(
    client: Client, viewer, registry, web, api, query
) -> None:
    client.force_login(viewer)
    fill(web, 10)
    add_tags(user=viewer, registry=registry, tag_ids=[Tag.objects.earliest("pk").pk])
    few = queries_for(client, tags_url(query))
    few_htmx = queries_for(client, tags_url(query), **HTMX)
    fill(api, 90)
    tags = list(Tag.objects.values_list("pk", flat=True))
    add_tags(user=viewer, registry=registry, tag_ids=tags[:40])
    assert queries_for(client, tags_url(query)) == few
    assert queries_for(client, tags_url(query), **HTMX) == few_htmx
    assert queries_for(client, stale_url(query)) == few


@pytest.mark.parametrize("query", ["sort=name", "name=x-%5Cd&name_mode=regex&sort=name"])
def test_a_deep_page_costs_what_the_first_does(client: Client, viewer, web, query) -> None:
    client.force_login(viewer)
    fill(web, 100)
    first = queries_for(client, tags_url(f"{query}&page_size=25"))
    assert queries_for(client, tags_url(f"{query}&page_size=25&page=4")) == first
    last = client.get(tags_url(f"{query}&page_size=25&page=4"))
    assert listed(last)[-1] == "review-x-99"


@pytest.mark.parametrize("query", ["", "name=%5Ereview&name_mode=regex", "older_than_days=0"])
def test_a_page_past_the_end_of_any_filter_shows_the_last_page(
    client: Client, viewer, tags, query
) -> None:
    client.force_login(viewer)
    every = listed(client.get(tags_url(query)))
    assert every
    assert listed(client.get(tags_url(f"{query}&page=7"))) == every


# -- tag detail ---------------------------------------------------------------------------


def test_the_detail_is_a_drawer_for_htmx_and_a_page_without(client: Client, viewer, tags) -> None:
    client.force_login(viewer)
    url = reverse("tag_detail", args=[tags["review_old"].pk])
    drawer = client.get(url, **HTMX).content.decode()
    assert drawer.lstrip().startswith('<article class="drawer tag-detail"')
    assert "<html" not in drawer
    assert "Close" in drawer
    page = client.get(url).content.decode()
    assert "<html" in page
    assert '<article class="card tag-detail"' in page
    assert f'href="{tags_url("repository=acme/web")}"' in page


def test_the_detail_shows_digest_media_type_dates_reason_and_layers(
    client: Client, viewer, tags
) -> None:
    tag = tags["review_old"]
    for n, size in enumerate([3 * MIB, 47 * MIB]):
        Layer.objects.create(manifest=tag.manifest, digest=f"sha256:{n}{'f' * 63}", size=size)
    client.force_login(viewer)
    html = client.get(reverse("tag_detail", args=[tag.pk]), **HTMX).content.decode()
    assert f'<code class="digest-full">{tag.manifest.digest}</code>' in html
    assert "Docker image" in html
    assert "application/vnd.docker.distribution.manifest.v2+json" in html
    assert "Stale: older than 14 days" in html
    assert "in 2 layers" in html
    assert "3.0\xa0MB" in html
    assert "47.0\xa0MB" in html
    assert "First seen" in html
    assert "Created" in html
    assert "None: only this tag points at it." in html


def test_the_detail_of_a_multi_arch_image_lists_each_platform_with_its_digest(
    client: Client, viewer, tags, api
) -> None:
    index = tags["multi"].manifest
    index.media_type = DOCKER_MANIFEST_LIST
    index.save()
    for platform in ["linux/amd64", "linux/arm64/v8"]:
        child = ManifestFactory.create(
            repository=api, platforms=[platform], size=45 * MIB, tag_count=0
        )
        Layer.objects.create(manifest=child, digest="sha256:" + "1" * 64, size=45 * MIB)
        index.children.add(child)
    client.force_login(viewer)
    html = client.get(reverse("tag_detail", args=[tags["multi"].pk])).content.decode()
    for child in index.children.all():
        assert f'<code title="{child.digest}">{child.digest}</code>' in html
    assert "<h3>linux/amd64" in html
    assert "<h3>linux/arm64/v8" in html
    assert "Docker list" in html


def test_the_detail_lists_the_other_tags_on_the_digest(client: Client, viewer, tags) -> None:
    client.force_login(viewer)
    html = client.get(reverse("tag_detail", args=[tags["release"].pk]), **HTMX).content.decode()
    assert "shares digest with 1 other tag" in html
    latest = reverse("tag_detail", args=[tags["latest"].pk])
    assert f'<a href="{latest}" hx-get="{latest}" hx-target="#drawer"' in html
    assert "Deleting this digest would delete these tags too." in html


def test_the_detail_says_why_a_tag_that_shares_a_protected_digest_is_kept(
    client: Client, viewer, web
) -> None:
    tag = make_tag(web, "review-x-1", stale_reason="shares its digest with protected tag latest")
    client.force_login(viewer)
    html = client.get(reverse("tag_detail", args=[tag.pk])).content.decode()
    assert "Shares its digest with protected tag latest" in html


def test_the_detail_costs_the_same_queries_however_big_the_image(
    client: Client, viewer, web
) -> None:
    client.force_login(viewer)

    def index_with(children: int, shared: int) -> Tag:
        index = ManifestFactory.create(repository=web, media_type=OCI_INDEX, tag_count=shared + 1)
        for _ in range(children):
            child = ManifestFactory.create(repository=web, tag_count=0)
            Layer.objects.bulk_create(
                Layer(manifest=child, digest=f"sha256:{n:064d}", size=n) for n in range(5)
            )
            index.children.add(child)
        tag = TagFactory.create(manifest=index)
        for _ in range(shared):
            TagFactory.create(manifest=index)
        return tag

    small, big = index_with(1, 0), index_with(6, 60)
    small_count = queries_for(client, reverse("tag_detail", args=[small.pk]), **HTMX)
    assert queries_for(client, reverse("tag_detail", args=[big.pk]), **HTMX) == small_count
    html = client.get(reverse("tag_detail", args=[big.pk]), **HTMX).content.decode()
    assert "and 10 more." in html


def test_the_tag_pages_are_never_stored(client: Client, janitor, tags) -> None:
    """Back after a deletion asks the server again: no browser or history cache keeps them."""
    client.force_login(janitor)
    for url in (tags_url(), stale_url(), reverse("selection", args=["main"])):
        for headers in ({}, HTMX):
            response = client.get(url, **headers)
            assert "no-store" in response["Cache-Control"], url
            assert "HX-History-Restore-Request" in response["Vary"]
    detail = client.get(reverse("tag_detail", args=[tags["latest"].pk]), **HTMX)
    assert "no-store" in detail["Cache-Control"]


def test_the_tag_drawer_offers_the_docker_pull_command(client: Client, viewer, tags) -> None:
    client.force_login(viewer)
    tag = tags["latest"]
    html = client.get(reverse("tag_detail", args=[tag.pk]), **HTMX).content.decode()
    command = f"docker pull 127.0.0.1:5000/{tag.repository.name}@{tag.manifest.digest}"
    assert f'data-copy="{command}"' in html
    assert 'aria-label="Copy the docker pull command"' in html
