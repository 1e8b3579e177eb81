"""England's apprenticeship funding rules that Pathways applies, as dated rule sets.

The rules change by the apprenticeship's start date, so each rule set is data with the dates it
covers; ``rule_set_for(start)`` picks one. Every figure here is pinned by a test.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from app.models.apprenticeships import ActivityType

# Statutory annual leave (5.6 weeks a year) is not training time: it comes off the weeks the
# off-the-job percentage is applied to.
STATUTORY_LEAVE_WEEKS_PER_YEAR = Decimal("5.6")
WEEKS_PER_YEAR = Decimal("52.143")  # 365 / 7

# What counts as off-the-job training has been the same in every rule set since 2017: new learning of
# the standard's KSBs within paid hours. Reviews, assessment, English and maths up to level 2,
# induction and unpaid-time training never count.
COUNTING_ACTIVITIES = frozenset(
    {
        ActivityType.TEACHING,
        ActivityType.ONLINE_LEARNING,
        ActivityType.SHADOWING,
        ActivityType.MENTORING,
        ActivityType.INDUSTRY_VISIT,
        ActivityType.PRACTICAL_TRAINING,
        ActivityType.ASSIGNMENT,
        ActivityType.LEARNING_SUPPORT,
    }
)

WHY_NOT_COUNTED = {
    ActivityType.PROGRESS_REVIEW: "Progress reviews are part of managing the apprenticeship, not training",
    ActivityType.ASSESSMENT: "On-programme assessment checks learning rather than adding to it",
    ActivityType.ENGLISH_MATHS: "English and maths up to level 2 is funded separately and never counts",
    ActivityType.INDUCTION: "Induction and initial assessment come before training starts",
    ActivityType.OUTSIDE_PAID_HOURS: "Training outside paid hours counts only when time off in lieu is given; "
    "log it on the day the time is given back",
}


@dataclass(frozen=True)
class RuleSet:
    key: str
    name: str
    starts_from: date | None  # first start date covered; None: since the beginning
    starts_until: date | None  # last start date covered; None: still in force
    # Minimum practical period in months for a full-time (30 h/week or more) apprentice.
    minimum_months: int
    # Part-time apprentices (under 30 h/week) have the minimum extended pro rata: months × 30 / hours.
    minimum_extended_for_part_time: bool
    # "percentage": a share of weekly hours (capped or not) across the practical period;
    # "published": the standard's published minimum, never below ``otj_floor_hours``.
    otj_method: str
    otj_percentage: Decimal
    otj_weekly_hours_cap: Decimal | None
    otj_floor_hours: int
    # Review interval: weeks or calendar months.
    review_interval_weeks: int | None
    review_interval_months: int | None
    counting_activities: frozenset

    def covers(self, start: date) -> bool:
        return (self.starts_from is None or start >= self.starts_from) and (
            self.starts_until is None or start <= self.starts_until
        )

    @property
    def review_interval_label(self) -> str:
        if self.review_interval_months:
            return f"every {self.review_interval_months} calendar months"
        return f"every {self.review_interval_weeks} weeks"


RULE_SETS: tuple[RuleSet, ...] = (
    # Starts before 1 August 2022: 20% of paid hours, no cap; minimum 12 months.
    RuleSet(
        key="2017-05",
        name="Starts before 1 August 2022",
        starts_from=None,
        starts_until=date(2022, 7, 31),
        minimum_months=12,
        minimum_extended_for_part_time=True,
        otj_method="percentage",
        otj_percentage=Decimal("0.20"),
        otj_weekly_hours_cap=None,
        otj_floor_hours=0,
        # The rules then asked for "regular" reviews; Pathways schedules them every 12 weeks.
        review_interval_weeks=12,
        review_interval_months=None,
        counting_activities=COUNTING_ACTIVITIES,
    ),
    # Starts 1 August 2022 to 31 July 2025: 20% of contracted hours with weekly hours capped at 30
    # (6 h/week full time); reviews at least every 12 weeks.
    RuleSet(
        key="2022-08",
        name="Starts from 1 August 2022 to 31 July 2025",
        starts_from=date(2022, 8, 1),
        starts_until=date(2025, 7, 31),
        minimum_months=12,
        minimum_extended_for_part_time=True,
        otj_method="percentage",
        otj_percentage=Decimal("0.20"),
        otj_weekly_hours_cap=Decimal(30),
        otj_floor_hours=0,
        review_interval_weeks=12,
        review_interval_months=None,
        counting_activities=COUNTING_ACTIVITIES,
    ),
    # Starts from 1 August 2025: the standard's published minimum hours (reduced only by recorded
    # prior learning, never below 187); minimum 8 months; reviews at least every 3 calendar months.
    RuleSet(
        key="2025-08",
        name="Starts from 1 August 2025",
        starts_from=date(2025, 8, 1),
        starts_until=None,
        minimum_months=8,
        minimum_extended_for_part_time=False,
        otj_method="published",
        otj_percentage=Decimal(0),
        otj_weekly_hours_cap=None,
        otj_floor_hours=187,
        review_interval_weeks=None,
        review_interval_months=3,
        counting_activities=COUNTING_ACTIVITIES,
    ),
)

RULE_SETS_BY_KEY = {r.key: r for r in RULE_SETS}


class RuleError(ValueError):
    """A rule cannot be applied to the figures given; the message says why, for the person."""


def rule_set_for(start: date) -> RuleSet:
    for rule_set in RULE_SETS:
        if rule_set.covers(start):
            return rule_set
    raise RuleError(f"No rule set covers a start on {start:%-d %B %Y}")  # pragma: no cover - sets are contiguous


def add_months(day: date, months: int) -> date:
    """The same day ``months`` calendar months later, clamped to the month's last day."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def minimum_months(rule_set: RuleSet, weekly_hours: Decimal) -> Decimal:
    """The minimum practical period in months, extended pro rata for under 30 hours a week."""
    months = Decimal(rule_set.minimum_months)
    if rule_set.minimum_extended_for_part_time and weekly_hours < 30:
        months = months * 30 / Decimal(weekly_hours)
    return months


