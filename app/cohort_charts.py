"""Pictures of a cohort, drawn on the server as inline SVG in the house style of ``app/charts.py``: no script, no
inline styles, readable without colour, each with a title, a description in words and its figures as a table.

- ``placements_timeline``: one lane per apprentice, a bar per placement coloured and labelled by host
  organisation, gaps hatched, today marked (``templates/cohort_review/_timeline.html``);
- ``progress_histogram``: how many apprentices fall in each band of off-the-job progress
  (``templates/cohort_review/_histogram.html``);
- ``completions_chart``: cumulative completions on a course run, week by week (a ``charts.line_chart``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache

from markupsafe import Markup, escape

from app import charts
from app.charts import LabelledFigure, Tick, figure, nice_ceiling

# Fills for host organisations: each takes white text at 4.5:1 or more; bars carry their host's name as well.
HOST_FILLS = ("#1d70b8", "#00703c", "#4c2c92", "#d4351c", "#003078", "#505a5f", "#912b88", "#0b0c0c")
BOROUGH_PREFIXES = ("London Borough of ", "Royal Borough of ")
CHARACTER_WIDTH = 7.2  # roughly, at font-size 13


@lru_cache(maxsize=1024)
def short_name(name: str) -> str:
    for prefix in BOROUGH_PREFIXES:
        name = name.removeprefix(prefix)
    return name


def _fit(text: str, room: float) -> str | None:
    return _fit_characters(text, int(room / CHARACTER_WIDTH))


@lru_cache(maxsize=4096)
def _fit_characters(text: str, characters: int) -> str | None:
    if characters < 3:
        return None
    return text if len(text) <= characters else text[: characters - 1].rstrip() + "…"


@lru_cache(maxsize=8192)
def _day(value: date) -> str:
    return f"{value:%-d %B %Y}"


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else plural or word + 's'}"


# The placements timeline ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlacementSpan:
    starts_on: date
    ends_on: date
    host_id: int
    host: str


@dataclass(frozen=True)
class ApprenticeLane:
    name: str
    starts_on: date
    ends_on: date
    placements: list[PlacementSpan]


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    fill: str | None  # None for a gap
    label: str | None

    @property
    def gap(self) -> bool:
        return self.fill is None


@dataclass(frozen=True)
class Lane:
    y: float
    name: str
    label: str
    bars: list[Bar]


@dataclass
class Timeline(LabelledFigure):
    id: str
    title: str
    description: str
    width: int
    height: int
    label_right: float
    plot_left: float
    plot_right: float
    plot_top: float
    lane_height: int
    bar_height: int
    axis_y: float
    first: date
    last: date
    lanes: list[Lane]
    ticks: list[Tick]
    today_x: float | None
    legend: list[tuple[str, str]]
    table_caption: str
    table_head: list[str]
    # One row an apprentice: their name, and their placements and gaps in date order, in words.
    table_rows: list[tuple[str, list[str]]] = field(default_factory=list)

    def lanes_markup(self) -> Markup:
        """The lanes as SVG, written here rather than by the template: a page of 50 apprentices has hundreds
        of bars, and a template loop costs several times more for the same markup."""
        hatch, bar_height, label_right = f"url(#{escape(self.id)}-hatch)", self.bar_height, self.label_right
        out = []
        for n, lane in enumerate(self.lanes, start=1):
            out.append(f'<g data-lane="{n}">\n<text x="{label_right}" y="{lane.y + bar_height - 5}" '
                       f'text-anchor="end" fill="#0b0c0c">{escape(lane.label)}</text>\n')
            for bar in lane.bars:
                if bar.gap:
                    out.append(f'<rect data-segment="gap" x="{bar.x}" y="{lane.y}" width="{bar.width}" '
                               f'height="{bar_height}" fill="{hatch}" stroke="#505a5f" stroke-width="1" '
                               'stroke-dasharray="4 2"/>\n')
                else:
                    out.append(f'<rect data-segment="placement" x="{bar.x}" y="{lane.y}" width="{bar.width}" '
                               f'height="{bar_height}" fill="{bar.fill}" stroke="#ffffff" stroke-width="1"/>\n')
                    if bar.label:
                        out.append(f'<text x="{bar.x + 4}" y="{lane.y + bar_height - 6}" fill="#ffffff">'
                                   f'{escape(bar.label)}</text>\n')
            out.append("</g>\n")
        return Markup("".join(out))  # noqa: S704 - every text and label is escaped above; the rest are numbers

    def table_rows_markup(self) -> Markup:
        """The figures table's body: a row an apprentice (their name the row header) listing their placements
        and gaps in date order, for the same reason."""
        return Markup("".join(  # noqa: S704 - every name and segment is escaped
            f'<tr class="govuk-table__row"><th scope="row" class="govuk-table__header">{escape(name)}</th>'
            '<td class="govuk-table__cell"><ul class="govuk-list govuk-!-font-size-16 govuk-!-margin-bottom-0">'
            + "".join(f"<li>{escape(segment)}</li>" for segment in segments) + "</ul></td></tr>\n"
            for name, segments in self.table_rows))


TIMELINE_WIDTH, LABEL_WIDTH, TIMELINE_RIGHT_MARGIN = 960, 190, 12
LANE_HEIGHT, BAR_HEIGHT, TIMELINE_TOP = 28, 20, 28


def _month_starts(first: date, last: date):
    month = date(first.year, first.month, 1)
    while month <= last:
        if month >= first:
            yield month
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _segments(lane: ApprenticeLane):
    """The lane's placements clipped to the apprenticeship, and the gaps between, in date order."""
    cursor = lane.starts_on
    for p in sorted(lane.placements, key=lambda p: (p.starts_on, p.ends_on)):
        starts_on, ends_on = max(p.starts_on, lane.starts_on), min(p.ends_on, lane.ends_on)
        if ends_on < cursor:
            continue
        if starts_on > cursor:
            yield cursor, starts_on - timedelta(days=1), None
        yield max(starts_on, cursor), ends_on, p
        cursor = ends_on + timedelta(days=1)
    if cursor <= lane.ends_on:
        yield cursor, lane.ends_on, None


