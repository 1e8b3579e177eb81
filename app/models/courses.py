"""Leadership courses as synced from the files in courses/, and the runs they are offered in."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, Enum, ForeignKey, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.people import Person
from app.models.types import UTCDateTime, utcnow


def _values(e):
    return [m.value for m in e]


class Course(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    audience: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(String(20))
    estimated_hours: Mapped[Decimal] = mapped_column(Numeric(5, 1))
    cpd_hours: Mapped[Decimal] = mapped_column(Numeric(5, 1))
    topics: Mapped[list] = mapped_column(JSON, default=list)
    learning_outcomes: Mapped[list] = mapped_column(JSON, default=list)
    # e.g. {"lessons": "all", "checks": "all"}
    completion_rule: Mapped[dict] = mapped_column(JSON, default=dict)
    gives_certificate: Mapped[bool] = mapped_column(default=True)
    # Hash of course.yaml's content: an unchanged file is not rewritten.
    content_hash: Mapped[str] = mapped_column(String(64))
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # A course whose folder was removed: hidden from the catalogue, its history kept.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    lessons: Mapped[list[Lesson]] = relationship(back_populates="course", order_by="Lesson.position")
    checks: Mapped[list[KnowledgeCheck]] = relationship(back_populates="course", order_by="KnowledgeCheck.position")
    runs: Mapped[list[CourseRun]] = relationship(back_populates="course", order_by="CourseRun.id")


class Lesson(db.Model):
    __table_args__ = (UniqueConstraint("course_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id"), index=True)
    # The id from the file name (01-why-digital-matters.md → why-digital-matters): stable across edits.
    key: Mapped[str] = mapped_column(String(100))
    position: Mapped[int]
    title: Mapped[str] = mapped_column(String(200))
    body_html: Mapped[str] = mapped_column(Text)  # rendered and sanitised at sync
    content_hash: Mapped[str] = mapped_column(String(64))
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    course: Mapped[Course] = relationship(back_populates="lessons")


class KnowledgeCheck(db.Model):
    __table_args__ = (UniqueConstraint("course_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id"), index=True)
    key: Mapped[str] = mapped_column(String(100))
    # Checks sit after a lesson; position orders them among the lessons.
    position: Mapped[int]
    after_lesson_key: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(200))
    pass_mark: Mapped[int]
    # [{"id", "type", "prompt", "options": [{"id", "text", "correct", "feedback"}]}]
    questions: Mapped[list] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    course: Mapped[Course] = relationship(back_populates="checks")


class RunKind(enum.StrEnum):
    SELF_PACED = "self_paced"
    SCHEDULED = "scheduled"


class CourseRun(db.Model):
    """An offering of a course: self-paced (always open) or scheduled (dates, deadline, capacity)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("course.id"), index=True)
    kind: Mapped[RunKind] = mapped_column(Enum(RunKind, native_enum=False, length=20, values_callable=_values))
    name: Mapped[str] = mapped_column(String(200))
    starts_on: Mapped[date | None]
    ends_on: Mapped[date | None]
    enrolment_deadline: Mapped[date | None]
    capacity: Mapped[int | None]
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    course: Mapped[Course] = relationship(back_populates="runs")
    created_by: Mapped[Person | None] = relationship()
    live_sessions: Mapped[list[LiveSession]] = relationship(back_populates="run", order_by="LiveSession.starts_at")


class LiveSession(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("course_run.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    location: Mapped[str | None] = mapped_column(String(300))
    online_url: Mapped[str | None] = mapped_column(String(500))

    run: Mapped[CourseRun] = relationship(back_populates="live_sessions")
