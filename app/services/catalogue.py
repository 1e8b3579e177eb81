"""The course catalogue: live courses, and the runs a course's page offers a person."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.models import Course, CourseRun, Enrolment, Person
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


def offered_run(course: Course, person: Person, run_id: int, today: date) -> CourseRun | None:
    """The run ``run_id`` if the course's page shows it to ``person`` (open for enrolment, or one they are on)."""
    return next((offer.run for offer in run_offers(course, person, today) if offer.run.id == run_id), None)
