"""Chart geometry for server-rendered SVG: Python computes, the template only draws.

Every function takes the figures (already aggregated in SQL) and returns frozen
dataclasses with the coordinates of each shape, in the units of the chart's
viewBox, so the template holds no arithmetic and the geometry is unit-tested.
A non-zero value always gets a visible shape (at least `MIN_VISIBLE` wide or
tall), so one small repository next to a huge one does not vanish.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

MIN_VISIBLE = 1.0
ELLIPSIS = "…"


def _scaled(value: int, maximum: int, length: float) -> float:
    if value <= 0 or maximum <= 0:
        return 0.0
    return round(max(MIN_VISIBLE, length * value / maximum), 1)


def shorten(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, keeping its end (repository names differ there)."""
    if len(text) <= limit:
        return text
    return ELLIPSIS + text[-(limit - 1) :]


# -- horizontal bars -------------------------------------------------------------


@dataclass(frozen=True)
class BarValue:
    """One bar's figures: `part` is the highlighted share of `value` (e.g. its stale size)."""

    label: str
    value: int
    part: int = 0
    key: str = ""


@dataclass(frozen=True)
class HorizontalBar:
    key: str
    label: str  # shortened to fit the label column
    full_label: str
    value: int
    part: int
    value_text: str
    part_text: str
    y: float
    text_y: float  # baseline of the label and the value text
    width: float
    part_width: float
    value_x: float


@dataclass(frozen=True)
class HorizontalBarChart:
    width: int
    height: int
    label_width: int
    bar_height: int
    bars: list[HorizontalBar]


def horizontal_bars(
    values: Sequence[BarValue],
    *,
    format_value: Callable[[int], str] = str,
    width: int = 480,
    label_width: int = 160,
    value_width: int = 70,
    bar_height: int = 16,
    gap: int = 6,
    label_chars: int = 26,
) -> HorizontalBarChart:
    """Bars from x=label_width, the longest reaching width - value_width."""
    length = width - label_width - value_width
    maximum = max((v.value for v in values), default=0)
    bars = []
    for index, v in enumerate(values):
        y = float(gap + index * (bar_height + gap))
        bar_width = _scaled(v.value, maximum, length)
        part_width = min(bar_width, _scaled(v.part, maximum, length))
        bars.append(
            HorizontalBar(
                key=v.key,
                label=shorten(v.label, label_chars),
                full_label=v.label,
                value=v.value,
                part=v.part,
                value_text=format_value(v.value),
                part_text=format_value(v.part),
                y=y,
                text_y=round(y + bar_height * 0.75, 1),
                width=bar_width,
                part_width=part_width,
                value_x=round(label_width + bar_width + 4, 1),
            )
        )
    height = gap + len(values) * (bar_height + gap)
    return HorizontalBarChart(
        width=width, height=height, label_width=label_width, bar_height=bar_height, bars=bars
    )


# -- histogram -------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    label: str
    count: int
    x: float
    y: float
    width: float
    height: float
    center_x: float
    count_y: float  # baseline of the count above the column

    @property
    def label_lines(self) -> tuple[str, ...]:
        """The label in two lines, "3-6" over "months", so that labels stay legible
        (12 px or more) without running into each other on a narrow screen."""
        return tuple(self.label.rsplit(" ", 1))


@dataclass(frozen=True)
class Histogram:
    width: int
    height: int
    baseline_y: float  # the x axis; bucket labels go below it
    label_y: float
    columns: list[Column]
    total: int


def histogram(
    buckets: Sequence[tuple[str, int]],
    *,
    width: int = 480,
    height: int = 180,
    top: int = 16,
    bottom: int = 22,
    gap: int = 8,
) -> Histogram:
    """Equal-width columns side by side; the tallest fills the space between top and bottom."""
    baseline = float(height - bottom)
    space = baseline - top
    slot = width / len(buckets) if buckets else 0.0
    maximum = max((count for _, count in buckets), default=0)
    columns = []
    for index, (label, count) in enumerate(buckets):
        column_height = _scaled(count, maximum, space)
        y = round(baseline - column_height, 1)
        columns.append(
            Column(
                label=label,
                count=count,
                x=round(index * slot + gap / 2, 1),
                y=y,
                width=round(slot - gap, 1),
                height=column_height,
                center_x=round(index * slot + slot / 2, 1),
                count_y=round(y - 4, 1),
            )
        )
    return Histogram(
        width=width,
        height=height,
        baseline_y=baseline,
        label_y=round(baseline + 15, 1),
        columns=columns,
        total=sum(count for _, count in buckets),
    )


# -- one bar split in parts (stale vs kept) --------------------------------------


@dataclass(frozen=True)
class Segment:
    label: str
    value: int
    value_text: str
    percent: float
    x: float
    width: float
    css_class: str


@dataclass(frozen=True)
class SplitBar:
    width: int
    height: int
    segments: list[Segment]
    total: int


def split_bar(
    parts: Sequence[tuple[str, int, str]],
    *,
    format_value: Callable[[int], str] = str,
    width: int = 480,
    height: int = 24,
) -> SplitBar:
    """(label, value, css class) parts laid end to end across the full width."""
    total = sum(value for _, value, _ in parts)
    widths = [_scaled(value, total, width) for _, value, _ in parts]
    if total:
        # The biggest part absorbs rounding and the minimum widths, so the parts fill the bar.
        biggest = max(range(len(widths)), key=widths.__getitem__)
        widths[biggest] = round(width - sum(widths) + widths[biggest], 1)
    segments = []
    x = 0.0
    for (label, value, css_class), segment_width in zip(parts, widths, strict=True):
        segments.append(
            Segment(
                label=label,
                value=value,
                value_text=format_value(value),
                percent=round(100 * value / total, 1) if total else 0.0,
                x=round(x, 1),
                width=segment_width,
                css_class=css_class,
            )
        )
        x += segment_width
    return SplitBar(width=width, height=height, segments=segments, total=total)
