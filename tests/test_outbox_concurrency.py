"""The outbox under concurrency and failure, against the real database and a real SMTP server on loopback.

Several senders at once (the scheduler's minute job, `flask outbox deliver`, a second scheduler) each claim
their own messages, so every message goes out once; a sender that dies leaves its claims to lapse; a database
that fails after the mail server accepted a message leads at most to one resend with the same Message-ID; and
web requests only queue email, so a hung mail server never holds a page up.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from app.extensions import db
from app.models import OutboundEmail
from app.models.email import EmailStatus
from app.models.types import utcnow
from app.services import outbox
from tests import test_outbox
from tests.conftest import csrf_token, make_person
from tests.test_outbox import Mailbox, fresh, queue_reset, start_server

# The SMTP fixtures of the outbox's other tests: settings for a server on loopback, a server that keeps what it
# accepts, and one person.
smtp_settings = test_outbox.smtp_settings
mailbox = test_outbox.mailbox
person = test_outbox.person

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def queue_many(count: int) -> list[int]:
    person = make_person("reader@example.org", name="Robin Reader")
    ids = []
    for number in range(count):
        message = outbox.queue_email(f"reader{number:02d}@example.org", "password_reset", "password_reset",
                                     person=person, link=f"http://pathways.test/set-password/{number}",
                                     valid_minutes=60)
        ids.append(message.id)
    db.session.commit()
    return ids


def all_messages() -> list[OutboundEmail]:
    db.session.expire_all()
    return db.session.scalars(select(OutboundEmail).order_by(OutboundEmail.id)).all()


def received_ids(mailbox: Mailbox) -> list[str]:
    return [message["Message-ID"] for _, message in mailbox.messages]


def test_concurrent_senders_deliver_each_message_exactly_once(app, mailbox):
    senders, count = 8, 40
    queue_many(count)
    start = threading.Barrier(senders)
    reports, errors = [], []

    def sender():
        with app.app_context():
            try:
                db.session.connection()  # connected before the start, so all begin together
                db.session.rollback()
                start.wait(timeout=10)
                reports.append(outbox.deliver_due())
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=sender) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert not errors, errors
    assert len(mailbox.messages) == count, f"{len(mailbox.messages)} emails for {count} messages"
    recipients = sorted(rcpt for rcpts, _ in mailbox.messages for rcpt in rcpts)
    assert recipients == [f"reader{number:02d}@example.org" for number in range(count)]
    assert sum(report.sent for report in reports) == count
    rows = all_messages()
    assert {(row.status, row.attempts, row.claimed_by) for row in rows} == {(EmailStatus.SENT, 1, None)}
    assert sorted(received_ids(mailbox)) == sorted(row.message_id for row in rows)


class HangingMailbox(Mailbox):
    """Accepts the first message, then leaves the second unanswered (as a mail server that hangs) until
    released; the message it hangs on is never accepted."""

    def __init__(self):
        super().__init__()
        self.hanging = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        if len(self.messages) == 1 and not self.hanging.is_set():
            self.hanging.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
            return "451 4.3.0 Try again later"
        return await super().handle_DATA(server, session, envelope)


DYING_SENDER = """
import sys
from datetime import datetime
from app import create_app
from app.services import outbox

url, port, now = sys.argv[1], int(sys.argv[2]), datetime.fromisoformat(sys.argv[3])
app = create_app("testing", SQLALCHEMY_DATABASE_URI=url, MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1",
                 SMTP_PORT=port, SMTP_STARTTLS=False, SMTP_USERNAME="", SMTP_TIMEOUT_SECONDS=30)
with app.app_context():
    outbox.deliver_due(now=now)
