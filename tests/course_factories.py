"""Courses, runs and learners made straight from the models, for tests of runs and rosters."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from itertools import count

from app.extensions import db
from app.models import CheckAttempt, Course, CourseRun, Enrolment, KnowledgeCheck, Lesson, LessonProgress, RunKind
from app.models.types import utcnow
from app.services import clock
from app.services import enrolment as enrolment_service
from tests.conftest import PASSWORD, make_person

_numbers = count(1)


def make_course(slug: str = "leading-digital-change", *, title: str = "Leading digital change", lessons: int = 4,
                checks: int = 1) -> Course:
    """A course of ``lessons`` lessons, with ``checks`` knowledge checks after the first lessons."""
    course = Course(slug=slug, title=title, summary="How to lead digital change.", audience="Leaders",
                    level="introductory", estimated_hours=Decimal("3.0"), cpd_hours=Decimal("3.0"), topics=[],
                    learning_outcomes=[], completion_rule={"lessons": "all", "checks": "all"}, content_hash="x")
    db.session.add(course)
    for position in range(1, lessons + 1):
        db.session.add(Lesson(course=course, key=f"lesson-{position}", position=position * 10,
                              title=f"Lesson {position}", body_html="<p>Lesson</p>", content_hash="x"))
    for position in range(1, checks + 1):
        db.session.add(KnowledgeCheck(
            course=course, key=f"check-{position}", position=position * 10 + 5,
            after_lesson_key=f"lesson-{position}", title=f"Check {position}", pass_mark=80, content_hash="x",
            questions=[{"id": "q1", "type": "single", "prompt": "Which?",
                        "options": [{"id": "a", "text": "A", "correct": True, "feedback": ""},
                                    {"id": "b", "text": "B", "correct": False, "feedback": ""}]}],
        ))
    db.session.commit()
    return course


QUESTIONS = [
    {"id": "declaration", "type": "single", "prompt": "What is the Local Government Digital Declaration?",
     "options": [
         {"id": "a", "text": "A shared commitment by councils", "correct": True, "feedback": "Right."},
         {"id": "b", "text": "A law", "correct": False, "feedback": "No: councils choose to sign it."},
     ]},
    {"id": "practices", "type": "multiple", "prompt": "Which are good practice?",
     "options": [
         {"id": "a", "text": "Working in the open", "correct": True, "feedback": "Yes."},
         {"id": "b", "text": "Reusing what others built", "correct": True, "feedback": "Yes."},
         {"id": "c", "text": "Buying long closed contracts", "correct": False, "feedback": "This locks you in."},
     ]},
]


def make_learning_course(slug: str = "leading-digital-change", *, lessons: int = 2, cpd_hours: str = "4") -> Course:
    """A course whose one knowledge check (two questions, pass mark 100%) follows the last lesson."""
    course = Course(
        slug=slug, title=slug.replace("-", " ").capitalize(), summary="A summary.", audience="Leaders.",
        level="introductory", estimated_hours=Decimal("4"), cpd_hours=Decimal(cpd_hours), topics=["digital"],
        learning_outcomes=["Lead change"], completion_rule={"lessons": "all", "checks": "all"},
        gives_certificate=True, content_hash="x" * 64,
    )
    for position in range(1, lessons + 1):
        course.lessons.append(Lesson(key=f"lesson-{position}", position=position, title=f"Lesson {position}",
                                     body_html=f"<p class=\"govuk-body\">Body {position}</p>", content_hash="y" * 64))
    course.checks.append(KnowledgeCheck(key="check", position=1, after_lesson_key=f"lesson-{lessons}",
                                        title="Check your understanding", pass_mark=100, questions=QUESTIONS,
                                        content_hash="z" * 64))
    db.session.add(course)
    db.session.commit()
    return course


def make_run(course: Course, *, name: str = "Spring", kind: RunKind = RunKind.SCHEDULED, capacity: int | None = None,
             starts_in: int = 30, days: int = 28, created_by=None) -> CourseRun:
    today = clock.today()
    scheduled = kind is RunKind.SCHEDULED
    run = CourseRun(course=course, kind=kind, name=name,
                    starts_on=today + timedelta(days=starts_in) if scheduled else None,
                    ends_on=today + timedelta(days=starts_in + days) if scheduled else None,
                    enrolment_deadline=today + timedelta(days=starts_in) if scheduled else None,
                    capacity=capacity if scheduled else None, created_by_id=created_by.id if created_by else None)
    db.session.add(run)
    db.session.commit()
    return run


def make_learner(email: str | None = None, *, name: str | None = None, organisation_code: str = "E09000012",
                 password: str = PASSWORD):
    number = next(_numbers)
    return make_person(email or f"learner{number}@example.org", name=name or f"Learner {number:03d}",
                       organisation_code=organisation_code, password=password)


def enrol(person, run: CourseRun) -> Enrolment:
    enrolment = enrolment_service.enrol(None, person, run)
    db.session.commit()
    return enrolment


def record_progress(enrolment: Enrolment, *, lessons: int = 0, scores: tuple[int, ...] = ()) -> None:
    """Mark the first ``lessons`` lessons opened and add attempts at the first check with ``scores``."""
    course = enrolment.run.course
    now = utcnow()
    for lesson in course.lessons[:lessons]:
        db.session.add(LessonProgress(enrolment_id=enrolment.id, lesson_id=lesson.id, completed_at=now))
    for index, score in enumerate(scores):
        db.session.add(CheckAttempt(enrolment_id=enrolment.id, check_id=course.checks[0].id, answers={},
                                    score=score, passed=score >= course.checks[0].pass_mark,
                                    submission_token=f"{enrolment.id}-{index}-{next(_numbers)}"))
    if lessons or scores:
        enrolment.last_activity_at = now
    db.session.commit()
