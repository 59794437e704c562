"""The selection's domain functions (registry.selection), called directly."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext

from registry import selection
from registry.models import Registry, Repository, SelectedTag, Tag
from registry.selection import (
    AddResult,
    add_matching,
    add_tags,
    clear_selection,
    remove_tags,
    selected_ids_among,
    selected_tag_ids_page,
    selected_tags,
    selection_summary,
    toggle_tag,
    totals_by_repository,
)
from registry.tag_filters import TagFilterForm, filter_tags
from tests.factories import ManifestFactory, RegistryFactory, RepositoryFactory, TagFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def repository(registry):
    return RepositoryFactory.create(registry=registry, name="acme/web")


def make_tags(repository, count: int, *, size: int = 1_000, prefix: str = "review-") -> list[Tag]:
    return [
        TagFactory.create(
            name=f"{prefix}{n}", manifest=ManifestFactory.create(repository=repository, size=size)
        )
        for n in range(count)
    ]


def ids(tags: Iterable[Tag]) -> list[int]:
    return [tag.pk for tag in tags]


def matching(registry, query: str):
    form = TagFilterForm(QueryDict(query))
    assert not form.field_errors()
    return filter_tags(registry=registry, filters=form.filters())


def test_adding_tags_selects_them_and_counts_their_size(viewer, registry, repository):
    tags = make_tags(repository, 3, size=1_000)

    result = add_tags(user=viewer, registry=registry, tag_ids=ids(tags))

    assert result == AddResult(added=3, skipped_over_limit=0)
    summary = selection_summary(user=viewer, registry=registry)
    assert (summary.count, summary.total_size) == (3, 3_000)


def test_adding_tags_again_adds_nothing_twice(viewer, registry, repository):
    tags = make_tags(repository, 3)
    add_tags(user=viewer, registry=registry, tag_ids=ids(tags[:2]))

    result = add_tags(user=viewer, registry=registry, tag_ids=ids(tags))

    assert result == AddResult(added=1, skipped_over_limit=0)
    assert selection_summary(user=viewer, registry=registry).count == 3


def test_an_empty_selection_is_zero_tags_and_zero_bytes(viewer, registry):
    summary = selection_summary(user=viewer, registry=registry)
    assert (summary.count, summary.total_size, summary.is_full) == (0, 0, False)


def test_size_counts_each_manifest_once_when_tags_share_a_digest(viewer, registry, repository):
    shared = ManifestFactory.create(repository=repository, size=500, tag_count=3)
    sharing = [TagFactory.create(name=f"build-{n}", manifest=shared) for n in range(3)]
    alone = TagFactory.create(
        name="other", manifest=ManifestFactory.create(repository=repository, size=70)
    )

    add_tags(user=viewer, registry=registry, tag_ids=[*ids(sharing), alone.pk])

    summary = selection_summary(user=viewer, registry=registry)
    assert (summary.count, summary.total_size) == (4, 570)


def test_toggle_selects_then_unselects(viewer, registry, repository):
    (tag,) = make_tags(repository, 1)

    first = toggle_tag(user=viewer, registry=registry, tag_id=tag.pk)
    assert first.selected
    assert selected_ids_among(user=viewer, registry=registry, tag_ids=[tag.pk]) == {tag.pk}

    second = toggle_tag(user=viewer, registry=registry, tag_id=tag.pk)
    assert not second.selected
    assert selection_summary(user=viewer, registry=registry).count == 0


def test_toggling_a_tag_of_another_registry_selects_nothing(viewer, registry):
    elsewhere = TagFactory.create(
        manifest=ManifestFactory.create(
            repository=RepositoryFactory.create(registry=RegistryFactory.create(name="other"))
        )
    )

    result = toggle_tag(user=viewer, registry=registry, tag_id=elsewhere.pk)

    assert (result.selected, result.missing) == (False, True)
    assert not SelectedTag.objects.exists()


def test_toggling_a_tag_a_sync_removed_selects_nothing(viewer, registry):
    result = toggle_tag(user=viewer, registry=registry, tag_id=987_654)
    assert (result.selected, result.missing) == (False, True)


def test_removing_tags_unselects_only_those(viewer, registry, repository):
    tags = make_tags(repository, 3)
    add_tags(user=viewer, registry=registry, tag_ids=ids(tags))

    assert remove_tags(user=viewer, registry=registry, tag_ids=[tags[0].pk, 424_242]) == 1

    assert selected_ids_among(user=viewer, registry=registry, tag_ids=ids(tags)) == set(
        ids(tags[1:])
    )


def test_clear_empties_the_selection(viewer, registry, repository):
    add_tags(user=viewer, registry=registry, tag_ids=ids(make_tags(repository, 4)))

    assert clear_selection(user=viewer, registry=registry) == 4

    assert selection_summary(user=viewer, registry=registry).count == 0


def test_the_selection_belongs_to_the_user(viewer, janitor, registry, repository):
    tags = make_tags(repository, 3)
    add_tags(user=viewer, registry=registry, tag_ids=ids(tags[:2]))
    add_tags(user=janitor, registry=registry, tag_ids=ids(tags[2:]))

    assert selected_ids_among(user=viewer, registry=registry, tag_ids=ids(tags)) == set(
        ids(tags[:2])
    )
    clear_selection(user=janitor, registry=registry)
    assert selection_summary(user=viewer, registry=registry).count == 2
    assert selection_summary(user=janitor, registry=registry).count == 0


def test_the_selection_is_per_registry(viewer, registry, repository):
    other = RegistryFactory.create(name="other")
    here = make_tags(repository, 2)
    there = make_tags(RepositoryFactory.create(registry=other, name="acme/api"), 3)
    add_tags(user=viewer, registry=registry, tag_ids=ids(here))
    add_tags(user=viewer, registry=other, tag_ids=ids(there))

    assert selection_summary(user=viewer, registry=registry).count == 2
    assert selection_summary(user=viewer, registry=other).count == 3
    clear_selection(user=viewer, registry=other)
    assert selection_summary(user=viewer, registry=registry).count == 2


def test_adding_ignores_tags_of_other_registries(viewer, registry, repository):
    here = make_tags(repository, 2)
    there = make_tags(RepositoryFactory.create(registry=RegistryFactory.create(name="other")), 2)

    result = add_tags(user=viewer, registry=registry, tag_ids=ids(here + there))

    assert result.added == 2
    assert set(selected_tags(user=viewer, registry=registry)) == set(here)


def test_add_matching_selects_every_tag_the_filter_matches(viewer, registry, repository):
    reviews = make_tags(repository, 5, prefix="review-")
    make_tags(repository, 4, prefix="release-")

    result = add_matching(
        user=viewer, registry=registry, queryset=matching(registry, "name=review")
    )

    assert result == AddResult(added=5, skipped_over_limit=0)
    assert set(selected_tags(user=viewer, registry=registry)) == set(reviews)


def test_add_matching_runs_a_regex_filter_in_the_database(viewer, registry, repository):
    make_tags(repository, 3, prefix="review-")
    keep = TagFactory.create(name="v1.2.3", manifest=ManifestFactory.create(repository=repository))

    add_matching(
        user=viewer,
        registry=registry,
        queryset=matching(registry, "name=%5Ev%5Cd&name_mode=regex"),
    )

    assert list(selected_tags(user=viewer, registry=registry)) == [keep]


def test_add_matching_counts_only_tags_not_yet_selected(viewer, registry, repository):
    tags = make_tags(repository, 6)
    add_tags(user=viewer, registry=registry, tag_ids=ids(tags[:4]))

    result = add_matching(user=viewer, registry=registry, queryset=matching(registry, ""))

    assert result == AddResult(added=2, skipped_over_limit=0)


def test_adding_past_the_bound_adds_what_fits_and_counts_the_rest(
    viewer, registry, repository, monkeypatch
):
    monkeypatch.setattr(selection, "MAX_SELECTED_TAGS", 5)
    tags = make_tags(repository, 8)
    add_tags(user=viewer, registry=registry, tag_ids=ids(tags[:2]))

    result = add_matching(user=viewer, registry=registry, queryset=matching(registry, ""))

    assert result == AddResult(added=3, skipped_over_limit=3)
    summary = selection_summary(user=viewer, registry=registry)
    assert (summary.count, summary.is_full) == (5, True)


def test_past_the_bound_the_first_tags_in_the_lists_order_are_taken(
    viewer, registry, repository, monkeypatch
):
    monkeypatch.setattr(selection, "MAX_SELECTED_TAGS", 2)
    _small, big, biggest = (
        TagFactory.create(
            name=name, manifest=ManifestFactory.create(repository=repository, size=size)
        )
        for name, size in [("small", 10), ("big", 20), ("biggest", 30)]
    )

    add_matching(user=viewer, registry=registry, queryset=matching(registry, "sort=-size"))

    assert set(selected_tags(user=viewer, registry=registry)) == {big, biggest}


def test_a_full_selection_refuses_one_more_tag(viewer, registry, repository, monkeypatch):
    monkeypatch.setattr(selection, "MAX_SELECTED_TAGS", 2)
    tags = make_tags(repository, 3)
    add_tags(user=viewer, registry=registry, tag_ids=ids(tags[:2]))

    result = toggle_tag(user=viewer, registry=registry, tag_id=tags[2].pk)

    assert (result.selected, result.refused) == (False, True)
    assert add_tags(user=viewer, registry=registry, tag_ids=ids(tags)) == AddResult(
        added=0, skipped_over_limit=1
    )


def test_a_tag_deleted_by_a_sync_leaves_every_selection(viewer, janitor, registry, repository):
    tags = make_tags(repository, 3)
    for user in (viewer, janitor):
        add_tags(user=user, registry=registry, tag_ids=ids(tags))

    Tag.objects.filter(pk=tags[0].pk).delete()  # as registry.sync removes a vanished tag

    assert selection_summary(user=viewer, registry=registry).count == 2
    assert SelectedTag.objects.count() == 4


def test_selected_ids_among_answers_for_one_page_of_ids(viewer, registry, repository):
    tags = make_tags(repository, 4)
    add_tags(user=viewer, registry=registry, tag_ids=[tags[0].pk, tags[3].pk])

    assert selected_ids_among(user=viewer, registry=registry, tag_ids=ids(tags[:2])) == {tags[0].pk}
    assert selected_ids_among(user=viewer, registry=registry, tag_ids=[]) == set()


def test_selected_tags_come_by_repository_then_name(viewer, registry):
    web = RepositoryFactory.create(registry=registry, name="b/web")
    api = RepositoryFactory.create(registry=registry, name="a/api")
    tags = [
        TagFactory.create(name=name, manifest=ManifestFactory.create(repository=repo))
        for repo, name in [(web, "x"), (api, "z"), (api, "y")]
    ]
    add_tags(user=viewer, registry=registry, tag_ids=ids(tags))

    listed = [
        (tag.repository.name, tag.name) for tag in selected_tags(user=viewer, registry=registry)
    ]

    assert listed == [("a/api", "y"), ("a/api", "z"), ("b/web", "x")]


def test_totals_by_repository_count_tags_and_each_manifest_once(viewer, registry):
    web = RepositoryFactory.create(registry=registry, name="acme/web")
    api = RepositoryFactory.create(registry=registry, name="acme/api")
    shared = ManifestFactory.create(repository=web, size=300, tag_count=2)
    tags = [
        TagFactory.create(name="a", manifest=shared),
        TagFactory.create(name="b", manifest=shared),
        TagFactory.create(name="c", manifest=ManifestFactory.create(repository=web, size=100)),
        TagFactory.create(name="d", manifest=ManifestFactory.create(repository=api, size=50)),
    ]
    make_tags(api, 2)  # not selected
    add_tags(user=viewer, registry=registry, tag_ids=ids(tags))

    totals = totals_by_repository(user=viewer, registry=registry)

    assert [(t.repository, t.count, t.total_size) for t in totals] == [
        ("acme/web", 3, 400),
        ("acme/api", 1, 50),
    ]


def test_summary_and_page_checks_take_a_constant_number_of_queries(
    viewer, registry, repository, django_assert_max_num_queries
):
    tags = make_tags(repository, 30)
    add_tags(user=viewer, registry=registry, tag_ids=ids(tags))

    with django_assert_max_num_queries(2):
        selection_summary(user=viewer, registry=registry)
    with django_assert_max_num_queries(1):
        selected_ids_among(user=viewer, registry=registry, tag_ids=ids(tags))


def test_a_repository_removed_by_a_sync_leaves_the_selection(viewer, registry, repository):
    kept = make_tags(RepositoryFactory.create(registry=registry, name="acme/api"), 2)
    add_tags(user=viewer, registry=registry, tag_ids=ids(make_tags(repository, 3) + kept))

    Repository.objects.filter(pk=repository.pk).delete()  # as registry.sync drops a vanished one

    assert set(selected_tags(user=viewer, registry=registry)) == set(kept)
    assert selection_summary(user=viewer, registry=registry).count == 2


def test_deleting_a_user_or_a_registry_deletes_their_selections(
    viewer, janitor, registry, repository
):
    tags = make_tags(repository, 2)
    for user in (viewer, janitor):
        add_tags(user=user, registry=registry, tag_ids=ids(tags))

    viewer.delete()
    assert SelectedTag.objects.count() == 2
    Registry.objects.filter(pk=registry.pk).delete()
    assert not SelectedTag.objects.exists()


def test_the_selection_keeps_the_image_the_tag_had_when_selected(viewer, registry, repository):
    (tag,) = make_tags(repository, 1, size=100)
    add_tags(user=viewer, registry=registry, tag_ids=[tag.pk])
    # A sync moves the tag to a new image: the selection still weighs what was selected,
    # and the deletion can tell that the tag moved.
    Tag.objects.filter(pk=tag.pk).update(
        manifest=ManifestFactory.create(repository=repository, size=999)
    )

    assert selection_summary(user=viewer, registry=registry).total_size == 100
    row = SelectedTag.objects.get(user=viewer, tag=tag)
    assert row.manifest_id != Tag.objects.get(pk=tag.pk).manifest_id


def test_pages_of_the_selection_come_oldest_tag_first(viewer, registry, repository):
    tags = make_tags(repository, 5)
    add_tags(user=viewer, registry=registry, tag_ids=ids(reversed(tags)))

    assert selected_tag_ids_page(user=viewer, registry=registry, offset=0, limit=2) == ids(tags[:2])
    assert selected_tag_ids_page(user=viewer, registry=registry, offset=4, limit=2) == ids(tags[4:])


def test_selecting_all_matching_takes_the_same_queries_for_few_or_many_tags(
    viewer, registry, repository
):
    def queries_to_select_all() -> int:
        clear_selection(user=viewer, registry=registry)
        with CaptureQueriesContext(connection) as captured:
            add_matching(user=viewer, registry=registry, queryset=matching(registry, "name=review"))
        return len(captured)

    make_tags(repository, 2)
    few = queries_to_select_all()
    make_tags(repository, 120, prefix="review-more-")

    assert queries_to_select_all() == few


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("", ["b-small", "a-big", "c-mid"]),  # the order they were first seen in
        ("name", ["a-big", "b-small", "c-mid"]),
        ("-name", ["c-mid", "b-small", "a-big"]),
        ("-size", ["a-big", "c-mid", "b-small"]),
        ("size", ["b-small", "c-mid", "a-big"]),
        ("nonsense", ["b-small", "a-big", "c-mid"]),
    ],
)
def test_a_page_of_the_selection_comes_in_the_order_asked_for(
    viewer, registry, repository, sort, expected
):
    tags = [
        TagFactory.create(
            name=name, manifest=ManifestFactory.create(repository=repository, size=size)
        )
        for name, size in [("b-small", 1), ("a-big", 300), ("c-mid", 20)]
    ]
    add_tags(user=viewer, registry=registry, tag_ids=ids(tags))
    page = selection.selected_tag_ids_page(
        user=viewer, registry=registry, offset=0, limit=10, sort=sort
    )
    assert [Tag.objects.get(pk=pk).name for pk in page] == expected
