"""Certificates as issued: fixed PDF bytes with their SHA-256, a readable number, an unguessable
verification code, and an honest status (valid, revoked, superseded). Nothing is ever deleted."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from app.extensions import db
from app.models.people import Person
from app.models.types import UTCDateTime, enum_column, utcnow


class CertificateKind(enum.StrEnum):
    COURSE = "course"
    APPRENTICESHIP = "apprenticeship"


class CertificateStatus(enum.StrEnum):
    VALID = "valid"
    REVOKED = "revoked"
    SUPERSEDED = "superseded"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class Certificate(db.Model):
    """One version of a certificate. A reissue adds a version with the same number and marks the
    previous one superseded. ``current_key`` names the achievement (``enrolment:12``,
    ``apprenticeship:7``) on the current version only and is unique, so two racing requests can never
    leave two current certificates for one achievement."""

    __table_args__ = (
        UniqueConstraint("number", "version"),
        Index("ix_certificate_holder", "holder_id"),
        Index("ix_certificate_achievement", "achievement_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20))  # e.g. PW-2026-000123, shared by every version
    version: Mapped[int] = mapped_column(default=1)
    kind: Mapped[CertificateKind] = mapped_column(enum_column(CertificateKind))
    achievement_key: Mapped[str] = mapped_column(String(40))
    current_key: Mapped[str | None] = mapped_column(String(40), unique=True)
    verification_code: Mapped[str] = mapped_column(String(32), unique=True)
    holder_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    enrolment_id: Mapped[int | None] = mapped_column(ForeignKey("enrolment.id"), index=True)
    apprenticeship_id: Mapped[int | None] = mapped_column(ForeignKey("apprenticeship.id"), index=True)
    # What the certificate says, as issued (the PDF is rendered from these and never again).
    holder_name: Mapped[str] = mapped_column(String(200))
    achievement: Mapped[str] = mapped_column(String(300))
    completed_on: Mapped[date]
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[CertificateStatus] = mapped_column(enum_column(CertificateStatus))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    reissue_reason: Mapped[str | None] = mapped_column(Text)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    revocation_reason: Mapped[str | None] = mapped_column(Text)
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("certificate.id"))

    holder: Mapped[Person] = relationship(foreign_keys=[holder_id])
    issued_by: Mapped[Person | None] = relationship(foreign_keys=[issued_by_id])
    revoked_by: Mapped[Person | None] = relationship(foreign_keys=[revoked_by_id])
    superseded_by: Mapped[Certificate | None] = relationship(remote_side=[id])
    file: Mapped[CertificateFile] = relationship(back_populates="certificate", uselist=False)


class CertificateFile(db.Model):
    """The PDF exactly as issued, in the database so every worker on every host serves the same bytes."""

    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificate.id"), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int]
    pdf: Mapped[bytes] = deferred(mapped_column(LargeBinary))

    certificate: Mapped[Certificate] = relationship(back_populates="file")


class VerificationAttempt(db.Model):
    """A look-up on the public verification pages, kept to rate-limit code harvesting per client."""

    __table_args__ = (Index("ix_verification_attempt_address_at", "client_address", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    client_address: Mapped[str] = mapped_column(String(64))
    found: Mapped[bool] = mapped_column(default=False)
