"""Inline SVG charts for the HTML reports: no library, no external reference, every label escaped.

Each function returns a :class:`markupsafe.Markup` string of one ``<svg>`` element (no ``xmlns``:
inline SVG in HTML needs none, and the reports must not name any URL).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

BAR_HEIGHT = 22
LABEL_WIDTH = 150
PLOT_WIDTH = 360


@dataclass(frozen=True, slots=True)
class RateBar:
    """One horizontal bar: a proportion and its interval."""

    label: str
    value: float
    low: float
    high: float
    note: str = ""


def _text(x: float, y: float, text: str, *, anchor: str = "start", cls: str = "lbl") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" class="{cls}">{escape(text)}</text>'
    )


def rate_bars(bars: Sequence[RateBar], *, title: str) -> Markup:
    """Horizontal bars of proportions in [0, 1] with interval whiskers (e.g. pass rate by tag)."""
    height = BAR_HEIGHT * len(bars) + 30
    width = LABEL_WIDTH + PLOT_WIDTH + 120
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}"><title>{escape(title)}</title>'
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1):
        x = LABEL_WIDTH + tick * PLOT_WIDTH
        parts.append(
            f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height - 20}" class="grid"/>'
            + _text(x, height - 6, f"{tick:.0%}", anchor="middle", cls="tick")
        )
    for i, bar in enumerate(bars):
        y = i * BAR_HEIGHT + 4
        mid = y + (BAR_HEIGHT - 6) / 2
        x_low = LABEL_WIDTH + bar.low * PLOT_WIDTH
        x_high = LABEL_WIDTH + bar.high * PLOT_WIDTH
        label = bar.label if len(bar.label) <= 22 else bar.label[:21] + "…"
        parts.append(
            _text(LABEL_WIDTH - 6, mid + 4, label, anchor="end")
            + f'<rect x="{LABEL_WIDTH}" y="{y}" width="{bar.value * PLOT_WIDTH:.1f}" '
            f'height="{BAR_HEIGHT - 6}" class="bar"><title>{escape(bar.label)}: '
            f"{bar.value:.1%} (95% CI {bar.low:.1%}–{bar.high:.1%}) {escape(bar.note)}"
            "</title></rect>"
            f'<line x1="{x_low:.1f}" y1="{mid:.1f}" x2="{x_high:.1f}" y2="{mid:.1f}" class="wh"/>'
            f'<line x1="{x_low:.1f}" y1="{mid - 5:.1f}" x2="{x_low:.1f}" y2="{mid + 5:.1f}" '
            'class="wh"/>'
            f'<line x1="{x_high:.1f}" y1="{mid - 5:.1f}" x2="{x_high:.1f}" y2="{mid + 5:.1f}" '
            'class="wh"/>'
            + _text(LABEL_WIDTH + PLOT_WIDTH + 8, mid + 4, f"{bar.value:.0%} {bar.note}")
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def histogram(counts: Sequence[int], *, low: float, high: float, title: str) -> Markup:
    """Vertical bars of ``counts`` over equal bins from ``low`` to ``high``."""
    width, height, base = 520, 200, 170
    n = len(counts)
    top = max(counts) if counts and max(counts) > 0 else 1
    bin_w = (width - 40) / max(n, 1)
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}"><title>{escape(title)}</title>',
        f'<line x1="20" y1="{base}" x2="{width - 20}" y2="{base}" class="axis"/>',
    ]
    step = (high - low) / max(n, 1)
    for i, count in enumerate(counts):
        h = (count / top) * (base - 20)
        x = 20 + i * bin_w
        lo, hi = low + i * step, low + (i + 1) * step
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{base - h:.1f}" width="{bin_w - 2:.1f}" height="{h:.1f}" '
            f'class="bar"><title>{lo:.1f}–{hi:.1f}: {count}</title></rect>'
        )
        if count:
            label_y = base - h - 3
            parts.append(_text(x + bin_w / 2, label_y, str(count), anchor="middle", cls="tick"))
    for i in range(n + 1):
        if n <= 10 or i % 2 == 0:
            edge = f"{low + i * step:.1f}"
            parts.append(_text(20 + i * bin_w, base + 14, edge, anchor="middle", cls="tick"))
    parts.append("</svg>")
    return Markup("".join(parts))


def value_bars(values: Sequence[tuple[str, float]], *, unit: str, title: str) -> Markup:
    """Horizontal bars of labelled values (e.g. latency avg, p50, p95, p99, max)."""
    top = max((v for _, v in values), default=1.0) or 1.0
    height = BAR_HEIGHT * len(values) + 8
    width = 80 + PLOT_WIDTH + 110
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}"><title>{escape(title)}</title>'
    ]
    for i, (label, value) in enumerate(values):
        y = i * BAR_HEIGHT + 4
        w = value / top * PLOT_WIDTH
        parts.append(
            _text(74, y + 13, label, anchor="end")
            + f'<rect x="80" y="{y}" width="{w:.1f}" height="{BAR_HEIGHT - 6}" class="bar alt"/>'
            + _text(84 + w, y + 13, f"{value:,.0f} {unit}")
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def interval_plot(mean: float, low: float, high: float, *, span: float, title: str) -> Markup:
    """A point and its interval on a symmetric axis around 0 (a difference and its 95% CI)."""
    width, height = 520, 60
    span = max(span, abs(low), abs(high), 1e-9)

    def x(v: float) -> float:
        return 20 + (v + span) / (2 * span) * (width - 40)

    cls = "good" if low > 0 else "bad" if high < 0 else "neutral"
    return Markup(
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}"><title>{escape(title)}</title>'
        f'<line x1="20" y1="30" x2="{width - 20}" y2="30" class="axis"/>'
        f'<line x1="{x(0):.1f}" y1="10" x2="{x(0):.1f}" y2="45" class="zero"/>'
        f'<line x1="{x(low):.1f}" y1="30" x2="{x(high):.1f}" y2="30" class="ci {cls}"/>'
        f'<circle cx="{x(mean):.1f}" cy="30" r="6" class="pt {cls}"/>'
        + _text(20, 56, f"{-span:+.2f}", cls="tick")
        + _text(x(0), 56, "0", anchor="middle", cls="tick")
        + _text(width - 20, 56, f"{span:+.2f}", anchor="end", cls="tick")
        + "</svg>"
    )
