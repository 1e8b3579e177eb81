from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.people import Person
from app.models.types import UTCDateTime, utcnow


class SecondFactor(db.Model):
    """A person's authenticator app (TOTP, RFC 6238): the second factor asked for after the password.
    At most one per person; resetting it deletes the row and its recovery codes."""

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), unique=True)
    # The shared secret, encrypted with a key derived from SECRET_KEY (app/services/multi_factor.py): a copy of
    # the database alone does not let anyone make codes.
    sealed_secret: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The 30-second time step of the last code accepted: a code of that step or an earlier one is refused,
    # so each code works once.
    last_used_step: Mapped[int | None] = mapped_column(BigInteger())
    # Wrong codes (and recovery codes) since ``failures_since``, to make guessing wait.
    wrong_codes: Mapped[int] = mapped_column(default=0)
    failures_since: Mapped[datetime | None] = mapped_column(UTCDateTime())

    person: Mapped[Person] = relationship()
    recovery_codes: Mapped[list[RecoveryCode]] = relationship(
        back_populates="second_factor", cascade="all, delete-orphan", passive_deletes=True
    )


class RecoveryCode(db.Model):
    """A single-use code that stands in for the authenticator app (a lost phone), kept only as a hash."""

    id: Mapped[int] = mapped_column(primary_key=True)
    second_factor_id: Mapped[int] = mapped_column(ForeignKey("second_factor.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(255))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    second_factor: Mapped[SecondFactor] = relationship(back_populates="recovery_codes")
