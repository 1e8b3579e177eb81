"""Off-the-job hours on the apprenticeship record: the totals and chart, logging hours (by the apprentice or a
coordinator on their behalf), and every refusal, with its message beside the field it concerns."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import (
    ActivityType,
    ApprenticeshipStatus,
    AuditEvent,
    BreakInLearning,
    OtjActivity,
    OtjStatus,
)
from app.services import clock
from tests.apprenticeship_factories import (
    make_apprentice,
    make_apprenticeship,
    make_coordinator,
    make_otj,
    make_placement,
    make_standard_version,
    make_supervisor,
)
from tests.conftest import post_form, sign_in
from tests.pages import field_error, html_of, page_title, text_of

TOWER_HAMLETS = "E09000030"


def days_ago(n: int) -> date:
    return clock.today() - timedelta(days=n)


def date_parts(day: date) -> list[str]:
    return [str(day.day), str(day.month), str(day.year)]


def log_form(apprenticeship, *, on: date | None = None, hours: str = "2", minutes: str = "0",
             activity_type: str = "teaching", description: str = "Workshop on unit testing with pytest",
             ksbs=None, **extra) -> dict:
    ksbs = apprenticeship.standard_version.ksbs[:1] if ksbs is None else ksbs
    data = {"occurred_on": date_parts(on or days_ago(1)), "hours": hours, "minutes": minutes,
            "activity_type": activity_type, "description": description, "ksb_ids": [str(k.id) for k in ksbs]}
    data.update(extra)
    return data


def activities() -> list[OtjActivity]:
    db.session.expire_all()
    return list(db.session.scalars(select(OtjActivity).order_by(OtjActivity.id)))


@pytest.fixture
def record():
    """An apprentice 200 days into a two-year apprenticeship, on one placement since the start."""
    apprentice = make_apprentice()
    apprenticeship = make_apprenticeship(apprentice, standard_version=make_standard_version())
    supervisor = make_supervisor()
    placement = make_placement(apprenticeship, supervisor=supervisor)
    return apprenticeship, apprentice, supervisor, placement


def log_path(apprenticeship) -> str:
    return f"/apprenticeships/{apprenticeship.id}/off-the-job/new"


def page_path(apprenticeship) -> str:
    return f"/apprenticeships/{apprenticeship.id}/off-the-job"


# The page -----------------------------------------------------------------------------------------


def test_the_page_shows_totals_chart_and_entries(client, record):
    apprenticeship, apprentice, supervisor, _ = record
    make_otj(apprenticeship, on=days_ago(150), minutes=180, status=OtjStatus.APPROVED)
    make_otj(apprenticeship, on=days_ago(20), minutes=90, status=OtjStatus.APPROVED)
    make_otj(apprenticeship, on=days_ago(2), minutes=45)
    sign_in(client, apprentice)

    page = client.get(page_path(apprenticeship))

    assert page.status_code == 200
    assert page_title(page) == f"Off-the-job hours: {apprentice.name} – Pathways"
    text = text_of(page)
    assert "Approved 4.5 hours" in text
    assert f"Planned in all {apprenticeship.planned_otj_hours} hours" in text
    assert "Waiting for approval 0.75 hours" in text
    assert "Expected by" in text and "Behind the plan by" in text
    html = html_of(page)
    assert '<svg class="app-chart__svg"' in html and 'role="img"' in html
    assert "<title id=\"otj-chart-title\">Approved off-the-job hours against the plan</title>" in html
    assert "4.5 hours approved against" in html  # the description gives the latest values
    assert 'stroke-dasharray="10 6"' in html  # the plan is dashed
    assert "Show the figures as a table" in text
    assert "style=" not in html.split('<main')[1]  # no inline styles: the CSP forbids them
    assert "3 entries, newest first" in text
    assert "Log off-the-job hours" in text


def test_the_entries_are_paginated_and_filtered_by_status(client, record):
    apprenticeship, apprentice, *_ = record
    for n in range(30):
        make_otj(apprenticeship, on=days_ago(n + 1), minutes=60, description=f"Session {n}")
    make_otj(apprenticeship, on=days_ago(40), minutes=60, status=OtjStatus.REJECTED, description="Too vague")
    sign_in(client, apprentice)

    first = text_of(client.get(page_path(apprenticeship)))
    assert "31 entries, newest first" in first and "Showing 1 to 25 of 31" in first
    assert "Showing 26 to 31 of 31" in text_of(client.get(page_path(apprenticeship) + "?page=2"))
    rejected = text_of(client.get(page_path(apprenticeship) + "?status=rejected"))
    assert "1 entry rejected" in rejected and "Too vague" in rejected and "Session 3" not in rejected


@pytest.mark.parametrize("who", ["another apprentice", "an unrelated supervisor", "a coordinator of another borough"])
def test_people_outside_the_record_cannot_see_its_hours(client, record, who):
    apprenticeship, *_ = record
    outsider = {
        "another apprentice": lambda: make_apprentice("other@example.org", name="Olu Other"),
        "an unrelated supervisor": lambda: make_placement(make_apprenticeship(), supervisor=make_supervisor(
            "other-supervisor@example.org")).supervisor,
        "a coordinator of another borough": lambda: make_coordinator(
            "th@example.org", scope=(TOWER_HAMLETS,), organisation_code=TOWER_HAMLETS),
    }[who]()
    activity = make_otj(apprenticeship)
    sign_in(client, outsider)

    assert client.get(page_path(apprenticeship)).status_code == 404
    assert client.get(log_path(apprenticeship)).status_code == 404
    assert client.get(f"{page_path(apprenticeship)}/{activity.id}").status_code == 404


def test_a_supervisor_sees_the_hours_but_cannot_log_them(client, record):
    apprenticeship, _, supervisor, _ = record
    sign_in(client, supervisor)
    page = client.get(page_path(apprenticeship))
    assert page.status_code == 200
    assert "Log off-the-job hours" not in text_of(page)
    assert client.get(log_path(apprenticeship)).status_code == 403


# Logging -----------------------------------------------------------------------------------------


def test_an_apprentice_logs_hours_with_the_placement_of_that_day(client, record):
    apprenticeship, apprentice, _, placement = record
    ksbs = apprenticeship.standard_version.ksbs
    sign_in(client, apprentice)
    page = client.get(log_path(apprenticeship))
    assert page.status_code == 200
    assert page_title(page) == "Log off-the-job hours – Pathways"
    text = text_of(page)
    assert "Knowledge" in text and "Skills" in text and "Behaviours" in text
    assert "Does not count as off-the-job training. Progress reviews are part of managing" in text
    assert "up to 10 MB" in text

    response = post_form(client, log_path(apprenticeship), log_form(apprenticeship, hours="1", minutes="30",
                                                                   ksbs=[ksbs[0], ksbs[3]]))

    assert response.status_code == 302
    assert response.headers["Location"] == page_path(apprenticeship)
    [activity] = activities()
    assert (activity.occurred_on, activity.minutes, activity.activity_type, activity.status) == (
        days_ago(1), 90, ActivityType.TEACHING, OtjStatus.SUBMITTED)
    assert activity.placement_id == placement.id
    assert activity.logged_by_id == apprentice.id
    assert [k.code for k in activity.ksbs] == ["K1", "S1"]
    assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.subject_type == "otjactivity",
                                                             AuditEvent.subject_id == activity.id)) == "otj.logged"
    assert "Off-the-job hours logged: 1 hour 30 minutes on" in text_of(client.get(page_path(apprenticeship)))


def test_the_placement_is_the_one_in_force_that_day(client):
    apprentice = make_apprentice()
    apprenticeship = make_apprenticeship(apprentice, standard_version=make_standard_version())
    first = make_placement(apprenticeship, ends_on=days_ago(101))
    second = make_placement(apprenticeship, starts_on=days_ago(100))
    sign_in(client, apprentice)

    post_form(client, log_path(apprenticeship), log_form(apprenticeship, on=days_ago(150)))
    post_form(client, log_path(apprenticeship), log_form(apprenticeship, on=days_ago(100)))
    post_form(client, log_path(apprenticeship), log_form(apprenticeship, on=days_ago(101)))

    assert [a.placement_id for a in activities()] == [first.id, second.id, first.id]


def test_hours_on_a_day_without_a_placement_have_none(client):
    apprentice = make_apprentice()
    apprenticeship = make_apprenticeship(apprentice, standard_version=make_standard_version())
    make_placement(apprenticeship, starts_on=days_ago(50))
    sign_in(client, apprentice)
    post_form(client, log_path(apprenticeship), log_form(apprenticeship, on=days_ago(60)))
    assert activities()[0].placement_id is None


def test_a_coordinator_logs_hours_on_behalf_of_the_apprentice(client, record):
    apprenticeship, apprentice, *_ = record
    coordinator = make_coordinator()
    sign_in(client, coordinator)
    assert "on behalf of Ada Apprentice" in text_of(client.get(log_path(apprenticeship)))

    response = post_form(client, log_path(apprenticeship), log_form(apprenticeship))

    assert response.status_code == 302
    [activity] = activities()
    assert activity.logged_by_id == coordinator.id
    assert activity.apprenticeship_id == apprenticeship.id
    page = text_of(client.get(f"{page_path(apprenticeship)}/{activity.id}"))
    assert "by Cora Coordinator, on behalf of Ada Apprentice" in page


def test_a_coordinator_of_another_borough_cannot_log(client, record):
    apprenticeship, *_ = record
    sign_in(client, make_coordinator("th@example.org", scope=(TOWER_HAMLETS,), organisation_code=TOWER_HAMLETS))
    assert post_form(client, log_path(apprenticeship), log_form(apprenticeship),
                     token_from="/").status_code == 404
    assert activities() == []


# Refusals ----------------------------------------------------------------------------------------


def refused(client, apprenticeship, field: str, **overrides) -> str:
    response = post_form(client, log_path(apprenticeship), log_form(apprenticeship, **overrides))
    assert response.status_code == 400, response.status_code
    assert "There is a problem" in text_of(response)
    assert page_title(response).startswith("Error: ")
    message = field_error(response, field)
    assert message, f"no error beside {field}: {text_of(response)[:1500]}"
    return message


def test_a_future_date_is_refused(client, record):
    apprenticeship, apprentice, *_ = record
    sign_in(client, apprentice)
    message = refused(client, apprenticeship, "occurred_on", on=clock.today() + timedelta(days=1))
    assert message == "The date cannot be in the future: log hours once the learning has happened"
    assert activities() == []


def test_a_date_before_the_start_is_refused_naming_the_dates(client, record):
    apprenticeship, apprentice, *_ = record
    sign_in(client, apprentice)
    message = refused(client, apprenticeship, "occurred_on", on=apprenticeship.starts_on - timedelta(days=1))
    assert message == (f"The date must be between {apprenticeship.starts_on:%-d %B %Y} and "
                       f"{apprenticeship.planned_end_on:%-d %B %Y}, the dates of the apprenticeship")


def test_a_date_after_the_actual_end_is_refused(client, record):
    apprenticeship, apprentice, *_ = record
    apprenticeship.actual_end_on = days_ago(10)
    db.session.commit()
    sign_in(client, apprentice)
    message = refused(client, apprenticeship, "occurred_on", on=days_ago(5))
    assert f"and {days_ago(10):%-d %B %Y}, the dates of the apprenticeship" in message


def test_a_date_inside_a_break_in_learning_is_refused_naming_the_break(client, record):
    apprenticeship, apprentice, *_ = record
    db.session.add(BreakInLearning(apprenticeship_id=apprenticeship.id, starts_on=days_ago(60), ends_on=days_ago(30),
                                   reason="Illness"))
    db.session.add(BreakInLearning(apprenticeship_id=apprenticeship.id, starts_on=days_ago(5), ends_on=None,
                                   reason="Caring"))
    db.session.commit()
    sign_in(client, apprentice)

    message = refused(client, apprenticeship, "occurred_on", on=days_ago(45))
    assert message == (f"{days_ago(45):%-d %B %Y} is inside the break in learning that started on "
                       f"{days_ago(60):%-d %B %Y} to {days_ago(30):%-d %B %Y}: no hours can be logged during a break")
    message = refused(client, apprenticeship, "occurred_on", on=days_ago(1))
    assert "is not over yet" in message
    # Between the breaks is fine.
    assert post_form(client, log_path(apprenticeship), log_form(apprenticeship, on=days_ago(20))).status_code == 302


@pytest.mark.parametrize("status", [ApprenticeshipStatus.WITHDRAWN, ApprenticeshipStatus.COMPLETED])
def test_no_hours_once_withdrawn_or_completed(client, status):
    apprentice = make_apprentice()
    apprenticeship = make_apprenticeship(apprentice, standard_version=make_standard_version(), status=status)
    sign_in(client, apprentice)
    page = text_of(client.get(log_path(apprenticeship)))
    closed = "was withdrawn" if status is ApprenticeshipStatus.WITHDRAWN else "has been completed"
    assert f"This apprenticeship {closed}, so no more off-the-job hours can be logged" in page
    record_page = client.get(page_path(apprenticeship))
    assert f'href="{log_path(apprenticeship)}"' not in html_of(record_page)
    assert "no more off-the-job hours can be logged" in text_of(record_page)
    response = post_form(client, log_path(apprenticeship), log_form(apprenticeship))
    assert response.status_code == 400
    assert activities() == []


def test_the_service_refuses_hours_after_withdrawal(app_context):
    from app.services import ServiceError
    from app.services import off_the_job as otj

    apprentice = make_apprentice()
    apprenticeship = make_apprenticeship(apprentice, standard_version=make_standard_version(),
                                         status=ApprenticeshipStatus.WITHDRAWN)
    with pytest.raises(ServiceError, match="was withdrawn, so no more off-the-job hours can be logged"):
        otj.log_activity(apprentice, apprenticeship, occurred_on=days_ago(1), minutes=60, activity_type="teaching",
                         description="Learning", ksb_ids=[apprenticeship.standard_version.ksbs[0].id])


@pytest.mark.parametrize("activity_type, why", [
    ("progress_review", "Progress reviews are part of managing the apprenticeship, not training"),
    ("english_maths", "English and maths up to level 2 is funded separately and never counts"),
    ("induction", "Induction and initial assessment come before training starts"),
    ("assessment", "On-programme assessment checks learning rather than adding to it"),
    ("outside_paid_hours", "Training outside paid hours counts only when time off in lieu is given"),
])
def test_an_activity_that_does_not_count_is_refused_with_the_reason(client, record, activity_type, why):
    apprenticeship, apprentice, *_ = record
    sign_in(client, apprentice)
    message = refused(client, apprenticeship, "activity_type", activity_type=activity_type)
    assert message.startswith(f"{ActivityType(activity_type).label} does not count as off-the-job training. {why}")


def test_no_activity_type_is_refused(client, record):
    apprenticeship, apprentice, *_ = record
    sign_in(client, apprentice)
    assert refused(client, apprenticeship, "activity_type", activity_type="") == "Select the type of activity"


def test_no_ksb_is_refused(client, record):
    apprenticeship, apprentice, *_ = record
    sign_in(client, apprentice)
    message = refused(client, apprenticeship, "ksb_ids", ksbs=[])
    assert message == "Select at least one knowledge, skill or behaviour this activity built"


def test_a_ksb_of_another_standard_is_refused_naming_its_code(client, record):
    apprenticeship, apprentice, *_ = record
    other = make_standard_version("ST0118", title="Data analyst", version="1.0")
    sign_in(client, apprentice)
    foreign_k2 = other.ksbs[1]
    message = refused(client, apprenticeship, "ksb_ids", ksbs=[apprenticeship.standard_version.ksbs[0], foreign_k2])
    own = apprenticeship.standard_version
    assert message == (f"K2 of ST0118 v1.0 is not a KSB of this apprenticeship's standard "
                       f"({own.standard.reference} v{own.version}): select KSBs of Software developer only")
    assert activities() == []


@pytest.mark.parametrize("hours, minutes, message", [
    ("0", "0", "Enter how long the activity took, in hours and minutes"),
    ("", "", "Enter how long the activity took, in hours and minutes"),
    ("-1", "0", "Hours must be a whole number, like 30"),
    ("25", "0", "Hours must be 24 or fewer"),
])
def test_a_missing_or_bad_duration_is_refused(client, record, hours, minutes, message):
    apprenticeship, apprentice, *_ = record
    sign_in(client, apprentice)
    assert refused(client, apprenticeship, "hours", hours=hours, minutes=minutes) == message


def test_minutes_over_59_are_refused(client, record):
    apprenticeship, apprentice, *_ = record
    sign_in(client, apprentice)
    assert refused(client, apprenticeship, "minutes", hours="1", minutes="75") == \
        "Minutes must be 59 or fewer: enter whole hours in the hours box"


def test_the_service_refuses_zero_or_negative_minutes(app_context, record):
    from app.services import ServiceError
    from app.services import off_the_job as otj

    apprenticeship, apprentice, *_ = record
    for minutes in (0, -30):
        with pytest.raises(ServiceError, match="more than 0 minutes") as refusal:
            otj.log_activity(apprentice, apprenticeship, occurred_on=days_ago(1), minutes=minutes,
                             activity_type="teaching", description="Learning",
                             ksb_ids=[apprenticeship.standard_version.ksbs[0].id])
        assert refusal.value.field == "minutes"


def test_a_description_is_required_and_limited(client, record):
    apprenticeship, apprentice, *_ = record
    sign_in(client, apprentice)
    assert refused(client, apprenticeship, "description", description="   ") == \
        "Describe what you did and what you learnt"
    assert refused(client, apprenticeship, "description", description="x" * 2001) == \
        "The description must be 2,000 characters or fewer"


def test_more_than_a_working_day_is_refused(client, record):
    apprenticeship, apprentice, *_ = record
    sign_in(client, apprentice)
    message = refused(client, apprenticeship, "hours", hours="9", minutes="0")
    assert message == "No more than 8 hours can be logged for one day: log each day's learning on its own day"


def test_the_day_limit_counts_earlier_entries_of_that_day(client, record):
    apprenticeship, apprentice, *_ = record
    make_otj(apprenticeship, on=days_ago(3), minutes=300, description="Morning course")
    make_otj(apprenticeship, on=days_ago(3), minutes=90, status=OtjStatus.APPROVED, description="Afternoon")
    make_otj(apprenticeship, on=days_ago(3), minutes=400, status=OtjStatus.REJECTED, description="Lump entry")
    sign_in(client, apprentice)

    message = refused(client, apprenticeship, "hours", on=days_ago(3), hours="1", minutes="45")

    assert message == (f"No more than 8 hours can be logged for one day. Already logged on {days_ago(3):%-d %B %Y}: "
                       "6 hours 30 minutes, so at most 1 hour 30 minutes more can be added. Log each day's learning "
                       "on its own day")
    # Exactly up to the limit is fine; then nothing more fits.
    assert post_form(client, log_path(apprenticeship), log_form(apprenticeship, on=days_ago(3), hours="1",
                                                               minutes="30")).status_code == 302
    message = refused(client, apprenticeship, "hours", on=days_ago(3), hours="0", minutes="15",
                      description="Reading")
    assert "Already logged on" in message and "8 hours, so nothing more can be added that day" in message


def test_the_day_limit_comes_from_the_configuration(app, client, record):
    apprenticeship, apprentice, *_ = record
    app.config["OTJ_MAX_HOURS_PER_DAY"] = 7.5
    try:
        sign_in(client, apprentice)
        message = refused(client, apprenticeship, "hours", hours="7", minutes="45")
        assert message.startswith("No more than 7 hours 30 minutes can be logged for one day")
    finally:
        app.config["OTJ_MAX_HOURS_PER_DAY"] = 8


def test_an_exact_duplicate_is_refused(client, record):
    apprenticeship, apprentice, *_ = record
    make_otj(apprenticeship, on=days_ago(4), minutes=120, description="Workshop on unit testing with pytest")
    sign_in(client, apprentice)

    message = refused(client, apprenticeship, "description", on=days_ago(4),
                      description="  workshop on UNIT testing   with pytest ")

    assert message == f"These hours are already logged: the same activity, duration and description on " \
                      f"{days_ago(4):%-d %B %Y}"
    # A different duration or a rejected twin is not a duplicate.
    assert post_form(client, log_path(apprenticeship),
                     log_form(apprenticeship, on=days_ago(4), hours="1")).status_code == 302


def test_a_rejected_entry_can_be_logged_again(client, record):
    apprenticeship, apprentice, *_ = record
    make_otj(apprenticeship, on=days_ago(4), minutes=120, status=OtjStatus.REJECTED,
             description="Workshop on unit testing with pytest")
    sign_in(client, apprentice)
    assert post_form(client, log_path(apprenticeship), log_form(apprenticeship, on=days_ago(4))).status_code == 302
    assert db.session.scalar(select(func.count()).select_from(OtjActivity)) == 2
