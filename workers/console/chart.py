"""A stacked bar chart as plain SVG geometry (no JavaScript): one bar per time bucket, one segment per outcome.

`stacked_bars` returns what the template draws (`console/_chart.html`); each segment has a <title>, which the
browser shows on hover, so the numbers are readable without a script.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

WIDTH, HEIGHT = 720, 180
LEFT, BOTTOM, TOP = 44, 22, 8
COLORS = {
    "succeeded": "#047857",
    "sent": "#34d399",
    "queued": "#93c5fd",
    "held": "#fbbf24",
    "skipped": "#9ca3af",
    "import_errored": "#f97316",
    "failed": "#b91c1c",
    "rejected": "#7f1d1d",
}


@dataclass
class Segment:
    x: float
    y: float
    width: float
    height: float
    color: str
    title: str


@dataclass
class Chart:
    width: int = WIDTH
    height: int = HEIGHT
    segments: list[Segment] = field(default_factory=list)
    y_ticks: list[tuple[float, str]] = field(default_factory=list)  # (y, label)
    x_ticks: list[tuple[float, str]] = field(default_factory=list)  # (x, label)
    plot: tuple[float, float, float, float] = (LEFT, TOP, WIDTH - LEFT - 4, HEIGHT - TOP - BOTTOM)
    empty: bool = True


def per_minute(count: int, bucket_seconds: int) -> float:
    return count * 60 / bucket_seconds


def stacked_bars(
    counts: dict[int, dict[str, int]], start: datetime, buckets: int, bucket_seconds: int, outcomes: tuple[str, ...]
) -> Chart:
    """Bars for `buckets` buckets from `start` (a bucket boundary), heights in deliveries per minute."""
    chart = Chart()
    left, top, plot_width, plot_height = chart.plot
    first = int(start.timestamp()) // bucket_seconds * bucket_seconds
    rates = [
        {name: per_minute(counts.get(first + i * bucket_seconds, {}).get(name, 0), bucket_seconds) for name in outcomes}
        for i in range(buckets)
    ]
    peak = max((sum(rate.values()) for rate in rates), default=0)
    chart.empty = peak == 0
    scale_top = nice_ceiling(peak)
    slot = plot_width / buckets
    for i, rate in enumerate(rates):
        y = top + plot_height
        moment = datetime.fromtimestamp(first + i * bucket_seconds, UTC).strftime("%H:%M")
        for name in outcomes:
            if not rate[name]:
                continue
            height = rate[name] / scale_top * plot_height
            y -= height
            shown = f"{rate[name]:.1f}".rstrip("0").rstrip(".")
            title = f"{moment} UTC: {shown}/min {name}"
            chart.segments.append(Segment(left + i * slot + 0.5, y, max(slot - 1, 0.5), height, COLORS[name], title))
    for fraction in (0, 0.5, 1):
        value = scale_top * fraction
        chart.y_ticks.append((top + plot_height * (1 - fraction), f"{value:g}"))
    for i in (0, buckets // 2, buckets):
        moment = datetime.fromtimestamp(first + i * bucket_seconds, UTC).strftime("%H:%M")
        chart.x_ticks.append((left + i * slot, moment))
    return chart


def nice_ceiling(value: float) -> float:
    """The axis' top: 1, 2 or 5 times a power of ten, at least `value` (1 for an empty chart)."""
    if value <= 0:
        return 1
    magnitude = 10 ** (len(str(int(value))) - 1) if value >= 1 else 0.1
    for step in (1, 2, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude
