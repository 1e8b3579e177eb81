from __future__ import annotations

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Enum, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy import true as sa_true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.organisations import Organisation, Team
from app.models.types import UTCDateTime, utcnow


class Role(enum.StrEnum):
    LEARNER = "learner"
    APPRENTICE = "apprentice"
    SUPERVISOR = "supervisor"
    COORDINATOR = "coordinator"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return self.value.capitalize()

    @property
    def description(self) -> str:
        return ROLE_DESCRIPTIONS[self]


ROLE_DESCRIPTIONS = {
    Role.LEARNER: "Takes leadership digital-skills courses",
    Role.APPRENTICE: "Follows a digital apprenticeship",
    Role.SUPERVISOR: "Approves off-the-job hours and signs reviews for apprentices placed with them",
    Role.COORDINATOR: "Reviews cohorts and manages people in their organisations",
    Role.ADMIN: "Runs Pathways: organisations, people and settings",
}


def _enum_values(e):
    return [m.value for m in e]


class Person(UserMixin, db.Model):
    """Someone who signs in to Pathways. Never hard-deleted once they have records: deactivated instead."""

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased so that look-ups and the unique constraint ignore case.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("team.id"))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    # Bumped when the password changes or the person is deactivated: every older session stops working.
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    invited_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    password_set_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_signed_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # False: the person opted out of non-essential reminders (essential ones, such as a review due, still come).
    non_essential_reminders: Mapped[bool] = mapped_column(default=True, server_default=sa_true())

    organisation: Mapped[Organisation] = relationship()
    team: Mapped[Team | None] = relationship()
    role_grants: Mapped[list[RoleGrant]] = relationship(
        back_populates="person", cascade="all, delete-orphan", lazy="selectin"
    )

    # Flask-Login: the id in the session carries the session version, so old sessions end.
    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def roles(self) -> set[Role]:
        return {grant.role for grant in self.role_grants}

    def has_role(self, role: Role) -> bool:
        return role in self.roles

    @property
    def coordinator_scope_ids(self) -> set[int] | None:
        """Organisations this person coordinates; ``None`` means programme-wide."""
        grants = [g for g in self.role_grants if g.role is Role.COORDINATOR]
        if any(g.organisation_id is None for g in grants):
            return None
        return {g.organisation_id for g in grants}

    @property
    def has_password(self) -> bool:
        return self.password_hash is not None

    def __repr__(self) -> str:
        return f"<Person {self.id} {self.email}>"


class RoleGrant(db.Model):
    """A role held by a person. For coordinators, ``organisation_id`` names the organisation they
    coordinate; a coordinator grant without an organisation is programme-wide."""

    __table_args__ = (UniqueConstraint("person_id", "role", "organisation_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=20, values_callable=_enum_values))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"))

    person: Mapped[Person] = relationship(back_populates="role_grants")
    organisation: Mapped[Organisation | None] = relationship()


class SignInAttempt(db.Model):
    """One sign-in attempt, kept to throttle guessing per account and per client address."""

    __table_args__ = (
        Index("ix_sign_in_attempt_account_at", "account_digest", "at"),
        Index("ix_sign_in_attempt_address_at", "client_address", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # A digest of the email typed, whether or not such an account exists.
    account_digest: Mapped[str] = mapped_column(String(64))
    client_address: Mapped[str] = mapped_column(String(64))
    succeeded: Mapped[bool] = mapped_column(default=False)
