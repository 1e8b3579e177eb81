"""Email through an outbox: messages are queued in the database with the change that causes them, then
delivered by SMTP with retry and backoff. Nothing is lost when the mail server is down.

Email is sent only by the scheduler's ``outbox`` job (every minute) and ``flask outbox deliver``, never inside
a web request, so a slow or hung mail server holds up no page. Several senders may run at once (two
schedulers, the command); each message is sent by one sender at a time:

- **Claims.** A sender claims a small batch of due messages before sending any: one statement writes its name
  (``claimed_by``) and a lease (``claimed_until``, ``MAIL_CLAIM_SECONDS`` ahead) on rows nobody holds, so only
  one sender wins each row. On PostgreSQL the rows are picked ``FOR UPDATE SKIP LOCKED``, so senders take
  different rows without waiting for each other; SQLite has one writer at a time. Other senders leave a claimed
  message alone until its lease ends, so the messages of a sender that dies are picked up after the lease.
- **Each try is recorded before the mail server hears of it**: the attempt (``attempts``, ``last_attempt_at``,
  a fresh lease) is committed first, the outcome (sent; or the error and the next try) after, which also ends
  the claim. Every write is conditional on still holding the claim, so a sender that lost it changes nothing.
- **At least once, with one Message-ID.** Every try sends the Message-ID fixed when the message was queued. If
  the outcome cannot be recorded after the server accepted the message (the database fails, the process
  dies), the message stays queued and claimed, and is sent again after the lease with the same Message-ID:
  a copy is possible only in that window, and mail software can recognise it as one.
- **Fence.** ``deliver_due(fence=...)`` checks the caller's fence before claiming each batch and before each
  message; when it says stop, the sender gives back the claims it has not used and returns at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import smtplib
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr

from flask import current_app, render_template
from sqlalchemy import or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from app.models import OutboundEmail
from app.models.email import EmailStatus, new_message_id
from app.models.types import utcnow

log = logging.getLogger("pathways.email")

MAX_BACKOFF = timedelta(hours=6)
# Messages claimed at a time: small, so concurrent senders share the work and a dead sender strands few.
CLAIM_BATCH = 10


def queue_email(recipient: str, purpose: str, template: str, **context) -> OutboundEmail:
    """Queue a message rendered from ``templates/emails/<template>.txt``; the first line is the subject."""
    rendered = render_template(f"emails/{template}.txt", **context).strip()
    subject, _, body = rendered.partition("\n")
    message = OutboundEmail(
        recipient=recipient, subject=subject.strip(), body_text=body.strip() + "\n", purpose=purpose,
        message_id=new_message_id(_sender_domain()),
    )
    db.session.add(message)
    db.session.flush()
    return message


def _sender_domain() -> str:
    address = parseaddr(current_app.config["MAIL_SENDER"])[1]
    return address.rpartition("@")[2] or "pathways.london"


def backoff(attempts: int) -> timedelta:
    """Wait before the next try: 1, 2, 4 … minutes, at most six hours."""
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_BACKOFF)


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    stopped: bool = False  # the fence said stop; unsent claims were given back

    @property
    def attempted(self) -> int:
        return self.sent + self.retrying + self.failed


def sending_enabled() -> bool:
    return current_app.config["MAIL_BACKEND"] == "smtp"


def deliver_due(now: datetime | None = None, limit: int = 100, *,
                fence: Callable[[], bool] | None = None) -> DeliveryReport:
    """Send up to ``limit`` queued messages whose time has come, claiming them first; each try and each outcome
    is committed as it happens. ``fence`` returns False when this sender must stop at once."""
    report = DeliveryReport()
    if not sending_enabled():
        return report
    sender = _Sender(now, fence)
    try:
        sender.deliver(limit, report)
    except BaseException:
        db.session.rollback()
        sender.give_back_claims()
        raise
    finally:
        sender.disconnect()
    return report


@dataclass
class _Claimed:
    """What a sender needs of a message it holds (read once, when claimed)."""

    id: int
    recipient: str
    subject: str
    body_text: str
    message_id: str
    attempts: int


class _Sender:
    def __init__(self, now: datetime | None, fence: Callable[[], bool] | None):
        config = current_app.config
        self.config = config
        # The run's time decides what is due and when failures are tried again; leases follow the clock from it.
        self.now = now or utcnow()
        self._offset = self.now - utcnow()
        self.fence = fence
        self.lease = timedelta(seconds=config["MAIL_CLAIM_SECONDS"])
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"[-100:]
        self.connection: smtplib.SMTP | None = None
        # A message whose try is recorded but whose outcome is not: kept claimed if the run breaks off, so it is
        # sent again only after the lease.
        self.in_flight: int | None = None

    def clock(self) -> datetime:
        return utcnow() + self._offset

    def may_go_on(self) -> bool:
        return self.fence is None or bool(self.fence())

    def deliver(self, limit: int, report: DeliveryReport) -> None:
        taken = 0
        while taken < limit:
            if not self.may_go_on():
                report.stopped = True
                return
            batch = self.claim(min(CLAIM_BATCH, limit - taken))
            if not batch:
                return
            taken += len(batch)
            if not self.send(batch, report):
                return

    def claim(self, size: int) -> list[_Claimed]:
        """Claim up to ``size`` due messages nobody holds, in one statement only one sender wins per row."""
        at = self.clock()
        due = (
            select(OutboundEmail.id)
            .where(OutboundEmail.status == EmailStatus.QUEUED, OutboundEmail.next_attempt_at <= at,
                   or_(OutboundEmail.claimed_until.is_(None), OutboundEmail.claimed_until <= at))
            .order_by(OutboundEmail.next_attempt_at, OutboundEmail.id)
            .limit(size)
        )
        if db.session.get_bind().dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        ids = db.session.scalars(
            update(OutboundEmail)
            .where(OutboundEmail.id.in_(due.scalar_subquery()))
            .values(claimed_by=self.name, claimed_until=at + self.lease)
            .returning(OutboundEmail.id)
            .execution_options(synchronize_session=False)
        ).all()
        rows = db.session.execute(
            select(OutboundEmail.id, OutboundEmail.recipient, OutboundEmail.subject, OutboundEmail.body_text,
                   OutboundEmail.message_id, OutboundEmail.attempts)
            .where(OutboundEmail.id.in_(ids))
            .order_by(OutboundEmail.next_attempt_at, OutboundEmail.id)
        ).all() if ids else []
        db.session.commit()
        return [_Claimed(*row) for row in rows]

    def send(self, batch: list[_Claimed], report: DeliveryReport) -> bool:
        """Send a claimed batch; False when the run must stop (fence, or the server is gone)."""
        for position, message in enumerate(batch):
            if not self.may_go_on():
                report.stopped = True
                self.give_back_claims()
                return False
            if self.connection is None:
                try:
                    self.connection = _connect(self.config)
                except (OSError, smtplib.SMTPException) as error:
                    # The server is unreachable: every message of the batch waits for its next try.
                    reason = f"could not connect to {self.config['SMTP_HOST']}:{self.config['SMTP_PORT']}: {error}"
                    for waiting in batch[position:]:
                        self._record_failure(waiting, waiting.attempts + 1, reason, report, counting_try=True)
                    return False
            if not self._begin_attempt(message):
                continue  # another sender took it over after this one's lease ran out
            try:
                self.connection.send_message(_as_email(message, self.config["MAIL_SENDER"]))
            except (OSError, smtplib.SMTPException) as error:
                self._record_failure(message, message.attempts, _describe(error), report)
                if isinstance(error, smtplib.SMTPServerDisconnected | OSError):
                    self.give_back_claims()
                    return False
            else:
                self._record_sent(message)
                report.sent += 1
        return True

    def _holding(self, message: _Claimed):
        return update(OutboundEmail).where(
            OutboundEmail.id == message.id, OutboundEmail.claimed_by == self.name,
            OutboundEmail.status == EmailStatus.QUEUED,
        ).execution_options(synchronize_session=False)

    def _begin_attempt(self, message: _Claimed) -> bool:
        at = self.clock()
        held = db.session.execute(
            self._holding(message).values(attempts=message.attempts + 1, last_attempt_at=at,
                                          claimed_until=at + self.lease)
        ).rowcount == 1
        db.session.commit()
        if held:
            message.attempts += 1
            self.in_flight = message.id
        return held

    def _record_sent(self, message: _Claimed) -> None:
        held = db.session.execute(self._holding(message).values(
            status=EmailStatus.SENT, sent_at=self.clock(), last_error=None, claimed_by=None, claimed_until=None,
        )).rowcount == 1
        db.session.commit()
        self.in_flight = None
        if not held:
            log.warning("email %s to %s was sent after its claim lapsed; the sender that took it over sends it "
                        "again with the same Message-ID (raise MAIL_CLAIM_SECONDS)", message.id, message.recipient)

    def _record_failure(self, message: _Claimed, attempts: int, reason: str, report: DeliveryReport, *,
                        counting_try: bool = False) -> None:
        values = {"last_error": reason, "claimed_by": None, "claimed_until": None}
        if counting_try:
            values |= {"attempts": attempts, "last_attempt_at": self.clock()}
        gives_up = attempts >= self.config["MAIL_MAX_ATTEMPTS"]
        if gives_up:
            values["status"] = EmailStatus.FAILED
        else:
            values["next_attempt_at"] = self.now + backoff(attempts)
        held = db.session.execute(self._holding(message).values(**values)).rowcount == 1
        db.session.commit()
        self.in_flight = None
        if not held:
            return  # another sender took it over after this one's lease ran out
        if gives_up:
            report.failed += 1
            log.error("email %s to %s failed for good after %s attempts: %s", message.id, message.recipient,
                      attempts, reason)
        else:
            report.retrying += 1
            log.warning("email %s to %s not sent (attempt %s): %s", message.id, message.recipient, attempts,
                        reason)

    def give_back_claims(self) -> None:
        """End this sender's claims on messages it has not tried, so others need not wait for the lease. A
        message in flight keeps its claim: the server may have accepted it."""
        statement = (
            update(OutboundEmail)
            .where(OutboundEmail.claimed_by == self.name, OutboundEmail.status == EmailStatus.QUEUED)
            .values(claimed_by=None, claimed_until=None)
            .execution_options(synchronize_session=False)
        )
        if self.in_flight is not None:
            statement = statement.where(OutboundEmail.id != self.in_flight)
        try:
            db.session.execute(statement)
            db.session.commit()
        except SQLAlchemyError:
            # The database is unreachable: the claims lapse with their lease instead.
            db.session.rollback()
            log.warning("email claims of %s not given back; they lapse after the lease", self.name)

    def disconnect(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self.connection.quit()
            self.connection = None


def _connect(config) -> smtplib.SMTP:
    connection = smtplib.SMTP(config["SMTP_HOST"], config["SMTP_PORT"], timeout=config["SMTP_TIMEOUT_SECONDS"],
                              local_hostname=socket.getfqdn() or "localhost")
    if config["SMTP_STARTTLS"]:
        connection.starttls()
    if config["SMTP_USERNAME"]:
        connection.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"])
    return connection


def _as_email(message: _Claimed, sender: str) -> EmailMessage:
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.recipient
    email["Subject"] = message.subject
    email["Message-ID"] = message.message_id  # the same on every try
    email.set_content(message.body_text)
    return email


def _describe(error: Exception) -> str:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = "; ".join(f"{code} {text.decode(errors='replace')}" for code, text in error.recipients.values())
        return f"recipient refused: {codes}"
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{error.smtp_code} {error.smtp_error.decode(errors='replace')}"
    return str(error) or type(error).__name__
