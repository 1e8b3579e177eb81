"""Email delivery through the outbox, against a real SMTP server on loopback.

Messages wait in the database until the server takes them; a refusing or unreachable server
leaves them queued with the reason and a later time to try, until they are given up as failed.
"""

from __future__ import annotations

import re
import socket
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from flask_migrate import downgrade, upgrade
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from app import create_app
from app.extensions import db
from app.models import OutboundEmail
from app.models.email import EmailStatus
from app.models.types import utcnow
from app.services import outbox
from tests.conftest import BACKEND, _create_postgres_database, _drop_postgres_database, make_person, post_form


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Mailbox:
    """An aiosmtpd handler that keeps what it accepts, or refuses with the reply it is given."""

    def __init__(self):
        self.messages = []
        self.refuse_rcpt: str | None = None
        self.refuse_data: str | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse_rcpt:
            return self.refuse_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.refuse_data:
            return self.refuse_data
        message = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((envelope.rcpt_tos, message))
        return "250 Message accepted for delivery"

    def only(self):
        assert len(self.messages) == 1, self.messages
        return self.messages[0][1]


@pytest.fixture
def smtp_settings(app, monkeypatch):
    """Send through SMTP on loopback; the port is chosen by each test's server fixture."""
    port = free_port()
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "smtp")
    monkeypatch.setitem(app.config, "SMTP_HOST", "127.0.0.1")
    monkeypatch.setitem(app.config, "SMTP_PORT", port)
    monkeypatch.setitem(app.config, "SMTP_STARTTLS", False)
    monkeypatch.setitem(app.config, "SMTP_USERNAME", "")
    monkeypatch.setitem(app.config, "SMTP_TIMEOUT_SECONDS", 5)
    return port


def start_server(port: int, mailbox: Mailbox) -> Controller:
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, ready_timeout=5)
    controller.start()
    return controller


@pytest.fixture
def mailbox(smtp_settings):
    box = Mailbox()
    controller = start_server(smtp_settings, box)
    yield box
    controller.stop()


def queue_reset(person, link="http://pathways.test/set-password/abc") -> OutboundEmail:
    message = outbox.queue_email(person.email, "password_reset", "password_reset", person=person, link=link,
                                 valid_minutes=60)
    db.session.commit()
    return message


@pytest.fixture
def person():
    return make_person("sam@example.org", name="Sam Learner")


def fresh(message: OutboundEmail) -> OutboundEmail:
    db.session.expire_all()
    return db.session.get(OutboundEmail, message.id)


def test_queued_messages_are_sent(mailbox, person):
    message = queue_reset(person, link="http://pathways.test/set-password/token-123")
    other = make_person("kim@example.org", name="Kim Learner")
    second = queue_reset(other)

    report = outbox.deliver_due()

    assert (report.sent, report.retrying, report.failed) == (2, 0, 0)
    recipients = sorted(rcpt for rcpts, _ in mailbox.messages for rcpt in rcpts)
    assert recipients == ["kim@example.org", "sam@example.org"]
    received = next(m for rcpts, m in mailbox.messages if rcpts == ["sam@example.org"])
    assert received["To"] == "sam@example.org"
    assert received["Subject"] == "Choose a new Pathways password"
    assert "no-reply@pathways.london" in received["From"]
    body = received.get_content()
    assert "Dear Sam Learner," in body
    assert "http://pathways.test/set-password/token-123" in body
    for sent in (fresh(message), fresh(second)):
        assert sent.status is EmailStatus.SENT
        assert sent.sent_at is not None
        assert sent.attempts == 1
        assert sent.last_error is None

    # Nothing is sent twice.
    assert outbox.deliver_due().attempted == 0
    assert len(mailbox.messages) == 2


@pytest.mark.parametrize("stage", ["rcpt", "data"])
def test_a_refusing_server_leaves_the_message_queued_with_backoff(mailbox, person, stage):
    if stage == "rcpt":
        mailbox.refuse_rcpt = "550 5.1.1 No such mailbox here"
    else:
        mailbox.refuse_data = "550 5.7.1 Message rejected"
    message = queue_reset(person)
    before = utcnow()

    report = outbox.deliver_due()

    assert (report.sent, report.retrying, report.failed) == (0, 1, 0)
    assert mailbox.messages == []
    kept = fresh(message)
    assert kept.status is EmailStatus.QUEUED
    assert kept.attempts == 1
    assert "550" in kept.last_error
    assert ("No such mailbox here" if stage == "rcpt" else "Message rejected") in kept.last_error
    assert kept.next_attempt_at >= before + timedelta(minutes=1) - timedelta(seconds=5)
    assert kept.sent_at is None
    assert db.session.scalar(select(db.func.count(OutboundEmail.id))) == 1

    # Not due yet: a second run straight away leaves it alone.
    assert outbox.deliver_due().attempted == 0
    assert fresh(message).attempts == 1

    # A second failure waits longer (1 minute, then 2).
    later = kept.next_attempt_at + timedelta(seconds=1)
    outbox.deliver_due(now=later)
    again = fresh(message)
    assert again.attempts == 2
    assert again.next_attempt_at == later + timedelta(minutes=2)


