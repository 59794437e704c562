"""The dashboard: cards, charts, and "Sync now" with its progress polled in place."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.template.defaultfilters import filesizeformat
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from devtools.image_builder import push_image
from registry.dashboard import TOP_REPOSITORIES, registry_cards
from registry.models import Registry, SyncRun
from registry.sync_requests import ABANDONED_MESSAGE, ALREADY_RUNNING_MESSAGE, START_PATIENCE
from tests.factories import ManifestFactory, RegistryFactory, RepositoryFactory, TagFactory
from tests.support.htmx import HTMX

pytestmark = pytest.mark.django_db

MB = 1_000_000
DASHBOARD = "/"


def sync_url(name: str = "main") -> str:
    return reverse("sync_now", args=[name])


def status_url(name: str = "main") -> str:
    return reverse("sync_status", args=[name])


def size(n: int) -> str:
    """A size as the page shows it (text_of reads the no-break space as a space)."""
    return str(filesizeformat(n)).replace("\xa0", " ")


def text_of(response) -> str:
    """The page's visible text, whitespace collapsed, tags dropped."""
    html = response.content.decode()
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def hold_lock(registry: Registry) -> None:
    Registry.objects.filter(pk=registry.pk).update(
        sync_lock_token=uuid.uuid4(), sync_lock_expires_at=timezone.now() + timedelta(hours=1)
    )


def release_lock(registry: Registry) -> None:
    Registry.objects.filter(pk=registry.pk).update(sync_lock_token=None, sync_lock_expires_at=None)


def finished_run(registry: Registry, **fields) -> SyncRun:
    run = SyncRun.objects.create(registry=registry, **fields)
    run.finished_at = run.started_at + timedelta(seconds=12)
    run.save()
    return run


def tagged(repository, *names: str, size: int = 10 * MB, stale=(), created=None):
    """One manifest in `repository` with these tags; `stale` names the stale ones."""
    manifest = ManifestFactory.create(
        repository=repository,
        size=size,
        tag_count=len(names),
        created=created or datetime(2026, 1, 1, tzinfo=UTC),
    )
    for name in names:
        TagFactory.create(manifest=manifest, name=name, is_stale=name in stale)
    return manifest


# -- who may see and do what ----------------------------------------------------


def test_anonymous_users_are_sent_to_the_login_page(client: Client) -> None:
    response = client.get(DASHBOARD)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"


def test_an_htmx_request_from_an_expired_session_redirects_the_whole_page(client: Client) -> None:
    response = client.get(DASHBOARD, **HTMX)
    assert response["HX-Redirect"] == "/accounts/login/?next=/"


def test_anonymous_sync_requests_go_to_the_login_page(client: Client) -> None:
    RegistryFactory.create()
    response = client.post(sync_url())
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize(
    ("method", "url"),
    [("get", DASHBOARD), ("get", status_url()), ("post", sync_url())],
)
def test_users_without_a_role_get_403(client: Client, outsider, method: str, url: str) -> None:
    RegistryFactory.create()
    client.force_login(outsider)
    assert getattr(client, method)(url).status_code == 403


def test_viewers_see_the_cards_without_sync_now(client: Client, viewer) -> None:
    RegistryFactory.create()
    client.force_login(viewer)
    response = client.get(DASHBOARD)
    assert response.status_code == 200
    assert "main" in text_of(response)
    assert "Sync now" not in text_of(response)
    assert sync_url() not in response.content.decode()


def test_viewers_may_not_sync(client: Client, viewer, django_capture_on_commit_callbacks) -> None:
    RegistryFactory.create()
    client.force_login(viewer)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(sync_url(), **HTMX)
    assert response.status_code == 403
    assert callbacks == []


def test_viewers_may_follow_a_sync_in_progress(client: Client, viewer) -> None:
    RegistryFactory.create()
    client.force_login(viewer)
    assert client.get(status_url(), **HTMX).status_code == 286


def test_janitors_see_sync_now(client: Client, janitor) -> None:
    RegistryFactory.create()
    client.force_login(janitor)
    response = client.get(DASHBOARD)
    assert "Sync now" in text_of(response)
    assert f'hx-post="{sync_url()}"' in response.content.decode()


def test_sync_now_without_a_csrf_token_is_refused(
    janitor, django_capture_on_commit_callbacks
) -> None:
    RegistryFactory.create()
    client = Client(enforce_csrf_checks=True)
    client.force_login(janitor)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(sync_url(), **HTMX)
    assert response.status_code == 403
    assert callbacks == []


def test_sync_now_with_the_pages_csrf_header_is_accepted(
    janitor, django_capture_on_commit_callbacks
) -> None:
    RegistryFactory.create()
    client = Client(enforce_csrf_checks=True)
    client.force_login(janitor)
    page = client.get(DASHBOARD).content.decode()
    token = re.search(r'"x-csrftoken": "([^"]+)"', page)
    assert token is not None  # sent by htmx on every request, from <body hx-headers>
    with django_capture_on_commit_callbacks():
        response = client.post(sync_url(), HTTP_X_CSRFTOKEN=token.group(1), **HTMX)
    assert response.status_code == 200


def test_an_unknown_registry_is_404(client: Client, janitor) -> None:
    client.force_login(janitor)
    assert client.post(sync_url("nope")).status_code == 404
    assert client.get(status_url("nope")).status_code == 404
    assert client.get(DASHBOARD + "?registry=nope").status_code == 404


def test_the_sync_endpoint_only_takes_post(client: Client, janitor) -> None:
    RegistryFactory.create()
    client.force_login(janitor)
    assert client.get(sync_url()).status_code == 405


# -- the figures ----------------------------------------------------------------------


def test_sizes_count_a_manifest_shared_by_tags_once(client: Client, viewer) -> None:
    web = RepositoryFactory.create(name="acme/web")
    tagged(web, "latest", "v1.0.0", size=300 * MB)  # one image, two tags
    tagged(web, "review-a-1", size=50 * MB, stale={"review-a-1"})
    tagged(RepositoryFactory.create(name="acme/api"), "main", size=20 * MB)
    client.force_login(viewer)

    page = text_of(client.get(DASHBOARD))

    assert "Repositories 2" in page
    assert "Tags 4" in page
    assert f"Total size {size(370 * MB)}" in page
    assert "Stale tags 1" in page
    assert f"Stale size {size(50 * MB)}" in page


def test_the_same_image_in_two_repositories_counts_in_each(db) -> None:
    first = tagged(RepositoryFactory.create(name="a"), "latest", size=7 * MB)
    second = ManifestFactory.create(
        repository=RepositoryFactory.create(name="b"), digest=first.digest, size=7 * MB
    )
    TagFactory.create(manifest=second, name="latest")
    [card] = registry_cards(now=timezone.now())
    assert card.total_size == 14 * MB


def test_untagged_index_children_are_inside_their_index_size(db) -> None:
    repo = RepositoryFactory.create()
    child = ManifestFactory.create(repository=repo, size=40 * MB, tag_count=0)
    index = tagged(repo, "latest", size=40 * MB)
    index.children.add(child)
    [card] = registry_cards(now=timezone.now())
    assert card.total_size == 40 * MB


def test_a_digest_with_one_kept_tag_frees_nothing(db) -> None:
    repo = RepositoryFactory.create()
    tagged(repo, "review-old", "review-new", size=90 * MB, stale={"review-old"})
    tagged(repo, "review-gone", size=10 * MB, stale={"review-gone"})
    [card] = registry_cards(now=timezone.now())
    assert (card.stale_tags, card.stale_size, card.kept_size) == (2, 10 * MB, 90 * MB)


def test_each_registry_has_its_own_card(client: Client, viewer) -> None:
    tagged(
        RepositoryFactory.create(registry=RegistryFactory.create(name="alpha")), "latest", size=MB
    )
    tagged(
        RepositoryFactory.create(registry=RegistryFactory.create(name="beta")),
        "a",
        "b",
        size=2 * MB,
    )
    client.force_login(viewer)
    cards = {card.registry.name: card for card in registry_cards(now=timezone.now())}
    assert (cards["alpha"].tags, cards["alpha"].total_size) == (1, MB)
    assert (cards["beta"].tags, cards["beta"].total_size) == (2, 2 * MB)
    html = client.get(DASHBOARD).content.decode()
    assert 'id="registry-alpha"' in html
    assert 'id="registry-beta"' in html


