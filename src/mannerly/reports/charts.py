"""Chart geometry for the reports page: inline SVG rectangles computed here, drawn by the template. Pure.

No JavaScript chart library: every bar is an SVG <rect> with a <title> (its tooltip), so the
charts work under the strict Content-Security-Policy and without scripts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class Bar:
    """One bar: position and size in SVG units, and the text of its tooltip."""

    x: float
    y: float
    width: float
    height: float
    label: str


@dataclass(frozen=True)
class Series:
    """A bar chart over days: its bars, size and the largest value (for the axis label)."""

    bars: tuple[Bar, ...]
    width: int
    height: int
    top: float


def days_between(first: date, last: date) -> list[str]:
    """Every ISO date from first to last, both included."""
    return [(first + timedelta(days=offset)).isoformat() for offset in range((last - first).days + 1)]


def percent(value: float | None) -> str:
    """A rate as people read it: 97.5%, or an en dash when there is none."""
    if value is None:
        return "–"
    text = f"{value * 100:.1f}".rstrip("0").rstrip(".")
    return f"{text}%"


def daily_bars(days: list[str], values: dict[str, float | None], *, width: int = 360, height: int = 48,
               top: float | None = None, as_percent: bool = True) -> Series:
    """Bars for each day (missing days are gaps); heights relative to `top` (default: the largest value)."""
    present = [value for value in values.values() if value is not None]
    top = top if top is not None else max(present, default=0.0)
    slot = width / max(len(days), 1)
    bars = []
    for index, day in enumerate(days):
        value = values.get(day)
        if value is None:
            continue
        bar_height = 0.0 if not top else height * min(value / top, 1.0)
        shown = percent(value) if as_percent else f"{value:g}"
        bars.append(Bar(x=round(index * slot + slot * 0.1, 2), y=round(height - bar_height, 2),
                        width=round(max(slot * 0.8, 1.0), 2), height=round(max(bar_height, 0.5), 2),
                        label=f"{day}: {shown}"))
    return Series(bars=tuple(bars), width=width, height=height, top=top or 0.0)


def meter(value: float | None, *, width: int = 120, height: int = 10) -> Bar | None:
    """A horizontal bar for a rate between 0 and 1 (None when there is no rate)."""
    if value is None:
        return None
    return Bar(x=0, y=0, width=round(width * max(0.0, min(value, 1.0)), 2), height=height, label=percent(value))


def distribution(counts: dict[int, int], *, width: int = 240, bar_height: int = 16, gap: int = 6) -> list[Bar]:
    """Horizontal bars, one per key (e.g. CSAT score), widths relative to the largest count."""
    top = max(counts.values(), default=0)
    bars = []
    for index, (key, count) in enumerate(sorted(counts.items())):
        bar_width = 0.0 if not top else width * count / top
        bars.append(Bar(x=0, y=index * (bar_height + gap), width=round(bar_width, 2), height=bar_height,
                        label=f"{key}: {count}"))
    return bars
