"""Signing in with an organisation's own identity provider (OpenID Connect)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.organisations import Organisation
from app.models.people import Person
from app.models.types import UTCDateTime, utcnow


class IdentityProvider(db.Model):
    """An organisation's OpenID Connect provider (a council's Entra ID, say). At most one per organisation:
    its people sign in there instead of with a Pathways password."""

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), unique=True)
    issuer: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(255))
    # Encrypted with a key derived from SECRET_KEY (app/services/single_sign_on.py), never shown again.
    sealed_client_secret: Mapped[str] = mapped_column(Text())
    # Lower-case domains, one per line: only verified addresses in these are linked or given accounts.
    allowed_domains: Mapped[str] = mapped_column(Text())
    # Microsoft Entra ID: the directory (tenant) whose tokens are accepted, checked against the ``tid`` claim.
    tenant_id: Mapped[str | None] = mapped_column(String(64))
    creates_learners: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    organisation: Mapped[Organisation] = relationship()

    @property
    def domains(self) -> list[str]:
        return [line for line in self.allowed_domains.split() if line]


class SingleSignOnLink(db.Model):
    """A person's account at an identity provider, by its subject: after the first sign-in, the subject (which
    never changes) finds the person, not the email (which can)."""

    __table_args__ = (UniqueConstraint("provider_id", "subject"), UniqueConstraint("provider_id", "person_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("identity_provider.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(255))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_signed_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    provider: Mapped[IdentityProvider] = relationship()
    person: Mapped[Person] = relationship()


class SingleSignOnRequest(db.Model):
    """One trip to an identity provider: its state, nonce and PKCE verifier, kept on the server so that the
    answer is accepted once, within minutes, and only in the browser that set off."""

    id: Mapped[int] = mapped_column(primary_key=True)
    # SHA-256 of the state sent; the browser's session holds the state itself.
    state_digest: Mapped[str] = mapped_column(String(64), unique=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("identity_provider.id", ondelete="CASCADE"))
    nonce: Mapped[str] = mapped_column(String(128))
    code_verifier: Mapped[str] = mapped_column(String(128))
    next_url: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    provider: Mapped[IdentityProvider] = relationship()
