"""The dashboard charts' geometry, computed in Python and only drawn by the template."""

from __future__ import annotations

import pytest

from registry.charts import (
    MIN_VISIBLE,
    BarValue,
    histogram,
    horizontal_bars,
    shorten,
    split_bar,
)

# -- horizontal bars ---------------------------------------------------------------


def test_the_biggest_bar_fills_the_space_between_labels_and_values() -> None:
    chart = horizontal_bars(
        [BarValue("big", 200), BarValue("half", 100)], width=500, label_width=150, value_width=50
    )
    big, half = chart.bars
    assert big.width == 300  # 500 - 150 - 50
    assert half.width == 150
    assert big.value_x == 150 + 300 + 4


def test_bars_stack_downwards_and_the_chart_is_as_tall_as_they_are() -> None:
    chart = horizontal_bars([BarValue(str(n), n + 1) for n in range(3)], bar_height=16, gap=6)
    assert [bar.y for bar in chart.bars] == [6, 28, 50]
    assert chart.height == 6 + 3 * 22
    assert chart.bars[0].text_y == 6 + 12


def test_the_highlighted_part_is_drawn_to_the_same_scale() -> None:
    chart = horizontal_bars(
        [BarValue("a", 100, part=25), BarValue("b", 50, part=50)],
        width=300,
        label_width=50,
        value_width=50,
    )
    assert [(bar.width, bar.part_width) for bar in chart.bars] == [(200, 50), (100, 100)]


def test_a_tiny_value_still_shows() -> None:
    chart = horizontal_bars([BarValue("huge", 10**12), BarValue("tiny", 1, part=1)])
    assert chart.bars[1].width == MIN_VISIBLE
    assert chart.bars[1].part_width == MIN_VISIBLE


def test_zero_values_draw_nothing_and_do_not_divide_by_zero() -> None:
    chart = horizontal_bars([BarValue("empty", 0), BarValue("also", 0)])
    assert [bar.width for bar in chart.bars] == [0, 0]


def test_no_bars_make_an_empty_chart() -> None:
    chart = horizontal_bars([])
    assert chart.bars == []


def test_values_are_labelled_with_the_given_format() -> None:
    chart = horizontal_bars(
        [BarValue("a", 2048, part=1024)], format_value=lambda n: f"{n // 1024} KiB"
    )
    assert (chart.bars[0].value_text, chart.bars[0].part_text) == ("2 KiB", "1 KiB")


def test_long_labels_keep_their_end_and_the_full_name() -> None:
    name = "a-very-long-group/with-a-subgroup/and-the-project"
    [bar] = horizontal_bars([BarValue(name, 1, key=name)], label_chars=20).bars
    assert bar.label == "…" + name[-19:]
    assert len(bar.label) == 20
    assert bar.full_label == name
    assert bar.key == name


@pytest.mark.parametrize(
    ("text", "limit", "shown"),
    [("short", 10, "short"), ("exactly-10", 10, "exactly-10"), ("abcdefghijk", 5, "…hijk")],
)
def test_shorten(text: str, limit: int, shown: str) -> None:
    assert shorten(text, limit) == shown


# -- histogram ------------------------------------------------------------------------


def test_columns_share_the_width_equally() -> None:
    chart = histogram([("a", 1), ("b", 2), ("c", 3), ("d", 4)], width=400, gap=10)
    assert [column.x for column in chart.columns] == [5, 105, 205, 305]
    assert {column.width for column in chart.columns} == {90}
    assert [column.center_x for column in chart.columns] == [50, 150, 250, 350]


def test_the_tallest_column_reaches_the_top_and_all_stand_on_the_baseline() -> None:
    chart = histogram([("a", 10), ("b", 5), ("c", 0)], height=200, top=20, bottom=30)
    assert chart.baseline_y == 170
    tallest, half, empty = chart.columns
    assert (tallest.y, tallest.height) == (20, 150)
    assert (half.y, half.height) == (95, 75)
    assert (empty.y, empty.height) == (170, 0)
    for column in chart.columns:
        assert column.y + column.height == chart.baseline_y
        assert column.count_y < column.y  # the count sits above its column
    assert chart.label_y > chart.baseline_y


def test_a_histogram_of_nothing_is_flat() -> None:
    chart = histogram([("a", 0), ("b", 0)])
    assert chart.total == 0
    assert [column.height for column in chart.columns] == [0, 0]


def test_the_histogram_counts_its_total() -> None:
    assert histogram([("a", 3), ("b", 4)]).total == 7


# -- split bar --------------------------------------------------------------------------


def test_parts_lie_end_to_end_across_the_full_width() -> None:
    chart = split_bar([("Kept", 75, "kept"), ("Stale", 25, "stale")], width=400)
    kept, stale = chart.segments
    assert (kept.x, kept.width, kept.percent) == (0, 300, 75.0)
    assert (stale.x, stale.width, stale.percent) == (300, 100, 25.0)
    assert chart.total == 100


def test_rounding_never_leaves_a_gap_at_the_end() -> None:
    chart = split_bar([("a", 1, ""), ("b", 1, ""), ("c", 1, "")], width=100)
    last = chart.segments[-1]
    assert last.x + last.width == pytest.approx(100)


def test_an_empty_part_takes_no_room() -> None:
    chart = split_bar([("Kept", 10, "kept"), ("Stale", 0, "stale")], width=200)
    assert [(s.width, s.percent) for s in chart.segments] == [(200, 100.0), (0, 0.0)]


def test_a_tiny_part_stays_visible() -> None:
    chart = split_bar([("Kept", 10**9, "kept"), ("Stale", 1, "stale")], width=480)
    assert chart.segments[1].width >= MIN_VISIBLE


def test_nothing_to_split_draws_nothing() -> None:
    chart = split_bar([("Kept", 0, "kept"), ("Stale", 0, "stale")])
    assert [(s.width, s.percent) for s in chart.segments] == [(0, 0.0), (0, 0.0)]
