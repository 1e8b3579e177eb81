"""Signed, single-use, time-limited links for invitations and password resets.

The token signs the person's id, the purpose, a fingerprint of their current credentials and a random nonce.
Pathways never stores a token: it goes out in the email, and the Outbox page hides it (README, "Links to set a
password"). Using a link records the SHA-256 of its token (a ``UsedLink``) in the transaction that sets the
password; only one request can record it, so two browsers using one link at once set the password once, and a
used link is refused ever after. Setting a password another way changes the fingerprint, which ends every link
sent before.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import delete, exists, select
from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db
from app.models import Person, UsedLink
from app.models.types import utcnow


class LinkPurpose(StrEnum):
    INVITATION = "invitation"
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a purpose, not a secret


# Emails whose purpose is one of these carry a live link to set a password (their purposes are the same words).
LINK_EMAIL_PURPOSES = frozenset(purpose.value for purpose in LinkPurpose)

NOT_VALID = "This link is not valid. Check you copied the whole link from the email."
EXPIRED = "This link has expired. Ask for a new one."
ALREADY_USED = "This link has already been used. Ask for a new one if you need to set your password."


class LinkError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Holder:
    """What a link is made from: a person's credentials, or a stand-in's for an address without an account."""

    id: int | None
    email: str
    name: str
    password_hash: str | None
    session_version: int | None
    active: bool


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="pathways.password-link")


def _fingerprint(person: Person | Holder) -> str:
    material = f"{person.password_hash or ''}|{person.session_version}|{person.active}"
    return hashlib.sha256(material.encode()).hexdigest()[:24]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def lifetime(purpose: LinkPurpose) -> timedelta:
    if purpose is LinkPurpose.INVITATION:
        return timedelta(days=current_app.config["INVITATION_VALID_DAYS"])
    return timedelta(minutes=current_app.config["PASSWORD_RESET_VALID_MINUTES"])


def make_token(person: Person | Holder, purpose: LinkPurpose) -> str:
    # The nonce makes every link different, so using one never uses up another sent the same second.
    return _serializer().dumps({"p": person.id, "k": purpose.value, "f": _fingerprint(person),
                                "n": secrets.token_urlsafe(12)})


def external_url(endpoint: str, **values) -> str:
    """A full address of a page, for an email: built without a request, so the command line and the scheduler
    can send links as well as pages."""
    adapter = current_app.url_map.bind("localhost", script_name=current_app.config["APPLICATION_ROOT"])
    return current_app.config["BASE_URL"].rstrip("/") + adapter.build(endpoint, values)


def _read(token: str) -> tuple[dict, LinkPurpose, datetime]:
    serializer = _serializer()
    try:
        _, payload = serializer.loads_unsafe(token)
        purpose = LinkPurpose(payload["k"]) if isinstance(payload, dict) else None
    except (BadSignature, KeyError, ValueError, TypeError):
        purpose = None
    if purpose is None:
        raise LinkError(NOT_VALID)
    try:
        payload, signed_at = serializer.loads(token, max_age=int(lifetime(purpose).total_seconds()),
                                              return_timestamp=True)
    except SignatureExpired:
        raise LinkError(EXPIRED) from None
    except BadSignature:
        raise LinkError(NOT_VALID) from None
    return payload, purpose, signed_at.replace(tzinfo=signed_at.tzinfo or UTC)


def read_token(token: str) -> tuple[Person, LinkPurpose]:
    """The person and purpose of a valid link; ``LinkError`` says why a link is not valid."""
    payload, purpose, _ = _read(token)
    person = db.session.get(Person, payload["p"]) if isinstance(payload.get("p"), int) else None
    if person is None or not person.active:
        raise LinkError(NOT_VALID)
    if payload["f"] != _fingerprint(person) or db.session.scalar(
        select(exists().where(UsedLink.token_digest == _digest(token)))
    ):
        raise LinkError(ALREADY_USED)
    return person, purpose


def use_up(token: str) -> None:
    """Record the link as used, in the caller's transaction; ``LinkError`` if another request used it first.

    One insert that does nothing when the digest is there already: on PostgreSQL a second request waits for the
    first to commit and then inserts nothing; SQLite has one writer at a time."""
    _, purpose, signed_at = _read(token)
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    inserted = db.session.execute(
        dialect.insert(UsedLink)
        .values(token_digest=_digest(token), used_at=utcnow(), expires_at=signed_at + lifetime(purpose))
        .on_conflict_do_nothing(index_elements=["token_digest"])
        .returning(UsedLink.id)
    ).first()
    if inserted is None:
        raise LinkError(ALREADY_USED)


def purge_used_links() -> int:
    """Forget used links once they would have expired anyway (an expired link is refused for that alone)."""
    # A day's margin, so a link whose lifetime is lengthened meanwhile is still known to be used.
    result = db.session.execute(delete(UsedLink).where(UsedLink.expires_at < utcnow() - timedelta(days=1)))
    return result.rowcount or 0
