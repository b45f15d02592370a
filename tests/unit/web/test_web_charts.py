"""The trend chart and interval bars put values where a reader expects them."""

from __future__ import annotations

from aifactory.web.charts import Point, interval_bar, trend_chart


def test_a_rate_of_one_is_at_the_top_and_zero_at_the_bottom() -> None:
    chart = trend_chart([Point("a", 1.0, 1.0, 1.0), Point("b", 0.0, 0.0, 0.0)])
    top, bottom = chart.points
    assert top.y == chart.top
    assert bottom.y == chart.bottom
    assert top.x < bottom.x  # oldest left


def test_whiskers_span_the_interval_around_the_value() -> None:
    chart = trend_chart([Point("a", 0.5, 0.25, 0.75)])
    (p,) = chart.points
    assert p.y_high < p.y < p.y_low
    assert p.y - p.y_high == p.y_low - p.y == chart.plot_height / 4


def test_runs_without_a_rate_leave_a_gap_but_keep_their_place() -> None:
    chart = trend_chart([Point("a", 0.5), Point("b", None), Point("c", 0.5)])
    assert [p.point.label for p in chart.points] == ["a", "c"]
    assert len(chart.line.split()) == 2
    assert [t.text for t in chart.x_ticks] == ["a", "b", "c"]


def test_each_agent_version_gets_its_own_band() -> None:
    points = [Point(str(i), 0.5, group=f"v{1 + i // 2}") for i in range(5)]
    chart = trend_chart(points)
    assert [b.label for b in chart.bands] == ["v1", "v2", "v3"]
    assert sum(b.width for b in chart.bands) == chart.plot_width
    assert [p.group_index for p in chart.points] == [0, 0, 1, 1, 2]


def test_many_runs_get_thinned_axis_labels_that_keep_the_newest() -> None:
    chart = trend_chart([Point(f"r{i}", 0.5) for i in range(40)], max_x_labels=8)
    labels = [t.text for t in chart.x_ticks]
    assert len(labels) <= 9
    assert labels[0] == "r0" and labels[-1] == "r39"


def test_an_interval_bar_is_clamped_to_its_strip() -> None:
    bar = interval_bar(0.8, 0.6, 1.2, width=200)
    assert bar is not None
    assert (bar.low, bar.bar, bar.high) == (120.0, 160.0, 200.0)
    assert interval_bar(None, None, None) is None
