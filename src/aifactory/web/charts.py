"""Geometry of the dashboard's SVG charts; the templates draw it as inline SVG.

Charts are computed here in plain numbers (no plotting library, nothing to vendor) and written
out by the templates with ordinary autoescaped attributes, so a chart needs neither inline
scripts nor inline styles, which the Content-Security-Policy forbids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Point:
    """One value with its 95% interval, e.g. one run's pass rate."""

    label: str
    value: float | None
    low: float | None = None
    high: float | None = None
    title: str = ""
    """Tooltip text."""
    href: str | None = None
    group: str = ""
    """Points of one group (an agent version) share a colour; a new group starts a new band."""


@dataclass(frozen=True, slots=True)
class PlacedPoint:
    """A point in pixels: centre, whisker ends, and its group's index for the colour."""

    x: float
    y: float
    y_low: float
    y_high: float
    point: Point
    group_index: int


@dataclass(frozen=True, slots=True)
class Tick:
    """An axis tick: where, and its text."""

    at: float
    text: str


@dataclass(frozen=True, slots=True)
class Band:
    """A stretch of the x axis belonging to one group (an agent version)."""

    x: float
    width: float
    label: str
    index: int


@dataclass(frozen=True, slots=True)
class TrendChart:
    """A line of rates in [0, 1] with interval whiskers, ready to draw."""

    width: int
    height: int
    left: int
    top: int
    plot_width: int
    plot_height: int
    points: list[PlacedPoint]
    line: str
    """``points`` attribute of the polyline joining the values (skipping missing ones)."""
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    bands: list[Band] = field(default_factory=list)

    @property
    def bottom(self) -> int:
        return self.top + self.plot_height

    @property
    def right(self) -> int:
        return self.left + self.plot_width


def trend_chart(
    points: Sequence[Point], *, width: int = 1100, height: int = 260, max_x_labels: int = 12
) -> TrendChart:
    """Lay out ``points`` (oldest first) on a 0–100% axis."""
    left, top, right_pad, bottom_pad = 48, 16, 16, 40
    plot_w, plot_h = width - left - right_pad, height - top - bottom_pad
    n = len(points)
    step = plot_w / n if n else plot_w

    def y_of(v: float) -> float:
        return round(top + (1 - min(1.0, max(0.0, v))) * plot_h, 1)

    placed: list[PlacedPoint] = []
    groups: list[str] = []
    for i, p in enumerate(points):
        if not groups or groups[-1] != p.group:
            groups.append(p.group)
        if p.value is None:
            continue
        x = round(left + step * (i + 0.5), 1)
        low = p.low if p.low is not None else p.value
        high = p.high if p.high is not None else p.value
        placed.append(
            PlacedPoint(
                x=x,
                y=y_of(p.value),
                y_low=y_of(low),
                y_high=y_of(high),
                point=p,
                group_index=(len(groups) - 1) % 6,
            )
        )
    bands: list[Band] = []
    start = 0
    for i in range(1, n + 1):
        if i == n or points[i].group != points[start].group:
            bands.append(
                Band(
                    x=round(left + step * start, 1),
                    width=round(step * (i - start), 1),
                    label=points[start].group,
                    index=len(bands) % 6,
                )
            )
            start = i
    every = max(1, -(-n // max_x_labels))
    x_ticks = [
        Tick(at=round(left + step * (i + 0.5), 1), text=p.label)
        for i, p in enumerate(points)
        if i % every == 0 or i == n - 1
    ]
    y_ticks = [Tick(at=y_of(v / 100), text=f"{v}%") for v in (0, 25, 50, 75, 100)]
    return TrendChart(
        width=width,
        height=height,
        left=left,
        top=top,
        plot_width=plot_w,
        plot_height=plot_h,
        points=placed,
        line=" ".join(f"{p.x},{p.y}" for p in placed),
        y_ticks=y_ticks,
        x_ticks=x_ticks,
        bands=bands if len(bands) > 1 or (bands and bands[0].label) else [],
    )


@dataclass(frozen=True, slots=True)
class IntervalBar:
    """A horizontal bar for one rate with its whisker, in pixels of a fixed-width strip."""

    width: int
    bar: float
    low: float
    high: float
    title: str


def interval_bar(
    value: float | None,
    low: float | None,
    high: float | None,
    *,
    width: int = 200,
    title: str = "",
) -> IntervalBar | None:
    """A bar of ``value`` (in [0, 1]) with its interval, or None without a value."""
    if value is None:
        return None

    def x_of(v: float) -> float:
        return round(min(1.0, max(0.0, v)) * width, 1)

    return IntervalBar(
        width=width,
        bar=x_of(value),
        low=x_of(low if low is not None else value),
        high=x_of(high if high is not None else value),
        title=title,
    )