"""


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_sender_that_dies_keeps_its_claims_until_the_lease_ends(app, smtp_settings, database_url):
    count = outbox.CLAIM_BATCH + 2
    queue_many(count)
    box = HangingMailbox()
    controller = start_server(smtp_settings, box)
    dying = subprocess.Popen([sys.executable, "-c", DYING_SENDER, database_url, str(smtp_settings),
                              utcnow().isoformat()], cwd=ROOT)
    try:
        # It sends the first message, claims its first batch and hangs on the second message; then it dies.
        wait_for(box.hanging.is_set, 20, "the dying sender to reach its second message")
        dying.send_signal(signal.SIGKILL)
        dying.wait(timeout=10)

        rows = all_messages()
        assert rows[0].status is EmailStatus.SENT
        in_doubt = rows[1]
        assert (in_doubt.status, in_doubt.attempts) == (EmailStatus.QUEUED, 1)
        claimed = [row for row in rows[1:] if row.claimed_by]
        assert len(claimed) == outbox.CLAIM_BATCH - 1
        assert {row.claimed_by for row in claimed} == {in_doubt.claimed_by}

        # Another sender takes only what nobody holds.
        report = outbox.deliver_due()
        assert report.sent == count - outbox.CLAIM_BATCH
        assert len(box.messages) == 1 + count - outbox.CLAIM_BATCH
        assert all(fresh(row).status is EmailStatus.QUEUED for row in claimed)

        # Once the dead sender's lease has run out, its messages are sent, each once.
        after_lease = max(fresh(row).claimed_until for row in claimed) + timedelta(seconds=1)
        report = outbox.deliver_due(now=after_lease)
        assert report.sent == outbox.CLAIM_BATCH - 1
    finally:
        box.release.set()
        if dying.poll() is None:
            dying.kill()
        controller.stop()

    rows = all_messages()
    assert len(box.messages) == count
    assert {row.status for row in rows} == {EmailStatus.SENT}
    assert sorted(received_ids(box)) == sorted(row.message_id for row in rows)
    assert fresh(in_doubt).attempts == 2


def test_a_commit_that_fails_after_the_server_accepted_resends_with_the_same_message_id(mailbox, person):
    message = queue_reset(person)
    failed = []

    def database_fails_once(connection):
        if mailbox.messages and not failed:
            failed.append(True)
            raise OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))

    event.listen(db.engine, "commit", database_fails_once)
    try:
        with pytest.raises(OperationalError):
            outbox.deliver_due()
    finally:
        event.remove(db.engine, "commit", database_fails_once)
    db.session.rollback()
    assert failed and len(mailbox.messages) == 1

    # Not recorded as sent, but still held by the sender that sent it: nobody resends it straight away.
    in_doubt = fresh(message)
    assert (in_doubt.status, in_doubt.attempts) == (EmailStatus.QUEUED, 1)
    assert in_doubt.claimed_until > utcnow()
    assert outbox.deliver_due().attempted == 0
    assert len(mailbox.messages) == 1

    # After the lease it is sent again, with the Message-ID it was queued with, so the copy can be recognised.
    report = outbox.deliver_due(now=in_doubt.claimed_until + timedelta(seconds=1))
    assert report.sent == 1
    sent = fresh(message)
    assert (sent.status, sent.attempts, sent.claimed_by) == (EmailStatus.SENT, 2, None)
    assert received_ids(mailbox) == [sent.message_id, sent.message_id]


def test_the_deliver_command_names_a_database_failure(mailbox, person, runner):
    queue_reset(person)
    db.session.remove()

    def database_fails(connection):
        if mailbox.messages:
            raise OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))

    event.listen(db.engine, "commit", database_fails)
    try:
        result = runner.invoke(args=["outbox", "deliver"])
    finally:
        event.remove(db.engine, "commit", database_fails)

    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: the database failed while sending email (OperationalError); a message the mail server may have "
        "accepted is sent again, with the same Message-ID, once its claim lapses (MAIL_CLAIM_SECONDS)")
    assert len(mailbox.messages) == 1


@pytest.fixture
def hung_mail_server(smtp_settings, app, monkeypatch):
    """A server that accepts connections and never says a word."""
    monkeypatch.setitem(app.config, "SMTP_TIMEOUT_SECONDS", 2)
    listener = socket.create_server(("127.0.0.1", smtp_settings))
    connections = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                connections.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield connections
    stop.set()
    thread.join()
    for connection in connections:
        connection.close()
    listener.close()


def test_a_password_reset_request_returns_at_once_while_the_mail_server_hangs(client, person, hung_mail_server):
    db.session.remove()
    token = csrf_token(client, "/forgot-password")

    started = time.monotonic()
    response = client.post("/forgot-password", data={"csrf_token": token, "email": "sam@example.org"})
    elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert elapsed < 1, f"the request took {elapsed:.1f} s"
    assert hung_mail_server == []  # the mail server was never contacted
    assert "a link to choose a new password is on its way" in response.get_data(as_text=True)
    queued = db.session.scalars(select(OutboundEmail)).one()
    assert (queued.recipient, queued.status, queued.attempts) == ("sam@example.org", EmailStatus.QUEUED, 0)
    assert db.session.scalar(select(func.count(OutboundEmail.id))) == 1
