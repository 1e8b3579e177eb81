"""Charts drawn on the server as inline SVG: no script, no inline styles (the content security policy
allows neither), readable without colour.

Functions here are pure: figures in, a ``LineChart`` out, which ``templates/components/line_chart.html``
draws. Every chart carries a title, a description of its latest values, a legend in which each series
has its own line style, and its figures as a table for people who cannot see the drawing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

WIDTH, HEIGHT = 720, 320
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 40, 16, 56
MAX_X_LABELS = 12
# GOV.UK blue and dark grey: both at least 4.5:1 against white.
COLOURS = ("#1d70b8", "#505a5f", "#00703c", "#d4351c")


@dataclass(frozen=True)
class Series:
    name: str
    values: list[float]
    dashed: bool = False


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class DrawnSeries:
    name: str
    colour: str
    dashed: bool
    path: str
    points: list[tuple[float, float]]
    latest: float | None


class LabelledFigure:
    """The ids a chart's ``<svg>`` points to with ``aria-labelledby`` / ``aria-describedby``."""

    id: str

    @property
    def title_id(self) -> str:
        return f"{self.id}-title"

    @property
    def desc_id(self) -> str:
        return f"{self.id}-desc"


@dataclass
class LineChart(LabelledFigure):
    id: str
    title: str
    description: str
    x_title: str
    y_title: str
    width: int
    height: int
    plot_left: float
    plot_right: float
    plot_top: float
    plot_bottom: float
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    series: list[DrawnSeries]
    table_caption: str
    table_head: list[str]
    table_rows: list[list[str]] = field(default_factory=list)


def figure(value: float | Decimal) -> str:
    """A number without needless decimals: 12, 12.5, 1,250.25."""
    text = f"{float(value):,.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def nice_ceiling(maximum: float, ticks: int = 5) -> tuple[float, float]:
    """A round top for the y axis and the step between its ticks, e.g. 437 → (500, 100)."""
    if maximum <= 0:
        return 1.0 * ticks, 1.0
    rough = maximum / ticks
    magnitude = 10 ** math.floor(math.log10(rough))
    for multiple in (1, 2, 2.5, 5, 10):
        step = multiple * magnitude
        if step * ticks >= maximum:
            return step * ticks, step
    return 10 * magnitude * ticks, 10 * magnitude  # pragma: no cover - 10 always fits


def _path(points: list[tuple[float, float]]) -> str:
    return " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(points))


def line_chart(*, id: str, title: str, x_labels: list[str], series: list[Series], x_title: str, y_title: str,
               unit: str = "", description: str | None = None, table_caption: str | None = None,
               width: int = WIDTH, height: int = HEIGHT) -> LineChart:
    """A line chart of ``series`` over the points named by ``x_labels`` (one value per label each)."""
    count = len(x_labels)
    if any(len(s.values) != count for s in series):
        raise ValueError("every series needs one value per x label")
    left, right = MARGIN_LEFT, width - MARGIN_RIGHT
    top, bottom = MARGIN_TOP, height - MARGIN_BOTTOM
    top_value, step = nice_ceiling(max((float(v) for s in series for v in s.values), default=0.0))

    def x_at(index: int) -> float:
        return (left + right) / 2 if count == 1 else left + (right - left) * index / (count - 1)

    def y_at(value: float) -> float:
        return bottom - (bottom - top) * float(value) / top_value

    # At most about a dozen labels on the x axis; the last point is labelled when there is room.
    every = max(1, math.ceil(count / MAX_X_LABELS))
    shown = list(range(0, count, every))
    if shown and shown[-1] != count - 1 and (count - 1 - shown[-1]) * 2 >= every:
        shown.append(count - 1)
    x_ticks = [Tick(x_at(i), x_labels[i]) for i in shown]
    y_ticks = [Tick(y_at(step * n), figure(step * n)) for n in range(round(top_value / step) + 1)]

    drawn = []
    for n, s in enumerate(series):
        points = [(x_at(i), y_at(v)) for i, v in enumerate(s.values)]
        drawn.append(DrawnSeries(name=s.name, colour=COLOURS[n % len(COLOURS)], dashed=s.dashed, path=_path(points),
                                 points=points, latest=float(s.values[-1]) if s.values else None))

    suffix = f" {unit}" if unit else ""
    if description is None:
        if count:
            latest = "; ".join(f"{s.name}: {figure(s.values[-1])}{suffix}" for s in series)
            description = f"{y_title} by {x_title.lower()}, from {x_labels[0]} to {x_labels[-1]}. " \
                          f"Latest, {x_labels[-1]}: {latest}."
        else:
            description = "No figures yet."
    head = [x_title] + [f"{s.name} ({unit})" if unit else s.name for s in series]
    rows = [[label] + [figure(s.values[i]) for s in series] for i, label in enumerate(x_labels)]
    return LineChart(
        id=id, title=title, description=description, x_title=x_title, y_title=y_title, width=width, height=height,
        plot_left=left, plot_right=right, plot_top=top, plot_bottom=bottom, x_ticks=x_ticks, y_ticks=y_ticks,
        series=drawn, table_caption=table_caption or title, table_head=head, table_rows=rows,
    )


def month_label(month: date) -> str:
    return f"{month:%b %Y}"


def otj_cumulative_chart(points: list[dict], *, planned_hours: int | None = None,
                         id: str = "otj-chart") -> LineChart | None:
    """Approved off-the-job hours so far against the plan so far, month by month, from the points of
    ``otj_totals.cumulative_by_month``. None before the first month has begun."""
    if not points:
        return None
    labels = [month_label(p["month"]) for p in points]
    approved = [float(p["approved_hours"]) for p in points]
    plan = [float(p["expected_hours"]) for p in points]
    last = points[-1]
    description = (
        f"Cumulative approved off-the-job hours against the plan, month by month from {labels[0]} to {labels[-1]}. "
        f"By {last['as_of']:%-d %B %Y}: {figure(last['approved_hours'])} hours approved against "
        f"{figure(last['expected_hours'])} hours planned by then"
        + (f", out of {figure(planned_hours)} hours planned in all." if planned_hours is not None else ".")
    )
    return line_chart(
        id=id, title="Approved off-the-job hours against the plan", x_labels=labels,
        series=[Series("Approved", approved), Series("Plan", plan, dashed=True)],
        x_title="Month", y_title="Hours", unit="hours", description=description,
        table_caption="Cumulative off-the-job hours at the end of each month",
    )
