"""The audit log pages, their exports, and the read-only admin: who may, what they show.

The `log` fixture is in tests/support/audit_log.py.
"""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from registry.audit import DATE_FROM_MESSAGE, OUTCOME_MESSAGE
from registry.audit_exports import EXPORT_COLUMNS
from tests.factories import DeletionBatchFactory, DeletionItemFactory
from tests.support.audit_log import at
from tests.support.html import NAME, name_text
from tests.support.htmx import HTMX

pytestmark = pytest.mark.django_db


def url(name: str, query: str = "") -> str:
    return f"{reverse(name)}?{query}" if query else reverse(name)


def listed(response) -> list[str]:
    """The tag names in the audit table's rows, in order."""
    cells = re.findall(rf'<td class="tag-name">{NAME}</td>', response.content.decode())
    return [name_text(cell) for cell in cells]


def streamed(response) -> str:
    assert response.streaming
    return b"".join(response.streaming_content).decode()


PAGES = ["audit", "audit_batches", "audit_export_csv", "audit_export_json"]


# -- who may -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PAGES)
def test_anonymous_users_are_sent_to_the_login(client: Client, name: str) -> None:
    response = client.get(url(name))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_an_expired_session_redirects_the_whole_page_to_the_login(client: Client) -> None:
    response = client.get(url("audit"), **HTMX)
    assert response["HX-Redirect"].startswith("/accounts/login/")


@pytest.mark.parametrize("name", PAGES)
def test_users_without_a_role_get_403(client: Client, outsider, log, name: str) -> None:
    client.force_login(outsider)
    assert client.get(url(name)).status_code == 403


@pytest.mark.parametrize("role", ["viewer", "janitor", "registry_admin"])
def test_every_role_reads_the_log(client: Client, request, log, role: str) -> None:
    client.force_login(request.getfixturevalue(role))
    for name in PAGES:
        assert client.get(url(name)).status_code == 200, name


def test_the_pages_only_answer_get(client: Client, viewer) -> None:
    client.force_login(viewer)
    for name in PAGES:
        assert client.post(url(name)).status_code == 405, name


def test_the_top_nav_links_to_the_audit_log(client: Client, viewer) -> None:
    client.force_login(viewer)
    html = client.get(reverse("dashboard")).content.decode()
    assert f'<a href="{reverse("audit")}">Audit log</a>' in html


# -- what the log shows ----------------------------------------------------------------------


def test_viewers_see_every_audited_tag_newest_batch_first(client: Client, viewer, log) -> None:
    client.force_login(viewer)
    response = client.get(url("audit"))
    assert response.status_code == 200
    assert listed(response) == ["review-9", "review-2", "review-3", "review-1", "latest", "v1.0"]
    assert "<b>6</b> tags" in response.content.decode()


def test_a_row_shows_who_where_what_and_how_it_ended(client: Client, viewer, log) -> None:
    client.force_login(viewer)
    html = client.get(url("audit")).content.decode()
    first = log["first"]
    assert '<time datetime="2026-03-01T10:05:00+00:00">2026-03-01 10:05</time>' in html
    assert 'jan-janitor<br><span class="muted">confirmed by ada-admin</span>' in html
    assert '<code title="sha256:' + "ab" * 32 + '">' + "ab" * 6 + "</code>" in html
    assert '<span class="badge action-untag">Untag only</span>' in html
    assert '<span class="badge outcome-failed">failed</span>' in html
    assert '<td class="num">500</td>' in html
    assert "The registry answered 500: internal error." in html
    assert "protected: matches ^v" in html
    assert f'<a href="{reverse("batch", args=[first.pk])}">#{first.pk}</a>' in html


def test_the_page_says_what_the_dates_filter_on(client: Client, viewer, log) -> None:
    client.force_login(viewer)
    html = client.get(url("audit")).content.decode()
    assert "Dates are the days the batches were planned, both included (UTC)." in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("user=sam", ["review-2", "review-3"]),
        ("user=ada", ["review-1", "latest", "v1.0"]),
        ("registry=main", ["review-9", "review-1", "latest", "v1.0"]),
        ("repository=api", ["v1.0"]),
        ("tag=review", ["review-9", "review-2", "review-3", "review-1"]),
        ("outcome=failed", ["review-3"]),
        ("action=untag", ["latest"]),
        ("date_from=2026-03-02", ["review-9", "review-2", "review-3"]),
        ("date_to=2026-03-01", ["review-1", "latest", "v1.0"]),
        ("date_from=2026-03-02&date_to=2026-03-04", []),
    ],
)
def test_each_filter_narrows_the_table(client: Client, viewer, log, query: str, expected) -> None:
    client.force_login(viewer)
    response = client.get(url("audit", query))
    assert response.status_code == 200
    assert listed(response) == expected


def test_the_batch_filter_shows_one_batch(client: Client, viewer, log) -> None:
    client.force_login(viewer)
    response = client.get(url("audit", f"batch={log['second'].pk}"))
    assert listed(response) == ["review-2", "review-3"]
    assert "<b>2</b> tags match" in response.content.decode()


def test_nothing_matching_says_so(client: Client, viewer, log) -> None:
    client.force_login(viewer)
    html = client.get(url("audit", "tag=nothing-like-this")).content.decode()
    assert "Nothing in the audit log matches these filters." in html


def test_an_empty_log_says_so(client: Client, viewer) -> None:
    client.force_login(viewer)
    html = client.get(url("audit")).content.decode()
    assert "Nothing deleted yet" in html


@pytest.mark.parametrize(
    ("query", "message", "field"),
    [
        ("date_from=2026-13-01", DATE_FROM_MESSAGE, "date_from"),
        ("date_from=yesterday", DATE_FROM_MESSAGE, "date_from"),
        ("outcome=vanished", OUTCOME_MESSAGE, "outcome"),
    ],
)
def test_a_bad_filter_is_shown_inline_and_left_out(
    client: Client, viewer, log, query: str, message: str, field: str
) -> None:
    client.force_login(viewer)
    response = client.get(url("audit", query))
    assert response.status_code == 200
    html = response.content.decode()
    assert f'<p class="error" id="{field}-error">{message}</p>' in html
    assert f'aria-invalid="true" aria-describedby="{field}-error"' in html
    assert len(listed(response)) == 6  # the rest of the filters still apply: here, none


def test_htmx_requests_get_the_listing_alone(client: Client, viewer, log) -> None:
    client.force_login(viewer)
    response = client.get(url("audit", "user=sam"), **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="audit-listing"')
    assert "<html" not in html
    assert listed(response) == ["review-2", "review-3"]
    assert "HX-Request" in response["Vary"]


def test_the_filter_form_works_with_and_without_javascript(client: Client, viewer, log) -> None:
    client.force_login(viewer)
    html = client.get(url("audit")).content.decode()
    path = reverse("audit")
    assert f'<form class="filters card" method="get" action="{path}"' in html
    assert f'hx-get="{path}"' in html
    assert 'hx-target="#audit-listing"' in html
    assert 'hx-push-url="true"' in html


def test_fifty_rows_a_page_and_the_pager_keeps_the_filters(client: Client, viewer) -> None:
    batch = DeletionBatchFactory.create(planned_at=at(2))
    for position in range(1, 53):
        DeletionItemFactory.create(batch=batch, position=position, tag=f"build-{position:03d}")
    client.force_login(viewer)
    first = client.get(url("audit", "tag=build"))
    assert len(listed(first)) == 50
    html = first.content.decode()
    assert "page 1 of 2" in html
    next_url = f"{reverse('audit')}?tag=build&amp;page=2"
    assert f'href="{next_url}"' in html
    assert f'hx-get="{next_url}"' in html
    second = client.get(url("audit", "tag=build&page=2"))
    assert listed(second) == ["build-051", "build-052"]


# -- exports -----------------------------------------------------------------------------------


def test_the_export_links_carry_the_filters(client: Client, viewer, log) -> None:
    client.force_login(viewer)
    html = client.get(url("audit", "user=sam&outcome=failed&outcome_ignored=1")).content.decode()
    assert f'href="{reverse("audit_export_csv")}?user=sam&amp;outcome=failed"' in html
    assert f'href="{reverse("audit_export_json")}?user=sam&amp;outcome=failed"' in html
    assert "Export what matches as" in html


def test_the_csv_export_streams_the_filtered_rows(client: Client, viewer, log) -> None:
    client.force_login(viewer)
    response = client.get(url("audit_export_csv", "registry=main"))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="deletion-audit-\d{8}-\d{6}\.csv"', response["Content-Disposition"]
    )
    rows = list(csv.DictReader(io.StringIO(streamed(response))))
    assert list(rows[0]) == EXPORT_COLUMNS
    assert [(row["registry"], row["tag"], row["outcome"]) for row in rows] == [
        ("main", "review-9", "pending"),
        ("main", "review-1", "deleted"),
        ("main", "latest", "untagged"),
        ("main", "v1.0", "refused"),
    ]
    deleted, refused = rows[1], rows[3]
    assert deleted["batch_id"] == str(log["first"].pk)
    assert deleted["planned_by"] == "jan-janitor"
    assert deleted["confirmed_by"] == "ada-admin"
    assert deleted["reason"] == "stale review images"
    assert deleted["planned_at"] == "2026-03-01T10:00:00Z"
    assert deleted["item_finished_at"] == "2026-03-01T10:05:00Z"
    assert deleted["digest"] == "sha256:" + "ab" * 32
    assert refused["http_status"] == ""
    assert refused["note"] == "protected: matches ^v"


