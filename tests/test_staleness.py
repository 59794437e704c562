"""Staleness: the rules from the issue, one table row each, then storing the verdicts."""

from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from registry.models import (
    EMPTY_PATTERN_MESSAGE,
    PATTERNS_NOT_A_LIST_MESSAGE,
    Manifest,
    Registry,
    Repository,
    StalenessRules,
    Tag,
    default_protected_patterns,
    pattern_problem,
)
from registry.staleness import (
    TagFacts,
    Verdict,
    evaluate_tags,
    preview_staleness,
    refresh_staleness,
    rules_for,
    stale_figures,
    stale_tag_ids,
)
from registry.staleness.refresh import could_be_stale

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SUBJECT = "ab" * 32  # the hex of the image a signature points at
BRANCH_GROUPS = r"^review-(?P<branch>.+)-\d+$"
_ids = itertools.count(1)


def digest_of(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def tag(
    name: str,
    *,
    age: float = 30,
    first_seen: float | None = None,
    digest: str | None = None,
    created_unknown: bool = False,
) -> TagFacts:
    """A tag whose image is `age` days old, first seen `first_seen` days ago (default: `age`)."""
    return TagFacts(
        id=next(_ids),
        name=name,
        digest=digest or digest_of(name),
        created=None if created_unknown else days_ago(age),
        first_seen=days_ago(age if first_seen is None else first_seen),
    )


def verdicts_by_name(rules: StalenessRules, tags: list[TagFacts]) -> dict[str, Verdict]:
    verdicts = evaluate_tags(rules=rules, tags=tags, now=NOW)
    return {t.name: verdicts[t.id] for t in tags}


# -- evaluate_tags: the rules ---------------------------------------------------

RULE_CASES = [
    pytest.param(
        {},
        [tag(n, age=400) for n in ["latest", "main", "master", "stable", "production"]],
        {
            "latest": (False, "protected: matches ^latest$"),
            "main": (False, "protected: matches ^main$"),
            "master": (False, "protected: matches ^master$"),
            "stable": (False, "protected: matches ^stable$"),
            "production": (False, "protected: matches ^production$"),
        },
        id="latest-main-master-stable-production-are-protected-by-default",
    ),
    pytest.param(
        {},
        [tag(n, age=400) for n in ["v1.2.3", "1.2.3", "v2.0.0-rc.1", "v1.2", "latest-old"]],
        {
            "v1.2.3": (False, r"protected: matches ^v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$"),
            "1.2.3": (False, r"protected: matches ^v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$"),
            "v2.0.0-rc.1": (False, r"protected: matches ^v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$"),
            "v1.2": (True, "stale: older than 14 days"),
            "latest-old": (True, "stale: older than 14 days"),
        },
        id="semantic-versions-are-protected-and-patterns-carry-their-own-anchors",
    ),
    pytest.param(
        {"protected_patterns": ["release"]},
        [tag("my-release-1"), tag("latest")],
        {
            "my-release-1": (False, "protected: matches release"),
            "latest": (True, "stale: older than 14 days"),
        },
        id="protected-patterns-are-per-registry-and-searched-anywhere-in-the-name",
    ),
    pytest.param(
        {},
        [
            tag("latest", age=100, digest=digest_of("image")),
            tag("main", age=100, digest=digest_of("image")),
            tag("build-7", age=100, digest=digest_of("image")),
            tag("build-6", age=100),
        ],
        {
            "latest": (False, "protected: matches ^latest$"),
            "main": (False, "protected: matches ^main$"),
            "build-7": (False, "shares its digest with protected tags latest, main"),
            "build-6": (True, "stale: older than 14 days"),
        },
        id="a-tag-sharing-its-digest-with-a-protected-tag-is-never-stale",
    ),
    pytest.param(
        {},
        [tag("old", age=15), tag("young", age=13), tag("exactly", age=14)],
        {
            "old": (True, "stale: older than 14 days"),
            "young": (False, "younger than 14 days"),
            "exactly": (False, "younger than 14 days"),
        },
        id="stale-only-when-older-than-14-days-by-default",
    ),
    pytest.param(
        {"max_age_days": 60},
        [tag("a", age=40), tag("b", age=61)],
        {"a": (False, "younger than 60 days"), "b": (True, "stale: older than 60 days")},
        id="max-age-is-set-per-registry",
    ),
    pytest.param(
        {"branch_pattern": "^review-"},
        [tag("review-login-1"), tag("feature-x"), tag("nightly-review-1")],
        {
            "review-login-1": (True, "stale: older than 14 days"),
            "feature-x": (False, "does not match the branch pattern ^review-"),
            "nightly-review-1": (False, "does not match the branch pattern ^review-"),
        },
        id="with-a-branch-pattern-only-matching-tags-can-be-stale",
    ),
    pytest.param(
        {"keep_newest": 2},
        [tag("build-1", age=50), tag("build-2", age=40), tag("build-3", age=30)],
        {
            "build-3": (False, "newest 2 tags of the repository"),
            "build-2": (False, "newest 2 tags of the repository"),
            "build-1": (True, "stale: older than 14 days"),
        },
        id="the-newest-k-tags-of-the-repository-are-kept",
    ),
    pytest.param(
        {"keep_newest": 1, "branch_pattern": BRANCH_GROUPS},
        [
            tag("review-login-1", age=50),
            tag("review-login-2", age=40),
            tag("review-cart-7", age=60),
        ],
        {
            "review-login-2": (False, "newest build of branch login"),
            "review-login-1": (True, "stale: older than 14 days"),
            "review-cart-7": (False, "newest build of branch cart"),
        },
        id="a-branch-group-keeps-the-newest-k-builds-of-every-branch",
    ),
    pytest.param(
        {"keep_newest": 1, "branch_pattern": "^review-"},
        [tag("review-login-1", age=50), tag("review-cart-7", age=60)],
        {
            "review-login-1": (False, "newest tag of the repository"),
            "review-cart-7": (True, "stale: older than 14 days"),
        },
        id="a-branch-pattern-without-a-group-keeps-the-newest-k-of-the-repository",
    ),
    pytest.param(
        {"keep_newest": 1},
        [tag("build-9", age=30), tag("build-10", age=30)],
        {
            "build-10": (False, "newest tag of the repository"),
            "build-9": (True, "stale: older than 14 days"),
        },
        id="newest-k-ties-go-by-name-in-natural-order",
    ),
    pytest.param(
        {"keep_newest": 1, "branch_pattern": "^(?!nightly)"},
        [
            tag("latest", age=20),
            tag(f"sha256-{SUBJECT}.sig", age=20),
            tag("nightly-3", age=20),
            tag("build-2", age=30),
            tag("build-1", age=40),
        ],
        {
            "latest": (False, "protected: matches ^latest$"),
            f"sha256-{SUBJECT}.sig": (
                False,
                "signature of sha256:abababababab… (goes with its image)",
            ),
            "nightly-3": (False, "does not match the branch pattern ^(?!nightly)"),
            "build-2": (False, "newest tag of the repository"),
            "build-1": (True, "stale: older than 14 days"),
        },
        id="newest-k-counts-only-candidates-not-protected-signature-or-other-tags",
    ),
    pytest.param(
        {"keep_newest": 1},
        [
            tag("latest", age=20, digest=digest_of("image")),
            tag("build-2", age=20, digest=digest_of("image")),
            tag("build-1", age=30),
        ],
        {
            "latest": (False, "protected: matches ^latest$"),
            "build-2": (False, "shares its digest with protected tag latest"),
            "build-1": (True, "stale: older than 14 days"),
        },
        id="a-tag-sharing-a-protected-digest-counts-among-the-newest-k",
    ),
    pytest.param(
        {"keep_newest": 1},
        [tag("build-3", age=2), tag("build-2", age=30)],
        {
            "build-3": (False, "younger than 14 days"),
            "build-2": (True, "stale: older than 14 days"),
        },
        id="young-tags-count-among-the-newest-k",
    ),
    pytest.param(
        {},
        [
            tag(f"sha256-{SUBJECT}.sig", age=400),
            tag(f"sha256-{SUBJECT}.att", age=400),
            tag(f"sha256-{SUBJECT}.sbom", age=400),
            tag(f"sha256-{SUBJECT}", age=400),
            tag("sha256-abc.sig", age=400),
        ],
        {
            f"sha256-{SUBJECT}.sig": (
                False,
                "signature of sha256:abababababab… (goes with its image)",
            ),
            f"sha256-{SUBJECT}.att": (
                False,
                "attestation of sha256:abababababab… (goes with its image)",
            ),
            f"sha256-{SUBJECT}.sbom": (False, "SBOM of sha256:abababababab… (goes with its image)"),
            f"sha256-{SUBJECT}": (False, "referrers of sha256:abababababab… (goes with its image)"),
            "sha256-abc.sig": (True, "stale: older than 14 days"),
        },
        id="signature-attestation-and-sbom-tags-go-with-their-image-not-the-stale-list",
    ),
    pytest.param(
        {},
        [
            tag("old", first_seen=40, created_unknown=True),
            tag("new", first_seen=3, created_unknown=True),
        ],
        {
            "old": (True, "stale: first seen more than 14 days ago (created date unknown)"),
            "new": (False, "first seen less than 14 days ago (created date unknown)"),
        },
        id="an-unknown-created-date-falls-back-to-first-seen",
    ),
    pytest.param(
        {"age_basis": "first_seen", "keep_newest": 1},
        [
            tag("rebuilt-old-image", age=400, first_seen=3),
            tag("seen-long-ago", age=1, first_seen=20),
            tag("seen-longer-ago", age=1, first_seen=30),
        ],
        {
            "rebuilt-old-image": (False, "first seen less than 14 days ago"),
            "seen-long-ago": (True, "stale: first seen more than 14 days ago"),
            "seen-longer-ago": (True, "stale: first seen more than 14 days ago"),
        },
        id="age-basis-first-seen-counts-age-and-newest-from-first-seen",
    ),
    pytest.param(
        {"max_age_days": 1},
        [tag("a", age=1.5)],
        {"a": (True, "stale: older than 1 day")},
        id="one-day-is-singular",
    ),
]


@pytest.mark.parametrize(("rules", "tags", "expected"), RULE_CASES)
def test_staleness_rules(
    rules: dict[str, Any], tags: list[TagFacts], expected: dict[str, tuple[bool, str]]
) -> None:
    verdicts = verdicts_by_name(StalenessRules(**rules), tags)

    assert {name: (v.stale, v.reason) for name, v in verdicts.items()} == expected


def test_only_name_matches_are_flagged_protected() -> None:
    tags = [tag("latest", digest=digest_of("image")), tag("build-1", digest=digest_of("image"))]

    verdicts = verdicts_by_name(StalenessRules(), tags)

    assert verdicts["latest"].protected
    assert not verdicts["build-1"].protected


def test_signature_tags_record_the_digest_they_belong_to() -> None:
    tags = [tag(f"sha256-{SUBJECT}.sig"), tag("build-1")]

    verdicts = verdicts_by_name(StalenessRules(), tags)

    assert verdicts[f"sha256-{SUBJECT}.sig"].subject_digest == f"sha256:{SUBJECT}"
    assert verdicts["build-1"].subject_digest == ""


def test_default_rules() -> None:
    rules = StalenessRules()

    assert rules.protected_patterns == default_protected_patterns()
    assert (rules.max_age_days, rules.keep_newest, rules.branch_pattern) == (14, 0, "")
    assert rules.age_basis == StalenessRules.AgeBasis.CREATED


# -- validating the rules ---------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        pytest.param(
            {"protected_patterns": ["^latest$", "release-("]},
            "protected_patterns",
            pattern_problem("release-("),
            id="a-bad-protected-pattern-is-named",
        ),
        pytest.param(
            {"branch_pattern": "^review-(?P<branch>.+"},
            "branch_pattern",
            pattern_problem("^review-(?P<branch>.+"),
            id="a-bad-branch-pattern-is-named",
        ),
        pytest.param(
            {"protected_patterns": ["^latest$", ""]},
            "protected_patterns",
            EMPTY_PATTERN_MESSAGE,
            id="an-empty-protected-pattern-would-protect-everything",
        ),
        pytest.param(
            {"protected_patterns": "^latest$"},
            "protected_patterns",
            PATTERNS_NOT_A_LIST_MESSAGE,
            id="protected-patterns-must-be-a-list",
        ),
    ],
)
def test_rules_with_bad_patterns_do_not_validate(
    fields: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        StalenessRules(**fields).clean()

    assert caught.value.message_dict == {field: [message]}


def test_the_message_names_the_bad_pattern() -> None:
    message = pattern_problem("release-(")

    assert message is not None
    assert message.startswith("'release-(' is not a valid regular expression: ")


def test_good_rules_validate() -> None:
    StalenessRules(branch_pattern=BRANCH_GROUPS, protected_patterns=["^keep-"]).clean()


# -- refresh_staleness: storing the verdicts ------------------------------------------


@pytest.fixture
def registry(db: None) -> Registry:
    return Registry.objects.create(name="acme", url="https://registry.example.com")


def add_tag(repository: Repository, name: str, *, age: float, image: str | None = None) -> Tag:
    """A tag `age` days old; tags with the same `image` share a digest."""
    manifest, _ = Manifest.objects.get_or_create(
        repository=repository,
        digest=digest_of(image or name),
        defaults={
            "media_type": "application/vnd.oci.image.manifest.v1+json",
            "size": 1000,
            "created": days_ago(age),
        },
    )
    return Tag.objects.create(
        repository=repository,
        name=name,
        manifest=manifest,
        first_seen=days_ago(age),
        last_changed=days_ago(age),
    )


def stored(repository: Repository) -> dict[str, tuple[bool, bool, str, str]]:
    return {
        t.name: (t.is_stale, t.is_protected, t.stale_reason, t.subject_digest)
        for t in repository.tags.all()
    }


@pytest.mark.django_db
def test_refresh_stores_flags_and_reasons(registry: Registry) -> None:
    repository = Repository.objects.create(registry=registry, name="shop/web")
    add_tag(repository, "latest", age=100, image="release")
    add_tag(repository, "build-1", age=100, image="release")
    add_tag(repository, "build-2", age=40)
    add_tag(repository, "build-3", age=2)
    add_tag(repository, f"sha256-{SUBJECT}.sig", age=100)

    changed = refresh_staleness(registry=registry, now=NOW)

    assert changed == 5
    assert stored(repository) == {
        "latest": (False, True, "protected: matches ^latest$", ""),
        "build-1": (False, False, "shares its digest with protected tag latest", ""),
        "build-2": (True, False, "stale: older than 14 days", ""),
        "build-3": (False, False, "younger than 14 days", ""),
        f"sha256-{SUBJECT}.sig": (
            False,
            False,
            "signature of sha256:abababababab… (goes with its image)",
            f"sha256:{SUBJECT}",
        ),
    }


@pytest.mark.django_db
def test_refresh_writes_only_the_rows_whose_verdict_changed(
    registry: Registry, django_assert_num_queries: Any
) -> None:
    repository = Repository.objects.create(registry=registry, name="shop/web")
    add_tag(repository, "latest", age=100)
    build_1 = add_tag(repository, "build-1", age=100)
    build_2 = add_tag(repository, "build-2", age=40)
    refresh_staleness(registry=registry, now=NOW)

    with django_assert_num_queries(3):  # the rules, the GitLab connection, the tags
        assert refresh_staleness(registry=registry, now=NOW) == 0

    StalenessRules.objects.create(registry=registry, max_age_days=60)
    with CaptureQueriesContext(connection) as queries:
        assert refresh_staleness(registry=registry, now=NOW) == 2
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert sorted(update.rsplit(" IN ", 1)[1] for update in updates) == sorted(
        [f"({build_1.pk})", f"({build_2.pk})"]
    )
    assert stored(repository)["build-2"] == (False, False, "younger than 60 days", "")
    assert stored(repository)["build-1"] == (True, False, "stale: older than 60 days", "")


@pytest.mark.django_db
def test_a_day_later_the_stale_tags_are_not_written_again(registry: Registry) -> None:
    repository = Repository.objects.create(registry=registry, name="shop/web")
    add_tag(repository, "build-1", age=100)
    add_tag(repository, "build-2", age=40)
    add_tag(repository, "build-3", age=10)
    assert refresh_staleness(registry=registry, now=NOW) == 3

    assert refresh_staleness(registry=registry, now=NOW + timedelta(days=1)) == 0
    assert refresh_staleness(registry=registry, now=NOW + timedelta(days=5)) == 1  # build-3
    assert stored(repository)["build-3"][:3] == (True, False, "stale: older than 14 days")


@pytest.mark.django_db
def test_refresh_can_be_limited_to_some_repositories(registry: Registry) -> None:
    web = Repository.objects.create(registry=registry, name="shop/web")
    api = Repository.objects.create(registry=registry, name="shop/api")
    other = Registry.objects.create(name="other", url="https://other.example.com")
    elsewhere = Repository.objects.create(registry=other, name="shop/web")
    for repository in (web, api, elsewhere):
        add_tag(repository, "build-1", age=100)

    assert refresh_staleness(registry=registry, now=NOW, repository_ids=[api.pk]) == 1

    assert stored(api)["build-1"][0] is True
    assert stored(web)["build-1"] == (False, False, "", "")
    assert stored(elsewhere)["build-1"] == (False, False, "", "")


@pytest.mark.django_db
def test_newest_k_is_counted_per_repository(registry: Registry) -> None:
    web = Repository.objects.create(registry=registry, name="shop/web")
    api = Repository.objects.create(registry=registry, name="shop/api")
    StalenessRules.objects.create(registry=registry, keep_newest=1)
    add_tag(web, "build-1", age=100)
    add_tag(api, "build-1", age=50)
    add_tag(api, "build-2", age=40)

    refresh_staleness(registry=registry, now=NOW)

    assert stored(web)["build-1"][:3] == (False, False, "newest tag of the repository")
    assert stored(api)["build-2"][:3] == (False, False, "newest tag of the repository")
    assert stored(api)["build-1"][:3] == (True, False, "stale: older than 14 days")


@pytest.mark.django_db
def test_rules_for_a_registry_without_rules_are_the_unsaved_defaults(registry: Registry) -> None:
    rules = rules_for(registry=registry)

    assert rules.pk is None
    assert rules.max_age_days == 14
    saved = StalenessRules.objects.create(registry=registry, max_age_days=3)
    assert rules_for(registry=registry) == saved


# -- preview_staleness: the rules page's figures --------------------------------------


@pytest.mark.django_db
def test_preview_counts_what_unsaved_rules_would_make_stale_and_writes_nothing(
    registry: Registry,
) -> None:
    repository = Repository.objects.create(registry=registry, name="shop/web")
    add_tag(repository, "review-1", age=20)
    add_tag(repository, "review-2", age=10)
    add_tag(repository, "latest", age=20)
    Tag.objects.filter(name="review-1").update(is_stale=True)
    rules = StalenessRules(registry=registry, max_age_days=5)

    figures = preview_staleness(registry=registry, rules=rules, now=NOW)

    assert (figures.total, figures.stale) == (3, 2)
    assert (figures.becoming_stale, figures.no_longer_stale) == (1, 0)
    assert stale_figures(registry=registry).stale == 1  # nothing written
    assert not StalenessRules.objects.exists()


def test_protected_patterns_joined_or_not_protect_the_same_tags() -> None:
    from registry.staleness.verdicts import _alternation
    from registry.user_patterns import Budget

    assert _alternation(["^latest$", r"^v\d+$"], budget=Budget()) is not None
    assert _alternation(["(a)\\1", "^b$"], budget=Budget()) is None  # groups: not joined
    assert _alternation(["^a$", "(?i)^b$"], budget=Budget()) is None  # a flag mid-pattern
    assert _alternation(["^a$"], budget=Budget()) is None


# -- stale_tag_ids: what a cleanup policy's run chooses ---------------------------------


def a_registry_with_every_kind_of_tag(registry: Registry) -> Repository:
    """Tags each rule decides, in one repository: a read narrowed to `review-*` must still
    see what their verdicts depend on."""
    web = Repository.objects.create(registry=registry, name="shop/web")
    add_tag(web, "latest", age=100, image="release")
    add_tag(web, "review-login-1", age=100, image="release")  # shares latest's digest
    for n, age in enumerate([90, 80, 70, 60], start=2):
        add_tag(web, f"review-login-{n}", age=age)
    add_tag(web, "review-login-9", age=2)  # young: counts among the newest
    add_tag(web, "review-login-10", age=1)
    for n, age in enumerate([50, 40, 30], start=1):
        add_tag(web, f"review-search-{n}", age=age)
    add_tag(web, "Review-search-9", age=100)  # not the pattern's case
    add_tag(web, "review-main", age=100)  # no build number: not the pattern
    add_tag(web, "mr-12-build", age=100)
    add_tag(web, f"sha256-{SUBJECT}.sig", age=100)
    add_tag(web, "review-pay-1", age=100, image="pay")
    add_tag(web, "v1.2.0", age=100, image="pay")  # protected by default, shares a digest
    return web


@pytest.mark.django_db
@pytest.mark.parametrize("branch_pattern", [BRANCH_GROUPS, r"review-(?P<branch>.+)-\d+$", ""])
def test_a_policy_chooses_what_a_refresh_under_the_same_rules_calls_stale(
    registry: Registry, branch_pattern: str
) -> None:
    web = a_registry_with_every_kind_of_tag(registry)
    other = Repository.objects.create(registry=registry, name="shop/api")
    add_tag(other, "review-login-1", age=100)
    rules = StalenessRules.objects.create(
        registry=registry, branch_pattern=branch_pattern, keep_newest=2, max_age_days=14
    )
    refresh_staleness(registry=registry, now=NOW)
    stale_in_web = set(web.tags.filter(is_stale=True).values_list("pk", flat=True))

    chosen = dict(stale_tag_ids(registry=registry, rules=rules, now=NOW, repository_ids=[web.pk]))

    assert set(chosen) <= {web.pk}
    assert set(chosen.get(web.pk, [])) == stale_in_web
    assert stale_in_web  # the rules leave something stale to choose


def test_only_a_branch_pattern_with_a_fixed_start_narrows_the_read() -> None:
    assert could_be_stale(StalenessRules(branch_pattern=BRANCH_GROUPS)) is not None
    assert could_be_stale(StalenessRules(branch_pattern=r"review-(?P<branch>.+)")) is None
    assert could_be_stale(StalenessRules(branch_pattern="")) is None
