"""Checking a Pathways certificate in public, by its verification code or by its PDF file.

A checker learns only what they need: whose certificate it is, for what, when it was completed and issued,
its number, and whether it is valid, revoked (when and why) or replaced by a later version. Nothing else
about the holder (no email address, no organisation, no link to them) is ever shown.

A code that matches nothing gets the same kind of answer as one that does, and from the same single
query, so the pages give no hint of which codes exist; look-ups are also counted per client address and
refused past a limit, so codes cannot be harvested by trying them.
"""

from __future__ import annotations

import enum
import hashlib
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask import current_app
from sqlalchemy import delete, func, select

from app.extensions import db
from app.models import Certificate, CertificateFile, CertificateStatus, VerificationAttempt
from app.models.types import utcnow
from app.services import locks
from app.services.certificates import CODE_ALPHABET, CODE_LENGTH, display_code, normalise_code  # noqa: F401
from app.services.clock import LONDON

# The code's format is the issuer's: one definition of the alphabet, normalising and grouping.
ALPHABET = frozenset(CODE_ALPHABET)
CODE_FORMAT = "XXXX-XXXX-XXXX-XXXX"
PDF_MAGIC = b"%PDF-"
# How far back a superseded certificate's chain of versions is followed (a guard, never reached in practice).
MAX_VERSIONS = 100


class State(enum.StrEnum):
    VALID = "valid"
    REVOKED = "revoked"
    SUPERSEDED = "superseded"
    UNKNOWN = "unknown"


_STATE_OF = {
    CertificateStatus.VALID: State.VALID,
    CertificateStatus.REVOKED: State.REVOKED,
    CertificateStatus.SUPERSEDED: State.SUPERSEDED,
}


@dataclass(frozen=True)
class Finding:
    """What a check found. For ``UNKNOWN`` only ``state`` (and ``code``, when one was well formed) is set."""

    state: State
    code: str | None = None  # grouped for display: XXXX-XXXX-XXXX-XXXX
    holder_name: str | None = None
    achievement: str | None = None
    completed_on: date | None = None
    number: str | None = None
    issued_on: date | None = None
    revoked_on: date | None = None
    revocation_reason: str | None = None
    superseded_on: date | None = None
    current_code: str | None = None  # the current version of a superseded certificate
    current_state: State | None = None

    @property
    def found(self) -> bool:
        return self.state is not State.UNKNOWN


# Codes ------------------------------------------------------------------------------------------------


# Look-ups ---------------------------------------------------------------------------------------------


def look_up(code: str | None) -> Finding:
    """What the certificate with this verification code says, and its status."""
    normalised = normalise_code(code)
    if normalised is None:
        return Finding(State.UNKNOWN)
    certificate = db.session.scalar(select(Certificate).where(Certificate.verification_code == normalised))
    if certificate is None:
        return Finding(State.UNKNOWN, code=display_code(normalised))
    return _finding(certificate)


def check_pdf(data: bytes) -> Finding:
    """Whether these exact bytes are a certificate file Pathways issued (its SHA-256 matches a stored
    file's), and if so that certificate's status. Any change to the file, even one byte, finds nothing."""
    digest = hashlib.sha256(data).hexdigest()
    certificate = db.session.scalar(
        select(Certificate).join(CertificateFile, CertificateFile.certificate_id == Certificate.id)
        .where(CertificateFile.sha256 == digest).order_by(Certificate.id).limit(1)
    )
    if certificate is None:
        return Finding(State.UNKNOWN)
    return _finding(certificate)


def is_pdf(data: bytes) -> bool:
    return data.startswith(PDF_MAGIC)


def _finding(certificate: Certificate) -> Finding:
    state = _STATE_OF[certificate.status]
    current = _current_of(certificate) if state is State.SUPERSEDED else None
    return Finding(
        state=state,
        code=display_code(certificate.verification_code),
        holder_name=certificate.holder_name,
        achievement=certificate.achievement,
        completed_on=certificate.completed_on,
        number=certificate.number,
        issued_on=_london_date(certificate.issued_at),
        revoked_on=_london_date(certificate.revoked_at) if state is State.REVOKED else None,
        revocation_reason=certificate.revocation_reason if state is State.REVOKED else None,
        superseded_on=_london_date(certificate.superseded_at) if state is State.SUPERSEDED else None,
        current_code=display_code(current.verification_code) if current is not None else None,
        current_state=_STATE_OF[current.status] if current is not None else None,
    )


def _current_of(certificate: Certificate) -> Certificate | None:
    """The latest version that replaced this one (None if the chain is broken)."""
    seen = {certificate.id}
    current = certificate
    for _ in range(MAX_VERSIONS):
        if current.superseded_by_id is None:
            return current if current is not certificate else None
        current = db.session.get(Certificate, current.superseded_by_id)
        if current is None or current.id in seen:
            return None
        seen.add(current.id)
    return None


def _london_date(moment: datetime | None) -> date | None:
    return moment.astimezone(LONDON).date() if moment is not None else None


# Rate limiting ----------------------------------------------------------------------------------------


def _address(client_address: str | None) -> str:
    return (client_address or "unknown")[:64]


def _limit() -> tuple[int, timedelta]:
    config = current_app.config
    return config["VERIFY_RATE_LIMIT"], timedelta(minutes=config["VERIFY_RATE_WINDOW_MINUTES"])


def take_attempt(client_address: str | None) -> VerificationAttempt | None:
    """Count one look-up (by code or by file) if this client has fewer than the limit inside the window, and
    return it (the caller records whether it found a certificate); None when over the limit. One request per
    client at a time counts and adds, so parallel requests cannot all slip under the limit."""
    address = _address(client_address)
    locks.lock_name(VerificationAttempt.__table__, f"verification-attempt:{address}")
    limit, window = _limit()
    count = db.session.scalar(
        select(func.count(VerificationAttempt.id)).where(
            VerificationAttempt.client_address == address,
            VerificationAttempt.at >= utcnow() - window,
        )
    )
    if count >= limit:
        return None
    attempt = VerificationAttempt(client_address=address, found=False)
    db.session.add(attempt)
    db.session.flush()
    return attempt


def retry_after(client_address: str | None) -> int:
    """Seconds until this client may look up again (0 if it may now): when enough of its look-ups in the
    window have aged out of it."""
    limit, window = _limit()
    now = utcnow()
    times = db.session.scalars(
        select(VerificationAttempt.at)
        .where(VerificationAttempt.client_address == _address(client_address), VerificationAttempt.at >= now - window)
        .order_by(VerificationAttempt.at.desc())
        .limit(limit)
    ).all()
    if len(times) < limit:
        return 0
    return max(1, math.ceil((times[-1] + window - now).total_seconds()))


def purge_old_attempts(older_than: timedelta = timedelta(days=30)) -> int:
    result = db.session.execute(delete(VerificationAttempt).where(VerificationAttempt.at < utcnow() - older_than))
    return result.rowcount or 0
