"""Email through an outbox: messages are queued in the database with the change that causes them,
then delivered by SMTP with retry and backoff. Nothing is lost when the mail server is down."""

from __future__ import annotations

import contextlib
import logging
import smtplib
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid

from flask import current_app, render_template
from sqlalchemy import select

from app.extensions import db
from app.models import OutboundEmail
from app.models.email import EmailStatus
from app.models.types import utcnow

log = logging.getLogger("pathways.email")

MAX_BACKOFF = timedelta(hours=6)


def queue_email(recipient: str, purpose: str, template: str, **context) -> OutboundEmail:
    """Queue a message rendered from ``templates/emails/<template>.txt``; the first line is the subject."""
    rendered = render_template(f"emails/{template}.txt", **context).strip()
    subject, _, body = rendered.partition("\n")
    message = OutboundEmail(
        recipient=recipient, subject=subject.strip(), body_text=body.strip() + "\n", purpose=purpose
    )
    db.session.add(message)
    db.session.flush()
    return message


def backoff(attempts: int) -> timedelta:
    """Wait before the next try: 1, 2, 4 … minutes, at most six hours."""
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_BACKOFF)


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def attempted(self) -> int:
        return self.sent + self.retrying + self.failed


def sending_enabled() -> bool:
    return current_app.config["MAIL_BACKEND"] == "smtp"


def deliver_due(now: datetime | None = None, limit: int = 100) -> DeliveryReport:
    """Send queued messages whose time has come; each outcome is committed as it happens."""
    report = DeliveryReport()
    if not sending_enabled():
        return report
    now = now or utcnow()
    due = db.session.scalars(
        select(OutboundEmail)
        .where(OutboundEmail.status == EmailStatus.QUEUED, OutboundEmail.next_attempt_at <= now)
        .order_by(OutboundEmail.next_attempt_at, OutboundEmail.id)
        .limit(limit)
    ).all()
    if not due:
        return report
    config = current_app.config
    try:
        connection = _connect(config)
    except (OSError, smtplib.SMTPException) as error:
        # The server is unreachable: every due message waits for its next try.
        for message in due:
            _record_failure(message, f"could not connect to {config['SMTP_HOST']}:{config['SMTP_PORT']}: {error}",
                            now, report)
        db.session.commit()
        return report
    try:
        for message in due:
            try:
                connection.send_message(_as_email(message, config["MAIL_SENDER"]))
            except (OSError, smtplib.SMTPException) as error:
                _record_failure(message, _describe(error), now, report)
                if isinstance(error, smtplib.SMTPServerDisconnected | OSError):
                    db.session.commit()
                    break
            else:
                message.status = EmailStatus.SENT
                message.attempts += 1
                message.sent_at = utcnow()
                message.last_error = None
                report.sent += 1
            db.session.commit()
    finally:
        with contextlib.suppress(OSError, smtplib.SMTPException):
            connection.quit()
    return report


def _connect(config) -> smtplib.SMTP:
    connection = smtplib.SMTP(config["SMTP_HOST"], config["SMTP_PORT"], timeout=config["SMTP_TIMEOUT_SECONDS"],
                              local_hostname=socket.getfqdn() or "localhost")
    if config["SMTP_STARTTLS"]:
        connection.starttls()
    if config["SMTP_USERNAME"]:
        connection.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"])
    return connection


def _as_email(message: OutboundEmail, sender: str) -> EmailMessage:
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.recipient
    email["Subject"] = message.subject
    email["Message-ID"] = make_msgid(idstring=f"pathways-{message.id}")
    email.set_content(message.body_text)
    return email


def _describe(error: Exception) -> str:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = "; ".join(f"{code} {text.decode(errors='replace')}" for code, text in error.recipients.values())
        return f"recipient refused: {codes}"
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{error.smtp_code} {error.smtp_error.decode(errors='replace')}"
    return str(error) or type(error).__name__


def _record_failure(message: OutboundEmail, reason: str, now: datetime, report: DeliveryReport) -> None:
    message.attempts += 1
    message.last_error = reason
    if message.attempts >= current_app.config["MAIL_MAX_ATTEMPTS"]:
        message.status = EmailStatus.FAILED
        report.failed += 1
        log.error("email %s to %s failed for good after %s attempts: %s", message.id, message.recipient,
                  message.attempts, reason)
    else:
        message.next_attempt_at = now + backoff(message.attempts)
        report.retrying += 1
        log.warning("email %s to %s not sent (attempt %s): %s", message.id, message.recipient, message.attempts,
                    reason)
