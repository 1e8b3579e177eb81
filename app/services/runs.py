"""Course runs: self-paced (always open) or scheduled (dates, enrolment deadline, capacity), with live sessions."""

from __future__ import annotations

import re
from datetime import date, datetime
from urllib.parse import urlsplit

from sqlalchemy import func, select

from app import policy
from app.extensions import db
from app.models import Course, CourseRun, Enrolment, EnrolmentStatus, LiveSession, Person, RunKind
from app.services import ServiceError, audit

PLACE_HOLDING = (EnrolmentStatus.ENROLLED, EnrolmentStatus.COMPLETED)


def create_run(
    actor: Person | None,
    course: Course,
    *,
    kind: RunKind,
    name: str,
    starts_on: date | None = None,
    ends_on: date | None = None,
    enrolment_deadline: date | None = None,
    capacity: int | None = None,
) -> CourseRun:
    name = (name or "").strip()
    if not name:
        raise ServiceError("Enter a name for the run, like 'Spring 2027'", field="name")
    if len(name) > 200:
        raise ServiceError("Name must be 200 characters or fewer", field="name")
    if course.retired_at is not None:
        raise ServiceError(f"{course.title} has been retired; it cannot have new runs")
    if kind is RunKind.SCHEDULED:
        if starts_on is None:
            raise ServiceError("Enter the date the run starts", field="starts_on")
        if ends_on is None:
            raise ServiceError("Enter the date the run ends", field="ends_on")
        if ends_on < starts_on:
            raise ServiceError("The end date must be the same as or after the start date", field="ends_on")
        if enrolment_deadline is not None and enrolment_deadline > ends_on:
            raise ServiceError("The enrolment deadline must be on or before the end date", field="enrolment_deadline")
        if capacity is not None and capacity < 1:
            raise ServiceError("Capacity must be 1 or more, or left empty for no limit", field="capacity")
    else:
        starts_on = ends_on = enrolment_deadline = None
        capacity = None
    run = CourseRun(course=course, kind=kind, name=name, starts_on=starts_on, ends_on=ends_on,
                    enrolment_deadline=enrolment_deadline, capacity=capacity,
                    created_by_id=actor.id if actor is not None else None)
    db.session.add(run)
    db.session.flush()
    audit.record(actor, "course_run.created", run, f"Added run {name} of {course.title}")
    return run


# A web address as people paste it: https, a host name of letters, digits and hyphens, then only the characters
# a URL may hold unencoded (RFC 3986), so nothing can break out of an attribute, a calendar file or an email.
_HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_URL_CHARACTERS = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&()*+,;=%]+$")


def _checked_link(link: str) -> str:
    problem = "Enter the online link as a web address starting https://, like https://meet.example.org/abc"
    if not _URL_CHARACTERS.match(link):
        raise ServiceError(problem, field="online_url")
    parts = urlsplit(link)
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or parts.username or parts.password or not _HOST.match(host):
        raise ServiceError(problem, field="online_url")
    return link


def add_live_session(
    actor: Person | None, run: CourseRun, *, title: str, starts_at: datetime, ends_at: datetime,
    location: str | None = None, online_url: str | None = None,
) -> LiveSession:
    title = (title or "").strip()
    location = (location or "").strip() or None
    online_url = (online_url or "").strip() or None
    if actor is not None and not policy.can_change_run(actor, run):
        raise ServiceError("You cannot add live sessions to this run: only the coordinator who set it up, a "
                           "programme-wide coordinator or an admin can")
    if run.kind is not RunKind.SCHEDULED:
        raise ServiceError("Only scheduled runs have live sessions")
    if not title:
        raise ServiceError("Enter a title for the session", field="title")
    if ends_at <= starts_at:
        raise ServiceError("The session must end after it starts", field="ends_at")
    if not location and not online_url:
        raise ServiceError("Enter a place or an online link for the session", field="location")
    if online_url:
        online_url = _checked_link(online_url)
    session = LiveSession(run=run, title=title, starts_at=starts_at, ends_at=ends_at, location=location,
                          online_url=online_url)
    db.session.add(session)
    db.session.flush()
    audit.record(actor, "live_session.created", session, f"Added live session {title} to {run.name}")
    return session


def places_taken(run: CourseRun) -> int:
    return db.session.scalar(
        select(func.count(Enrolment.id)).where(Enrolment.run_id == run.id, Enrolment.status.in_(PLACE_HOLDING))
    ) or 0


def places_left(run: CourseRun) -> int | None:
    """Free places, or ``None`` when the run has no limit."""
    if run.capacity is None:
        return None
    return max(run.capacity - places_taken(run), 0)


def enrolment_closed_reason(run: CourseRun, today: date) -> str | None:
    """Why nobody can enrol on ``run`` today, or ``None`` when it is open."""
    if run.course.retired_at is not None:
        return "This course has been retired"
    if run.closed_at is not None:
        return "This run is closed"
    if run.kind is RunKind.SCHEDULED:
        if run.ends_on is not None and today > run.ends_on:
            return "This run has ended"
        if run.enrolment_deadline is not None and today > run.enrolment_deadline:
            return f"Enrolment closed on {run.enrolment_deadline:%-d %B %Y}"
    return None


def open_runs(course: Course, today: date) -> list[CourseRun]:
    return [run for run in course.runs if enrolment_closed_reason(run, today) is None]