def test_the_json_export_streams_a_list_of_objects(client: Client, viewer, log) -> None:
    client.force_login(viewer)
    response = client.get(url("audit_export_json", "outcome=failed"))
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"].endswith('.json"')
    [row] = json.loads(streamed(response))
    assert list(row) == EXPORT_COLUMNS
    assert row["tag"] == "review-3"
    assert row["registry"] == "staging"
    assert row["http_status"] == 500
    assert row["size"] == 10_000_000
    assert row["detail"] == "The registry answered 500: internal error."
    assert row["planned_at"] == "2026-03-05T10:00:00Z"
    assert row["confirmed_at"] is None


def test_an_export_with_a_bad_filter_says_what_is_wrong(client: Client, viewer, log) -> None:
    client.force_login(viewer)
    response = client.get(url("audit_export_csv", "date_from=2026-02-30"))
    assert response.status_code == 400
    assert response.content.decode() == DATE_FROM_MESSAGE + "\n"


# -- the batches tab ----------------------------------------------------------------------------


def test_the_batches_tab_shows_who_when_why_status_counts_and_bytes(
    client: Client, viewer, log
) -> None:
    client.force_login(viewer)
    response = client.get(url("audit_batches"))
    assert response.status_code == 200
    html = response.content.decode()
    first, second = log["first"], log["second"]
    assert html.index(f"#{second.pk}</a>") < html.index(f"#{first.pk}</a>")
    assert f'<a href="{reverse("batch", args=[first.pk])}">#{first.pk}</a>' in html
    assert "<b>3</b> batches" in html
    assert "stale review images" in html
    assert '<span class="batch-status partial">finished with failures</span>' in html
    assert "1 deleted · 1 untagged · 1 refused" in html
    assert '<span class="muted">1 deleted · 1 failed</span>' in html
    assert "50.0\xa0MB deleted" in html
    assert f'href="{reverse("audit")}?batch={first.pk}">3 tags planned</a>' in html


def test_the_batches_tab_filters_by_registry_and_user(client: Client, viewer, log) -> None:
    client.force_login(viewer)
    html = client.get(url("audit_batches", "registry=staging")).content.decode()
    assert "disk full" in html
    assert "stale review images" not in html
    html = client.get(url("audit_batches", "user=ada")).content.decode()
    assert "stale review images" in html
    assert "disk full" not in html


def test_the_tabs_carry_the_filters_they_share(client: Client, viewer, log) -> None:
    client.force_login(viewer)
    html = client.get(url("audit", "registry=main&outcome=failed")).content.decode()
    assert f'<a href="{reverse("audit_batches")}?registry=main">Batches</a>' in html
    html = client.get(url("audit_batches", "registry=main")).content.decode()
    assert f'<a href="{reverse("audit")}?registry=main" aria-current' not in html
    assert f'<a href="{reverse("audit")}?registry=main">Tags</a>' in html


# -- the admin is read-only ------------------------------------------------------------------------


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser("root", "root@example.com", "password")


def admin_url(model: str, view: str, *args: int) -> str:
    return reverse(f"admin:registry_{model}_{view}", args=args)


@pytest.mark.parametrize("model", ["deletionbatch", "deletionitem"])
def test_the_admin_lists_but_never_adds_changes_or_deletes_audit_rows(
    client: Client, superuser, log, model: str
) -> None:
    client.force_login(superuser)
    row = log["first"] if model == "deletionbatch" else log["first"].items.first()

    changelist = client.get(admin_url(model, "changelist"))
    assert changelist.status_code == 200
    assert "delete_selected" not in changelist.content.decode()
    assert admin_url(model, "add") not in changelist.content.decode()

    assert client.get(admin_url(model, "add")).status_code == 403

    change = client.get(admin_url(model, "change", row.pk))
    assert change.status_code == 200
    html = change.content.decode()
    assert 'name="_save"' not in html
    assert admin_url(model, "delete", row.pk) not in html

    assert client.post(admin_url(model, "change", row.pk), {}).status_code == 403
    assert client.get(admin_url(model, "delete", row.pk)).status_code == 403
    assert client.post(admin_url(model, "delete", row.pk), {"post": "yes"}).status_code == 403
    assert type(row).objects.filter(pk=row.pk).exists()


def test_the_admin_searches_and_filters_items(client: Client, superuser, log) -> None:
    client.force_login(superuser)
    html = client.get(admin_url("deletionitem", "changelist") + "?q=review-3").content.decode()
    assert "review-3" in html
    assert "review-1" not in html
    html = client.get(admin_url("deletionbatch", "changelist") + "?status=partial").content.decode()
    assert "sam-ops" in html
    assert "jan-janitor" not in html
