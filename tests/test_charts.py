"""Server-drawn SVG charts: the figures they are built from, what they say in words, and markup that the
content security policy allows."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from flask import render_template_string

from app import charts


def month_points(n: int, *, start: date = date(2025, 9, 1), approved_step: str = "10", plan_step: str = "12.5"):
    points = []
    for i in range(n):
        year, month = start.year + (start.month - 1 + i) // 12, (start.month - 1 + i) % 12 + 1
        points.append({"month": date(year, month, 1), "as_of": date(year, month, 28),
                       "approved_hours": Decimal(approved_step) * (i + 1),
                       "expected_hours": Decimal(plan_step) * (i + 1)})
    return points


@pytest.mark.parametrize("maximum, top, step", [
    (0, 5, 1), (3, 5, 1), (9.5, 10, 2), (437, 500, 100), (120, 125, 25), (1531, 2500, 500), (100, 100, 20),
])
def test_the_y_axis_ends_on_a_round_number(maximum, top, step):
    assert charts.nice_ceiling(maximum) == (top, step)


def test_figures_lose_needless_decimals():
    assert [charts.figure(v) for v in (0, 12, Decimal("12.50"), 12.25, 1250.5, -0.0)] == \
        ["0", "12", "12.5", "12.25", "1,250.5", "0"]


def test_every_series_needs_a_value_per_label():
    with pytest.raises(ValueError):
        charts.line_chart(id="c", title="T", x_labels=["a", "b"], series=[charts.Series("S", [1])], x_title="X",
                          y_title="Y")


def test_the_cumulative_chart_of_off_the_job_hours():
    chart = charts.otj_cumulative_chart(month_points(4), planned_hours=400)

    assert chart.title == "Approved off-the-job hours against the plan"
    assert [(s.name, s.dashed) for s in chart.series] == [("Approved", False), ("Plan", True)]
    assert chart.description == (
        "Cumulative approved off-the-job hours against the plan, month by month from Sep 2025 to Dec 2025. "
        "By 28 December 2025: 40 hours approved against 50 hours planned by then, out of 400 hours planned in all.")
    assert chart.table_head == ["Month", "Approved (hours)", "Plan (hours)"]
    assert chart.table_rows[0] == ["Sep 2025", "10", "12.5"] and chart.table_rows[-1] == ["Dec 2025", "40", "50"]
    assert [t.label for t in chart.x_ticks] == ["Sep 2025", "Oct 2025", "Nov 2025", "Dec 2025"]
    assert [t.label for t in chart.y_ticks] == ["0", "10", "20", "30", "40", "50"]
    # The highest value reaches the top of the plot; the first month starts at the left edge.
    plan = chart.series[1]
    assert plan.points[-1] == (chart.plot_right, chart.plot_top)
    assert plan.points[0][0] == chart.plot_left
    assert plan.path.startswith("M64.0,") and plan.path.count("L") == 3


def test_no_chart_before_the_first_month():
    assert charts.otj_cumulative_chart([]) is None


def test_one_month_sits_in_the_middle():
    chart = charts.otj_cumulative_chart(month_points(1))
    assert chart.series[0].points[0][0] == (chart.plot_left + chart.plot_right) / 2


def test_long_apprenticeships_label_about_a_dozen_months():
    chart = charts.otj_cumulative_chart(month_points(48))
    labels = [t.label for t in chart.x_ticks]
    assert len(labels) <= 13
    assert labels[0] == "Sep 2025" and labels[-1] == "Aug 2029"
    assert len(chart.table_rows) == 48  # the table still has every month


def test_a_chart_with_nothing_approved_yet():
    points = month_points(3, approved_step="0", plan_step="0")
    chart = charts.otj_cumulative_chart(points)
    assert [t.label for t in chart.y_ticks][-1] == "5"
    assert all(y == chart.plot_bottom for _, y in chart.series[0].points)


def test_the_drawing_is_accessible_and_has_no_inline_styles(app_context):
    chart = charts.otj_cumulative_chart(month_points(6), planned_hours=400)
    html = render_template_string('{% from "components/line_chart.html" import line_chart %}{{ line_chart(chart) }}',
                                  chart=chart)

    assert re.search(r'<svg class="app-chart__svg"[^>]*role="img"[^>]*aria-labelledby="otj-chart-title otj-chart-desc"',
                     html)
    assert '<title id="otj-chart-title">Approved off-the-job hours against the plan</title>' in html
    assert "<desc id=\"otj-chart-desc\">Cumulative approved off-the-job hours" in html
    assert ">Month</text>" in html and ">Hours</text>" in html and ">Feb 2026</text>" in html
    assert html.count('stroke-dasharray="10 6"') == 2  # the plan line and its key
    assert "Approved (solid line with dots)" in html and "Plan (dashed line)" in html
    assert "Show the figures as a table" in html
    assert '<caption class="govuk-table__caption govuk-table__caption--s">Cumulative off-the-job hours at the end of ' \
           'each month</caption>' in html
    assert '<th scope="row" class="govuk-table__header">Feb 2026</th>' in html
    assert "style=" not in html and "<script" not in html


def test_a_generic_line_chart_describes_its_latest_values():
    chart = charts.line_chart(id="cohort", title="Apprentices", x_labels=["Jan 2026", "Feb 2026"],
                              series=[charts.Series("On track", [3, 5]), charts.Series("Behind", [2, 1], dashed=True)],
                              x_title="Month", y_title="Apprentices")
    assert chart.description == ("Apprentices by month, from Jan 2026 to Feb 2026. Latest, Feb 2026: On track: 5; "
                                 "Behind: 1.")
    assert chart.table_head == ["Month", "On track", "Behind"]
    assert chart.series[0].colour != chart.series[1].colour
