"""Pictures of a cohort, drawn on the server as inline SVG in the house style of ``app/charts.py``: no script, no
inline styles, readable without colour, each with a title, a description in words and its figures as a table.

- ``placements_timeline``: one lane per apprentice, a bar per placement coloured and labelled by host
  organisation, gaps hatched, today marked;
- ``progress_histogram``: how many apprentices fall in each band of off-the-job progress;
- ``completions_chart``: cumulative completions on a course run, week by week (a ``charts.line_chart``).

The timeline and the histogram write their own markup (``markup()``: the drawing, its key and the figures as a
table), as the review table's rows do: a page of 50 apprentices has hundreds of bars and table cells, and a
template loop costs several times more for the same markup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import NamedTuple

from markupsafe import Markup

from app import charts
from app.charts import LabelledFigure, Tick, figure, nice_ceiling

# Fills for host organisations: each takes white text at 4.5:1 or more; bars carry their host's name as well.
HOST_FILLS = ("#1d70b8", "#00703c", "#4c2c92", "#d4351c", "#003078", "#505a5f", "#912b88", "#0b0c0c")
BOROUGH_PREFIXES = ("London Borough of ", "Royal Borough of ")
CHARACTER_WIDTH = 7.2  # roughly, at font-size 13


def html_text(value) -> str:
    """``value`` as text safe inside markup (as ``markupsafe.escape`` writes it, the same characters with the same
    entities, without making a ``Markup``). Five replacements, each a no-op on most names, cost a sixth of one
    ``str.translate`` through a table, which looks every character up: a review page escapes hundreds of texts."""
    return (str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;")
            .replace("'", "&#39;"))


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


# Tuples rather than dataclasses: a page makes hundreds of them.
class PlacementSpan(NamedTuple):
    starts_on: date
    ends_on: date
    host_id: int
    host: str


class ApprenticeLane(NamedTuple):
    name: str
    starts_on: date
    ends_on: date
    placements: list[PlacementSpan]


class Bar(NamedTuple):
    x: float
    width: float
    fill: str | None  # None for a gap
    label: str | None

    @property
    def gap(self) -> bool:
        return self.fill is None


class Lane(NamedTuple):
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

    def lanes_markup(self) -> str:
        """The lanes as SVG."""
        hatch, bar_height, label_right = f"url(#{html_text(self.id)}-hatch)", self.bar_height, self.label_right
        out = []
        for n, lane in enumerate(self.lanes, start=1):
            y = lane.y
            out.append(f'<g data-lane="{n}">\n<text x="{label_right}" y="{y + bar_height - 5}" '
                       f'text-anchor="end" fill="#0b0c0c">{html_text(lane.label)}</text>\n')
            for bar in lane.bars:
                if bar.fill is None:
                    out.append(f'<rect data-segment="gap" x="{bar.x}" y="{y}" width="{bar.width}" '
                               f'height="{bar_height}" fill="{hatch}" stroke="#505a5f" stroke-width="1" '
                               'stroke-dasharray="4 2"/>\n')
                else:
                    out.append(f'<rect data-segment="placement" x="{bar.x}" y="{y}" width="{bar.width}" '
                               f'height="{bar_height}" fill="{bar.fill}" stroke="#ffffff" stroke-width="1"/>\n')
                    if bar.label:
                        out.append(f'<text x="{round(bar.x + 4, 1)}" y="{y + bar_height - 6}" fill="#ffffff">'
                                   f'{html_text(bar.label)}</text>\n')
            out.append("</g>\n")
        return "".join(out)

    def table_rows_markup(self) -> str:
        """The figures table's body: a row an apprentice (their name the row header) listing their placements
        and gaps in date order."""
        return "".join(
            f'<tr class="govuk-table__row"><th scope="row" class="govuk-table__header">{html_text(name)}</th>'
            '<td class="govuk-table__cell"><ul class="govuk-list govuk-!-font-size-16 govuk-!-margin-bottom-0">'
            + "".join(f"<li>{html_text(segment)}</li>" for segment in segments) + "</ul></td></tr>\n"
            for name, segments in self.table_rows)

    def markup(self) -> Markup:
        """The whole picture: the drawing (role img, named by its title and description), its key, and its
        figures as a table in a details element."""
        cid = html_text(self.id)
        top, axis_y = self.plot_top, self.axis_y
        out = [
            f'<figure class="app-chart" id="{cid}">\n<svg viewBox="0 0 {self.width} {self.height}" width="100%" '
            'preserveAspectRatio="xMinYMin meet" role="img" '
            f'aria-labelledby="{cid}-title {cid}-desc" focusable="false" xmlns="http://www.w3.org/2000/svg" '
            'font-family="system-ui, -apple-system, &#39;Segoe UI&#39;, Roboto, Helvetica, Arial, sans-serif" '
            f'font-size="13">\n<title id="{cid}-title">{html_text(self.title)}</title>\n'
            f'<desc id="{cid}-desc">{html_text(self.description)}</desc>\n'
            f'<defs>\n<pattern id="{cid}-hatch" width="8" height="8" patternUnits="userSpaceOnUse" '
            'patternTransform="rotate(45)">\n<rect width="8" height="8" fill="#ffffff"/>\n'
            '<line x1="0" y1="0" x2="0" y2="8" stroke="#b1b4b6" stroke-width="3"/>\n</pattern>\n</defs>\n',
        ]
        out += [f'<line x1="{t.position}" x2="{t.position}" y1="{top - 4}" y2="{axis_y}" stroke="#f3f2f1" '
                'stroke-width="1"/>\n' for t in self.ticks]
        out.append(self.lanes_markup())
        out.append(f'<line x1="{self.plot_left}" x2="{self.plot_right}" y1="{axis_y}" y2="{axis_y}" '
                   'stroke="#0b0c0c" stroke-width="1"/>\n')
        for t in self.ticks:
            out.append(f'<line x1="{t.position}" x2="{t.position}" y1="{axis_y}" '
                       f'y2="{axis_y + (8 if t.label else 4)}" stroke="#0b0c0c" stroke-width="1"/>\n')
            if t.label:
                out.append(f'<text x="{t.position}" y="{axis_y + 24}" text-anchor="middle" fill="#0b0c0c">'
                           f'{html_text(t.label)}</text>\n')
        if self.today_x is not None:
            out.append(f'<line x1="{self.today_x}" x2="{self.today_x}" y1="{top - 8}" y2="{axis_y}" '
                       'stroke="#0b0c0c" stroke-width="2" stroke-dasharray="5 3"/>\n'
                       f'<text x="{self.today_x}" y="{top - 12}" text-anchor="middle" fill="#0b0c0c" '
                       'font-weight="bold">Today</text>\n')
        out.append('</svg>\n<div class="app-chart__legend">\n<span class="govuk-visually-hidden">Key: </span>\n'
                   '<ul class="govuk-list app-chart__key">\n')
        swatch = ('<svg class="app-chart__swatch" width="24" height="14" viewBox="0 0 24 14" aria-hidden="true" '
                  'focusable="false">')
        out += [f'<li class="app-chart__key-item">{swatch}<rect width="24" height="14" fill="{fill}"/></svg> '
                f'{html_text(name)}</li>\n' for name, fill in self.legend]
        out.append(f'<li class="app-chart__key-item">{swatch}<rect x="1" y="1" width="22" height="12" '
                   f'fill="url(#{cid}-hatch)" stroke="#505a5f" stroke-dasharray="4 2"/></svg> No placement (hatched)'
                   f'</li>\n<li class="app-chart__key-item">{swatch}<line x1="12" x2="12" y1="0" y2="14" '
                   'stroke="#0b0c0c" stroke-width="2" stroke-dasharray="5 3"/></svg> Today (dashed line)</li>\n'
                   '</ul>\n</div>\n</figure>\n')
        out.append(_figures_table(self, self.table_rows_markup()))
        return Markup("".join(out))  # noqa: S704 - every text is escaped by html_text; the rest are numbers


def _figures_table(chart, body: str) -> str:
    """A picture's figures as a table, in a details element under the picture."""
    cid = html_text(chart.id)
    head = "".join(f'<th scope="col" class="govuk-table__header">{html_text(h)}</th>' for h in chart.table_head)
    return (f'<details class="govuk-details" id="{cid}-figures">\n<summary class="govuk-details__summary">'
            '<span class="govuk-details__summary-text">Show the figures as a table</span></summary>\n'
            '<div class="govuk-details__text">\n<table class="govuk-table govuk-!-font-size-16">\n'
            f'<caption class="govuk-table__caption govuk-table__caption--s">{html_text(chart.table_caption)}'
            f'</caption>\n<thead class="govuk-table__head"><tr class="govuk-table__row">{head}</tr></thead>\n'
            f'<tbody class="govuk-table__body">\n{body}</tbody>\n</table>\n</div>\n</details>\n')


