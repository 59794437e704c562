"""The dashboard's own template filters and button wording."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from registry.templatetags.janitor import JUST_NOW, ago, breakable
from registry.views.deletions import confirm_button_label


@pytest.mark.parametrize(
    ("before", "text"),
    [
        (timedelta(seconds=0), JUST_NOW),
        (timedelta(seconds=59), JUST_NOW),
        (timedelta(seconds=-30), JUST_NOW),  # a clock a little ahead
        (timedelta(minutes=1, seconds=5), "1\xa0minute ago"),
        (timedelta(hours=3, minutes=2), "3\xa0hours, 2\xa0minutes ago"),
    ],
)
def test_ago_says_just_now_rather_than_zero_minutes(before: timedelta, text: str) -> None:
    assert ago(timezone.now() - before) == text


def test_ago_of_nothing_is_empty() -> None:
    assert ago(None) == ""


@pytest.mark.parametrize(
    ("deleted", "untagged", "label"),
    [
        (12, 1, "Delete 12 tags, untag 1"),
        (1, 0, "Delete 1 tag"),
        (1_200, 0, "Delete 1,200 tags"),
        (0, 3, "Untag 3 tags"),
        (0, 1, "Untag 1 tag"),
    ],
)
def test_the_confirm_button_never_says_delete_0_tags(deleted, untagged, label) -> None:
    assert confirm_button_label(deleted=deleted, untagged=untagged) == label


@pytest.mark.parametrize(
    ("name", "html"),
    [
        ("build_2024.06.01", "build_<wbr>2024.<wbr>06.<wbr>01"),
        ("review-login-42", "review-login-42"),  # a hyphen wraps by itself
        ("acme/web", "acme/<wbr>web"),
        ("<b>_x", "&lt;b&gt;_<wbr>x"),  # escaped first
    ],
)
def test_long_names_may_wrap_after_their_separators(name: str, html: str) -> None:
    assert breakable(name) == html