def test_tag_ages_fall_in_their_buckets(client: Client, viewer) -> None:
    now = timezone.now()
    repo = RepositoryFactory.create()
    for days, name in [(1, "a"), (3, "b"), (10, "c"), (20, "d"), (45, "e"), (120, "f"), (400, "g")]:
        tagged(repo, name, created=now - timedelta(days=days))
    unknown = ManifestFactory.create(repository=repo, created=None)
    TagFactory.create(manifest=unknown, name="h", first_seen=now - timedelta(days=8))
    [card] = registry_cards(now=now)
    assert [(c.label, c.count) for c in card.ages.columns] == [
        ("< 7 days", 2),
        ("7–14 days", 2),  # noqa: RUF001 (the created date is unknown: first seen counts)
        ("14–30 days", 1),  # noqa: RUF001
        ("1–3 months", 1),  # noqa: RUF001
        ("3–6 months", 1),  # noqa: RUF001
        ("> 6 months", 1),
    ]
    client.force_login(viewer)
    page = text_of(client.get(DASHBOARD))
    assert "Tags by age" in page
    assert "&lt; 7 days: 2 tags" in page


def test_the_size_chart_shows_the_15_biggest_repositories(client: Client, viewer) -> None:
    for n in range(TOP_REPOSITORIES + 2):
        tagged(RepositoryFactory.create(name=f"team/repo-{n:02d}"), "latest", size=(n + 1) * MB)
    client.force_login(viewer)
    [card] = registry_cards(now=timezone.now())
    names = [bar.full_label for bar in card.sizes.bars]
    assert names == [f"team/repo-{n:02d}" for n in range(16, 1, -1)]
    page = client.get(DASHBOARD).content.decode()
    assert "(top 15 of 17)" in page
    # each bar's <title>, read by screen readers
    assert f"<title>team/repo-16: {filesizeformat(17 * MB)} (0\xa0bytes stale)</title>" in page
    assert f'href="{reverse("tags", args=["main"])}?repository=team/repo-16"' in page


def test_the_stale_share_of_the_size_is_drawn(client: Client, viewer) -> None:
    repo = RepositoryFactory.create()
    tagged(repo, "latest", size=75 * MB)
    tagged(repo, "review-x", size=25 * MB, stale={"review-x"})
    client.force_login(viewer)
    page = text_of(client.get(DASHBOARD))
    assert f"Kept: {size(75 * MB)} (75.0%)" in page
    assert f"Stale: {size(25 * MB)} (25.0%)" in page


def test_without_registries_the_page_says_how_to_add_one(client: Client, viewer) -> None:
    client.force_login(viewer)
    page = text_of(client.get(DASHBOARD))
    assert "No registries yet" in page
    assert "manage.py add_registry" in page
    assert "Add a registry in the admin" not in page


def test_staff_admins_get_a_link_to_add_a_registry(client: Client, registry_admin) -> None:
    registry_admin.is_staff = True
    registry_admin.save()
    client.force_login(registry_admin)
    response = client.get(DASHBOARD)
    assert reverse("admin:registry_registry_add") in response.content.decode()


def test_the_card_never_shows_credentials_in_the_url(client: Client, viewer) -> None:
    RegistryFactory.create(url="https://bot:s3cret@registry.example.com")
    client.force_login(viewer)
    page = client.get(DASHBOARD).content.decode()
    assert "s3cret" not in page
    assert "https://registry.example.com" in page