TIMELINE_WIDTH, LABEL_WIDTH, TIMELINE_RIGHT_MARGIN = 960, 190, 12
LANE_HEIGHT, BAR_HEIGHT, TIMELINE_TOP = 28, 20, 28


def _month_starts(first: date, last: date):
    month = date(first.year, first.month, 1)
    while month <= last:
        if month >= first:
            yield month
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _segments(lane: ApprenticeLane) -> list[tuple[int, int, PlacementSpan | None]]:
    """The lane's placements clipped to the apprenticeship, and the gaps between, in date order: (first day,
    last day, placement or None for a gap), the days as ordinals."""
    first, last = lane.starts_on.toordinal(), lane.ends_on.toordinal()
    cursor, found = first, []
    for p in sorted(lane.placements, key=lambda p: (p.starts_on, p.ends_on)):
        starts_on, ends_on = p.starts_on.toordinal(), min(p.ends_on.toordinal(), last)
        if ends_on < cursor:
            continue
        if starts_on > cursor:
            found.append((cursor, starts_on - 1, None))
        found.append((max(starts_on, cursor), ends_on, p))
        cursor = ends_on + 1
    if cursor <= last:
        found.append((cursor, last, None))
    return found


@lru_cache(maxsize=8192)
def _day_of(ordinal: int) -> str:
    return _day(date.fromordinal(ordinal))


