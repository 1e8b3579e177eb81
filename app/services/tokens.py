"""Signed, single-use, time-limited links for invitations and password resets.

The token signs the person's id, the purpose and a fingerprint of their current credentials.
Setting a password changes the fingerprint, so a link works once.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from enum import StrEnum

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from app.extensions import db
from app.models import Person


class LinkPurpose(StrEnum):
    INVITATION = "invitation"
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a purpose, not a secret


class LinkError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="pathways.password-link")


def _fingerprint(person: Person) -> str:
    material = f"{person.password_hash or ''}|{person.session_version}|{person.active}"
    return hashlib.sha256(material.encode()).hexdigest()[:24]


def lifetime(purpose: LinkPurpose) -> timedelta:
    if purpose is LinkPurpose.INVITATION:
        return timedelta(days=current_app.config["INVITATION_VALID_DAYS"])
    return timedelta(minutes=current_app.config["PASSWORD_RESET_VALID_MINUTES"])


def make_token(person: Person, purpose: LinkPurpose) -> str:
    return _serializer().dumps({"p": person.id, "k": purpose.value, "f": _fingerprint(person)})


def read_token(token: str) -> tuple[Person, LinkPurpose]:
    """The person and purpose of a valid link; ``LinkError`` says why a link is not valid."""
    serializer = _serializer()
    try:
        _, payload = serializer.loads_unsafe(token)
        purpose = LinkPurpose(payload["k"]) if isinstance(payload, dict) else None
    except (BadSignature, KeyError, ValueError, TypeError):
        purpose = None
    if purpose is None:
        raise LinkError("This link is not valid. Check you copied the whole link from the email.")
    try:
        payload = serializer.loads(token, max_age=int(lifetime(purpose).total_seconds()))
    except SignatureExpired:
        raise LinkError("This link has expired. Ask for a new one.") from None
    except BadSignature:
        raise LinkError("This link is not valid. Check you copied the whole link from the email.") from None
    person = db.session.get(Person, payload["p"])
    if person is None or not person.active:
        raise LinkError("This link is not valid. Check you copied the whole link from the email.")
    if payload["f"] != _fingerprint(person):
        raise LinkError("This link has already been used. Ask for a new one if you need to set your password.")
    return person, purpose
