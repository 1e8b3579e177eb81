"""The course catalogue and a learner's view of their courses."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import bindparam, distinct, func, select
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models import (
    CheckAttempt,
    Course,
    CourseRun,
    Enrolment,
    EnrolmentStatus,
    KnowledgeCheck,
    Lesson,
    LessonProgress,
    Person,
)
from app.services import learning
from app.services.runs import enrolment_closed_reason, places_left


def catalogue() -> list[Course]:
    return list(db.session.scalars(
        select(Course).where(Course.retired_at.is_(None)).order_by(Course.title)
        .options(selectinload(Course.runs))
    ))


def course_by_slug(slug: str) -> Course | None:
    return db.session.scalar(select(Course).where(Course.slug == slug, Course.retired_at.is_(None)))


@dataclass
class RunOffer:
    run: CourseRun
    closed_reason: str | None
    places_left: int | None
    enrolment: Enrolment | None

    @property
    def full(self) -> bool:
        return self.places_left == 0


def run_offers(course: Course, person: Person, today: date) -> list[RunOffer]:
    mine = {e.run_id: e for e in db.session.scalars(
        select(Enrolment).join(CourseRun).where(CourseRun.course_id == course.id, Enrolment.person_id == person.id)
    )}
    offers = []
    for run in course.runs:
        reason = enrolment_closed_reason(run, today)
        if reason and run.id not in mine:
            continue
        offers.append(RunOffer(run, reason, places_left(run), mine.get(run.id)))
    return offers


@dataclass
class LearnerCourse:
    """One of a learner's courses as their home lists it."""

    enrolment_id: int
    course_title: str
    run_name: str
    starts_on: date | None
    ends_on: date | None
    completed_at: datetime | None
    cpd_hours_credited: Decimal | None
    progress: learning.ProgressCount | None


@dataclass
class LearnerHome:
    in_progress: list[LearnerCourse]
    upcoming: list[LearnerCourse]
    waitlisted: list[LearnerCourse]
    completed: list[LearnerCourse]

    @property
    def empty(self) -> bool:
        return not (self.in_progress or self.upcoming or self.waitlisted or self.completed)


def _count(query):
    return query.with_only_columns(func.count()).scalar_subquery()


@functools.cache
def _learner_courses():
    """A person's enrolments (``:person_id``) with their runs and courses, and the steps of each course's
    outline (``learning.outline``) done, counted in the database. Built once: building a statement this size
    costs more than running it."""
    live_lesson = select(Lesson.id).where(Lesson.course_id == CourseRun.course_id, Lesson.retired_at.is_(None))
    after_live_lesson = (
        select(Lesson.id).where(Lesson.course_id == KnowledgeCheck.course_id, Lesson.retired_at.is_(None),
                                Lesson.key == KnowledgeCheck.after_lesson_key).exists()
    )
    live_check = select(KnowledgeCheck.id).where(KnowledgeCheck.course_id == CourseRun.course_id,
                                                 KnowledgeCheck.retired_at.is_(None), after_live_lesson)
    lessons_opened = (
        select(LessonProgress.id).join(Lesson, LessonProgress.lesson_id == Lesson.id)
        .where(LessonProgress.enrolment_id == Enrolment.id, Lesson.retired_at.is_(None))
    )
    checks_passed = (
        select(func.count(distinct(CheckAttempt.check_id)))
        .join(KnowledgeCheck, CheckAttempt.check_id == KnowledgeCheck.id)
        .where(CheckAttempt.enrolment_id == Enrolment.id, CheckAttempt.passed.is_(True),
               KnowledgeCheck.retired_at.is_(None), after_live_lesson)
        .scalar_subquery()
    )
    return (
        select(Enrolment.id, Enrolment.status, Enrolment.completed_at, Enrolment.cpd_hours_credited,
               CourseRun.name, CourseRun.starts_on, CourseRun.ends_on, Course.title,
               (_count(live_lesson) + _count(live_check)).label("steps"),
               (_count(lessons_opened) + checks_passed).label("done"))
        .join(CourseRun, Enrolment.run_id == CourseRun.id).join(Course, CourseRun.course_id == Course.id)
        .where(Enrolment.person_id == bindparam("person_id"), Enrolment.status != EnrolmentStatus.WITHDRAWN)
        .order_by(Enrolment.created_at.desc(), Enrolment.id.desc())
    )


def learner_home(person: Person, today: date) -> LearnerHome:
    """The person's courses by where they are, with the progress of those under way, in one query."""
    rows = db.session.execute(_learner_courses(), {"person_id": person.id}).all()
    home = LearnerHome([], [], [], [])
    for row in rows:
        course = LearnerCourse(row.id, row.title, row.name, row.starts_on, row.ends_on, row.completed_at,
                               row.cpd_hours_credited, None)
        if row.status is EnrolmentStatus.COMPLETED:
            home.completed.append(course)
        elif row.status is EnrolmentStatus.WAITLISTED:
            home.waitlisted.append(course)
        elif row.starts_on is not None and row.starts_on > today:
            home.upcoming.append(course)
        else:
            course.progress = learning.ProgressCount(row.done, row.steps)
            home.in_progress.append(course)
    return home
