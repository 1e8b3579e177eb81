"""England's apprenticeship rules as Pathways applies them, pinned figure by figure with worked examples.

Each rule set covers the apprenticeships starting in its dates: before 1 August 2022 ("2017-05"),
1 August 2022 to 31 July 2025 ("2022-08"), and from 1 August 2025 ("2025-08").
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from app.models import ActivityType
from app.services import apprenticeship_rules as rules
from app.services.apprenticeship_rules import RULE_SETS_BY_KEY, RuleError

BEFORE_2022 = RULE_SETS_BY_KEY["2017-05"]
FROM_2022 = RULE_SETS_BY_KEY["2022-08"]
FROM_2025 = RULE_SETS_BY_KEY["2025-08"]


def planned(rule_set, start, end, weekly_hours, published=None, prior=0):
    return rules.planned_otj_hours(rule_set, start=start, planned_end=end, weekly_hours=Decimal(weekly_hours),
                                   published_minimum=published, prior_learning_hours=prior)


# Choosing the rule set by start date ------------------------------------------------------------


@pytest.mark.parametrize(("start", "key"), [
    (date(2017, 5, 1), "2017-05"),
    (date(2022, 7, 31), "2017-05"),
    (date(2022, 8, 1), "2022-08"),
    (date(2025, 7, 31), "2022-08"),
    (date(2025, 8, 1), "2025-08"),
    (date(2031, 1, 1), "2025-08"),
])
def test_the_rule_set_is_chosen_by_the_start_date(start, key):
    assert rules.rule_set_for(start).key == key


def test_the_rule_sets_cover_every_start_date_without_gaps_or_overlaps():
    sets = rules.RULE_SETS
    assert sets[0].starts_from is None and sets[-1].starts_until is None
    for earlier, later in zip(sets, sets[1:], strict=False):
        assert (later.starts_from - earlier.starts_until).days == 1
    assert set(RULE_SETS_BY_KEY) == {"2017-05", "2022-08", "2025-08"}


def test_each_rule_set_is_named_by_its_dates():
    assert BEFORE_2022.name == "Starts before 1 August 2022"
    assert FROM_2022.name == "Starts from 1 August 2022 to 31 July 2025"
    assert FROM_2025.name == "Starts from 1 August 2025"
    assert (FROM_2022.starts_from, FROM_2022.starts_until) == (date(2022, 8, 1), date(2025, 7, 31))
    assert FROM_2025.starts_from == date(2025, 8, 1)


# Minimum practical period -------------------------------------------------------------------------


@pytest.mark.parametrize("rule_set", [BEFORE_2022, FROM_2022])
def test_before_august_2025_the_minimum_is_twelve_months_at_thirty_hours_or_more(rule_set):
    for hours in ("30", "37", "48"):
        assert rules.minimum_months(rule_set, Decimal(hours)) == 12
    assert rules.minimum_end(date(2023, 9, 1), rule_set, Decimal(37)) == date(2024, 9, 1)


@pytest.mark.parametrize("rule_set", [BEFORE_2022, FROM_2022])
def test_before_august_2025_part_time_extends_the_minimum_pro_rata(rule_set):
    # 12 × 30 / hours months.
    assert rules.minimum_months(rule_set, Decimal(20)) == 18
    assert rules.minimum_months(rule_set, Decimal(16)) == Decimal("22.5")
    assert rules.minimum_months(rule_set, Decimal(15)) == 24
    assert rules.minimum_end(date(2021, 9, 1), rule_set, Decimal(20)) == date(2023, 3, 1)
    assert rules.minimum_end(date(2021, 9, 1), rule_set, Decimal(15)) == date(2023, 9, 1)
    # A part month is added as days of an average month (30.44 days): half a month is 15 days.
    assert rules.minimum_end(date(2021, 9, 1), rule_set, Decimal(16)) == date(2023, 7, 16)
    # 29.5 hours: 12.2 months, 6 days past the twelve months.
    assert rules.minimum_end(date(2021, 9, 1), rule_set, Decimal("29.5")) == date(2022, 9, 7)


def test_from_august_2025_the_minimum_is_eight_months_whatever_the_hours():
    assert FROM_2025.minimum_extended_for_part_time is False
    for hours in ("10", "20", "29.5", "30", "37"):
        assert rules.minimum_months(FROM_2025, Decimal(hours)) == 8
    assert rules.minimum_end(date(2025, 9, 1), FROM_2025, Decimal(20)) == date(2026, 5, 1)


def test_the_minimum_end_is_clamped_to_the_end_of_a_shorter_month():
    assert rules.minimum_end(date(2025, 8, 31), FROM_2025, Decimal(37)) == date(2026, 4, 30)
    assert rules.minimum_end(date(2024, 2, 29), FROM_2022, Decimal(37)) == date(2025, 2, 28)


def test_the_boundary_day_changes_the_minimum():
    assert rules.minimum_end(date(2025, 7, 31), rules.rule_set_for(date(2025, 7, 31)), Decimal(37)) == date(2026, 7, 31)
    assert rules.minimum_end(date(2025, 8, 1), rules.rule_set_for(date(2025, 8, 1)), Decimal(37)) == date(2026, 4, 1)


# Planned off-the-job hours ------------------------------------------------------------------------
# A year from 1 September 2021 is 365 days: 52.14 weeks, less 5.6 weeks of statutory leave = 46.54 weeks.


def test_before_august_2022_planned_hours_are_twenty_percent_of_all_paid_hours_net_of_leave():
    start, end = date(2021, 9, 1), date(2022, 9, 1)
    assert planned(BEFORE_2022, start, end, "37") == 345  # 37 × 20% × 46.54 = 344.4, rounded up
    assert planned(BEFORE_2022, start, end, "40") == 373  # no cap: 40 × 20% × 46.54 = 372.3
    assert planned(BEFORE_2022, start, end, "30") == 280  # 279.3
    assert planned(BEFORE_2022, start, end, "20") == 187  # 186.2
    assert planned(BEFORE_2022, start, date(2023, 9, 1), "37") == 689  # two years: 93.09 weeks


def test_before_august_2022_prior_learning_comes_off_the_plan():
    start, end = date(2021, 9, 1), date(2022, 9, 1)
    assert planned(BEFORE_2022, start, end, "37", prior=45) == 300  # 344.4 − 45 = 299.4, rounded up
    assert planned(BEFORE_2022, start, end, "37", prior=400) == 0  # never below nothing


def test_from_august_2022_weekly_hours_are_capped_at_thirty():
    assert FROM_2022.otj_weekly_hours_cap == 30 and FROM_2022.otj_percentage == Decimal("0.20")
    start, end = date(2022, 9, 1), date(2023, 9, 1)  # 365 days
    # Full time: 6 hours a week whatever the contract says.
    assert planned(FROM_2022, start, end, "30") == 280
    assert planned(FROM_2022, start, end, "37") == 280
    assert planned(FROM_2022, start, end, "48") == 280
    # Part time: 20% of the actual hours.
    assert planned(FROM_2022, start, end, "20") == 187
    assert planned(FROM_2022, start, end, "16") == 149  # 148.9
    # A leap year has a day more: 366 days give 280.02 hours, rounded up.
    assert planned(FROM_2022, date(2023, 9, 1), date(2024, 9, 1), "37") == 281
    assert planned(FROM_2022, start, end, "37", prior=80) == 200  # 279.3 − 80


def test_the_same_contract_plans_more_hours_before_august_2022_than_after():
    assert planned(rules.rule_set_for(date(2022, 7, 31)), date(2022, 7, 31), date(2023, 7, 31), "37") == 345
    assert planned(rules.rule_set_for(date(2022, 8, 1)), date(2022, 8, 1), date(2023, 8, 1), "37") == 280


def test_from_august_2025_planned_hours_are_the_standards_published_minimum():
    start, end = date(2025, 9, 1), date(2027, 3, 1)
    assert planned(FROM_2025, start, end, "37", published=326) == 326
    # Hours and dates make no difference.
    assert planned(FROM_2025, start, date(2026, 5, 1), "20", published=326) == 326
    assert planned(FROM_2025, start, end, "37", published=1531) == 1531


def test_from_august_2025_prior_learning_reduces_the_minimum_but_never_below_187():
    start, end = date(2025, 9, 1), date(2027, 3, 1)
    assert planned(FROM_2025, start, end, "37", published=326, prior=100) == 226
    assert planned(FROM_2025, start, end, "37", published=326, prior=139) == 187
    assert planned(FROM_2025, start, end, "37", published=326, prior=200) == 187
    assert planned(FROM_2025, start, end, "37", published=150) == 187


def test_from_august_2025_a_standard_without_a_published_minimum_cannot_be_planned():
    with pytest.raises(RuleError, match="no published minimum off-the-job hours"):
        planned(FROM_2025, date(2025, 9, 1), date(2027, 3, 1), "37", published=None)


def test_a_published_minimum_is_ignored_before_august_2025():
    start, end = date(2024, 9, 1), date(2025, 9, 1)
    assert planned(FROM_2022, start, end, "37", published=999) == planned(FROM_2022, start, end, "37")


# Progress reviews -----------------------------------------------------------------------------


@pytest.mark.parametrize("rule_set", [BEFORE_2022, FROM_2022])
def test_before_august_2025_reviews_are_due_every_twelve_weeks(rule_set):
    assert rule_set.review_interval_label == "every 12 weeks"
    assert rules.review_due_dates(rule_set, date(2023, 9, 1), date(2024, 9, 1)) == [
        date(2023, 11, 24), date(2024, 2, 16), date(2024, 5, 10), date(2024, 8, 2)]


def test_from_august_2025_reviews_are_due_every_three_calendar_months():
    assert FROM_2025.review_interval_label == "every 3 calendar months"
    assert rules.review_due_dates(FROM_2025, date(2025, 9, 1), date(2026, 9, 1)) == [
        date(2025, 12, 1), date(2026, 3, 1), date(2026, 6, 1), date(2026, 9, 1)]


def test_three_monthly_reviews_clamp_to_the_month_end_without_drifting():
    # From 30 November: 28 February, then back to the 30th (counted from the start, not the last review).
    assert rules.review_due_dates(FROM_2025, date(2025, 11, 30), date(2026, 11, 30)) == [
        date(2026, 2, 28), date(2026, 5, 30), date(2026, 8, 30), date(2026, 11, 30)]
    assert rules.review_due_dates(FROM_2025, date(2025, 8, 31), date(2026, 6, 1)) == [
        date(2025, 11, 30), date(2026, 2, 28), date(2026, 5, 31)]


def test_no_review_is_scheduled_after_the_planned_end():
    assert rules.review_due_dates(FROM_2025, date(2025, 9, 1), date(2025, 11, 30)) == []
    assert rules.review_due_dates(FROM_2022, date(2023, 9, 1), date(2023, 11, 23)) == []
    assert rules.review_due_dates(FROM_2022, date(2023, 9, 1), date(2023, 11, 24)) == [date(2023, 11, 24)]


@pytest.mark.parametrize(("day", "months", "expected"), [
    (date(2025, 1, 31), 1, date(2025, 2, 28)),
    (date(2028, 1, 31), 1, date(2028, 2, 29)),
    (date(2025, 11, 15), 3, date(2026, 2, 15)),
    (date(2025, 12, 31), 12, date(2026, 12, 31)),
    (date(2025, 5, 31), 13, date(2026, 6, 30)),
])
def test_add_months_keeps_the_day_or_clamps_it(day, months, expected):
    assert rules.add_months(day, months) == expected


# What counts as off-the-job training ------------------------------------------------------------

COUNTING = {
    ActivityType.TEACHING, ActivityType.ONLINE_LEARNING, ActivityType.SHADOWING, ActivityType.MENTORING,
    ActivityType.INDUSTRY_VISIT, ActivityType.PRACTICAL_TRAINING, ActivityType.ASSIGNMENT,
    ActivityType.LEARNING_SUPPORT,
}
NOT_COUNTING = {
    ActivityType.PROGRESS_REVIEW, ActivityType.ASSESSMENT, ActivityType.ENGLISH_MATHS, ActivityType.INDUCTION,
    ActivityType.OUTSIDE_PAID_HOURS,
}


@pytest.mark.parametrize("rule_set", [BEFORE_2022, FROM_2022, FROM_2025])
def test_which_activities_count_as_off_the_job_in_every_rule_set(rule_set):
    assert set(ActivityType) == COUNTING | NOT_COUNTING
    assert not COUNTING & NOT_COUNTING
    for activity in COUNTING:
        assert rules.counts_as_off_the_job(rule_set, activity), activity
    for activity in NOT_COUNTING:
        assert not rules.counts_as_off_the_job(rule_set, activity), activity


def test_every_activity_that_does_not_count_says_why():
    assert set(rules.WHY_NOT_COUNTED) == NOT_COUNTING
    assert all(reason.strip() for reason in rules.WHY_NOT_COUNTED.values())
    assert "funded separately" in rules.WHY_NOT_COUNTED[ActivityType.ENGLISH_MATHS]
    assert "time off in lieu" in rules.WHY_NOT_COUNTED[ActivityType.OUTSIDE_PAID_HOURS]
