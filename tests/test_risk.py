"""The daily refresh of risk flags: each rule at its thresholds, the reasons' wording and figures, the statuses
left alone, replacement of old flags, scoped refreshes, and a fixed number of SQL statements."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import count

import pytest
import time_machine
from sqlalchemy import event, func, select

from app.extensions import db
from app.models import (
    ApprenticeshipStatus,
    BreakInLearning,
    EnglishMaths,
    Enrolment,
    EnrolmentStatus,
    KsbProgressLevel,
    LessonProgress,
    OtjStatus,
    ProgressReview,
    ReviewKsbProgress,
    ReviewSignature,
    RiskFlag,
    RiskRating,
    RiskStanding,
    RunKind,
    SigningParty,
)
from app.services import clock, hours, otj_totals, risk
from tests.apprenticeship_factories import (
    make_apprentice,
    make_apprenticeship,
    make_coordinator,
    make_otj,
    make_placement,
    make_standard_version,
    make_supervisor,
)
from tests.conftest import make_person
from tests.course_factories import make_course, make_learner, make_run

# A Monday: the last complete calendar months are October and September 2026. The scenarios below are written
# for this day, so this module sets the clock to it whatever instant the rest of the suite runs at.
TODAY = date(2026, 11, 23)


@pytest.fixture(autouse=True)
def on_the_scenarios_day():
    with time_machine.travel(datetime(2026, 11, 23, 10, tzinfo=clock.LONDON), tick=True):
        yield

# Started 159 days before TODAY, so 160 days have elapsed; with one planned hour for each day of the
# practical period the plan to date is exactly 160 hours.
START = TODAY - timedelta(days=159)
IN_OCTOBER = date(2026, 10, 15)
_numbers = count(1)
RED, AMBER = RiskRating.RED, RiskRating.AMBER


def refresh(**scope) -> dict[str, int]:
    counts = risk.refresh_flags(today=TODAY, **scope)
    db.session.commit()
    return counts


def flags(record) -> dict[str, RiskFlag]:
    return {f.code: f for f in risk.flags_for_apprenticeship(record)}


def ratings(record) -> dict[str, RiskRating]:
    return {code: f.rating for code, f in flags(record).items()}


@pytest.fixture
def version():
    return make_standard_version(knowledge=2, skills=1, behaviours=1)


@pytest.fixture
def supervisor():
    return make_supervisor()


def healthy(version, supervisor, *, hours: Decimal | int = 160, starts_on: date = START, months: int = 24,
            status: ApprenticeshipStatus = ApprenticeshipStatus.ACTIVE, placement: bool = True, email=None):
    """An apprenticeship with nothing wrong: on plan (the whole plan to date approved, dated last month), a
    placement to the planned end, no reviews scheduled."""
    apprentice = make_apprentice(email or f"apprentice-{next(_numbers)}@example.org")
    record = make_apprenticeship(apprentice, standard_version=version, starts_on=starts_on, months=months,
                                 status=status, schedule=False)
    record.planned_otj_hours = (record.planned_end_on - record.starts_on).days + 1
    db.session.commit()
    if placement:
        make_placement(record, supervisor=supervisor, starts_on=record.starts_on, ends_on=record.planned_end_on)
    if hours:
        make_otj(record, on=IN_OCTOBER, minutes=int(Decimal(hours) * 60), status=OtjStatus.APPROVED)
    return record


# Off-the-job hours behind the plan --------------------------------------------------------------


@pytest.mark.parametrize(("minutes", "expected"), [
    (144 * 60, None),  # exactly 90% of the 160 hours expected
    (144 * 60 - 1, AMBER),  # 143.98 hours
    (120 * 60, AMBER),  # exactly 75%
    (120 * 60 - 1, RED),
])
def test_hours_behind_the_plan_are_amber_below_90_percent_and_red_below_75(app_context, version, supervisor,
                                                                             minutes, expected):
    record = healthy(version, supervisor, hours=0)
    make_otj(record, on=IN_OCTOBER, minutes=minutes, status=OtjStatus.APPROVED)
    refresh()
    assert ratings(record).get("otj_behind") == expected


def test_the_hours_behind_reason_gives_the_figures(app_context, version, supervisor):
    record = healthy(version, supervisor, hours=112)
    make_otj(record, on=IN_OCTOBER, minutes=600, status=OtjStatus.SUBMITTED)  # waiting hours do not count
    refresh()
    flag = flags(record)["otj_behind"]
    assert flag.reason == "Off-the-job hours 112 of 160 expected by today (70%): below 75% of the plan"
    assert flag.details == {"approved_hours": 112.0, "expected_hours": 160.0, "planned_hours": record.planned_otj_hours,
                            "percent": 70}
    assert flag.person_id == record.apprentice_id and flag.enrolment_id is None

    make_otj(record, on=IN_OCTOBER, minutes=20 * 60, status=OtjStatus.APPROVED)
    refresh()
    assert flags(record)["otj_behind"].reason == (
        "Off-the-job hours 132 of 160 expected by today (82%): below 90% of the plan")


def test_the_first_four_weeks_are_not_judged_on_hours(app_context, version, supervisor):
    too_early = healthy(version, supervisor, hours=0, starts_on=TODAY - timedelta(days=27))
    judged = healthy(version, supervisor, hours=0, starts_on=TODAY - timedelta(days=28))
    refresh()
    assert "otj_behind" not in flags(too_early)
    assert flags(judged)["otj_behind"].reason == (
        "Off-the-job hours 0 of 29 expected by today (0%): below 75% of the plan")


def test_time_in_a_break_is_not_expected(app_context, version, supervisor):
    # 60 of the 160 days were in a break, which also moves the plan's end on: about 109 hours are expected, so
    # 99 approved is on plan (it would be 62% of 160 without the break).
    record = healthy(version, supervisor, hours=99)
    db.session.add(BreakInLearning(apprenticeship_id=record.id, starts_on=START + timedelta(days=10),
                                   ends_on=START + timedelta(days=69), reason="Illness"))
    db.session.commit()
    refresh()
    assert "otj_behind" not in flags(record)


# A month with no off-the-job hours ---------------------------------------------------------------


def test_a_month_without_approved_hours_is_amber_and_two_are_red(app_context, version, supervisor):
    fine = healthy(version, supervisor)
    last_day = healthy(version, supervisor, hours=0)
    make_otj(last_day, on=date(2026, 10, 31), minutes=160 * 60, status=OtjStatus.APPROVED)
    september_only = healthy(version, supervisor, hours=0)
    make_otj(september_only, on=date(2026, 9, 30), minutes=160 * 60, status=OtjStatus.APPROVED)
    november_only = healthy(version, supervisor, hours=0)
    make_otj(november_only, on=date(2026, 11, 1), minutes=160 * 60, status=OtjStatus.APPROVED)
    waiting = healthy(version, supervisor, hours=0)
    make_otj(waiting, on=date(2026, 9, 10), minutes=160 * 60, status=OtjStatus.APPROVED)
    make_otj(waiting, on=date(2026, 10, 20), minutes=150, status=OtjStatus.SUBMITTED)
    refresh()
    assert "no_otj_month" not in flags(fine)
    assert "no_otj_month" not in flags(last_day)
    amber = flags(september_only)["no_otj_month"]
    assert (amber.rating, amber.reason) == (AMBER, "No approved off-the-job hours dated in October 2026: there "
                                                   "should be active learning every month")
    red = flags(november_only)["no_otj_month"]
    assert (red.rating, red.reason) == (RED, "No approved off-the-job hours dated in September or October 2026: "
                                             "there should be active learning every month")
    assert red.details["months"] == ["2026-09-01", "2026-10-01"]
    assert flags(waiting)["no_otj_month"].reason == (
        "No approved off-the-job hours dated in October 2026: there should be active learning every month "
        "(2.5 hours logged in October wait for approval)")


def test_only_months_live_throughout_and_outside_a_break_count(app_context, version, supervisor):
    started_2_october = healthy(version, supervisor, hours=0, starts_on=date(2026, 10, 2))
    started_1_october = healthy(version, supervisor, hours=0, starts_on=date(2026, 10, 1))
    in_break = healthy(version, supervisor, hours=0)
    db.session.add(BreakInLearning(apprenticeship_id=in_break.id, starts_on=date(2026, 10, 31),
                                   ends_on=date(2026, 11, 5), reason="Illness"))
    break_in_september = healthy(version, supervisor, hours=0)
    db.session.add(BreakInLearning(apprenticeship_id=break_in_september.id, starts_on=date(2026, 9, 1),
                                   ends_on=date(2026, 9, 1), reason="Illness"))
    db.session.commit()
    refresh()
    assert "no_otj_month" not in flags(started_2_october)
    # October was whole, September was not: amber, not red.
    assert flags(started_1_october)["no_otj_month"].rating is AMBER
    assert "no_otj_month" not in flags(in_break)
    assert flags(break_in_september)["no_otj_month"].rating is AMBER


# Progress reviews -------------------------------------------------------------------------------


def _review(record, sequence, *, due_on, held_on=None, signed=(), completed=False):
    review = ProgressReview(apprenticeship_id=record.id, sequence=sequence, due_on=due_on, held_on=held_on,
                            completed_at=datetime.now(UTC) if completed else None)
    db.session.add(review)
    db.session.flush()
    for party in signed:
        signer = make_person(f"{party.value}-{record.id}-{sequence}@example.org")
        db.session.add(ReviewSignature(review_id=review.id, party=party, person_id=signer.id))
    db.session.commit()
    return review


def test_a_review_past_its_due_date_and_not_held_is_red(app_context, version, supervisor):
    overdue = healthy(version, supervisor)
    _review(overdue, 1, due_on=TODAY - timedelta(days=1))
    due_today = healthy(version, supervisor)
    _review(due_today, 1, due_on=TODAY)
    held = healthy(version, supervisor)
    _review(held, 1, due_on=TODAY - timedelta(days=30), held_on=TODAY - timedelta(days=2), completed=True,
            signed=list(SigningParty))
    two = healthy(version, supervisor)
    _review(two, 1, due_on=date(2026, 8, 1))
    _review(two, 2, due_on=date(2026, 11, 1))
    refresh()
    flag = flags(overdue)["review_overdue"]
    assert (flag.rating, flag.reason) == (
        RED, "Progress review 1 was due on 22 November 2026 (1 day ago) and has not been held")
    assert "review_overdue" not in flags(due_today)
    assert "review_overdue" not in flags(held)
    assert flags(two)["review_overdue"].reason == (
        "2 progress reviews have not been held: the first was due on 1 August 2026 (114 days ago)")
    assert flags(two)["review_overdue"].details == {"overdue": 2, "earliest_due_on": "2026-08-01"}


def test_a_review_held_two_weeks_ago_and_not_signed_by_all_three_is_amber(app_context, version, supervisor):
    unsigned = healthy(version, supervisor)
    _review(unsigned, 1, due_on=TODAY - timedelta(days=20), held_on=TODAY - timedelta(days=14),
            signed=[SigningParty.COORDINATOR])
    recent = healthy(version, supervisor)
    _review(recent, 1, due_on=TODAY - timedelta(days=20), held_on=TODAY - timedelta(days=13))
    complete = healthy(version, supervisor)
    _review(complete, 1, due_on=TODAY - timedelta(days=60), held_on=TODAY - timedelta(days=60),
            signed=list(SigningParty), completed=True)
    several = healthy(version, supervisor)
    _review(several, 1, due_on=date(2026, 6, 1), held_on=date(2026, 6, 1), signed=[SigningParty.APPRENTICE,
                                                                                   SigningParty.COORDINATOR])
    _review(several, 2, due_on=date(2026, 9, 1), held_on=date(2026, 9, 1))
    refresh()
    flag = flags(unsigned)["review_unsigned"]
    assert (flag.rating, flag.reason) == (
        AMBER, "Progress review 1, held on 9 November 2026 (14 days ago), still needs signing by the apprentice "
               "and the employer")
    assert flag.details["waiting_for"] == ["apprentice", "employer"]
    assert "review_unsigned" not in flags(recent)
    assert "review_unsigned" not in flags(complete)
    assert flags(several)["review_unsigned"].reason == (
        "Progress review 1, held on 1 June 2026 (175 days ago), still needs signing by the employer; "
        "1 later review also waits")


# Placements -------------------------------------------------------------------------------------


def test_no_placement_today_is_red(app_context, version, supervisor):
    between = healthy(version, supervisor, placement=False)
    make_placement(between, supervisor=supervisor, starts_on=START, ends_on=TODAY - timedelta(days=1))
    make_placement(between, supervisor=supervisor, starts_on=TODAY + timedelta(days=1),
                   ends_on=between.planned_end_on)
    none_at_all = healthy(version, supervisor, placement=False)
    all_ended = healthy(version, supervisor, placement=False)
    make_placement(all_ended, supervisor=supervisor, starts_on=START, ends_on=date(2026, 8, 31))
    make_placement(all_ended, supervisor=supervisor, starts_on=date(2026, 9, 1), ends_on=date(2026, 11, 1))
    ends_today = healthy(version, supervisor, placement=False)
    make_placement(ends_today, supervisor=supervisor, starts_on=START, ends_on=TODAY)
    make_placement(ends_today, supervisor=supervisor, starts_on=TODAY + timedelta(days=1),
                   ends_on=ends_today.planned_end_on)
    refresh()
    flag = flags(between)["no_placement"]
    assert (flag.rating, flag.reason) == (
        RED, "No placement in force today: the last one ended on 22 November 2026 and the next starts on "
             "24 November 2026")
    assert flags(none_at_all)["no_placement"].reason == (
        f"No placement in force today: none is arranged before the planned end on "
        f"{none_at_all.planned_end_on:%-d %B %Y}")
    assert set(flags(none_at_all)) == {"no_placement"}  # not a gap as well
    assert flags(all_ended)["no_placement"].reason == (
        f"No placement in force today: the last one ended on 1 November 2026 and none is arranged before the "
        f"planned end on {all_ended.planned_end_on:%-d %B %Y}")
    assert not {"no_placement", "placement_gap", "placement_ending"} & set(flags(ends_today))


@pytest.mark.parametrize(("ends_in", "expected"), [
    (14, "placement_ending"),  # ends within 14 days, nothing next
    (15, "placement_gap"),  # a gap starting within 90 days
    (89, "placement_gap"),  # the gap starts in 90 days
    (90, None),  # the gap starts in 91 days
])
def test_a_placement_ending_with_nothing_next_and_gaps_ahead(app_context, version, supervisor, ends_in, expected):
    record = healthy(version, supervisor, placement=False)
    make_placement(record, supervisor=supervisor, starts_on=START, ends_on=TODAY + timedelta(days=ends_in))
    refresh()
    placement_flags = {c: r for c, r in ratings(record).items() if c.startswith(("placement", "no_placement"))}
    assert placement_flags == ({expected: AMBER} if expected else {})


def test_placement_reasons_name_the_dates(app_context, version, supervisor):
    ending = healthy(version, supervisor, placement=False)
    make_placement(ending, supervisor=supervisor, host_code="E09000007", starts_on=START,
                   ends_on=TODAY + timedelta(days=7))
    gap = healthy(version, supervisor, placement=False)
    make_placement(gap, supervisor=supervisor, starts_on=START, ends_on=TODAY + timedelta(days=30))
    make_placement(gap, supervisor=supervisor, starts_on=TODAY + timedelta(days=33), ends_on=gap.planned_end_on)
    continues = healthy(version, supervisor, placement=False)
    make_placement(continues, supervisor=supervisor, starts_on=START, ends_on=TODAY + timedelta(days=7))
    make_placement(continues, supervisor=supervisor, starts_on=TODAY + timedelta(days=8),
                   ends_on=continues.planned_end_on)
    refresh()
    assert flags(ending)["placement_ending"].reason == (
        "The placement with London Borough of Camden ends on 30 November 2026 (in 7 days) and no placement starts "
        "on 1 December 2026")
    flag = flags(gap)["placement_gap"]
    assert flag.reason == (f"No placement from 24 December 2026 to 25 December 2026 (2 days), before the planned "
                           f"end on {gap.planned_end_on:%-d %B %Y}")
    assert (flag.details["gap_starts_on"], flag.details["gap_days"]) == ("2026-12-24", 2)
    assert not {"no_placement", "placement_gap", "placement_ending"} & set(flags(continues))


def test_a_last_placement_ending_before_the_planned_end_is_a_gap(app_context, version, supervisor):
    record = healthy(version, supervisor, placement=False, months=8)
    make_placement(record, supervisor=supervisor, starts_on=START, ends_on=record.planned_end_on - timedelta(days=5))
    refresh()
    assert flags(record)["placement_gap"].reason == (
        f"No placement arranged from {record.planned_end_on - timedelta(days=4):%-d %B %Y} to the planned end on "
        f"{record.planned_end_on:%-d %B %Y} (5 days)")


# The planned end near and gateway not ready -----------------------------------------------------


def _ending_in(version, supervisor, days: int):
    """Started long enough ago for the minimum duration, the planned end in ``days``."""
    record = healthy(version, supervisor, placement=False, starts_on=date(2025, 9, 1))
    record.planned_end_on = TODAY + timedelta(days=days)
    db.session.commit()
    make_placement(record, supervisor=supervisor, starts_on=START, ends_on=record.planned_end_on)
    return record


@pytest.mark.parametrize(("days", "expected"), [(91, None), (90, AMBER), (31, AMBER), (30, RED), (-3, RED)])
def test_the_planned_end_near_without_gateway_ready(app_context, version, supervisor, days, expected):
    record = _ending_in(version, supervisor, days)
    refresh()
    assert ratings(record).get("end_near_gateway_not_ready") == expected


def test_the_gateway_reason_says_what_is_missing(app_context, version, supervisor):
    record = _ending_in(version, supervisor, 60)
    record.english_maths = EnglishMaths.REQUIRED
    db.session.commit()
    refresh()
    flag = flags(record)["end_near_gateway_not_ready"]
    assert flag.reason == (
        f"The planned end is 22 January 2027 (in 60 days) and gateway is not ready: the employer has not agreed "
        f"the apprentice is ready; 160 of {record.planned_otj_hours} planned off-the-job hours approved; English "
        f"and maths not yet achieved; 3 of 4 KSBs without evidence")
    assert (flag.details["ksbs"], flag.details["ksbs_evidenced"]) == (4, 1)  # make_otj evidences the first KSB


def test_gateway_ready_by_hours_evidence_and_agreement_gives_no_flag(app_context, version, supervisor):
    ready = _ending_in(version, supervisor, 20)
    ksbs = version.ksbs
    make_otj(ready, on=IN_OCTOBER, minutes=ready.planned_otj_hours * 60, status=OtjStatus.APPROVED,
             ksbs=ksbs[:2])
    # The latest completed review rates the other two KSBs ready; an older one does not count.
    coordinator = make_coordinator()
    older = _review(ready, 1, due_on=date(2026, 8, 1), held_on=date(2026, 8, 1), completed=True)
    latest = _review(ready, 2, due_on=date(2026, 11, 1), held_on=date(2026, 11, 1), completed=True,
                     signed=list(SigningParty))
    for ksb in ksbs[2:]:
        db.session.add(ReviewKsbProgress(review_id=latest.id, ksb_id=ksb.id, level=KsbProgressLevel.READY))
    ready.employer_gateway_agreed_at = datetime.now(UTC)
    ready.employer_gateway_agreed_by_id = coordinator.id
    db.session.commit()

    not_ready = _ending_in(version, supervisor, 20)
    make_otj(not_ready, on=IN_OCTOBER, minutes=not_ready.planned_otj_hours * 60, status=OtjStatus.APPROVED,
             ksbs=ksbs[:2])
    older = _review(not_ready, 1, due_on=date(2026, 8, 1), held_on=date(2026, 8, 1), completed=True)
    for ksb in ksbs[2:]:
        db.session.add(ReviewKsbProgress(review_id=older.id, ksb_id=ksb.id, level=KsbProgressLevel.COMPLETE))
    latest = _review(not_ready, 2, due_on=date(2026, 11, 1), held_on=date(2026, 11, 1), completed=True)
    db.session.add(ReviewKsbProgress(review_id=latest.id, ksb_id=ksbs[2].id, level=KsbProgressLevel.READY))
    db.session.add(ReviewKsbProgress(review_id=latest.id, ksb_id=ksbs[3].id, level=KsbProgressLevel.IN_PROGRESS))
    not_ready.employer_gateway_agreed_at = datetime.now(UTC)
    db.session.commit()
    refresh()
    assert "end_near_gateway_not_ready" not in flags(ready)
    assert flags(not_ready)["end_near_gateway_not_ready"].reason.endswith(
        "gateway is not ready: 1 of 4 KSBs without evidence")


def test_a_planned_end_before_the_minimum_duration_is_named(app_context, version, supervisor):
    record = healthy(version, supervisor, placement=False, starts_on=date(2026, 8, 1), months=8)
    record.planned_end_on = date(2027, 2, 1)  # six months: under the eight-month minimum for 2025-08 starts
    db.session.commit()
    refresh()
    assert "the minimum practical period ends on 1 April 2027, after the planned end" in (
        flags(record)["end_near_gateway_not_ready"].reason)


# Statuses ---------------------------------------------------------------------------------------


def _troubled(version, status):
    """Behind on hours, no placement, a review overdue and one unsigned, the planned end near."""
    record = make_apprenticeship(make_apprentice(f"troubled-{status.value}@example.org"), standard_version=version,
                                 starts_on=START, status=status, schedule=False)
    record.planned_end_on = TODAY + timedelta(days=10)
    db.session.commit()
    _review(record, 1, due_on=TODAY - timedelta(days=40), held_on=TODAY - timedelta(days=40))
    _review(record, 2, due_on=TODAY - timedelta(days=5))
    return record


def test_only_live_apprenticeships_are_flagged_and_gateway_only_for_unsigned_reviews(app_context, version):
    records = {status: _troubled(version, status) for status in ApprenticeshipStatus}
    refresh()
    assert set(flags(records[ApprenticeshipStatus.ACTIVE])) == {
        "otj_behind", "no_otj_month", "review_overdue", "review_unsigned", "no_placement",
        "end_near_gateway_not_ready"}
    for status in (ApprenticeshipStatus.GATEWAY, ApprenticeshipStatus.END_POINT_ASSESSMENT):
        assert set(flags(records[status])) == {"review_unsigned"}
    for status in (ApprenticeshipStatus.BREAK_IN_LEARNING, ApprenticeshipStatus.WITHDRAWN,
                   ApprenticeshipStatus.COMPLETED):
        assert flags(records[status]) == {}


# Course enrolments ------------------------------------------------------------------------------


def _enrolment(run, *, enrolled_days_ago: int, status=EnrolmentStatus.ENROLLED):
    enrolled_at = datetime(TODAY.year, TODAY.month, TODAY.day, 12, tzinfo=UTC) - timedelta(days=enrolled_days_ago)
    enrolment = Enrolment(run_id=run.id, person_id=make_learner().id, status=status, created_at=enrolled_at,
                          enrolled_at=enrolled_at)
    db.session.add(enrolment)
    db.session.commit()
    return enrolment


def _flags_of(enrolment) -> dict[str, RiskFlag]:
    return {f.code: f for f in risk.flags_for_enrolment(enrolment)}


def test_an_enrolment_not_started_after_two_weeks_is_amber(app_context):
    course = make_course(lessons=2)
    run = make_run(course, kind=RunKind.SELF_PACED)
    idle = _enrolment(run, enrolled_days_ago=14)
    recent = _enrolment(run, enrolled_days_ago=13)
    started = _enrolment(run, enrolled_days_ago=30)
    db.session.add(LessonProgress(enrolment_id=started.id, lesson_id=course.lessons[0].id))
    completed = _enrolment(run, enrolled_days_ago=30, status=EnrolmentStatus.COMPLETED)
    withdrawn = _enrolment(run, enrolled_days_ago=30, status=EnrolmentStatus.WITHDRAWN)
    scheduled = make_run(course, name="Autumn")
    scheduled.starts_on, scheduled.ends_on = TODAY - timedelta(days=10), TODAY + timedelta(days=60)
    early_bird = _enrolment(scheduled, enrolled_days_ago=40)  # the run itself started only 10 days ago
    begun = make_run(course, name="Winter")
    begun.starts_on, begun.ends_on = TODAY - timedelta(days=14), TODAY + timedelta(days=60)
    waited = _enrolment(begun, enrolled_days_ago=40)
    db.session.commit()
    counts = refresh()
    flag = _flags_of(idle)["not_started"]
    assert (flag.rating, flag.person_id) == (AMBER, idle.person_id)
    assert flag.reason == ("Leading digital change (Spring) not started: enrolled on 9 November 2026 (14 days ago) "
                           "and no lesson opened yet")
    assert _flags_of(waited)["not_started"].reason == (
        "Leading digital change (Winter) not started: the run started on 9 November 2026 (14 days ago) and no "
        "lesson opened yet")
    for quiet in (recent, started, completed, withdrawn, early_bird):
        assert _flags_of(quiet) == {}
    assert counts["enrolments"] == 5  # the enrolled ones


@pytest.mark.parametrize(("ends_in", "expected"), [(8, None), (7, AMBER), (3, AMBER), (2, RED), (-1, RED)])
def test_a_run_ending_soon_with_the_course_not_complete(app_context, ends_in, expected):
    run = make_run(make_course(), starts_in=-20, days=20 + ends_in)
    enrolment = _enrolment(run, enrolled_days_ago=1)
    refresh()
    flag = _flags_of(enrolment).get("deadline_near")
    assert (flag.rating if flag else None) == expected


def test_the_deadline_reason(app_context):
    run = make_run(make_course(), starts_in=-20, days=20 + 5)
    run.ends_on = TODAY + timedelta(days=5)
    ended = make_run(make_course("digital-basics", title="Digital basics"), name="Summer", starts_in=-60, days=10)
    ended.ends_on = TODAY - timedelta(days=3)
    db.session.commit()
    soon, late = _enrolment(run, enrolled_days_ago=1), _enrolment(ended, enrolled_days_ago=1)
    refresh()
    assert _flags_of(soon)["deadline_near"].reason == (
        "Leading digital change (Spring) ends on 28 November 2026 (in 5 days) and the course is not complete")
    assert _flags_of(late)["deadline_near"].reason == (
        "Digital basics (Summer) ended on 20 November 2026 (3 days ago) and the course is not complete")


# The refresh ------------------------------------------------------------------------------------


def test_a_refresh_replaces_the_old_flags_and_counts_them(app_context, version, supervisor):
    assert risk.last_refreshed() is None
    behind = healthy(version, supervisor, hours=130)
    later_withdrawn = healthy(version, supervisor, hours=0)
    counts = refresh()
    assert counts == {"apprenticeships": 2, "enrolments": 0, "red": 2, "amber": 1, "flags": 3, "standings": 2}
    assert ratings(later_withdrawn) == {"otj_behind": RED, "no_otj_month": RED}
    first = risk.last_refreshed()
    assert first is not None

    make_otj(behind, on=IN_OCTOBER, minutes=30 * 60, status=OtjStatus.APPROVED)
    later_withdrawn.status = ApprenticeshipStatus.WITHDRAWN
    db.session.commit()
    counts = refresh()
    # The withdrawn apprenticeship is no longer checked, but keeps a (green) standing for the review pages.
    assert counts == {"apprenticeships": 1, "enrolments": 0, "red": 0, "amber": 0, "flags": 0, "standings": 2}
    assert db.session.scalar(select(func.count()).select_from(RiskFlag)) == 0
    assert flags(behind) == {} and flags(later_withdrawn) == {}


def test_a_scoped_refresh_touches_only_the_given_records(app_context, version, supervisor):
    one, other = healthy(version, supervisor, hours=100), healthy(version, supervisor, hours=100)
    run = make_run(make_course(), starts_in=-20, days=21)
    enrolment = _enrolment(run, enrolled_days_ago=1)
    refresh()
    assert "otj_behind" in flags(one) and "otj_behind" in flags(other) and "deadline_near" in _flags_of(enrolment)

    for record in (one, other):
        make_otj(record, on=IN_OCTOBER, minutes=60 * 60, status=OtjStatus.APPROVED)
    enrolment.status = EnrolmentStatus.COMPLETED
    db.session.commit()
    counts = refresh(apprenticeship_ids=[one.id])
    assert (counts["apprenticeships"], counts["enrolments"]) == (1, 0)
    assert flags(one) == {}
    assert "otj_behind" in flags(other)  # not refreshed: still as found before
    assert "deadline_near" in _flags_of(enrolment)

    refresh(enrolment_ids=[enrolment.id])
    assert _flags_of(enrolment) == {} and "otj_behind" in flags(other)


def test_worst_and_the_labels():
    assert risk.worst([]) is RiskRating.GREEN
    assert risk.worst([RiskRating.AMBER, "red"]) is RiskRating.RED
    assert risk.worst(["amber", RiskRating.GREEN]) is RiskRating.AMBER
    assert set(risk.CODES) == set(risk.RULES) == {
        "otj_behind", "no_otj_month", "review_overdue", "review_unsigned", "no_placement", "placement_gap",
        "placement_ending", "end_near_gateway_not_ready", "not_started", "deadline_near"}


def _population(version, supervisor, n: int):
    """``n`` apprenticeships (and enrolments) between them raising every kind of flag."""
    run = make_run(make_course(f"course-{n}", title=f"Course {n}"), starts_in=-30, days=32)
    for i in range(n):
        record = healthy(version, supervisor, hours=100 if i % 2 else 0, placement=False,
                         email=f"population-{n}-{i}@example.org")
        make_placement(record, supervisor=supervisor, starts_on=START, ends_on=TODAY + timedelta(days=10 + i))
        _review(record, 1, due_on=TODAY - timedelta(days=40), held_on=TODAY - timedelta(days=40))
        _review(record, 2, due_on=TODAY - timedelta(days=5))
        if i % 3 == 0:
            record.planned_end_on = TODAY + timedelta(days=40)
            db.session.add(BreakInLearning(apprenticeship_id=record.id, starts_on=START, ends_on=START,
                                           reason="A day off sick"))
        _enrolment(run, enrolled_days_ago=20)
    db.session.commit()


def _statements_for_a_refresh() -> tuple[int, dict[str, int]]:
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        counts = risk.refresh_flags(today=TODAY)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    db.session.commit()
    return len(statements), counts


def test_a_refresh_takes_the_same_number_of_statements_for_3_or_30_apprenticeships(app_context, version,
                                                                                     supervisor):
    _population(version, supervisor, 3)
    few, few_counts = _statements_for_a_refresh()
    _population(version, supervisor, 27)
    many, many_counts = _statements_for_a_refresh()
    assert (few_counts["apprenticeships"], many_counts["apprenticeships"]) == (3, 30)
    assert many_counts["flags"] > few_counts["flags"] * 5
    # Nine selects, a DELETE and an INSERT each for the flags and the standings, then for the review rows two
    # selects (the records and their placements), and a DELETE and an INSERT each for the rows and their scope;
    # on PostgreSQL first the lock that keeps two refreshes from running at once.
    assert few == many == 19 + (db.engine.dialect.name == "postgresql")


# Standings --------------------------------------------------------------------------------------


def _standing(**owner) -> RiskStanding | None:
    (column, value), = owner.items()
    return db.session.scalar(select(RiskStanding).where(getattr(RiskStanding, column) == value))


def test_a_refresh_writes_a_standing_for_every_apprenticeship_and_enrolment(app_context, version, supervisor):
    behind = healthy(version, supervisor, hours=100)  # 100 of 160 hours expected: red and no hours last month
    on_plan = healthy(version, supervisor, hours=160)
    withdrawn = healthy(version, supervisor, hours=40, status=ApprenticeshipStatus.WITHDRAWN)
    run = make_run(make_course(), starts_in=-20, days=21)
    ending = _enrolment(run, enrolled_days_ago=1)
    completed = _enrolment(run, enrolled_days_ago=30, status=EnrolmentStatus.COMPLETED)
    counts = refresh()
    assert counts["standings"] == 5 and (counts["apprenticeships"], counts["enrolments"]) == (2, 1)

    red = _standing(apprenticeship_id=behind.id)
    assert (red.rating, red.rating_rank, red.flag_count) == (RED, 0, len(flags(behind)))
    assert (red.approved_hours, red.expected_hours, red.percent_of_expected) == (Decimal(100), Decimal(160), 62)
    assert red.person_id == behind.apprentice_id and red.found_at == risk.last_refreshed()
    green = _standing(apprenticeship_id=on_plan.id)
    assert (green.rating, green.rating_rank, green.flag_count, green.percent_of_expected) == (
        RiskRating.GREEN, 2, 0, 100)
    # Not checked against the rules, but listed on the review pages with its progress.
    assert (_standing(apprenticeship_id=withdrawn.id).rating, _standing(apprenticeship_id=withdrawn.id)
            .approved_hours) == (RiskRating.GREEN, Decimal(40))
    assert (_standing(enrolment_id=ending.id).rating, _standing(enrolment_id=ending.id).percent_of_expected) == (
        RED, None)
    assert _standing(enrolment_id=completed.id).rating is RiskRating.GREEN

    # A scoped refresh replaces only the given standings.
    make_otj(behind, on=IN_OCTOBER, minutes=60 * 60, status=OtjStatus.APPROVED)
    db.session.commit()
    refresh(apprenticeship_ids=[behind.id])
    assert _standing(apprenticeship_id=behind.id).rating is RiskRating.GREEN
    assert _standing(apprenticeship_id=behind.id).approved_hours == Decimal(160)
    assert _standing(enrolment_id=ending.id).rating is RED
    assert db.session.scalar(select(func.count()).select_from(RiskStanding)) == 5


def test_hours_in_reasons_are_rounded_as_everywhere(app_context, version, supervisor):
    # 100 hours approved of a plan of 1,000 over the period: the plan to date has a fraction of an hour.
    record = healthy(version, supervisor, hours=0)
    record.planned_otj_hours = 1000
    db.session.commit()
    make_otj(record, on=IN_OCTOBER, minutes=100 * 60 + 1, status=OtjStatus.APPROVED)  # 100.0166... hours
    refresh()
    expected = otj_totals.expected_hours(record, TODAY)
    reason = flags(record)["otj_behind"].reason
    assert reason.startswith(f"Off-the-job hours 100.02 of {hours.text(expected)} expected by today")
    standing = _standing(apprenticeship_id=record.id)
    assert standing.approved_hours == Decimal("100.02") and standing.expected_hours == expected
    assert hours.text(standing.expected_hours) in reason


def test_hours_are_shown_one_way():
    assert [hours.text(v) for v in ("466.465", "466.47", Decimal("400.00"), 0, "0.75", 1250.5)] == [
        "466.47", "466.47", "400", "0", "0.75", "1250.5"]
    assert hours.text("1250.50", grouping=True) == "1,250.5"
    assert hours.rounded("466.465") == Decimal("466.47")  # half up, not to even
    assert hours.rounded(None) is None and hours.text(None) == ""
    assert hours.from_minutes(45) == Decimal("0.75") and hours.from_minutes(1) == Decimal("0.02")
    assert hours.from_minutes(None) == Decimal("0.00")
    assert hours.figure(Decimal("400.00")) == 400 and isinstance(hours.figure(Decimal("400.00")), int)
    assert hours.figure(Decimal("466.466")) == 466.47 and hours.figure(None) is None


def test_a_refresh_on_postgresql_holds_a_lock_that_keeps_a_second_refresh_waiting(app_context, version,
                                                                                    supervisor):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite lets one writer at a time anyway")
    healthy(version, supervisor)
    risk.refresh_flags(today=TODAY)  # not committed yet: the lock is held
    try_lock = select(func.pg_try_advisory_xact_lock(risk.REFRESH_LOCK_KEY))
    with db.engine.connect() as other:
        assert other.scalar(try_lock) is False  # a second refresh would wait here
        other.rollback()
        db.session.commit()
        assert other.scalar(try_lock) is True
        other.rollback()


def test_a_refresh_of_a_few_records_on_postgresql_waits_only_for_those_records(app_context, version, supervisor):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite lets one writer at a time anyway")
    one, other = healthy(version, supervisor), healthy(version, supervisor)
    risk.refresh_flags(today=TODAY, apprenticeship_ids=[one.id])  # after a change to one record: not committed
    key = risk.REFRESH_LOCK_KEY
    with db.engine.connect() as elsewhere:
        # Another record's refresh goes ahead; the same record's, or everyone's, would wait.
        assert elsewhere.scalar(select(func.pg_try_advisory_xact_lock_shared(key))) is True
        assert elsewhere.scalar(select(func.pg_try_advisory_xact_lock(key, other.id))) is True
        assert elsewhere.scalar(select(func.pg_try_advisory_xact_lock(key, one.id))) is False
        elsewhere.rollback()
        assert elsewhere.scalar(select(func.pg_try_advisory_xact_lock(key))) is False
        elsewhere.rollback()
        db.session.commit()
        assert elsewhere.scalar(select(func.pg_try_advisory_xact_lock(key))) is True
        elsewhere.rollback()
