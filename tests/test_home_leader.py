"""The leader's home panel: their courses under way with the step to open next, runs starting soon with a
calendar file, the waitlist, and completed courses with this year's CPD hours and their CPD record; read with
the same statements however many courses they have."""

from __future__ import annotations

import re
from datetime import datetime, time
from decimal import Decimal

from icalendar import Calendar

from app.extensions import db
from app.models import Enrolment, EnrolmentStatus, Role, RunKind
from app.models.types import utcnow
from app.services import clock, learning
from tests.conftest import make_person, sign_in
from tests.course_factories import enrol, make_learner, make_learning_course, make_run
from tests.pages import html_of, text_of
from tests.statements import counting_statements


def leader(email="lee@example.org"):
    return make_person(email, name="Lee Leader", roles=(Role.LEARNER,))


def panel_of(client) -> str:
    """The HTML of the leader's panel on the home page."""
    match = re.search(r'<section class="app-card" aria-labelledby="leader-courses">.*?</section>',
                      html_of(client.get("/")), re.S)
    assert match, "no leader panel on the home page"
    return match.group(0)


def panel_text(client) -> str:
    text = " ".join(re.sub(r"<[^>]+>", " ", panel_of(client)).split())
    return re.sub(r" ([,.])", r"\1", text)


def complete(enrolment: Enrolment, when: datetime, hours: str | None = None) -> Enrolment:
    enrolment.status = EnrolmentStatus.COMPLETED
    enrolment.completed_at = when
    enrolment.cpd_hours_credited = Decimal(hours) if hours else enrolment.run.course.cpd_hours
    db.session.commit()
    return enrolment


def london(day, at=time(12)) -> datetime:
    return datetime.combine(day, at, tzinfo=clock.LONDON)


def test_a_course_under_way_links_straight_to_the_next_lesson(client):
    person = leader()
    course = make_learning_course("using-data-well", lessons=3)
    enrolment = enrol(person, make_run(course, kind=RunKind.SELF_PACED, name="Anytime"))
    learning.record_lesson_opened(enrolment, course.lessons[0])
    db.session.commit()
    sign_in(client, person)

    panel = panel_of(client)
    assert f'href="/learning/{enrolment.id}/lessons/lesson-2"' in panel
    assert "Next lesson: Lesson 2" in panel_text(client)
    assert "1 of 4 steps done (25%)" in panel_text(client)


def test_the_next_step_follows_the_course_order_not_what_was_opened_last(client):
    person = leader()
    course = make_learning_course("buying-technology-well", lessons=3)
    enrolment = enrol(person, make_run(course, kind=RunKind.SELF_PACED))
    learning.record_lesson_opened(enrolment, course.lessons[1])
    learning.record_lesson_opened(enrolment, course.lessons[2])
    db.session.commit()
    sign_in(client, person)

    assert f'href="/learning/{enrolment.id}/lessons/lesson-1"' in panel_of(client)
    assert "Next lesson: Lesson 1" in panel_text(client)


def test_once_every_lesson_is_open_the_next_step_is_the_knowledge_check(client):
    person = leader()
    course = make_learning_course("sharing-across-boroughs", lessons=2)
    enrolment = enrol(person, make_run(course, kind=RunKind.SELF_PACED))
    for lesson in course.lessons:
        learning.record_lesson_opened(enrolment, lesson)
    db.session.commit()
    sign_in(client, person)

    assert f'href="/learning/{enrolment.id}/checks/check"' in panel_of(client)
    assert "Next, the knowledge check: Check your understanding" in panel_text(client)
    assert "2 of 3 steps done (67%)" in panel_text(client)


def test_a_retired_lesson_drops_out_of_the_next_step_and_the_progress(client):
    person = leader()
    course = make_learning_course("working-in-the-open", lessons=3)
    enrolment = enrol(person, make_run(course, kind=RunKind.SELF_PACED))
    learning.record_lesson_opened(enrolment, course.lessons[0])
    course.lessons[1].retired_at = utcnow()
    db.session.commit()
    sign_in(client, person)

    # Lesson 2 is retired: lesson 3 is next, of three steps (two lessons and the check after lesson 3).
    assert f'href="/learning/{enrolment.id}/lessons/lesson-3"' in panel_of(client)
    assert "1 of 3 steps done (33%)" in panel_text(client)


def test_a_run_starting_soon_offers_its_calendar_file(client):
    person = leader()
    course = make_learning_course("leading-digital-change")
    run = make_run(course, name="Spring cohort", starts_in=20, days=14)
    enrol(person, run)
    sign_in(client, person)

    text = panel_text(client)
    assert f"Starting soon {course.title} (Spring cohort), starts {run.starts_on:%-d %B %Y}" in text
    assert "In progress" not in text
    link = f"/courses/{course.slug}/runs/{run.id}/calendar.ics"
    assert f'href="{link}"' in panel_of(client)
    response = client.get(link)
    assert response.status_code == 200 and response.mimetype == "text/calendar"
    (event,) = Calendar.from_ical(response.data).walk("VEVENT")
    assert event.decoded("DTSTART") == run.starts_on


