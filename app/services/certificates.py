"""Certificates: issued the moment a course or an apprenticeship is completed, fixed once issued, and
reissued or revoked honestly.

Issuing has three steps, so the slow one can run anywhere:

- ``prepare_for_enrolment`` / ``prepare_for_apprenticeship`` read the records and return a
  ``CertificateDraft``: what the certificate says, its number and a fresh verification code;
- ``render_draft`` turns a draft into PDF bytes without touching the database (safe in a worker process);
- ``store`` saves the certificate and its bytes with their SHA-256 inside a SAVEPOINT. ``current_key``
  (the achievement, on the current version only) is unique, so when two requests race to issue the same
  certificate the second insert fails and ``store`` returns the certificate the first one stored.

The number is ``PW-<year of issue>-<sequence>``. The sequence comes from the achievement itself (twice the
enrolment id for a course, twice the apprenticeship id plus one for an apprenticeship): it is known before
the PDF is rendered (the number is printed on it), needs no counter, cannot collide even when certificates
are issued at the same moment on several workers, and every later version keeps it.

Downloads serve the stored bytes: a template changed later never alters an issued certificate. A reissue
(a corrected name, say) is a new version with the same number, a new code and a new PDF; the old version is
kept, marked superseded and pointing to the new one. A revoked certificate keeps its record and its file
with the date, who revoked it and why. Holders may still download a revoked certificate (it is their
record), but every page that offers it says it is revoked, and the public check says so too.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from flask import current_app
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from app import pdf, policy
from app.extensions import db
from app.models import (
    Apprenticeship,
    ApprenticeshipStatus,
    Certificate,
    CertificateFile,
    CertificateKind,
    CertificateStatus,
    Enrolment,
    EnrolmentStatus,
    Person,
)
from app.models.types import utcnow
from app.services import ServiceError, audit, clock

# Verification codes: 16 characters without the look-alikes 0, O, 1, I and L (about 79 bits), stored
# without separators and shown in four groups of four.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 16
CODE_GROUP = 4
# Characters people type, or copy from a PDF, between the groups.
CODE_SEPARATORS = frozenset(" -_.\t\u00a0\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u202f\u2007\u2009")
TEMPLATES = {
    CertificateKind.COURSE: "certificates/course.html",
    CertificateKind.APPRENTICESHIP: "certificates/apprenticeship.html",
}
MAX_REASON = 1000
# A guard when following a chain of versions; never reached in practice.
MAX_VERSIONS = 100


@dataclass
class CertificateDraft:
    """Everything a certificate says, ready to render. Plain values only, so it pickles to a worker."""

    kind: str
    achievement_key: str
    holder_id: int
    enrolment_id: int | None
    apprenticeship_id: int | None
    holder_name: str
    achievement: str
    completed_on: date
    details: dict
    number: str
    version: int
    verification_code: str
    verify_url: str
    template: str
    issued_on: date = field(default_factory=clock.today)


# Numbers, codes and addresses -------------------------------------------------------------------------------


def enrolment_key(enrolment_id: int) -> str:
    return f"enrolment:{enrolment_id}"


def apprenticeship_key(apprenticeship_id: int) -> str:
    return f"apprenticeship:{apprenticeship_id}"


def number_for(kind: CertificateKind | str, achievement_id: int, year: int) -> str:
    """``PW-2026-000124``: the year of issue and a sequence unique to the achievement."""
    sequence = 2 * achievement_id if CertificateKind(kind) is CertificateKind.COURSE else 2 * achievement_id + 1
    return f"PW-{year}-{sequence:06d}"


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def display_code(code: str) -> str:
    """A stored code in groups of four: ``7KQM4TZPH9CXR2WN`` → ``7KQM-4TZP-H9CX-R2WN``."""
    return "-".join(code[i:i + CODE_GROUP] for i in range(0, len(code), CODE_GROUP))


def normalise_code(text: str | None) -> str | None:
    """The code as stored (16 uppercase characters) from what someone typed, scanned or copied from a PDF, or
    None when it cannot be a Pathways code. Case, spaces and dashes don't matter."""
    if not text:
        return None
    # NFKC turns full-width and other compatibility forms into plain letters and digits.
    plain = unicodedata.normalize("NFKC", text)
    code = "".join(ch for ch in plain if ch not in CODE_SEPARATORS and not ch.isspace()).upper()
    if len(code) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in code):
        return None
    return code