def placements_timeline(lanes: list[ApprenticeLane], today: date, *, id: str = "placements-timeline",
                        scope: str = "the apprentices listed") -> Timeline | None:
    """One lane per apprentice from the earliest start to the latest end; None with no apprentices."""
    if not lanes:
        return None
    first = min(lane.starts_on for lane in lanes)
    last = max(lane.ends_on for lane in lanes)
    total = (last - first).days + 1
    left, right = LABEL_WIDTH, TIMELINE_WIDTH - TIMELINE_RIGHT_MARGIN
    hosts = sorted({(short_name(p.host), p.host_id) for lane in lanes for p in lane.placements})
    fills = {host_id: HOST_FILLS[n % len(HOST_FILLS)] for n, (_name, host_id) in enumerate(hosts)}

    def x(day: date) -> float:
        return round(left + (day - first).days / total * (right - left), 1)

    drawn, rows, gaps, counts = [], [], 0, {}
    for n, lane in enumerate(lanes):
        bars, segments = [], []
        for starts_on, ends_on, placement in _segments(lane):
            start_x, width = x(starts_on), x(ends_on + timedelta(days=1)) - x(starts_on)
            days = (ends_on - starts_on).days + 1
            if placement is None:
                gaps += 1
                bars.append(Bar(start_x, round(max(width, 1), 1), None, None))
                segments.append(f"No placement: {_day(starts_on)} to {_day(ends_on)} ({_plural(days, 'day')})")
            else:
                name = short_name(placement.host)
                counts[name] = counts.get(name, 0) + 1
                bars.append(Bar(start_x, round(max(width, 1), 1), fills[placement.host_id], _fit(name, width - 8)))
                segments.append(f"{placement.host}: {_day(starts_on)} to {_day(ends_on)} ({_plural(days, 'day')})")
        rows.append((lane.name, segments))
        drawn.append(Lane(TIMELINE_TOP + n * LANE_HEIGHT, lane.name, _fit(lane.name, LABEL_WIDTH - 12) or "", bars))

    months = (last.year - first.year) * 12 + last.month - first.month
    step = 1 if months <= 8 else 3 if months <= 36 else 6
    ticks = [Tick(x(m), f"{m:%b %Y}" if (m.month - 1) % step == 0 and left + 30 < x(m) < right - 30 else "")
             for m in _month_starts(first, last)]
    axis_y = TIMELINE_TOP + len(lanes) * LANE_HEIGHT + 4
    today_x = x(today) if first <= today <= last else None
    by_host = ", ".join(f"{name} {_plural(counts[name], 'placement')}" for name in sorted(counts))
    description = (
        f"Placements of {_plural(len(lanes), 'apprentice')} ({scope}) from {_day(first)} to {_day(last)}, one row "
        f"per apprentice, each placement coloured and labelled by its host organisation"
        + (f": {by_host}." if by_host else "; there are no placements.")
        + f" {_plural(gaps, 'gap')} with no placement, drawn hatched."
        + (f" Today, {_day(today)}, is marked with a dashed line." if today_x is not None else "")
    )
    return Timeline(
        id=id, title="Placements across boroughs", description=description, width=TIMELINE_WIDTH,
        height=int(axis_y + 48), label_right=LABEL_WIDTH - 8, plot_left=left, plot_right=right,
        plot_top=TIMELINE_TOP, lane_height=LANE_HEIGHT, bar_height=BAR_HEIGHT, axis_y=axis_y, first=first, last=last,
        lanes=drawn, ticks=ticks, today_x=today_x,
        legend=[(name, fills[host_id]) for name, host_id in hosts],
        table_caption=f"Placements and gaps of {scope}",
        table_head=["Apprentice", "Placements and gaps with no placement, in date order"], table_rows=rows,
    )


