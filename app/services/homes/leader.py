"""What the leader's home shows: how they stand and what to do next.

Their courses by where they are: under way, with the step to open next and their progress; runs starting soon,
with their dates to add to a calendar; on a waitlist; and completed, with the CPD hours of this year (a
calendar year, as in their CPD record, ``app/services/cpd_record.py``). Three statements, however many
courses: the enrolments, then the outlines of the courses under way and what has been done in them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import bindparam, select

from app.extensions import db
from app.models import Course, CourseRun, Enrolment, EnrolmentStatus, Person, RunKind
from app.services import cpd_record, learning


@dataclass
class CourseUnderWay:
    enrolment_id: int
    course_title: str
    run_name: str
    ends_on: date | None
    progress: learning.Progress
    # The first step not done, where "Continue" on the course takes them; None once every step is done.
    next_step: learning.OutlineItem | None


@dataclass
class RunStartingSoon:
    enrolment_id: int
    course_title: str
    course_slug: str
    run_id: int
    run_name: str
    starts_on: date
    ends_on: date | None


@dataclass
class Waitlisted:
    enrolment_id: int
    course_title: str
    run_name: str


@dataclass
class CompletedCourse:
    enrolment_id: int
    course_title: str
    completed_on: date
    cpd_hours: Decimal


@dataclass
class LeaderPanel:
    under_way: list[CourseUnderWay]
    starting_soon: list[RunStartingSoon]
    waitlisted: list[Waitlisted]
    completed: list[CompletedCourse]
    cpd_year: int
    cpd_hours_this_year: Decimal

    @property
    def cpd_year_span(self) -> str:
        return cpd_record.year_span(self.cpd_year)

    @property
    def cpd_hours_text(self) -> str:
        return cpd_record.hours_text(self.cpd_hours_this_year)


@functools.cache
def _enrolments():
    """``:person_id``'s enrolments other than those they withdrew from, newest first, with their run and course.
    Built once."""
    return (
        select(Enrolment.id, Enrolment.status, Enrolment.completed_at, Enrolment.cpd_hours_credited,
               CourseRun.id.label("run_id"), CourseRun.name.label("run_name"), CourseRun.kind, CourseRun.starts_on,
               CourseRun.ends_on, Course.id.label("course_id"), Course.title, Course.slug)
        .join(CourseRun, Enrolment.run_id == CourseRun.id).join(Course, CourseRun.course_id == Course.id)
        .where(Enrolment.person_id == bindparam("person_id"), Enrolment.status != EnrolmentStatus.WITHDRAWN)
        .order_by(Enrolment.created_at.desc(), Enrolment.id.desc())
    )


def panel(person: Person, today: date) -> LeaderPanel | None:
    """The leader's panel, or None when the person has no courses (none but those they withdrew from).

    Anyone who enrolled gets it, whatever their roles: a coordinator taking a course is a leader on it."""
    rows = db.session.execute(_enrolments(), {"person_id": person.id}).all()
    if not rows:
        return None
    under_way_rows, starting_soon, waitlisted, completed = [], [], [], []
    for row in rows:
        if row.status is EnrolmentStatus.COMPLETED:
            completed.append(CompletedCourse(row.id, row.title, cpd_record.completed_on(row.completed_at),
                                             row.cpd_hours_credited or Decimal(0)))
        elif row.status is EnrolmentStatus.WAITLISTED:
            waitlisted.append(Waitlisted(row.id, row.title, row.run_name))
        elif row.kind is RunKind.SCHEDULED and row.starts_on is not None and row.starts_on > today:
            starting_soon.append(RunStartingSoon(row.id, row.title, row.slug, row.run_id, row.run_name, row.starts_on,
                                                 row.ends_on))
        else:
            under_way_rows.append(row)
    progresses = learning.progress_of_courses({row.id: row.course_id for row in under_way_rows})
    under_way = [CourseUnderWay(row.id, row.title, row.run_name, row.ends_on, progresses[row.id],
                                learning.next_step(progresses[row.id])) for row in under_way_rows]
    starting_soon.sort(key=lambda run: (run.starts_on, run.enrolment_id))
    completed.sort(key=lambda course: (course.completed_on, course.enrolment_id), reverse=True)
    year = cpd_record.cpd_year_of(today)
    this_year = sum((c.cpd_hours for c in completed if cpd_record.cpd_year_of(c.completed_on) == year), Decimal(0))
    return LeaderPanel(under_way, starting_soon, waitlisted, completed, year, this_year)