def test_the_waitlist_shows_and_a_withdrawn_course_does_not(client):
    person = leader()
    full = make_run(make_learning_course("full-course"), name="Full", capacity=1, starts_in=0)
    enrol(make_learner(), full)
    enrol(person, full)
    left = enrol(person, make_run(make_learning_course("left-course"), kind=RunKind.SELF_PACED))
    left.status = EnrolmentStatus.WITHDRAWN
    db.session.commit()
    sign_in(client, person)

    text = panel_text(client)
    assert "On the waitlist Full course (Full)" in text
    assert "Left course" not in text


def test_no_panel_for_someone_without_courses(client):
    person = leader()
    withdrawn = enrol(person, make_run(make_learning_course("left-course"), kind=RunKind.SELF_PACED))
    withdrawn.status = EnrolmentStatus.WITHDRAWN
    db.session.commit()
    sign_in(client, person)
    home = html_of(client.get("/"))
    assert 'aria-labelledby="leader-courses"' not in home
    assert "Find a course" in home


def test_cpd_hours_this_year_count_courses_completed_from_1_january_london_time(client):
    person = leader()
    year = clock.today().year
    new_year = datetime(year, 1, 1).date()
    last_day = datetime(year - 1, 12, 31).date()
    before = complete(enrol(person, make_run(make_learning_course("last-year", cpd_hours="2.5"),
                                             kind=RunKind.SELF_PACED)), london(last_day, time(23, 59)))
    after = complete(enrol(person, make_run(make_learning_course("this-year", cpd_hours="3"),
                                            kind=RunKind.SELF_PACED)), london(new_year, time(0, 1)))
    complete(enrol(person, make_run(make_learning_course("later-this-year", cpd_hours="1.5"),
                                    kind=RunKind.SELF_PACED)), london(clock.today(), time(0, 30)))
    sign_in(client, person)

    text = panel_text(client)
    assert f"CPD hours in {year}: 4.5 (a calendar year, 1 January to 31 December {year})" in text
    # Newest first, each on its London day.
    assert (f"Later this year, completed {clock.today():%-d %B %Y} · 1.5 CPD hours "
            f"This year, completed 1 January {year} · 3 CPD hours "
            f"Last year, completed 31 December {year - 1} · 2.5 CPD hours") in text
    assert before.id != after.id
    panel = panel_of(client)
    for link in (f"/learning/cpd-record.pdf?year={year}", f"/learning/cpd-record.csv?year={year}",
                 "/learning/cpd-record.pdf", "/learning/cpd-record.csv"):
        assert f'href="{link}"' in panel


def test_the_completion_day_is_the_london_day_in_summer_time(client):
    person = leader()
    year = clock.today().year
    # 23:30 UTC on 30 June is 00:30 on 1 July in London (BST).
    complete(enrol(person, make_run(make_learning_course("summer"), kind=RunKind.SELF_PACED)),
             datetime.fromisoformat(f"{year}-06-30T23:30:00+00:00"))
    sign_in(client, person)
    assert f"completed 1 July {year}" in panel_text(client)


def _seed(person, n: int, offset: int = 0) -> None:
    """``n`` courses in every state for ``person``: under way (some lessons open, a check tried), starting soon,
    on a waitlist, and completed."""
    today = clock.today()
    for i in range(offset, offset + n):
        course = make_learning_course(f"under-way-{i}", lessons=2 + i)
        under_way = enrol(person, make_run(course, kind=RunKind.SELF_PACED))
        for lesson in course.lessons[: i + 1]:
            learning.record_lesson_opened(under_way, lesson)
        learning.submit_check(under_way, course.checks[0], {"declaration": ["b"], "practices": ["a"]}, f"s-{i}")
        enrol(person, make_run(make_learning_course(f"soon-{i}"), starts_in=10 + i))
        full = make_run(make_learning_course(f"full-{i}"), capacity=1, starts_in=0)
        enrol(make_learner(), full)
        enrol(person, full)
        complete(enrol(person, make_run(make_learning_course(f"done-{i}"), kind=RunKind.SELF_PACED)),
                 london(today))
    db.session.commit()


def test_the_home_takes_the_same_statements_however_many_courses(client):
    person = leader()
    _seed(person, 1)
    sign_in(client, person)
    client.get("/")
    with counting_statements() as few:
        small = client.get("/")
    assert text_of(small).count("steps done") == 1

    _seed(person, 5, offset=1)
    with counting_statements() as many:
        large = client.get("/")
    assert text_of(large).count("steps done") == 6
    assert text_of(large).count("Add to your calendar") == 6
    assert len(many) == len(few), "\n".join(many)
