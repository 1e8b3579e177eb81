"""Checking a sign-in, with throttling per account and per client address.

Throttling counts failures for the email typed whether or not an account exists, and the message
is the same either way, so it never reveals which addresses have accounts.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, func, select

from app.extensions import db
from app.models import Person, SignInAttempt
from app.models.types import utcnow
from app.services import ServiceError
from app.services.passwords import hash_password, needs_rehash, verify_password

WRONG_DETAILS = "Enter a correct email address and password"


class SignInThrottled(ServiceError):
    def __init__(self, minutes: int):
        super().__init__(
            f"Too many attempts to sign in. Wait {minutes} minute{'s' if minutes != 1 else ''} and try again, "
            "or reset your password."
        )


def account_digest(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


@dataclass
class _Window:
    start: datetime
    length: timedelta


def _window() -> _Window:
    length = timedelta(minutes=current_app.config["SIGN_IN_WINDOW_MINUTES"])
    return _Window(utcnow() - length, length)


def _minutes_until_clear(oldest: datetime, window: _Window) -> int:
    remaining = (oldest + window.length) - utcnow()
    return max(1, math.ceil(remaining.total_seconds() / 60))


def _check_throttle(digest: str, client_address: str) -> None:
    window = _window()
    config = current_app.config
    for column, value, limit in (
        (SignInAttempt.account_digest, digest, config["SIGN_IN_MAX_FAILURES_PER_ACCOUNT"]),
        (SignInAttempt.client_address, client_address, config["SIGN_IN_MAX_FAILURES_PER_ADDRESS"]),
    ):
        failures = select(SignInAttempt.at).where(
            column == value, SignInAttempt.succeeded.is_(False), SignInAttempt.at >= window.start
        )
        count = db.session.scalar(select(func.count()).select_from(failures.subquery()))
        if count >= limit:
            # Clear when enough of the failures in the window have aged out.
            times = db.session.scalars(failures.order_by(SignInAttempt.at.desc()).limit(limit)).all()
            raise SignInThrottled(_minutes_until_clear(times[-1], window))


def authenticate(email: str, password: str, client_address: str) -> Person:
    """The person these credentials belong to; ``ServiceError`` with one message for every failure."""
    digest = account_digest(email or "")
    client_address = (client_address or "unknown")[:64]
    _check_throttle(digest, client_address)
    person = db.session.scalar(select(Person).where(Person.email == (email or "").strip().lower()))
    if person is None or not person.has_password:
        # Spend the same time as a real check, so timing does not reveal which accounts exist.
        verify_password(_dummy_hash(), password or "")
        ok = False
    else:
        ok = verify_password(person.password_hash, password or "") and person.active
    db.session.add(SignInAttempt(account_digest=digest, client_address=client_address, succeeded=ok))
    if not ok:
        db.session.commit()
        raise ServiceError(WRONG_DETAILS, field="email")
    if needs_rehash(person.password_hash):
        person.password_hash = hash_password(password)
    person.last_signed_in_at = utcnow()
    # A success clears this account's earlier failures.
    db.session.execute(
        delete(SignInAttempt).where(SignInAttempt.account_digest == digest, SignInAttempt.succeeded.is_(False))
    )
    return person


_DUMMY: dict[str, str] = {}


def _dummy_hash() -> str:
    key = f"{current_app.config.get('ARGON2_MEMORY_KIB')}:{current_app.config.get('ARGON2_TIME_COST')}"
    if key not in _DUMMY:
        _DUMMY[key] = hash_password("pathways-timing-equaliser")
    return _DUMMY[key]


def purge_old_attempts(older_than: timedelta = timedelta(days=30)) -> int:
    result = db.session.execute(delete(SignInAttempt).where(SignInAttempt.at < utcnow() - older_than))
    return result.rowcount or 0
