"""A leader's path: find a course, enrol, open lessons, pass the knowledge check, complete."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from icalendar import Calendar
from sqlalchemy import event, func, select

from app.extensions import db
from app.models import (
    AuditEvent,
    CheckAttempt,
    CourseRun,
    Enrolment,
    EnrolmentStatus,
    LessonProgress,
    LiveSession,
    OutboundEmail,
    Role,
    RunKind,
)
from app.models.types import utcnow
from app.services import learning
from tests.conftest import csrf_token, make_person, sign_in
from tests.course_factories import enrol as enrol_directly
from tests.course_factories import make_learning_course as make_course
from tests.course_factories import make_run
from tests.pages import html_of, page_title, text_of

RIGHT = {"q-declaration": "a", "q-practices": ["a", "b"]}
WRONG = {"q-declaration": "b", "q-practices": ["a"]}


def leader(email="leader@example.org", **kwargs):
    return make_person(email, name="Lee Leader", roles=(Role.LEARNER,), **kwargs)


def enrol(client, course, run) -> Enrolment:
    token = csrf_token(client, f"/courses/{course.slug}")
    response = client.post(f"/courses/{course.slug}/runs/{run.id}/enrol", data={"csrf_token": token})
    assert response.status_code == 302
    return db.session.scalar(select(Enrolment).where(Enrolment.run_id == run.id).order_by(Enrolment.id.desc()))


def submit(client, enrolment, answers, submission="s1"):
    path = f"/learning/{enrolment.id}/checks/check"
    return client.post(path, data={"csrf_token": csrf_token(client, path), "submission": submission, **answers})


def test_catalogue_lists_live_courses(client):
    course = make_course()
    sign_in(client, leader())
    html = text_of(client.get("/courses"))
    assert course.title in html and "4 CPD hours" in html


def test_full_path_from_enrolment_to_completion(client):
    course = make_course(cpd_hours="3.5")
    run = make_run(course, kind=RunKind.SELF_PACED)
    person = leader()
    sign_in(client, person)
    enrolment = enrol(client, course, run)
    assert enrolment.status is EnrolmentStatus.ENROLLED

    overview = text_of(client.get(f"/learning/{enrolment.id}"))
    assert "0 of 3 steps done" in overview
    assert "Open the lesson “Lesson 1”" in overview and "Pass the knowledge check" in overview

    lesson = client.get(f"/learning/{enrolment.id}/lessons/lesson-1")
    assert lesson.status_code == 200 and "Body 1" in html_of(lesson)
    assert "step 1 of 3" in text_of(lesson)
    assert f"/learning/{enrolment.id}/lessons/lesson-2" in html_of(lesson)  # next
    client.get(f"/learning/{enrolment.id}/lessons/lesson-1")  # opening twice counts once
    assert db.session.scalar(select(func.count(LessonProgress.id))) == 1

    failed = submit(client, enrolment, WRONG, "first")
    assert "Not passed yet" in text_of(failed) and "You scored 0%" in text_of(failed)
    assert "No: councils choose to sign it." in text_of(failed)  # feedback on the option chosen

    client.get(f"/learning/{enrolment.id}/lessons/lesson-2")
    db.session.expire_all()
    assert db.session.get(Enrolment, enrolment.id).status is EnrolmentStatus.ENROLLED  # check not yet passed

    passed = submit(client, enrolment, RIGHT, "second")
    assert "You passed" in text_of(passed)
    db.session.expire_all()
    done = db.session.get(Enrolment, enrolment.id)
    assert done.status is EnrolmentStatus.COMPLETED
    assert float(done.cpd_hours_credited) == 3.5
    assert done.completed_at is not None
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "enrolment.completed"))

    home = text_of(client.get("/"))
    assert "Completed" in home and "3.5 CPD hours" in home
    overview = text_of(client.get(f"/learning/{enrolment.id}"))
    assert "Course complete" in overview


def test_best_score_counts_and_attempts_are_kept(client):
    course = make_course()
    run = make_run(course, kind=RunKind.SELF_PACED)
    sign_in(client, leader())
    enrolment = enrol(client, course, run)
    submit(client, enrolment, {"q-declaration": "a", "q-practices": ["a"]}, "one")  # 50%
    submit(client, enrolment, WRONG, "two")  # 0%
    attempts = db.session.scalars(select(CheckAttempt).order_by(CheckAttempt.id)).all()
    assert [a.score for a in attempts] == [50, 0]
    assert attempts[0].answers == {"declaration": ["a"], "practices": ["a"]}
    assert "best score 50%" in text_of(client.get(f"/learning/{enrolment.id}"))


def test_a_double_submit_records_one_attempt(client):
    course = make_course()
    run = make_run(course, kind=RunKind.SELF_PACED)
    sign_in(client, leader())
    enrolment = enrol(client, course, run)
    submit(client, enrolment, WRONG, "same-token")
    again = submit(client, enrolment, WRONG, "same-token")
    assert again.status_code == 200
    assert db.session.scalar(select(func.count(CheckAttempt.id))) == 1


def test_bad_answers_are_refused_and_nothing_is_stored(client):
    course = make_course()
    run = make_run(course, kind=RunKind.SELF_PACED)
    sign_in(client, leader())
    enrolment = enrol(client, course, run)
    cases = [
        ({"q-declaration": "a"}, "Answer every question"),
        ({**RIGHT, "q-invented": "a"}, "a question that is not in this check"),
        ({"q-declaration": "z", "q-practices": ["a"]}, "an option that is not in this question"),
        ({"q-declaration": ["a", "b"], "q-practices": ["a"]}, "Choose one answer"),
    ]
    for number, (answers, message) in enumerate(cases):
        response = submit(client, enrolment, answers, f"bad-{number}")
        assert response.status_code == 200, answers
        assert message in text_of(response), answers
        assert page_title(response).startswith("Error:")
    assert db.session.scalar(select(func.count(CheckAttempt.id))) == 0


def test_nobody_else_opens_a_learners_lessons(client, new_client):
    course = make_course()
    run = make_run(course, kind=RunKind.SELF_PACED)
    sign_in(client, leader())
    enrolment = enrol(client, course, run)
    other = new_client()
    sign_in(other, leader("other@example.org"))
    for path in [f"/learning/{enrolment.id}", f"/learning/{enrolment.id}/lessons/lesson-1",
                 f"/learning/{enrolment.id}/checks/check"]:
        assert other.get(path).status_code == 404, path
    assert db.session.scalar(select(func.count(LessonProgress.id))) == 0


def test_unknown_lessons_and_checks_are_not_found(client):
    course = make_course()
    run = make_run(course, kind=RunKind.SELF_PACED)
    sign_in(client, leader())
    enrolment = enrol(client, course, run)
    assert client.get(f"/learning/{enrolment.id}/lessons/nope").status_code == 404
    assert client.get(f"/learning/{enrolment.id}/checks/nope").status_code == 404
    assert client.get("/courses/no-such-course").status_code == 404


def test_a_full_run_puts_people_on_the_waitlist_and_a_withdrawal_promotes_them(client, new_client):
    course = make_course()
    run = make_run(course, capacity=1, name="Spring", starts_in=0, days=30)
    first, second = leader("first@example.org"), leader("second@example.org")
    sign_in(client, first)
    first_enrolment = enrol(client, course, run)
    other = new_client()
    sign_in(other, second)
    second_enrolment = enrol(other, course, run)
    assert second_enrolment.status is EnrolmentStatus.WAITLISTED
    assert "On the waitlist" in text_of(other.get("/"))
    # A waitlisted person can't open lessons yet.
    assert other.get(f"/learning/{second_enrolment.id}/lessons/lesson-1").status_code == 403

    path = f"/learning/{first_enrolment.id}/withdraw"
    empty = client.post(path, data={"csrf_token": csrf_token(client, path), "reason": ""})
    assert "Enter the reason for withdrawing" in text_of(empty)
    client.post(path, data={"csrf_token": csrf_token(client, path), "reason": "Moving team"})
    db.session.expire_all()
    assert db.session.get(Enrolment, first_enrolment.id).status is EnrolmentStatus.WITHDRAWN
    assert db.session.get(Enrolment, first_enrolment.id).withdrawal_reason == "Moving team"
    assert db.session.get(Enrolment, second_enrolment.id).status is EnrolmentStatus.ENROLLED
    email = db.session.scalar(select(OutboundEmail).where(OutboundEmail.recipient == "second@example.org"))
    assert email is not None and email.subject == f"You have a place on {course.title}"
    assert other.get(f"/learning/{second_enrolment.id}/lessons/lesson-1").status_code == 200


def test_enrolling_twice_is_refused_with_a_message(client):
    course = make_course()
    run = make_run(course, kind=RunKind.SELF_PACED)
    sign_in(client, leader())
    enrol(client, course, run)
    token = csrf_token(client, f"/courses/{course.slug}")
    response = client.post(f"/courses/{course.slug}/runs/{run.id}/enrol", data={"csrf_token": token},
                           follow_redirects=True)
    assert "You are already enrolled on this run" in text_of(response)
    assert db.session.scalar(select(func.count(Enrolment.id))) == 1


def test_lesson_html_is_served_as_stored(client):
    course = make_course()
    run = make_run(course, kind=RunKind.SELF_PACED)
    sign_in(client, leader())
    enrolment = enrol(client, course, run)
    html = html_of(client.get(f"/learning/{enrolment.id}/lessons/lesson-2"))
    assert re.search(r'<p class="govuk-body">Body 2</p>', html)


def _statements(call) -> int:
    seen = []

    def count(*_args):
        seen.append(1)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        call()
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return len(seen)


def test_the_home_shows_each_course_where_it_stands(client):
    person = leader()
    started = make_course("using-data-well", lessons=2)
    enrolment = enrol_directly(person, make_run(started, kind=RunKind.SELF_PACED))
    learning.record_lesson_opened(enrolment, started.lessons[0])
    # A course whose last lesson was retired: its check, which followed that lesson, drops out of the
    # outline, and having opened the retired lesson counts for nothing.
    changed = make_course("buying-technology-well", lessons=3)
    other = enrol_directly(person, make_run(changed, kind=RunKind.SELF_PACED))
    learning.record_lesson_opened(other, changed.lessons[0])
    learning.record_lesson_opened(other, changed.lessons[2])
    changed.lessons[2].retired_at = utcnow()
    soon = make_course("sharing-across-boroughs")
    enrol_directly(person, make_run(soon, name="Autumn cohort", starts_in=30))
    db.session.commit()

    assert (learning.progress(enrolment).done_count, learning.progress(enrolment).total) == (1, 3)
    assert (learning.progress(other).done_count, learning.progress(other).total) == (1, 2)
    sign_in(client, person)
    home = text_of(client.get("/"))
    assert (f"In progress {changed.title} (Spring) 1 of 2 steps done (50%) Next lesson: Lesson 2 ({changed.title}) "
            f"{started.title} (Spring) 1 of 3 steps done (33%) Next lesson: Lesson 2 ({started.title}) "
            f"Starting soon {soon.title} (Autumn cohort), starts") in home
    starts = db.session.scalar(select(CourseRun.starts_on).where(CourseRun.name == "Autumn cohort"))
    assert f"starts {starts.day} {starts:%B %Y}" in home


def test_the_home_and_a_lesson_take_the_same_statements_however_many_courses(client):
    person = leader()
    first = make_course("using-data-well", lessons=2)
    enrolment = enrol_directly(person, make_run(first, kind=RunKind.SELF_PACED))
    sign_in(client, person)
    lesson = f"/learning/{enrolment.id}/lessons/lesson-1"
    client.get(lesson)
    few = {path: _statements(lambda path=path: client.get(path)) for path in ("/", lesson)}

    for n in range(4):
        course = make_course(f"course-{n}", lessons=6)
        more = enrol_directly(person, make_run(course, kind=RunKind.SELF_PACED))
        for opened in course.lessons[: n + 1]:
            learning.record_lesson_opened(more, opened)
        learning.submit_check(more, course.checks[0], {"declaration": ["b"], "practices": ["a"]}, f"t-{n}")
    make_course("longer-course", lessons=12)
    db.session.commit()
    assert text_of(client.get("/")).count("steps done") == 5
    many = {path: _statements(lambda path=path: client.get(path)) for path in ("/", lesson)}
    assert many == few


# Calendar files from the course page ---------------------------------------------------------------------------


def _calendar_links(page) -> list[str]:
    return [href for href in re.findall(r'href="([^"]+)"', html_of(page)) if href.endswith("calendar.ics")]


def test_the_course_page_calendar_links_work_before_enrolling_without_the_join_links(client):
    course = make_course()
    run = make_run(course, name="Spring cohort", starts_in=20, days=14)
    db.session.add(LiveSession(run=run, title="Kick-off", starts_at=datetime(2027, 1, 12, 10, tzinfo=UTC),
                               ends_at=datetime(2027, 1, 12, 11, tzinfo=UTC), location="Town Hall",
                               online_url="https://meet.example.org/kick-off"))
    db.session.commit()
    sign_in(client, leader())

    links = _calendar_links(client.get(f"/courses/{course.slug}"))
    assert len(links) == 2  # the run's, and its live session's
    for link in links:
        response = client.get(link)
        assert response.status_code == 200, link
        assert response.mimetype == "text/calendar"
        assert b"meet.example.org" not in response.data  # the join link is for the people with a place
    run_file = Calendar.from_ical(client.get(links[0]).data)
    whole, live = run_file.walk("VEVENT")
    assert whole.decoded("DTSTART") == run.starts_on
    assert str(live["LOCATION"]) == "Town Hall"
    assert "the link to join is for the people with a place on the run" in str(live["DESCRIPTION"])

    enrol(client, course, run)
    links = _calendar_links(client.get(f"/courses/{course.slug}"))
    for link in links:
        assert b"https://meet.example.org/kick-off" in client.get(link).data, link


def test_a_run_the_course_page_does_not_show_has_no_calendar_file_there(client):
    course = make_course()
    other_course = make_course("another-course")
    closed = make_run(course, name="Closed", starts_in=-5)  # its enrolment deadline has passed
    elsewhere = make_run(other_course, name="Elsewhere")
    anytime = make_run(course, name="Anytime", kind=RunKind.SELF_PACED)
    sign_in(client, leader())
    assert client.get(f"/courses/{course.slug}/runs/{closed.id}/calendar.ics").status_code == 404
    assert client.get(f"/courses/{course.slug}/runs/{elsewhere.id}/calendar.ics").status_code == 404
    assert client.get(f"/courses/{course.slug}/runs/{anytime.id}/calendar.ics").status_code == 404  # no dates
    assert client.get(f"/courses/{course.slug}/live-sessions/999/calendar.ics").status_code == 404
    assert client.get(f"/courses/no-such-course/runs/{elsewhere.id}/calendar.ics").status_code == 404
