"""Jinja filters: how numbers, intervals, times and money read on the dashboard.

Every filter returns plain text; the templates' autoescaping does the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from aifactory.domain.stop_reasons import stop_reason_words
from aifactory.domain.turn_failures import judged_scope

DASH = "—"


def pct(value: float | None, digits: int = 1) -> str:
    """``0.8312`` → ``83.1%``."""
    if value is None:
        return DASH
    return f"{value * 100:.{digits}f}%"


def interval(value: Mapping[str, Any] | Any | None, as_pct: bool = True) -> str:
    """A confidence interval (a mapping or an object with ``low``/``high``) as ``[a, b]``."""
    if value is None:
        return ""
    low = value.get("low") if isinstance(value, Mapping) else getattr(value, "low", None)
    high = value.get("high") if isinstance(value, Mapping) else getattr(value, "high", None)
    if low is None or high is None:
        return ""
    if as_pct:
        return f"[{pct(low)}, {pct(high)}]"
    return f"[{low:.3f}, {high:.3f}]"


def num(value: float | None, digits: int = 3) -> str:
    """A score or another number with a fixed count of decimals."""
    if value is None:
        return DASH
    return f"{value:.{digits}f}"


def signed(value: float | None, digits: int = 3) -> str:
    """A difference with its sign: ``+0.120``."""
    if value is None:
        return DASH
    return f"{value:+.{digits}f}"


def pvalue(value: float | None) -> str:
    """A p-value the way papers print it."""
    if value is None:
        return DASH
    if value < 0.0001:
        return "< 0.0001"
    return f"{value:.4f}"


def ms(value: float | None) -> str:
    """Milliseconds, switching to seconds past ten of them."""
    if value is None:
        return DASH
    if value >= 10_000:
        return f"{value / 1000:.1f} s"
    if value < 10:
        return f"{value:.1f} ms"
    return f"{value:.0f} ms"


def usd(value: float | None) -> str:
    """Dollars with enough decimals for cents of a cent."""
    if value is None:
        return DASH
    return f"${value:.4f}" if value < 1 else f"${value:,.2f}"


def when(value: datetime | None) -> str:
    """A timestamp in UTC, to the second."""
    if value is None:
        return DASH
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(start: datetime | None, end: datetime | None) -> str:
    """How long between two timestamps, e.g. ``2 min 5 s``."""
    if start is None or end is None:
        return DASH
    seconds = max(0.0, (end - start).total_seconds())
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def short_id(value: str | None) -> str:
    """The first block of a UUID, enough to tell runs apart on screen."""
    if not value:
        return DASH
    return value.split("-", 1)[0]


FILTERS: dict[str, Callable[..., str]] = {
    "duration": duration,
    "interval": interval,
    "ms": ms,
    "num": num,
    "pct": pct,
    "judged_scope": judged_scope,
    "pvalue": pvalue,
    "short_id": short_id,
    "signed": signed,
    "stop_reason": stop_reason_words,
    "usd": usd,
    "when": when,
}
"""Registered on the dashboard's Jinja environment under these names."""
