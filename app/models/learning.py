"""People's enrolments on course runs, their lesson progress and knowledge-check attempts."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import JSON, Enum, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.courses import CourseRun, KnowledgeCheck, Lesson
from app.models.people import Person
from app.models.types import UTCDateTime, utcnow


class EnrolmentStatus(enum.StrEnum):
    ENROLLED = "enrolled"
    WAITLISTED = "waitlisted"
    COMPLETED = "completed"
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> str:
        return {"enrolled": "Enrolled", "waitlisted": "On the waitlist", "completed": "Completed",
                "withdrawn": "Withdrawn"}[self.value]


class Enrolment(db.Model):
    """A person on a run. One row per person and run; withdrawal keeps the row and its history."""

    __table_args__ = (
        UniqueConstraint("run_id", "person_id"),
        Index("ix_enrolment_run_status", "run_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("course_run.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    status: Mapped[EnrolmentStatus] = mapped_column(
        Enum(EnrolmentStatus, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e])
    )
    enrolled_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # When the person joined the waitlist (its order) and when they got a place.
    waitlisted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cpd_hours_credited: Mapped[Decimal | None] = mapped_column(Numeric(5, 1))
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    withdrawal_reason: Mapped[str | None] = mapped_column(Text)

    run: Mapped[CourseRun] = relationship()
    person: Mapped[Person] = relationship(foreign_keys=[person_id])
    enrolled_by: Mapped[Person | None] = relationship(foreign_keys=[enrolled_by_id])


class LessonProgress(db.Model):
    __table_args__ = (UniqueConstraint("enrolment_id", "lesson_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolment.id"), index=True)
    lesson_id: Mapped[int] = mapped_column(ForeignKey("lesson.id"))
    completed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    lesson: Mapped[Lesson] = relationship()


class CheckAttempt(db.Model):
    """One submitted attempt at a knowledge check, with the answers given and the score."""

    __table_args__ = (Index("ix_check_attempt_enrolment_check", "enrolment_id", "check_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    enrolment_id: Mapped[int] = mapped_column(ForeignKey("enrolment.id"))
    check_id: Mapped[int] = mapped_column(ForeignKey("knowledge_check.id"))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # {"question id": ["option id", ...]}
    answers: Mapped[dict] = mapped_column(JSON)
    score: Mapped[int]  # percentage of questions answered correctly
    passed: Mapped[bool]
    # Guards against a double submit of the same form.
    submission_token: Mapped[str] = mapped_column(String(64), unique=True)

    check: Mapped[KnowledgeCheck] = relationship()
