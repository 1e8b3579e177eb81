from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.people import Person
from app.models.types import UTCDateTime, enum_column, utcnow


class SessionEnd(enum.StrEnum):
    """Why a signed-in session ended."""

    SIGNED_OUT = "signed_out"  # the person signed out on that device
    SIGNED_OUT_ELSEWHERE = "signed_out_elsewhere"  # the person ended it from another of their sessions
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - the person changed their password in another session
    SUPERSEDED = "superseded"  # the person's session version moved on: a password reset, or deactivation
    EXPIRED = "expired"  # past its absolute lifetime (SESSION_ABSOLUTE_HOURS)
    IDLE = "idle"  # unused for longer than SESSION_IDLE_MINUTES


class UserSession(db.Model):
    """One signed-in session of a person, on one device. The browser's cookie holds a random key; the record
    holds its SHA-256 digest, so reading this table (a backup, a report) gives no key that signs anyone in."""

    __table_args__ = (Index("ix_user_session_expires_at", "expires_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    key_digest: Mapped[str] = mapped_column(String(64), unique=True)
    # The person's session_version when the session started (or changed its password): a higher one on the
    # person ends the session, as a password reset or deactivation does.
    session_version: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Written at most once a minute, so a request seldom writes.
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The absolute end, however active the session is.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_reason: Mapped[SessionEnd | None] = mapped_column(enum_column(SessionEnd, length=30))
    user_agent: Mapped[str] = mapped_column(String(255), default="")
    client_address: Mapped[str] = mapped_column(String(64), default="")

    person: Mapped[Person] = relationship()

    def __repr__(self) -> str:
        return f"<UserSession {self.id} of person {self.person_id}>"