def verify_url(code: str) -> str:
    """The public address that checks the certificate with this code (printed and in the QR code)."""
    base = current_app.config["BASE_URL"].rstrip("/")
    return f"{base}/verify/{display_code(normalise_code(code) or code)}"


def filename(certificate: Certificate) -> str:
    """``PW-2026-000124.pdf``; later versions add ``-v2`` and so on."""
    suffix = f"-v{certificate.version}" if certificate.version > 1 else ""
    return f"{certificate.number}{suffix}.pdf"


# Drafts -------------------------------------------------------------------------------------------------


def prepare_for_enrolment(enrolment: Enrolment) -> CertificateDraft | None:
    """The certificate a completed enrolment earns, or None: not completed, the course gives no certificate,
    or a current certificate exists already."""
    if enrolment.status is not EnrolmentStatus.COMPLETED or not enrolment.run.course.gives_certificate:
        return None
    if current_for_key(enrolment_key(enrolment.id)) is not None:
        return None
    today = clock.today()
    return _enrolment_draft(enrolment, number=number_for(CertificateKind.COURSE, enrolment.id, today.year),
                            version=1, issued_on=today)


def prepare_for_apprenticeship(apprenticeship: Apprenticeship) -> CertificateDraft | None:
    """The certificate a completed apprenticeship earns, or None: not completed, or a current certificate
    exists already."""
    if apprenticeship.status is not ApprenticeshipStatus.COMPLETED:
        return None
    if current_for_key(apprenticeship_key(apprenticeship.id)) is not None:
        return None
    today = clock.today()
    return _apprenticeship_draft(
        apprenticeship, number=number_for(CertificateKind.APPRENTICESHIP, apprenticeship.id, today.year),
        version=1, issued_on=today)


def _hours(value) -> str:
    """4 → "4", 3.50 → "3.5"."""
    return f"{Decimal(value).normalize():f}"


def _enrolment_draft(enrolment: Enrolment, *, number: str, version: int, issued_on: date,
                     completed_on: date | None = None) -> CertificateDraft:
    run = enrolment.run
    course = run.course
    if enrolment.completed_at is not None:
        completed_on = _london(enrolment.completed_at)
    code = new_code()
    cpd = enrolment.cpd_hours_credited if enrolment.cpd_hours_credited is not None else course.cpd_hours
    return CertificateDraft(
        kind=CertificateKind.COURSE.value, achievement_key=enrolment_key(enrolment.id),
        holder_id=enrolment.person_id, enrolment_id=enrolment.id, apprenticeship_id=None,
        holder_name=enrolment.person.name, achievement=f"Leadership course: {course.title}"[:300],
        completed_on=completed_on or issued_on,
        details={"course_title": course.title, "course_slug": course.slug, "cpd_hours": _hours(cpd),
                 "run_name": run.name},
        number=number, version=version, verification_code=code, verify_url=verify_url(code),
        template=TEMPLATES[CertificateKind.COURSE], issued_on=issued_on,
    )


def boroughs_of(apprenticeship: Apprenticeship) -> list[str]:
    """The host organisations of the placements, each once, in the order of the placements."""
    names: list[str] = []
    for placement in sorted(apprenticeship.placements, key=lambda p: (p.starts_on, p.id)):
        name = placement.host_organisation.name
        if name not in names:
            names.append(name)
    return names


