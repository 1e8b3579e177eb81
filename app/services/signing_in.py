"""Checking a sign-in, with progressive delays per account and a limit per client address.

- **Per account.** An account may fail ``SIGN_IN_MAX_FAILURES_PER_ACCOUNT`` times; then each try waits
  ``SIGN_IN_WINDOW_MINUTES`` after the latest failure, and each further failure doubles the wait, up to
  ``SIGN_IN_MAX_WAIT_MINUTES``. Failures are forgotten after ``SIGN_IN_MEMORY_HOURS``, on a success from the same
  client address, or when the password is reset. Tries refused while waiting are not counted, so they do not
  prolong the wait. When an account starts waiting, its holder is emailed (once in ``SIGN_IN_MEMORY_HOURS``).
- **Where the holder usually signs in.** From a client address this account signed in from in the last 30 days,
  only the failures from that address count: someone guessing elsewhere does not keep the holder out.
- **Per client address.** ``SIGN_IN_MAX_FAILURES_PER_ADDRESS`` failures in the window, across all accounts:
  high enough for everyone behind one proxy, low enough to stop one address spraying guesses over many accounts.

Failures are counted for the email typed whether or not an account exists, and the messages are the same
either way, so they never reveal which addresses have accounts.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, exists, func, select

from app.extensions import db
from app.models import AuditEvent, Person, SignInAttempt
from app.models.types import utcnow
from app.services import ServiceError, audit, locks, outbox
from app.services.passwords import hash_password, needs_rehash, verify_password
from app.services.tokens import external_url

WRONG_DETAILS = "Enter a correct email address and password"
# A client address the account signed in from this recently is where its holder usually signs in.
FAMILIAR_FOR = timedelta(days=30)
THROTTLED_ACTION = "person.sign_in_throttled"


class SignInThrottled(ServiceError):
    def __init__(self, minutes: int):
        super().__init__(
            f"Too many attempts to sign in. Wait {_minutes(minutes)} and try again, or reset your password."
        )


def _minutes(minutes: int) -> str:
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def account_digest(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def _minutes_until(moment: datetime) -> int:
    return max(1, math.ceil((moment - utcnow()).total_seconds() / 60))


def wait_after(failures: int) -> timedelta | None:
    """How long an account with ``failures`` recent failures waits after the latest; None: not at all."""
    config = current_app.config
    beyond = failures - config["SIGN_IN_MAX_FAILURES_PER_ACCOUNT"]
    if beyond < 0:
        return None
    minutes = config["SIGN_IN_WINDOW_MINUTES"] * 2 ** min(beyond, 16)
    return timedelta(minutes=min(minutes, max(config["SIGN_IN_MAX_WAIT_MINUTES"], config["SIGN_IN_WINDOW_MINUTES"])))


def _memory_start() -> datetime:
    return utcnow() - timedelta(hours=current_app.config["SIGN_IN_MEMORY_HOURS"])


def _failures(digest: str, client_address: str | None = None):
    query = select(SignInAttempt.at).where(
        SignInAttempt.account_digest == digest, SignInAttempt.succeeded.is_(False), SignInAttempt.at >= _memory_start()
    )
    if client_address is not None:
        query = query.where(SignInAttempt.client_address == client_address)
    return query


def _check_address(client_address: str) -> None:
    config = current_app.config
    window = timedelta(minutes=config["SIGN_IN_WINDOW_MINUTES"])
    limit = max(config["SIGN_IN_MAX_FAILURES_PER_ADDRESS"], 1)
    times = db.session.scalars(
        select(SignInAttempt.at)
        .where(SignInAttempt.client_address == client_address, SignInAttempt.succeeded.is_(False),
               SignInAttempt.at >= utcnow() - window)
        .order_by(SignInAttempt.at.desc()).limit(limit)
    ).all()
    if len(times) >= limit:
        # Clear when the oldest of the last ``limit`` failures leaves the window.
        raise SignInThrottled(_minutes_until(times[-1] + window))


def _check_account(digest: str, client_address: str) -> None:
    familiar = db.session.scalar(select(exists().where(
        SignInAttempt.account_digest == digest, SignInAttempt.client_address == client_address,
        SignInAttempt.succeeded.is_(True), SignInAttempt.at >= utcnow() - FAMILIAR_FOR,
    )))
    failures = _failures(digest, client_address if familiar else None).subquery()
    count, latest = db.session.execute(select(func.count(), func.max(failures.c.at))).one()
    wait = wait_after(count)
    if wait is not None and latest is not None and latest + wait > utcnow():
        raise SignInThrottled(_minutes_until(latest + wait))


def authenticate(email: str, password: str, client_address: str) -> Person:
    """The person these credentials belong to; ``ServiceError`` with one message for every failure."""
    digest = account_digest(email or "")
    client_address = (client_address or "unknown")[:64]
    _check_address(client_address)
    _check_account(digest, client_address)
    person = db.session.scalar(select(Person).where(Person.email == (email or "").strip().lower()))
    if person is None or not person.has_password:
        # Spend the same time as a real check, so timing does not reveal which accounts exist.
        verify_password(_dummy_hash(), password or "")
        ok = False
    else:
        ok = verify_password(person.password_hash, password or "") and person.active
    db.session.add(SignInAttempt(account_digest=digest, client_address=client_address, succeeded=ok))
    if not ok:
        if person is not None and person.active:
            _tell_holder_if_throttled(person, digest)
        db.session.commit()
        raise ServiceError(WRONG_DETAILS, field="email")
    if needs_rehash(person.password_hash):
        person.password_hash = hash_password(password)
    person.last_signed_in_at = utcnow()
    # A success clears the failures from this client address; those from elsewhere still count there.
    db.session.execute(delete(SignInAttempt).where(
        SignInAttempt.account_digest == digest, SignInAttempt.client_address == client_address,
        SignInAttempt.succeeded.is_(False),
    ))
    return person


def _tell_holder_if_throttled(person: Person, digest: str) -> None:
    """Email the holder when their account starts waiting: once in ``SIGN_IN_MEMORY_HOURS``, not per attempt."""
    failures = db.session.scalar(select(func.count()).select_from(_failures(digest).subquery()))
    wait = wait_after(failures)
    if wait is None:
        return
    # One notice even when failures arrive at the same moment: held to the end of the transaction.
    locks.lock_name(AuditEvent.__table__, f"sign-in-notice:{digest}")
    told = db.session.scalar(select(exists().where(
        AuditEvent.action == THROTTLED_ACTION, AuditEvent.subject_type == "person", AuditEvent.subject_id == person.id,
        AuditEvent.at >= _memory_start(),
    )))
    if told:
        return
    config = current_app.config
    outbox.queue_email(person.email, "sign_in_throttled", "sign_in_throttled", person=person, failures=failures,
                       wait=_minutes(int(wait.total_seconds() // 60)),
                       max_wait=_minutes(max(config["SIGN_IN_MAX_WAIT_MINUTES"], config["SIGN_IN_WINDOW_MINUTES"])),
                       forgot_link=external_url("auth.forgot_password"),
                       quiet_for=f"{config['SIGN_IN_MEMORY_HOURS']} hours")
    audit.record(None, THROTTLED_ACTION, person,
                 f"Sign-ins to {person.name}'s account slowed down after {failures} failures; {person.email} told",
                 failures=failures)


def forget_failures(email: str) -> None:
    """Forget every failure to sign in to this account (its password has just been set)."""
    db.session.execute(delete(SignInAttempt).where(
        SignInAttempt.account_digest == account_digest(email), SignInAttempt.succeeded.is_(False)
    ))


_DUMMY: dict[str, str] = {}


def _dummy_hash() -> str:
    key = f"{current_app.config.get('ARGON2_MEMORY_KIB')}:{current_app.config.get('ARGON2_TIME_COST')}"
    if key not in _DUMMY:
        _DUMMY[key] = hash_password("pathways-timing-equaliser")
    return _DUMMY[key]


def purge_old_attempts(older_than: timedelta = timedelta(days=30)) -> int:
    result = db.session.execute(delete(SignInAttempt).where(SignInAttempt.at < utcnow() - older_than))
    return result.rowcount or 0
