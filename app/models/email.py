from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Enum, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UTCDateTime, utcnow


class EmailStatus(enum.StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"  # gave up after the maximum number of attempts; kept for inspection


def new_message_id(domain: str = "pathways.london") -> str:
    """A Message-ID unique to one message (RFC 5322: ``<left@right>``)."""
    return f"<{uuid.uuid4().hex}@{domain}>"


class OutboundEmail(db.Model):
    """A message in the outbox. Written in the same transaction as the change that causes it, so
    nothing is lost if sending fails; the sender delivers it later and retries with backoff.

    A sender claims a message before sending it (``claimed_by``, until ``claimed_until``), so no two senders
    send it at once; ``message_id`` is fixed when it is queued and sent on every try, so a copy sent twice
    (after a crash between the server accepting it and the outcome being recorded) can be recognised."""

    __table_args__ = (Index("ix_outbound_email_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(String(50))
    status: Mapped[EmailStatus] = mapped_column(
        Enum(EmailStatus, native_enum=False, length=20, values_callable=lambda e: [m.value for m in e]),
        default=EmailStatus.QUEUED,
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    message_id: Mapped[str] = mapped_column(String(250), unique=True, index=True, default=new_message_id)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # When the latest try started: written and committed before the mail server is contacted.
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
