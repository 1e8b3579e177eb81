"""Course runs for coordinators and admins: adding runs and live sessions, enrolling one person,
withdrawing (with the waitlist moving up), the list of runs, and calendar files."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from html import unescape

import pytest
from icalendar import Calendar
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, CourseRun, Enrolment, EnrolmentStatus, LiveSession, OutboundEmail, Role, RunKind
from app.services import ServiceError, runs
from app.services.enrolment import not_found_message
from tests.conftest import csrf_token, make_person, post_form, sign_in
from tests.course_factories import enrol, make_course, make_learner, make_run
from tests.pages import field_error, html_of, page_title, text_of

HACKNEY, CAMDEN = "E09000012", "E09000007"


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def error_summary(response) -> list[str]:
    block = re.search(r'<div class="govuk-error-summary".*?</ul>', html_of(response), re.S)
    if not block:
        return []
    return [" ".join(unescape(re.sub(r"<[^>]+>", " ", item)).split())
            for item in re.findall(r"<li>(.*?)</li>", block.group(0), re.S)]


@pytest.fixture
def course():
    return make_course()


@pytest.fixture
def coordinator(client):
    person = make_person("cora@example.org", name="Cora Coordinator", roles=(Role.COORDINATOR,), scope=(HACKNEY,))
    sign_in(client, person)
    return person


def run_form(**overrides) -> dict:
    start = date.today() + timedelta(days=30)
    end = start + timedelta(days=27)
    data = {"name": "Spring 2027", "kind": "scheduled",
            "starts_on": [str(start.day), str(start.month), str(start.year)],
            "ends_on": [str(end.day), str(end.month), str(end.year)],
            "enrolment_deadline": [str(start.day), str(start.month), str(start.year)], "capacity": "20"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


# Adding a run ----------------------------------------------------------------------------------


def test_a_coordinator_adds_a_scheduled_run(client, coordinator, course):
    page = client.get(f"/courses/{course.slug}/runs/new")
    assert page.status_code == 200
    assert page_title(page) == "Add a run of Leading digital change – Pathways"
    assert 'id="starts_on-day"' in html_of(page)

    response = post_form(client, f"/courses/{course.slug}/runs/new", run_form())

    run = db.session.scalar(select(CourseRun))
    assert response.status_code == 302
    assert response.headers["Location"] == f"/runs/{run.id}"
    start = date.today() + timedelta(days=30)
    assert (run.kind, run.name, run.starts_on, run.ends_on, run.enrolment_deadline, run.capacity) == (
        RunKind.SCHEDULED, "Spring 2027", start, start + timedelta(days=27), start, 20)
    assert run.created_by_id == coordinator.id
    assert "Spring 2027 of Leading digital change has been added." in text_of(client.get(f"/runs/{run.id}"))


def test_a_self_paced_run_has_no_dates_or_limit(client, signed_in_admin, course):
    response = post_form(client, f"/courses/{course.slug}/runs/new",
                         {"name": "Always open", "kind": "self_paced"})
    assert response.status_code == 302
    run = db.session.scalar(select(CourseRun))
    assert (run.kind, run.starts_on, run.ends_on, run.capacity) == (RunKind.SELF_PACED, None, None, None)


@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"name": "  "}, "name", "Enter a name for the run, like 'Spring 2027'"),
    ({"kind": None}, "kind", "Select the type of run"),
    ({"kind": "weekly"}, "kind", "Select the type of run"),
    # A form that leaves out the date boxes altogether is treated as left empty.
    ({"starts_on": None}, "starts_on", "Enter the date the run starts"),
    ({"ends_on": None}, "ends_on", "Enter the date the run ends"),
    ({"starts_on": ["", "", ""]}, "starts_on", "Enter the date the run starts"),
    ({"starts_on": ["12", "", "2027"]}, "starts_on", "Start date must include a month"),
    ({"starts_on": ["", "", "2027"]}, "starts_on", "Start date must include a day and a month"),
    ({"starts_on": ["31", "2", "2027"]}, "starts_on", "Start date must be a real date, like 27 3 2027"),
    ({"starts_on": ["1", "2", "27"]}, "starts_on", "Start date must be a real date, like 27 3 2027"),
    ({"starts_on": ["1", "2", "2027", "4"]}, "starts_on", "Start date must be a real date"),
    ({"ends_on": ["1", "1", "2020"]}, "ends_on", "The end date must be the same as or after the start date"),
    ({"enrolment_deadline": ["1", "1", "2099"]}, "enrolment_deadline",
     "The enrolment deadline must be on or before the end date"),
    ({"capacity": "twenty"}, "capacity", "Number of places (optional) must be a whole number, like 30"),
    ({"capacity": "-3"}, "capacity", "Number of places (optional) must be a whole number, like 30"),
    ({"capacity": "0"}, "capacity", "Capacity must be 1 or more, or left empty for no limit"),
])
def test_bad_run_details_are_explained_beside_the_field_and_nothing_is_saved(client, coordinator, course, overrides,
                                                                             field, message):
    response = post_form(client, f"/courses/{course.slug}/runs/new", run_form(**overrides))

    assert response.status_code == 200
    assert field_error(response, field) == message
    assert message in error_summary(response)
    assert page_title(response).startswith("Error: ")
    assert count(CourseRun) == 0


def test_the_date_boxes_keep_what_was_typed(client, coordinator, course):
    response = post_form(client, f"/courses/{course.slug}/runs/new", run_form(starts_on=["31", "2", "2027"]))
    html = html_of(response)
    assert re.search(r'id="starts_on-day"[^>]*value="31"', html)
    assert re.search(r'id="starts_on-year"[^>]*value="2027"', html)


def test_runs_need_a_course_that_exists_and_is_current(client, coordinator, course):
    assert client.get("/courses/no-such-course/runs/new").status_code == 404
    course.retired_at = datetime.now(UTC)
    db.session.commit()
    response = post_form(client, f"/courses/{course.slug}/runs/new", run_form())
    assert "Leading digital change has been retired; it cannot have new runs" in text_of(response)
    assert count(CourseRun) == 0


@pytest.mark.parametrize("roles", [(Role.LEARNER,), (Role.SUPERVISOR,), (Role.APPRENTICE,)])
def test_only_coordinators_and_admins_manage_runs(client, course, roles):
    run = make_run(course)
    person = make_person("someone@example.org", roles=roles)
    sign_in(client, person)
    token = csrf_token(client, "/")
    for path in ("/runs", f"/runs/{run.id}", f"/runs/{run.id}/roster.csv", f"/courses/{course.slug}/runs/new",
                 f"/runs/{run.id}/enrolments/import"):
        assert client.get(path).status_code == 403, path
    assert client.post(f"/runs/{run.id}/enrolments", data={"csrf_token": token,
                                                          "email": person.email}).status_code == 403
    assert client.post(f"/courses/{course.slug}/runs/new", data={"csrf_token": token, **run_form()}).status_code == 403
    assert count(CourseRun) == 1 and count(Enrolment) == 0


# The list of runs ---------------------------------------------------------------------------------


def test_the_list_of_runs_shows_places_and_the_waitlist(client, coordinator, course):
    full = make_run(course, name="Spring", capacity=2)
    make_run(course, name="Anytime", kind=RunKind.SELF_PACED)
    for _ in range(3):
        enrol(make_learner(), full)

    home = client.get("/")
    assert '<a class="govuk-link" href="/runs">Course runs</a>' in html_of(home)
    page = client.get("/runs")

    text = text_of(page)
    assert page.status_code == 200
    assert "2 runs" in text
    assert f"Leading digital change Spring {full.starts_on:%-d %B %Y} to {full.ends_on:%-d %B %Y} 2 of 2 1" in text
    assert "Leading digital change Anytime Self-paced 0 0" in text
    assert f'href="/courses/{course.slug}/runs/new"' in html_of(page)


def test_the_list_of_runs_is_paginated(client, signed_in_admin, course):
    for number in range(30):
        make_run(course, name=f"Run {number:02d}")
    first, second = client.get("/runs"), client.get("/runs?page=2")
    assert text_of(first).count("Leading digital change Run") == 25
    assert text_of(second).count("Leading digital change Run") == 5
    assert "Showing 26 to 30 of 30" in text_of(second)


# Enrolling one person ------------------------------------------------------------------------------


def test_a_coordinator_enrols_someone_from_their_organisation(client, coordinator, course):
    run = make_run(course)
    learner = make_learner("lee@example.org", name="Lee Learner")

    response = post_form(client, f"/runs/{run.id}/enrolments", {"email": " LEE@example.org "},
                         token_from=f"/runs/{run.id}")

    assert response.status_code == 302
    enrolment = db.session.scalar(select(Enrolment))
    assert (enrolment.person_id, enrolment.status, enrolment.enrolled_by_id) == (
        learner.id, EnrolmentStatus.ENROLLED, coordinator.id)
    assert "Lee Learner has been enrolled." in text_of(client.get(f"/runs/{run.id}"))


def test_a_full_run_puts_people_on_the_waitlist_and_says_so(client, coordinator, course):
    run = make_run(course, capacity=1)
    enrol(make_learner(), run)
    make_learner("wendy@example.org", name="Wendy Waiting")

    post_form(client, f"/runs/{run.id}/enrolments", {"email": "wendy@example.org"}, token_from=f"/runs/{run.id}")

    wendy = db.session.scalar(select(Enrolment).where(Enrolment.status == EnrolmentStatus.WAITLISTED))
    assert wendy.person.name == "Wendy Waiting"
    assert ("The run is full, so Wendy Waiting has been put on the waitlist. They will get a place when one comes "
            "free.") in text_of(client.get(f"/runs/{run.id}"))


@pytest.mark.parametrize(("email", "message"), [
    ("", "Enter the email address of the person to enrol"),
    ("not-an-email", "Enter an email address in the correct format, like name@example.org"),
    ("nobody@example.org", not_found_message("nobody@example.org")),
    # Someone of another organisation gets the same answer: enrolling reveals neither account nor employer.
    ("camden@example.org", not_found_message("camden@example.org")),
    ("lee@example.org", "Lee Learner is already enrolled on this run"),
])
def test_enrolling_someone_who_cannot_be_enrolled_is_explained_and_changes_nothing(client, coordinator, course, email,
                                                                                   message):
    run = make_run(course)
    enrol(make_learner("lee@example.org", name="Lee Learner"), run)
    make_learner("camden@example.org", organisation_code=CAMDEN)
    before = (count(Enrolment), count(AuditEvent))

    response = post_form(client, f"/runs/{run.id}/enrolments", {"email": email}, token_from=f"/runs/{run.id}")

    assert response.status_code == 400
    assert field_error(response, "email") == message
    assert message in error_summary(response)
    assert (count(Enrolment), count(AuditEvent)) == before


def test_nobody_can_be_enrolled_once_the_deadline_has_passed(client, coordinator, course):
    run = make_run(course)
    run.enrolment_deadline = date.today() - timedelta(days=1)
    db.session.commit()
    make_learner("lee@example.org")

    response = post_form(client, f"/runs/{run.id}/enrolments", {"email": "lee@example.org"},
                         token_from=f"/runs/{run.id}")

    assert field_error(response, "email") == f"Enrolment closed on {run.enrolment_deadline:%-d %B %Y}"
    assert count(Enrolment) == 0


def test_an_unknown_run_is_not_found(client, coordinator):
    assert client.get("/runs/999").status_code == 404
    assert post_form(client, "/runs/999/enrolments", {"email": "a@example.org"},
                     token_from="/runs").status_code == 404


# Withdrawing ------------------------------------------------------------------------------------


def test_withdrawing_gives_the_place_to_the_first_on_the_waitlist_and_emails_them(client, coordinator, course):
    run = make_run(course, capacity=1)
    leaving = enrol(make_learner(name="Lou Leaving"), run)
    first = enrol(make_learner("first@example.org", name="Fay First"), run)
    second = enrol(make_learner("second@example.org", name="Sid Second"), run)
    assert (first.status, second.status) == (EnrolmentStatus.WAITLISTED, EnrolmentStatus.WAITLISTED)
    path = f"/runs/{run.id}/enrolments/{leaving.id}/withdraw"

    page = client.get(path)
    assert page.status_code == 200
    assert "Their place will go to the first person on the waitlist" in text_of(page)
    response = post_form(client, path, {"reason": "Moved to a new job"})

    assert response.status_code == 302
    db.session.expire_all()
    assert (leaving.status, leaving.withdrawal_reason) == (EnrolmentStatus.WITHDRAWN, "Moved to a new job")
    assert (first.status, second.status) == (EnrolmentStatus.ENROLLED, EnrolmentStatus.WAITLISTED)
    email = db.session.scalar(select(OutboundEmail))
    assert (email.recipient, email.purpose) == ("first@example.org", "waitlist_place")
    assert email.subject == "You have a place on Leading digital change"
    assert count(OutboundEmail) == 1
    assert ("Lou Leaving has been withdrawn. Fay First has been given a place from the waitlist and will get an "
            "email shortly."
            in text_of(client.get(f"/runs/{run.id}")))


@pytest.mark.parametrize(("reason", "message"), [
    ("", "Enter the reason for withdrawing"),
    ("   ", "Enter the reason for withdrawing"),
    ("x" * 501, "Field cannot be longer than 500 characters."),
])
def test_withdrawing_needs_a_reason(client, coordinator, course, reason, message):
    run = make_run(course, capacity=1)
    leaving = enrol(make_learner(), run)
    enrol(make_learner(), run)

    response = post_form(client, f"/runs/{run.id}/enrolments/{leaving.id}/withdraw", {"reason": reason})

    assert response.status_code == 200
    assert field_error(response, "reason") == message
    db.session.expire_all()
    assert leaving.status is EnrolmentStatus.ENROLLED
    assert count(OutboundEmail) == 0


def test_a_completed_enrolment_cannot_be_withdrawn(client, coordinator, course):
    run = make_run(course)
    done = enrol(make_learner(), run)
    done.status = EnrolmentStatus.COMPLETED
    db.session.commit()

    response = post_form(client, f"/runs/{run.id}/enrolments/{done.id}/withdraw", {"reason": "Left"})

    assert field_error(response, "reason") == "This enrolment is completed; it can't be withdrawn"
    db.session.expire_all()
    assert done.status is EnrolmentStatus.COMPLETED


def test_a_coordinator_cannot_touch_people_outside_their_organisations(client, coordinator, course):
    run = make_run(course, capacity=1)
    other = make_run(course, name="Other")
    camden = enrol(make_learner(organisation_code=CAMDEN), run)
    enrol(make_learner(), run)
    hackney_elsewhere = enrol(make_learner(), other)
    before = (count(Enrolment), count(AuditEvent), count(OutboundEmail))

    for path in (f"/runs/{run.id}/enrolments/{camden.id}/withdraw",
                 # An enrolment on another run is not found through this one.
                 f"/runs/{run.id}/enrolments/{hackney_elsewhere.id}/withdraw"):
        assert client.get(path).status_code == 404
        assert post_form(client, path, {"reason": "Gone"}, token_from=f"/runs/{run.id}").status_code == 404

    db.session.expire_all()
    assert camden.status is EnrolmentStatus.ENROLLED
    assert hackney_elsewhere.status is EnrolmentStatus.ENROLLED
    assert (count(Enrolment), count(AuditEvent), count(OutboundEmail)) == before


def test_an_admin_withdraws_anyone(client, signed_in_admin, course):
    run = make_run(course)
    camden = enrol(make_learner(organisation_code=CAMDEN), run)
    response = post_form(client, f"/runs/{run.id}/enrolments/{camden.id}/withdraw", {"reason": "Asked to"})
    assert response.status_code == 302
    db.session.expire_all()
    assert camden.status is EnrolmentStatus.WITHDRAWN


# Live sessions -----------------------------------------------------------------------------------


def session_form(**overrides) -> dict:
    day = date.today() + timedelta(days=35)
    data = {"title": "Kick-off", "day": [str(day.day), str(day.month), str(day.year)], "start_time": "14:30",
            "end_time": "16:00", "location": "City Hall, Room 3", "online_url": "https://meet.example.org/abc"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_a_live_session_is_added_in_london_time(client, coordinator, course):
    run = make_run(course, created_by=coordinator)
    day = date(date.today().year + 1, 7, 1)  # British Summer Time: UTC+1

    response = post_form(client, f"/runs/{run.id}/live-sessions",
                         session_form(day=[str(day.day), str(day.month), str(day.year)]),
                         token_from=f"/runs/{run.id}")

    assert response.status_code == 302
    session = db.session.scalar(select(LiveSession))
    assert (session.title, session.location, session.online_url) == (
        "Kick-off", "City Hall, Room 3", "https://meet.example.org/abc")
    assert session.starts_at == datetime(day.year, 7, 1, 13, 30, tzinfo=UTC)
    assert session.ends_at == datetime(day.year, 7, 1, 15, 0, tzinfo=UTC)
    page = text_of(client.get(f"/runs/{run.id}"))
    assert "The live session Kick-off has been added." in page
    assert f"Kick-off 1 July {day.year} at 2:30pm to 1 July {day.year} at 4:00pm" in page


@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"title": ""}, "title", "Enter a title for the session"),
    ({"day": None}, "day", "Enter the date of the session"),
    ({"day": ["30", "2", "2027"]}, "day", "Date must be a real date, like 27 3 2027"),
    ({"start_time": ""}, "start_time", "Enter the start time, like 14:30"),
    ({"start_time": "25:00"}, "start_time", "Start time must be a real time in 24-hour format, like 14:30"),
    ({"end_time": "4pm"}, "end_time", "End time must be a real time in 24-hour format, like 14:30"),
    ({"end_time": "14:00"}, "end_time", "The session must end after it starts"),
    ({"location": "", "online_url": ""}, "location", "Enter a place or an online link for the session"),
    *[({"online_url": link}, "online_url",
       "Enter the online link as a web address starting https://, like https://meet.example.org/abc")
      for link in ("javascript:alert(1)", 'https://evil.example/"><script>', "http://meet.example.org/abc",
                   "https://meet example.org", "https://user:pw@meet.example.org/", "https://localhost/x",
                   "meet.example.org/abc")],
])
def test_bad_live_session_details_are_explained_and_nothing_is_saved(client, coordinator, course, overrides, field,
                                                                     message):
    run = make_run(course, created_by=coordinator)
    response = post_form(client, f"/runs/{run.id}/live-sessions", session_form(**overrides),
                         token_from=f"/runs/{run.id}")
    assert response.status_code == 400
    assert field_error(response, field) == message
    assert message in error_summary(response)
    assert count(LiveSession) == 0


def test_self_paced_runs_have_no_live_sessions(client, coordinator, course):
    run = make_run(course, kind=RunKind.SELF_PACED, created_by=coordinator)
    assert "Add a live session" not in text_of(client.get(f"/runs/{run.id}"))
    response = post_form(client, f"/runs/{run.id}/live-sessions", session_form(), token_from=f"/runs/{run.id}")
    assert response.status_code == 400
    assert "Only scheduled runs have live sessions" in error_summary(response)
    assert count(LiveSession) == 0


# Calendar files ---------------------------------------------------------------------------------


def parse(response) -> Calendar:
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    return Calendar.from_ical(response.data)


def test_a_scheduled_run_is_an_all_day_event_from_start_to_end(client, course):
    run = make_run(course)
    session = LiveSession(run=run, title="Kick-off", starts_at=datetime(2027, 1, 12, 10, 0, tzinfo=UTC),
                          ends_at=datetime(2027, 1, 12, 11, 30, tzinfo=UTC), online_url="https://meet.example.org/x")
    db.session.add(session)
    db.session.commit()
    learner = make_learner()
    enrol(learner, run)
    sign_in(client, learner)

    calendar = parse(client.get(f"/runs/{run.id}/calendar.ics"))

    events = calendar.walk("VEVENT")
    assert len(events) == 2
    whole, live = events
    assert str(whole["SUMMARY"]) == "Leading digital change (Spring)"
    assert whole.decoded("DTSTART") == run.starts_on
    # All-day events end the day after the last day.
    assert whole.decoded("DTEND") == run.ends_on + timedelta(days=1)
    assert not isinstance(whole.decoded("DTSTART"), datetime)
    assert live.decoded("DTSTART") == datetime(2027, 1, 12, 10, 0, tzinfo=UTC)


def test_a_live_session_is_a_timed_event_with_its_place_and_link(client, coordinator, course):
    run = make_run(course)
    session = LiveSession(run=run, title="Show and tell", starts_at=datetime(2027, 6, 3, 13, 0, tzinfo=UTC),
                          ends_at=datetime(2027, 6, 3, 14, 15, tzinfo=UTC), location="Town Hall",
                          online_url="https://meet.example.org/y")
    db.session.add(session)
    db.session.commit()

    calendar = parse(client.get(f"/live-sessions/{session.id}/calendar.ics"))

    (event,) = calendar.walk("VEVENT")
    assert event.decoded("DTSTART") == datetime(2027, 6, 3, 13, 0, tzinfo=UTC)
    assert event.decoded("DTEND") == datetime(2027, 6, 3, 14, 15, tzinfo=UTC)
    assert str(event["LOCATION"]) == "Town Hall, https://meet.example.org/y"
    assert str(event["URL"]) == "https://meet.example.org/y"
    assert str(event["SUMMARY"]) == "Show and tell: Leading digital change"
    assert str(event["UID"]) == f"live-session-{session.id}@pathways.test"


@pytest.mark.parametrize("status", [None, EnrolmentStatus.WAITLISTED, EnrolmentStatus.WITHDRAWN])
def test_calendar_files_are_only_for_people_on_the_run(client, course, status):
    run = make_run(course)
    session = LiveSession(run=run, title="Kick-off", starts_at=datetime(2027, 1, 12, 10, 0, tzinfo=UTC),
                          ends_at=datetime(2027, 1, 12, 11, 0, tzinfo=UTC), location="Town Hall")
    db.session.add(session)
    db.session.commit()
    learner = make_learner()
    if status is not None:
        enrolment = enrol(learner, run)
        enrolment.status = status
        db.session.commit()
    sign_in(client, learner)

    assert client.get(f"/runs/{run.id}/calendar.ics").status_code == 404
    assert client.get(f"/live-sessions/{session.id}/calendar.ics").status_code == 404


def test_calendar_files_need_signing_in_and_dates(client, course):
    run = make_run(course)
    anytime = make_run(course, kind=RunKind.SELF_PACED)
    assert "/sign-in" in client.get(f"/runs/{run.id}/calendar.ics").headers["Location"]
    learner = make_learner()
    enrol(learner, anytime)
    sign_in(client, learner)
    assert client.get(f"/runs/{anytime.id}/calendar.ics").status_code == 404
    assert client.get("/runs/999/calendar.ics").status_code == 404
    assert client.get("/live-sessions/999/calendar.ics").status_code == 404


def test_only_the_coordinator_who_set_up_a_run_adds_its_live_sessions(client, coordinator, course):
    others = make_run(course, created_by=make_person("other@example.org", roles=(Role.COORDINATOR,),
                                                     scope=("E09000007",)))
    assert "Add a live session" not in text_of(client.get(f"/runs/{others.id}"))
    response = post_form(client, f"/runs/{others.id}/live-sessions", session_form(), token_from=f"/runs/{others.id}")
    assert response.status_code == 403
    assert count(LiveSession) == 0
    with pytest.raises(ServiceError, match="only the coordinator who set it up"):
        runs.add_live_session(coordinator, others, title="Mine", starts_at=datetime(2027, 1, 12, 10, tzinfo=UTC),
                              ends_at=datetime(2027, 1, 12, 11, tzinfo=UTC), location="Town hall")
