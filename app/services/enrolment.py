"""Enrolling on course runs, the waitlist, and withdrawing."""

from __future__ import annotations

from sqlalchemy import select

from app import policy
from app.extensions import db
from app.models import CourseRun, Enrolment, EnrolmentStatus, Person
from app.models.types import utcnow
from app.services import ServiceError, audit, clock, outbox
from app.services.runs import enrolment_closed_reason, places_left


def find_enrolment(run: CourseRun, person: Person) -> Enrolment | None:
    return db.session.scalar(select(Enrolment).where(Enrolment.run_id == run.id, Enrolment.person_id == person.id))


def _lock(run: CourseRun) -> None:
    # Serialise enrolments on one run so two people can't take the last place together (PostgreSQL);
    # SQLite serialises writers anyway.
    db.session.execute(select(CourseRun.id).where(CourseRun.id == run.id).with_for_update())


def can_enrol_others(actor: Person, person: Person) -> bool:
    return policy.is_admin(actor) or (policy.is_coordinator(actor)
                                      and policy.can_manage_in_organisation(actor, person.organisation_id))


def not_found_message(address: str) -> str:
    """The same answer whether nobody has ``address`` or someone outside the actor's organisations does, so
    enrolling by email reveals neither who has an account nor where they work."""
    return (f"Nobody in your organisations has a Pathways account with the email address {address}: check the "
            "address, or invite them from People first")


def enrolment_problem(actor: Person | None, person: Person, run: CourseRun) -> str | None:
    """Why ``actor`` can't enrol ``person`` on ``run``, or ``None``."""
    if actor is not None and actor.id != person.id and not can_enrol_others(actor, person):
        return f"{person.organisation.name} is not one of your organisations"
    if not person.active:
        return f"{person.name}'s account is deactivated"
    closed = enrolment_closed_reason(run, clock.today())
    if closed:
        return closed
    existing = find_enrolment(run, person)
    if existing is not None and existing.status is not EnrolmentStatus.WITHDRAWN:
        who = "You are" if actor is not None and actor.id == person.id else f"{person.name} is"
        return f"{who} already {existing.status.label.lower()} on this run"
    return None


def enrol(actor: Person | None, person: Person, run: CourseRun) -> Enrolment:
    """Give ``person`` a place on ``run``, or a place on its waitlist when it is full."""
    _lock(run)
    problem = enrolment_problem(actor, person, run)
    if problem:
        raise ServiceError(problem)
    now = utcnow()
    enrolment = find_enrolment(run, person) or Enrolment(run=run, person=person)
    enrolment.enrolled_by_id = actor.id if actor is not None and actor.id != person.id else None
    enrolment.withdrawn_at = None
    enrolment.withdrawal_reason = None
    if places_left(run) == 0:
        enrolment.status = EnrolmentStatus.WAITLISTED
        enrolment.waitlisted_at = now
    else:
        enrolment.status = EnrolmentStatus.ENROLLED
        enrolment.enrolled_at = now
    db.session.add(enrolment)
    db.session.flush()
    audit.record(actor, f"enrolment.{enrolment.status.value}", enrolment,
                 f"{person.name} {enrolment.status.label.lower()} on {run.course.title} ({run.name})")
    return enrolment


def withdraw(actor: Person | None, enrolment: Enrolment, reason: str) -> None:
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError("Enter the reason for withdrawing", field="reason")
    if len(reason) > 500:
        raise ServiceError("Reason must be 500 characters or fewer", field="reason")
    if enrolment.status in (EnrolmentStatus.WITHDRAWN, EnrolmentStatus.COMPLETED):
        raise ServiceError(f"This enrolment is {enrolment.status.label.lower()}; it can't be withdrawn")
    _lock(enrolment.run)
    held_place = enrolment.status is EnrolmentStatus.ENROLLED
    enrolment.status = EnrolmentStatus.WITHDRAWN
    enrolment.withdrawn_at = utcnow()
    enrolment.withdrawal_reason = reason
    db.session.flush()
    run = enrolment.run
    audit.record(actor, "enrolment.withdrawn", enrolment,
                 f"{enrolment.person.name} withdrawn from {run.course.title} ({run.name}): {reason}", reason=reason)
    if held_place:
        promote_from_waitlist(enrolment.run)


def promote_from_waitlist(run: CourseRun) -> list[Enrolment]:
    """Give free places to the people who have waited longest, and tell them by email."""
    promoted = []
    while places_left(run) != 0:
        waiting = db.session.scalar(
            select(Enrolment)
            .where(Enrolment.run_id == run.id, Enrolment.status == EnrolmentStatus.WAITLISTED)
            .order_by(Enrolment.waitlisted_at, Enrolment.id)
            .limit(1)
        )
        if waiting is None:
            break
        waiting.status = EnrolmentStatus.ENROLLED
        waiting.enrolled_at = utcnow()
        db.session.flush()
        outbox.queue_email(waiting.person.email, "waitlist_place", "waitlist_place", enrolment=waiting)
        audit.record(None, "enrolment.promoted", waiting,
                     f"{waiting.person.name} moved from the waitlist to a place on {run.course.title} ({run.name})")
        promoted.append(waiting)
    return promoted