def test_an_htmx_card_reload_gets_that_card_alone(client: Client, viewer) -> None:
    tagged(RepositoryFactory.create(registry=RegistryFactory.create(name="alpha")), "a", "b", "c")
    tagged(RepositoryFactory.create(registry=RegistryFactory.create(name="beta")), "latest")
    client.force_login(viewer)
    response = client.get(DASHBOARD + "?registry=beta", **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<article class="card registry-card" id="registry-beta"')
    assert "registry-alpha" not in html
    assert "<html" not in html
    assert "Repositories 1 Tags 1 " in text_of(response)


def test_a_registry_link_without_htmx_shows_the_whole_page_for_that_registry(
    client: Client, viewer
) -> None:
    RegistryFactory.create(name="alpha")
    RegistryFactory.create(name="beta")
    client.force_login(viewer)
    response = client.get(DASHBOARD + "?registry=beta")
    assert "<html" in response.content.decode()
    assert "All registries" in text_of(response)
    assert 'id="registry-alpha"' not in response.content.decode()


def test_the_page_costs_the_same_queries_for_2_or_20_repositories(client: Client, janitor) -> None:
    client.force_login(janitor)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(DASHBOARD).status_code == 200
        return len(captured)

    def fill(registry: Registry, repositories: int) -> None:
        for n in range(repositories):
            repo = RepositoryFactory.create(registry=registry, name=f"{registry.name}/r{n}")
            tagged(repo, "latest", "review-1", stale={"review-1"})
        SyncRun.objects.create(registry=registry, status=SyncRun.Status.SUCCEEDED)

    fill(RegistryFactory.create(name="small"), 2)
    small = queries()
    fill(RegistryFactory.create(name="big"), 20)
    fill(RegistryFactory.create(name="bigger"), 20)
    assert queries() == small


# -- sync now and its progress ---------------------------------------------------------


def test_sync_now_enqueues_the_registry_sync_after_commit(
    client: Client, janitor, django_capture_on_commit_callbacks, monkeypatch
) -> None:
    registry = RegistryFactory.create()
    enqueued: list[int] = []
    monkeypatch.setattr(
        "registry.tasks.sync_registry_task.apply_async",
        lambda args, **options: enqueued.append(args[0]),
    )
    client.force_login(janitor)

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(sync_url(), **HTMX)
        assert enqueued == []  # nothing before the commit

    assert len(callbacks) == 1
    callbacks[0]()
    assert enqueued == [registry.pk]
    assert "Sync requested…" in text_of(response)
    html = response.content.decode()
    assert 'hx-trigger="every 1s"' in html
    assert f'hx-get="{status_url()}?after=0&amp;requested=' in html
    assert "Sync now" not in text_of(response)


def test_sync_now_without_javascript_redirects_with_a_message(
    client: Client, janitor, django_capture_on_commit_callbacks
) -> None:
    RegistryFactory.create()
    client.force_login(janitor)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(sync_url())
    assert response.status_code == 302
    assert response["Location"] == DASHBOARD
    assert len(callbacks) == 1
    assert "Sync of main requested." in text_of(client.get(DASHBOARD))


def test_sync_now_syncs_the_real_registry_and_the_poll_shows_the_result(
    client: Client,
    janitor,
    cached_registry,
    registry_client,
    django_capture_on_commit_callbacks,
) -> None:
    push_image(registry_client, "acme/web", "latest", created=datetime(2026, 1, 5, tzinfo=UTC))
    client.force_login(janitor)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(sync_url("local"), **HTMX)
    poll = re.search(r'hx-get="([^"]+)"', response.content.decode())
    assert poll is not None

    run = SyncRun.objects.get(registry=cached_registry)
    assert run.status == SyncRun.Status.SUCCEEDED
    final = client.get(poll.group(1).replace("&amp;", "&"), **HTMX)
    assert final.status_code == 286  # HttpResponseStopPolling
    assert "succeeded" in text_of(final)
    assert "registry-synced-local" in final["HX-Trigger-After-Settle"]
    assert "Tags 1" in text_of(client.get(DASHBOARD + "?registry=local", **HTMX))


def test_the_region_polls_while_the_sync_runs_and_stops_when_it_ends(
    client: Client, viewer
) -> None:
    registry = RegistryFactory.create()
    hold_lock(registry)
    run = SyncRun.objects.create(registry=registry, repositories_total=10, repositories_done=3)
    client.force_login(viewer)

    page = client.get(DASHBOARD).content.decode()
    assert f'hx-get="{status_url()}"' in page
    assert 'hx-trigger="every 1s"' in page

    running = client.get(status_url(), **HTMX)
    assert running.status_code == 200
    assert "Syncing… 3 of 10 repositories" in text_of(running)
    assert 'hx-trigger="every 1s"' in running.content.decode()

    run.status = SyncRun.Status.SUCCEEDED
    run.repositories_done = 10
    run.finished_at = timezone.now()
    run.save()
    release_lock(registry)

    finished = client.get(status_url(), **HTMX)
    assert finished.status_code == 286
    assert "every 1s" not in finished.content.decode()
    assert "Last sync: just now succeeded" in text_of(finished)
    assert "registry-synced-main" in finished["HX-Trigger-After-Settle"]


def test_a_requested_sync_is_shown_until_a_worker_starts_it(client: Client, viewer) -> None:
    RegistryFactory.create()
    client.force_login(viewer)
    asked = int(timezone.now().timestamp())

    waiting = client.get(f"{status_url()}?after=0&requested={asked}", **HTMX)
    assert waiting.status_code == 200
    assert "Sync requested…" in text_of(waiting)


def test_a_request_no_worker_picks_up_stops_polling_and_says_why(client: Client, janitor) -> None:
    RegistryFactory.create()
    client.force_login(janitor)
    asked = int((timezone.now() - START_PATIENCE - timedelta(seconds=1)).timestamp())
    response = client.get(f"{status_url()}?after=0&requested={asked}", **HTMX)
    assert response.status_code == 286
    assert "Is the Celery worker running?" in text_of(response)
    assert "Sync now" in text_of(response)


def test_a_malformed_poll_is_read_as_a_plain_status_request(client: Client, viewer) -> None:
    RegistryFactory.create()
    client.force_login(viewer)
    response = client.get(f"{status_url()}?after=x&requested=99999999999999999999", **HTMX)
    assert response.status_code == 286


def test_sync_now_while_a_sync_runs_starts_no_second_one(
    client: Client, janitor, django_capture_on_commit_callbacks
) -> None:
    registry = RegistryFactory.create()
    hold_lock(registry)
    SyncRun.objects.create(registry=registry, repositories_total=4, repositories_done=1)
    client.force_login(janitor)

    page = text_of(client.get(DASHBOARD))
    assert "Sync now" not in page
    assert "Syncing… 1 of 4 repositories" in page

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(sync_url(), **HTMX)
    assert callbacks == []
    assert ALREADY_RUNNING_MESSAGE.format(name="main") in text_of(response)
    assert 'hx-trigger="every 1s"' in response.content.decode()


def test_the_last_sync_shows_its_errors_in_plain_words(client: Client, viewer) -> None:
    registry = RegistryFactory.create()
    finished_run(
        registry,
        status=SyncRun.Status.PARTIAL,
        repository_errors=[{"repository": "acme/api", "error": "The registry refused access."}],
    )
    client.force_login(viewer)
    page = text_of(client.get(DASHBOARD))
    assert "partly failed" in page
    assert "1 repository could not be synced" in page
    assert "acme/api : The registry refused access." in page


def test_a_failed_sync_says_what_stopped_it(client: Client, viewer) -> None:
    registry = RegistryFactory.create()
    finished_run(
        registry,
        status=SyncRun.Status.FAILED,
        error="The registry at http://127.0.0.1:5000 does not answer.",
    )
    client.force_login(viewer)
    page = text_of(client.get(DASHBOARD))
    assert "failed" in page
    assert "The registry at http://127.0.0.1:5000 does not answer." in page


def test_a_sync_whose_worker_died_is_not_shown_as_running(client: Client, janitor) -> None:
    registry = RegistryFactory.create()
    SyncRun.objects.create(registry=registry, repositories_total=5, repositories_done=2)
    client.force_login(janitor)  # no lock: nobody is running it any more
    page = text_of(client.get(DASHBOARD))
    assert ABANDONED_MESSAGE in page
    assert "Syncing…" not in page
    assert "Sync now" in page


def test_a_registry_never_synced_says_so(client: Client, viewer) -> None:
    RegistryFactory.create()
    client.force_login(viewer)
    page = text_of(client.get(DASHBOARD))
    assert "Never synced." in page
    assert "No tags yet." in page
    assert "No images yet." in page


def test_sync_errors_never_show_credentials(client: Client, viewer) -> None:
    registry = RegistryFactory.create(url="https://bot:s3cret@registry.example.com")
    finished_run(
        registry,
        status=SyncRun.Status.FAILED,
        error="Could not reach bot:s3cret@registry.example.com while connecting to the registry.",
        repository_errors=[
            {"repository": "a/b", "error": "GET https://bot:s3cret@registry.example.com/v2/ failed"}
        ],
    )
    client.force_login(viewer)
    page = text_of(client.get(DASHBOARD))
    assert "s3cret" not in page
    assert "Could not reach registry.example.com while connecting" in page
    assert "GET https://registry.example.com/v2/ failed" in page


def test_image_references_in_errors_stay_whole(client: Client, viewer) -> None:
    finished_run(
        RegistryFactory.create(),
        status=SyncRun.Status.FAILED,
        error="acme/web:latest@sha256:abc is missing; see https://other:pw@mirror.example/x",
    )
    client.force_login(viewer)
    page = text_of(client.get(DASHBOARD))
    assert "acme/web:latest@sha256:abc is missing; see https://mirror.example/x" in page