def _apprenticeship_draft(apprenticeship: Apprenticeship, *, number: str, version: int, issued_on: date,
                          completed_on: date | None = None) -> CertificateDraft:
    standard_version = apprenticeship.standard_version
    standard = standard_version.standard
    code = new_code()
    grade = (apprenticeship.grade or "").replace("_", " ").capitalize()
    return CertificateDraft(
        kind=CertificateKind.APPRENTICESHIP.value, achievement_key=apprenticeship_key(apprenticeship.id),
        holder_id=apprenticeship.apprentice_id, enrolment_id=None, apprenticeship_id=apprenticeship.id,
        holder_name=apprenticeship.apprentice.name,
        achievement=f"Apprenticeship: {standard.title}, level {standard.level}"[:300],
        completed_on=apprenticeship.actual_end_on or completed_on or issued_on,
        details={"standard_title": standard.title, "level": standard.level, "reference": standard.reference,
                 "standard_version": standard_version.version, "grade": grade,
                 "employer": apprenticeship.employer.name, "boroughs": boroughs_of(apprenticeship)},
        number=number, version=version, verification_code=code, verify_url=verify_url(code),
        template=TEMPLATES[CertificateKind.APPRENTICESHIP], issued_on=issued_on,
    )


def _format_date(value: date) -> str:
    return value.strftime("%-d %B %Y")


def render_draft(draft: CertificateDraft) -> bytes:
    """The PDF of a draft. Pure: no database and no application needed, so it may run in a worker process."""
    kind = CertificateKind(draft.kind)
    context = {
        "kind": kind.value,
        "holder_name": draft.holder_name,
        "achievement": draft.achievement,
        "completed_on": _format_date(draft.completed_on),
        "issued_on": _format_date(draft.issued_on),
        "details": draft.details,
        "number": draft.number,
        "version": draft.version,
        "verification_code": display_code(draft.verification_code),
        "verify_url": draft.verify_url,
        "qr": pdf.qr_png_data_uri(draft.verify_url),
        "subject": f"{draft.holder_name}: {draft.achievement}",
        "keywords": "course" if kind is CertificateKind.COURSE else "apprenticeship",
    }
    return pdf.render_pdf(draft.template, context, title=f"Pathways certificate {draft.number}",
                          environment=pdf.standalone_environment())


# Storing ------------------------------------------------------------------------------------------------


def _new_certificate(draft: CertificateDraft, content: bytes, actor: Person | None,
                     reissue_reason: str | None = None) -> Certificate:
    certificate = Certificate(
        number=draft.number, version=draft.version, kind=CertificateKind(draft.kind),
        achievement_key=draft.achievement_key, current_key=draft.achievement_key,
        verification_code=draft.verification_code, holder_id=draft.holder_id, enrolment_id=draft.enrolment_id,
        apprenticeship_id=draft.apprenticeship_id, holder_name=draft.holder_name, achievement=draft.achievement,
        completed_on=draft.completed_on, details=draft.details, status=CertificateStatus.VALID,
        issued_at=utcnow(), issued_by_id=_id(actor), reissue_reason=reissue_reason,
    )
    certificate.file = CertificateFile(sha256=hashlib.sha256(content).hexdigest(), size=len(content), pdf=content)
    return certificate


def store(draft: CertificateDraft, content: bytes, *, actor: Person | None = None) -> Certificate:
    """Save a rendered draft as the current certificate of its achievement. If another request stored one
    first (the unique ``current_key``), nothing is added and that certificate is returned."""
    certificate = _new_certificate(draft, content, actor)
    try:
        with db.session.begin_nested():
            db.session.add(certificate)
            db.session.flush()
            audit.record(actor, "certificate.issued", certificate,
                         f"Issued certificate {certificate.number} to {certificate.holder_name}: "
                         f"{certificate.achievement}",
                         number=certificate.number, version=certificate.version, sha256=certificate.file.sha256)
    except IntegrityError:
        existing = current_for_key(draft.achievement_key)
        if existing is None:
            raise
        return existing
    return certificate


