"""The course catalogue and a learner's view of their courses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from app.extensions import db
from app.models import Course, CourseRun, Enrolment, EnrolmentStatus, Person
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
    enrolment: Enrolment
    progress: learning.Progress | None


@dataclass
class LearnerHome:
    in_progress: list[LearnerCourse]
    upcoming: list[LearnerCourse]
    waitlisted: list[LearnerCourse]
    completed: list[LearnerCourse]

    @property
    def empty(self) -> bool:
        return not (self.in_progress or self.upcoming or self.waitlisted or self.completed)


def learner_home(person: Person, today: date) -> LearnerHome:
    enrolments = db.session.scalars(
        select(Enrolment).where(Enrolment.person_id == person.id, Enrolment.status != EnrolmentStatus.WITHDRAWN)
        .options(joinedload(Enrolment.run).joinedload(CourseRun.course).selectinload(Course.lessons),
                 joinedload(Enrolment.run).joinedload(CourseRun.course).selectinload(Course.checks))
        .order_by(Enrolment.created_at.desc())
    ).unique().all()
    home = LearnerHome([], [], [], [])
    learning_now = [e for e in enrolments if e.status is EnrolmentStatus.ENROLLED
                    and (e.run.starts_on is None or e.run.starts_on <= today)]
    progress = learning.progress_of(learning_now)
    for enrolment in enrolments:
        run = enrolment.run
        if enrolment.status is EnrolmentStatus.COMPLETED:
            home.completed.append(LearnerCourse(enrolment, None))
        elif enrolment.status is EnrolmentStatus.WAITLISTED:
            home.waitlisted.append(LearnerCourse(enrolment, None))
        elif run.starts_on is not None and run.starts_on > today:
            home.upcoming.append(LearnerCourse(enrolment, None))
        else:
            home.in_progress.append(LearnerCourse(enrolment, progress[enrolment.id]))
    return home
