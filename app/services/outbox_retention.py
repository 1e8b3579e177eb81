"""How long the outbox keeps email (README, "Email"), run daily by the ``purge-attempts`` job.

- A message with a link to set a password (an invitation, a password reset) that has been sent, or has failed
  for good, loses its body after ``OUTBOX_LINK_BODY_DAYS`` (7): the recipient has the link, and a copy here only
  puts the account at risk. Messages still queued are left whole: the sender needs them.
- Every message sent, or failed for good, more than ``OUTBOX_KEEP_DAYS`` (90) ago is deleted, except those a
  reminder refers to (the reminder records that it went out): those lose their body instead.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, exists, select, update

from app.extensions import db
from app.models import OutboundEmail, Reminder
from app.models.email import EmailStatus
from app.models.types import utcnow
from app.services.tokens import LINK_EMAIL_PURPOSES

LINK_REMOVED = "[Removed: this message held a link to set a password, and is kept without it.]\n"
BODY_REMOVED = "[Removed: messages are kept in full for {days} days.]\n"
_DONE = (EmailStatus.SENT, EmailStatus.FAILED)


def purge_old_email() -> dict[str, int]:
    config = current_app.config
    now = utcnow()
    links = db.session.execute(
        update(OutboundEmail)
        .where(OutboundEmail.purpose.in_(LINK_EMAIL_PURPOSES), OutboundEmail.status.in_(_DONE),
               OutboundEmail.created_at < now - timedelta(days=config["OUTBOX_LINK_BODY_DAYS"]),
               OutboundEmail.body_text != LINK_REMOVED)
        .values(body_text=LINK_REMOVED)
        .execution_options(synchronize_session=False)
    ).rowcount or 0
    days = config["OUTBOX_KEEP_DAYS"]
    old = (OutboundEmail.status.in_(_DONE), OutboundEmail.created_at < now - timedelta(days=days))
    reminded = exists().where(Reminder.email_id == OutboundEmail.id)
    deleted = db.session.execute(
        delete(OutboundEmail).where(*old, ~reminded).execution_options(synchronize_session=False)
    ).rowcount or 0
    removed = BODY_REMOVED.format(days=days)
    kept = db.session.execute(
        update(OutboundEmail)
        .where(*old, OutboundEmail.id.in_(select(Reminder.email_id).where(Reminder.email_id.is_not(None))),
               OutboundEmail.body_text != removed)
        .values(body_text=removed)
        .execution_options(synchronize_session=False)
    ).rowcount or 0
    return {"link email bodies removed": links, "old email deleted": deleted, "old email bodies removed": kept}