def placements_timeline(lanes: list[ApprenticeLane], today: date, *, id: str = "placements-timeline",
                        scope: str = "the apprentices listed") -> Timeline | None:
    """One lane per apprentice from the earliest start to the latest end; None with no apprentices."""
    if not lanes:
        return None
    first = min(lane.starts_on for lane in lanes)
    last = max(lane.ends_on for lane in lanes)
    origin = first.toordinal()
    left, right = LABEL_WIDTH, TIMELINE_WIDTH - TIMELINE_RIGHT_MARGIN
    scale = (right - left) / (last.toordinal() - origin + 1)
    hosts = sorted({(short_name(p.host), p.host_id) for lane in lanes for p in lane.placements})
    fills = {host_id: HOST_FILLS[n % len(HOST_FILLS)] for n, (_name, host_id) in enumerate(hosts)}

    def x(day: date) -> float:
        return round(left + (day.toordinal() - origin) * scale, 1)

    drawn, rows, gaps, counts = [], [], 0, {}
    day = _day_of
    for n, lane in enumerate(lanes):
        bars, segments = [], []
        for starts_on, ends_on, placement in _segments(lane):
            start_x = round(left + (starts_on - origin) * scale, 1)
            width = round(left + (ends_on + 1 - origin) * scale, 1) - start_x
            width = round(width, 1) if width > 1 else 1
            days = ends_on + 1 - starts_on
            when = f"{day(starts_on)} to {day(ends_on)} ({days} day{'' if days == 1 else 's'})"
            if placement is None:
                gaps += 1
                bars.append(Bar(start_x, width, None, None))
                segments.append(f"No placement: {when}")
            else:
                name = short_name(placement.host)
                counts[name] = counts.get(name, 0) + 1
                bars.append(Bar(start_x, width, fills[placement.host_id], _fit(name, width - 8)))
                segments.append(f"{placement.host}: {when}")
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

    def markup(self) -> Markup:
        """The drawing (role img, named by its title and description) and its figures as a table."""
        cid = html_text(self.id)
        left, right, top, bottom = self.plot_left, self.plot_right, self.plot_top, self.plot_bottom
        out = [f'<figure class="app-chart" id="{cid}">\n<svg class="app-chart__svg" '
               f'viewBox="0 0 {self.width} {self.height}" width="{self.width}" height="{self.height}" role="img" '
               f'aria-labelledby="{cid}-title {cid}-desc" focusable="false" xmlns="http://www.w3.org/2000/svg">\n'
               f'<title id="{cid}-title">{html_text(self.title)}</title>\n'
               f'<desc id="{cid}-desc">{html_text(self.description)}</desc>\n<g class="app-chart__grid">\n']
        for tick in self.y_ticks:
            out.append(f'<line x1="{left}" x2="{right}" y1="{tick.position}" y2="{tick.position}" stroke="#b1b4b6" '
                       f'stroke-width="1"/>\n<text x="{left - 8}" y="{round(tick.position + 5, 1)}" '
                       f'text-anchor="end" font-size="14" fill="#0b0c0c">{html_text(tick.label)}</text>\n')
        out.append("</g>\n")
        for column in self.columns:
            middle = round(column.x + column.width / 2, 2)
            label = html_text(column.label)
            out.append(f'<g data-band="{label}">\n<rect x="{column.x}" y="{column.y}" width="{column.width}" '
                       f'height="{column.height}" fill="#1d70b8"/>\n<text x="{middle}" '
                       f'y="{round(column.y - 6, 1)}" text-anchor="middle" font-size="14" font-weight="bold" '
                       f'fill="#0b0c0c">{column.count}</text>\n<text x="{middle}" y="{bottom + 22}" '
                       f'text-anchor="middle" font-size="14" fill="#0b0c0c">{label}</text>\n</g>\n')
        out.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{bottom}" stroke="#0b0c0c" stroke-width="1"/>\n'
                   f'<line x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}" stroke="#0b0c0c" stroke-width="1"/>\n'
                   f'<text x="{(left + right) / 2}" y="{self.height - 6}" text-anchor="middle" font-size="14" '
                   f'font-weight="bold" fill="#0b0c0c">{html_text(self.x_title)}</text>\n'
                   f'<text transform="rotate(-90)" x="{-(top + bottom) / 2}" y="16" text-anchor="middle" '
                   f'font-size="14" font-weight="bold" fill="#0b0c0c">{html_text(self.y_title)}</text>\n'
                   '</svg>\n</figure>\n')
        body = "".join(
            '<tr class="govuk-table__row">'
            + "".join(f'<th scope="row" class="govuk-table__header">{html_text(cell)}</th>' if n == 0 else
                      f'<td class="govuk-table__cell">{html_text(cell)}</td>' for n, cell in enumerate(row))
            + "</tr>\n" for row in self.table_rows)
        out.append(_figures_table(self, body))
        return Markup("".join(out))  # noqa: S704 - every text is escaped by html_text; the rest are numbers


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