# The spread of off-the-job progress --------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    x: float
    width: float
    y: float
    height: float
    label: str
    count: int


@dataclass
class Histogram(LabelledFigure):
    id: str
    title: str
    description: str
    width: int
    height: int
    plot_left: float
    plot_right: float
    plot_top: float
    plot_bottom: float
    x_title: str
    y_title: str
    columns: list[Column]
    y_ticks: list[Tick]
    table_caption: str
    table_head: list[str]
    table_rows: list[list[str]]


def progress_histogram(bands: list[tuple[str, int]], *, id: str = "progress-spread",
                       scope: str = "apprentices") -> Histogram:
    """A column per band of approved off-the-job hours as a % of the hours expected by today."""
    width, height = charts.WIDTH, charts.HEIGHT
    left, right = charts.MARGIN_LEFT, width - charts.MARGIN_RIGHT
    top, bottom = charts.MARGIN_TOP + 16, height - charts.MARGIN_BOTTOM
    top_value, step = nice_ceiling(max((count for _label, count in bands), default=0))
    slot = (right - left) / max(len(bands), 1)
    columns = []
    for n, (label, count) in enumerate(bands):
        bar_height = (bottom - top) * count / top_value
        columns.append(Column(round(left + n * slot + slot * 0.15, 1), round(slot * 0.7, 1),
                              round(bottom - bar_height, 1), round(bar_height, 1), label, count))
    total = sum(count for _label, count in bands)
    y_ticks = [Tick(round(bottom - (bottom - top) * step * n / top_value, 1), figure(step * n))
               for n in range(round(top_value / step) + 1)]

    def share(count: int) -> str:
        return "0" if not total else figure(round(100 * count / total, 1))

    spread = "; ".join(f"{label}: {count}" for label, count in bands)
    description = (f"How many of the {_plural(total, 'apprentice')} ({scope}) have approved off-the-job hours in "
                   f"each band of the hours expected by today. {spread}." if total else
                   f"There are no apprentices ({scope}) to show.")
    return Histogram(
        id=id, title="Spread of off-the-job progress", description=description, width=width, height=height,
        plot_left=left, plot_right=right, plot_top=top, plot_bottom=bottom,
        x_title="Approved hours as a % of the hours expected by today", y_title="Apprentices", columns=columns,
        y_ticks=y_ticks, table_caption=f"Apprentices by off-the-job progress ({scope})",
        table_head=["Progress", "Apprentices", "Share (%)"],
        table_rows=[[label, str(count), share(count)] for label, count in bands],
    )


# Completions on a course run ----------------------------------------------------------------------------------


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def completions_chart(days: list[date], *, starts_on: date | None, ends_on: date | None, today: date,
                      taking: int, id: str = "completions-chart") -> charts.LineChart | None:
    """Cumulative completions at the end of each week (weeks begin on Monday), from the run's start (or the
    first completion) to today or the run's end; None before the first week has begun."""
    begin = starts_on or (days[0] if days else today)
    if days:
        begin = min(begin, days[0])
    finish = min(today, ends_on) if ends_on and ends_on >= begin else today
    if days:
        finish = max(finish, days[-1])
    if begin > finish:
        return None
    weeks = []
    week = week_start(begin)
    while week <= finish:
        weeks.append(week)
        week += timedelta(days=7)
    cumulative, done, index = [], 0, 0
    for week in weeks:
        week_end = week + timedelta(days=6)
        while index < len(days) and days[index] <= week_end:
            done += 1
            index += 1
        cumulative.append(done)
    labels = [f"{w:%-d %b}" if w.year == weeks[-1].year else f"{w:%-d %b %Y}" for w in weeks]
    description = (
        f"Cumulative completions on the run, week by week from the week beginning {_day(weeks[0])} to the week "
        f"beginning {_day(weeks[-1])}: {_plural(done, 'person', 'people')} completed, of "
        f"{taking} enrolled or completed."
    )
    chart = charts.line_chart(
        id=id, title="Completions over time", x_labels=labels, series=[charts.Series("Completed", cumulative)],
        x_title="Week beginning", y_title="People completed", description=description,
        table_caption="People completed by the end of each week (cumulative)",
    )
    chart.y_ticks = [tick for tick in chart.y_ticks if "." not in tick.label]  # people come whole
    chart.table_head = ["Week beginning", "Completed that week", "Completed so far"]
    chart.table_rows = [[_day(w), str(cumulative[n] - (cumulative[n - 1] if n else 0)), str(cumulative[n])]
                        for n, w in enumerate(weeks)]
    return chart