def test_a_server_that_is_down_leaves_messages_queued(smtp_settings, person):
    message = queue_reset(person)

    report = outbox.deliver_due()

    assert (report.sent, report.retrying, report.failed) == (0, 1, 0)
    kept = fresh(message)
    assert kept.status is EmailStatus.QUEUED
    assert kept.attempts == 1
    assert f"could not connect to 127.0.0.1:{smtp_settings}" in kept.last_error
    assert kept.next_attempt_at > utcnow()


def test_after_the_maximum_attempts_the_message_is_failed_but_kept(smtp_settings, person, app, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_MAX_ATTEMPTS", 3)
    message = queue_reset(person)
    now = utcnow()
    outcomes = []
    for _ in range(3):
        report = outbox.deliver_due(now=now)
        outcomes.append((report.retrying, report.failed))
        now = fresh(message).next_attempt_at + timedelta(seconds=1)

    assert outcomes == [(1, 0), (1, 0), (0, 1)]
    failed = fresh(message)
    assert failed.status is EmailStatus.FAILED
    assert failed.attempts == 3
    assert "could not connect" in failed.last_error
    assert failed.sent_at is None
    # Failed messages are never tried again, and stay for an admin to inspect.
    assert outbox.deliver_due(now=now + timedelta(days=30)).attempted == 0
    assert db.session.get(OutboundEmail, message.id) is not None


def test_a_message_not_yet_due_is_not_sent(mailbox, person):
    message = queue_reset(person)
    message.next_attempt_at = utcnow() + timedelta(minutes=10)
    db.session.commit()

    assert outbox.deliver_due().attempted == 0
    assert mailbox.messages == []
    assert fresh(message).status is EmailStatus.QUEUED

    assert outbox.deliver_due(now=utcnow() + timedelta(minutes=11)).sent == 1
    assert len(mailbox.messages) == 1


def test_a_retried_message_is_delivered_once_the_server_is_back(smtp_settings, person):
    message = queue_reset(person)
    assert outbox.deliver_due().retrying == 1
    first_error = fresh(message).last_error
    assert "could not connect" in first_error

    box = Mailbox()
    controller = start_server(smtp_settings, box)
    try:
        report = outbox.deliver_due(now=fresh(message).next_attempt_at + timedelta(seconds=1))
    finally:
        controller.stop()

    assert report.sent == 1
    assert box.only()["To"] == "sam@example.org"
    delivered = fresh(message)
    assert delivered.status is EmailStatus.SENT
    assert delivered.attempts == 2
    assert delivered.last_error is None
    assert delivered.sent_at is not None


def test_deliver_command_prints_counts(mailbox, person, runner):
    queue_reset(person)
    db.session.remove()  # the command runs in a session of its own

    result = runner.invoke(args=["outbox", "deliver"])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Outbox: 1 sent, 0 to retry, 0 failed for good"
    assert len(mailbox.messages) == 1

    mailbox.refuse_rcpt = "550 No such mailbox"
    queue_reset(make_person("kim@example.org", name="Kim Learner"))
    db.session.remove()
    result = runner.invoke(args=["outbox", "deliver"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Outbox: 0 sent, 1 to retry, 0 failed for good"


def test_deliver_command_refuses_a_limit_below_one(mailbox, runner):
    result = runner.invoke(args=["outbox", "deliver", "--limit", "0"])
    assert result.exit_code != 0
    assert "Invalid value for '--limit': 0 is not in the range x>=1" in result.output


def test_deliver_command_refuses_without_smtp(runner):
    result = runner.invoke(args=["outbox", "deliver"])
    assert result.exit_code != 0
    assert "MAIL_BACKEND is not 'smtp'" in result.output


def test_forgot_password_queues_the_link_and_the_outbox_sends_it(mailbox, person, client):
    db.session.remove()
    response = post_form(client, "/forgot-password", {"email": "SAM@example.org"})

    assert response.status_code == 200
    assert "Check your email" in response.get_data(as_text=True)
    assert "is on its way" in response.get_data(as_text=True)
    assert mailbox.messages == []  # the request only queues it
    assert db.session.scalars(select(OutboundEmail)).one().status is EmailStatus.QUEUED

    assert outbox.deliver_due().sent == 1  # as the scheduler's minute job does
    received = mailbox.only()
    assert received["To"] == "sam@example.org"
    assert received["Subject"] == "Choose a new Pathways password"
    body = received.get_content()
    assert "http://pathways.test/set-password/" in body
    link_path = body.split("http://pathways.test", 1)[1].split()[0]
    assert client.get(link_path).status_code == 200
    sent = db.session.scalars(select(OutboundEmail)).one()
    assert sent.status is EmailStatus.SENT


def test_every_try_carries_the_message_id_fixed_when_queued(mailbox, person):
    message = queue_reset(person)
    message_id = message.message_id
    assert re.fullmatch(r"<[0-9a-f]{32}@pathways\.london>", message_id)

    mailbox.refuse_data = "451 4.3.0 Try again later"
    assert outbox.deliver_due().retrying == 1
    mailbox.refuse_data = None
    assert outbox.deliver_due(now=fresh(message).next_attempt_at + timedelta(seconds=1)).sent == 1

    assert mailbox.only()["Message-ID"] == message_id
    assert fresh(message).message_id == message_id
    assert fresh(message).attempts == 2


def test_each_try_is_recorded_and_the_claim_ended(mailbox, person):
    message = queue_reset(person)
    before = utcnow()
    outbox.deliver_due()
    sent = fresh(message)
    assert sent.last_attempt_at >= before
    assert (sent.claimed_by, sent.claimed_until) == (None, None)


def test_a_sender_stops_when_its_fence_says_so_and_gives_back_its_claims(mailbox, person):
    messages = [queue_reset(make_person(f"reader{n}@example.org", name=f"Reader {n}")) for n in range(3)]
    checks = []

    def fence():
        checks.append(len(mailbox.messages))
        return len(mailbox.messages) < 1  # stop once one message is out

    report = outbox.deliver_due(fence=fence)

    assert (report.sent, report.stopped) == (1, True)
    assert len(mailbox.messages) == 1
    rest = [fresh(m) for m in messages[1:]]
    assert {(m.status, m.attempts, m.claimed_by) for m in rest} == {(EmailStatus.QUEUED, 0, None)}
    # Given back, not left to lapse: the next sender sends them at once.
    assert outbox.deliver_due().sent == 2
    assert len(mailbox.messages) == 3


def test_a_fenced_off_sender_claims_nothing(mailbox, person):
    message = queue_reset(person)

    report = outbox.deliver_due(fence=lambda: False)

    assert (report.attempted, report.stopped) == (0, True)
    assert mailbox.messages == []
    assert fresh(message).claimed_by is None


@pytest.fixture
def own_database(tmp_path):
    """An empty database for one test: a SQLite file, or a new PostgreSQL database dropped afterwards."""
    if BACKEND == "postgresql":
        url, server = _create_postgres_database()
        yield url
        _drop_postgres_database(url, server)
    else:
        yield f"sqlite:///{tmp_path / 'outbox.db'}"


def message_ids() -> list[str]:
    with db.engine.connect() as connection:  # a transaction of its own, ended before the next migration
        return connection.scalars(select(OutboundEmail.message_id)).all()


def test_messages_waiting_at_the_upgrade_get_a_message_id_that_a_downgrade_keeps(own_database):
    application = create_app("testing", SQLALCHEMY_DATABASE_URI=own_database)
    with application.app_context():
        try:
            upgrade(revision="0005_cohort_review")
            with db.engine.begin() as connection:
                connection.execute(text(
                    "INSERT INTO outbound_email (created_at, recipient, subject, body_text, purpose, status, attempts, "
                    "next_attempt_at) VALUES (CURRENT_TIMESTAMP, 'sam@example.org', 'Hello', 'Hello Sam', "
                    "'invitation', 'queued', 0, CURRENT_TIMESTAMP)"))

            upgrade()
            assert message_ids() == ["<pathways-outbox-1@pathways.london>"]

            downgrade(revision="0005_cohort_review")
            upgrade()
            assert message_ids() == ["<pathways-outbox-1@pathways.london>"]
            with pytest.raises(IntegrityError), db.engine.begin() as connection:
                connection.execute(text(
                    "INSERT INTO outbound_email (created_at, recipient, subject, body_text, purpose, status, attempts, "
                    "next_attempt_at, message_id) SELECT created_at, recipient, subject, body_text, purpose, status, "
                    "attempts, next_attempt_at, message_id FROM outbound_email"))
        finally:
            db.session.remove()
            db.engine.dispose()
