from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, utcnow


class PasswordResetRequest(db.Model):
    """One request made on the "Forgot your password" page, kept to limit requests per email address (which is
    per account) and per client address. Written for every address asked for, with an account or without, so
    the limits, and the work, are the same either way."""

    __table_args__ = (
        Index("ix_password_reset_request_address_at", "address_digest", "at"),
        Index("ix_password_reset_request_client_at", "client_address", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # SHA-256 of the lower-cased address asked for.
    address_digest: Mapped[str] = mapped_column(String(64))
    client_address: Mapped[str] = mapped_column(String(64))


class UsedLink(db.Model):
    """A link to set a password (an invitation or a password reset) that has been used, kept as the SHA-256 of
    its token, never the token: it is written in the transaction that sets the password, and a second use of
    the link finds it. Kept until the link would have expired anyway, then purged."""

    id: Mapped[int] = mapped_column(primary_key=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    used_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