def minimum_end(start: date, rule_set: RuleSet, weekly_hours: Decimal) -> date:
    """The earliest date the practical period can end, before any break in learning is added."""
    months = minimum_months(rule_set, weekly_hours)
    whole = int(months)
    end = add_months(start, whole)
    part = months - whole
    if part:
        end += timedelta(days=int((part * Decimal("30.44")).to_integral_value(ROUND_HALF_UP)))
    return end


def practical_weeks(start: date, planned_end: date) -> Decimal:
    return Decimal((planned_end - start).days) / 7


def planned_otj_hours(
    rule_set: RuleSet,
    *,
    start: date,
    planned_end: date,
    weekly_hours: Decimal,
    published_minimum: int | None,
    prior_learning_hours: int = 0,
) -> int:
    """Planned off-the-job hours as the rule set computes them, in whole hours (rounded up)."""
    if rule_set.otj_method == "published":
        if published_minimum is None:
            raise RuleError(
                "This standard version has no published minimum off-the-job hours, which starts from "
                "1 August 2025 need: record it on the standard version first"
            )
        return max(rule_set.otj_floor_hours, published_minimum - prior_learning_hours)
    hours = Decimal(weekly_hours)
    if rule_set.otj_weekly_hours_cap is not None:
        hours = min(hours, rule_set.otj_weekly_hours_cap)
    weeks = practical_weeks(start, planned_end)
    leave = weeks / WEEKS_PER_YEAR * STATUTORY_LEAVE_WEEKS_PER_YEAR
    planned = hours * rule_set.otj_percentage * (weeks - leave) - prior_learning_hours
    return max(rule_set.otj_floor_hours, int(planned.to_integral_value(rounding="ROUND_CEILING")))


def review_due_dates(rule_set: RuleSet, start: date, planned_end: date) -> list[date]:
    """Every review due between the start and the planned end, at the rule set's interval."""
    dues, n = [], 1
    while True:
        if rule_set.review_interval_months:
            due = add_months(start, rule_set.review_interval_months * n)
        else:
            due = start + timedelta(weeks=rule_set.review_interval_weeks * n)
        if due > planned_end:
            return dues
        dues.append(due)
        n += 1


def counts_as_off_the_job(rule_set: RuleSet, activity: ActivityType) -> bool:
    return activity in rule_set.counting_activities