def issue_for_enrolment(enrolment: Enrolment, *, actor: Person | None = None) -> Certificate | None:
    """Issue the certificate of a completed enrolment (once: a later call returns the current one). None when
    no certificate is due (not completed, or the course gives none)."""
    draft = prepare_for_enrolment(enrolment)
    if draft is None:
        return current_for_key(enrolment_key(enrolment.id))
    return store(draft, render_draft(draft), actor=actor)


def issue_for_apprenticeship(apprenticeship: Apprenticeship, *, actor: Person | None = None) -> Certificate | None:
    """Issue the certificate of a completed apprenticeship (once: a later call returns the current one)."""
    draft = prepare_for_apprenticeship(apprenticeship)
    if draft is None:
        return current_for_key(apprenticeship_key(apprenticeship.id))
    return store(draft, render_draft(draft), actor=actor)


# Reissue and revoke -------------------------------------------------------------------------------------


def _reason(reason: str | None, missing: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError(missing, field="reason")
    if len(reason) > MAX_REASON:
        raise ServiceError(f"The reason must be {MAX_REASON} characters or fewer", field="reason")
    return reason


def _check_may_change(actor: Person | None, certificate: Certificate) -> None:
    if actor is not None and not may_change(actor, certificate):
        raise ServiceError("You cannot change this certificate: only the coordinators responsible for it can")


def _lock_current(certificate: Certificate, doing: str) -> None:
    """Re-read the certificate under a row lock (PostgreSQL) and refuse unless it is the current, valid
    version, so two coordinators acting at once cannot both change it."""
    db.session.refresh(certificate, with_for_update=True)
    if certificate.status is CertificateStatus.SUPERSEDED or certificate.current_key is None:
        current = current_of(certificate)
        raise ServiceError(f"This version has been replaced by version {current.version}: {doing} that one "
                           "instead")
    if certificate.status is CertificateStatus.REVOKED:
        raise ServiceError(f"This certificate was revoked on {_format_date(_london(certificate.revoked_at))} and "
                           f"stays revoked, so it cannot be {'reissued' if doing == 'reissue' else 'revoked again'}")


def _london(moment) -> date:
    return moment.astimezone(clock.LONDON).date()


def reissue(actor: Person | None, certificate: Certificate, reason: str) -> Certificate:
    """A new version of a valid certificate, drawn afresh from the records (the holder's name as it is now)
    with the current template: same number, next version, a new code. The old version is kept, superseded."""
    reason = _reason(reason, "Enter why the certificate is being reissued, for example 'name corrected'")
    _check_may_change(actor, certificate)
    _lock_current(certificate, "reissue")
    draft = _draft_from_records(certificate)
    content = render_draft(draft)
    try:
        with db.session.begin_nested():
            # The current key moves in one transaction; the unique key and the unique (number, version)
            # refuse a second reissue racing this one where row locks do not exist (SQLite).
            certificate.current_key = None
            db.session.flush()
            new = _new_certificate(draft, content, actor, reissue_reason=reason)
            db.session.add(new)
            db.session.flush()
            certificate.status = CertificateStatus.SUPERSEDED
            certificate.superseded_at = new.issued_at
            certificate.superseded_by_id = new.id
            db.session.flush()
    except IntegrityError:
        raise ServiceError("This certificate has just been changed by someone else: open it again") from None
    audit.record(actor, "certificate.reissued", new,
                 f"Reissued certificate {new.number} to {new.holder_name} as version {new.version}: {reason}",
                 number=new.number, version=new.version, replaces=certificate.id, reason=reason,
                 sha256=new.file.sha256, holder_name_before=certificate.holder_name)
    return new


def _draft_from_records(certificate: Certificate) -> CertificateDraft:
    options = {"number": certificate.number, "version": certificate.version + 1, "issued_on": clock.today(),
               "completed_on": certificate.completed_on}
    if certificate.kind is CertificateKind.COURSE:
        enrolment = db.session.get(Enrolment, certificate.enrolment_id)
        return _enrolment_draft(enrolment, **options)
    apprenticeship = db.session.get(Apprenticeship, certificate.apprenticeship_id)
    return _apprenticeship_draft(apprenticeship, **options)


def revoke(actor: Person | None, certificate: Certificate, reason: str) -> Certificate:
    """Revoke a valid certificate: it stays on record, with when, by whom and why, and every check of it
    says it is revoked. Nothing is deleted."""
    reason = _reason(reason, "Enter why the certificate is being revoked")
    _check_may_change(actor, certificate)
    _lock_current(certificate, "revoke")
    certificate.status = CertificateStatus.REVOKED
    certificate.revoked_at = utcnow()
    certificate.revoked_by_id = _id(actor)
    certificate.revocation_reason = reason
    db.session.flush()
    audit.record(actor, "certificate.revoked", certificate,
                 f"Revoked certificate {certificate.number} of {certificate.holder_name}: {reason}",
                 number=certificate.number, version=certificate.version, reason=reason)
    return certificate


# Finding certificates and who may see them ----------------------------------------------------------------


def current_for_key(achievement_key: str) -> Certificate | None:
    return db.session.scalar(select(Certificate).where(Certificate.current_key == achievement_key))


def current_for_enrolment(enrolment: Enrolment) -> Certificate | None:
    return current_for_key(enrolment_key(enrolment.id))


def current_for_apprenticeship(apprenticeship: Apprenticeship) -> Certificate | None:
    return current_for_key(apprenticeship_key(apprenticeship.id))


def current_of(certificate: Certificate) -> Certificate:
    """The current version of a certificate (itself unless it was reissued)."""
    for _ in range(MAX_VERSIONS):
        if certificate.superseded_by_id is None:
            break
        certificate = db.session.get(Certificate, certificate.superseded_by_id)
    return certificate


def versions_of(certificate: Certificate) -> list[Certificate]:
    """Every version of a certificate's number, the first first."""
    return list(db.session.scalars(
        select(Certificate).where(Certificate.number == certificate.number).order_by(Certificate.version)))


@functools.cache
def _certificates_of_holder():
    # Built once: the home page asks on every visit.
    return (select(Certificate)
            .where(Certificate.holder_id == bindparam("holder_id"), Certificate.current_key.is_not(None))
            .order_by(Certificate.issued_at.desc(), Certificate.id.desc()))


def certificates_of(person: Person) -> list[Certificate]:
    """A holder's certificates (current versions, valid or revoked), the latest first."""
    return list(db.session.scalars(_certificates_of_holder(), {"holder_id": person.id}))


def stored_file(certificate: Certificate) -> CertificateFile:
    """The stored PDF, bytes included."""
    from sqlalchemy.orm import undefer

    return db.session.scalar(select(CertificateFile).where(CertificateFile.certificate_id == certificate.id)
                             .options(undefer(CertificateFile.pdf)))


def _coordinates(person: Person, certificate: Certificate) -> bool:
    """An admin, or a coordinator responsible for the certificate: of the holder's organisation for a
    course; of the apprenticeship's record (employer or a host of a placement) for an apprenticeship."""
    if policy.is_admin(person):
        return True
    if not policy.is_coordinator(person):
        return False
    if certificate.kind is CertificateKind.COURSE:
        return policy.can_manage_in_organisation(person, certificate.holder.organisation_id)
    apprenticeship = db.session.get(Apprenticeship, certificate.apprenticeship_id)
    return apprenticeship is not None and policy.coordinates_apprenticeship(person, apprenticeship)


def can_download(person: Person | None, certificate: Certificate) -> bool:
    """The holder, admins and the coordinators responsible. Supervisors and everyone else: no."""
    if person is None or not person.is_authenticated:
        return False
    return certificate.holder_id == person.id or _coordinates(person, certificate)


def may_change(person: Person | None, certificate: Certificate) -> bool:
    """Reissue or revoke: the coordinators responsible and admins, never for their own certificate."""
    if person is None or not person.is_authenticated or certificate.holder_id == person.id:
        return False
    return _coordinates(person, certificate)


def _id(actor: Person | None) -> int | None:
    return actor.id if actor is not None and getattr(actor, "is_authenticated", False) else None
