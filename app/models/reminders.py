"""Reminders as sent: one row per person per event, so none is ever sent twice."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, utcnow


class Reminder(db.Model):
    """One reminder to one person about one event. ``key`` names the event (``review_due:41``,
    ``no_otj_14_days:7:2026-11-09``, ``digest:12:2026-W47``) and is unique, so reruns and two schedulers
    acting at once can never send it twice: the second insert fails and is skipped."""

    __table_args__ = (Index("ix_reminder_person", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    kind: Mapped[str] = mapped_column(String(40))
    essential: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The email that carries it (a digest carries many); None when it was not sent (opted out).
    email_id: Mapped[int | None] = mapped_column(ForeignKey("outbound_email.id"), index=True)
    skipped_reason: Mapped[str | None] = mapped_column(String(200))
