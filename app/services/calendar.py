"""Calendar files (iCalendar, RFC 5545) for scheduled runs and their live sessions, and London times."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import current_app
from icalendar import Calendar, Event
from sqlalchemy import select

from app import policy
from app.extensions import db
from app.models import CourseRun, Enrolment, EnrolmentStatus, LiveSession, Person, RunKind
from app.models.types import utcnow

LONDON = ZoneInfo("Europe/London")
PRODID = "-//Pathways//Course runs//EN"


def london_to_utc(day: date, at: time) -> datetime:
    """A wall-clock time in London on ``day`` as an aware UTC datetime."""
    return datetime.combine(day, at, tzinfo=LONDON).astimezone(UTC)


def may_download(person: Person, run: CourseRun) -> bool:
    """Who gets the run's calendar files with the join links of its live sessions: people who have a place on
    the run, and those who manage runs. Anyone else who can see the course gets them without the links
    (``join_links=False``)."""
    if policy.can_manage_runs(person):
        return True
    status = db.session.scalar(select(Enrolment.status).where(Enrolment.run_id == run.id,
                                                              Enrolment.person_id == person.id))
    return status in (EnrolmentStatus.ENROLLED, EnrolmentStatus.COMPLETED)


def _host() -> str:
    return urlsplit(current_app.config["BASE_URL"]).hostname or "pathways"


def _calendar(name: str) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    return calendar


def _run_event(run: CourseRun, stamp: datetime) -> Event:
    event = Event()
    event.add("uid", f"course-run-{run.id}@{_host()}")
    event.add("dtstamp", stamp)
    event.add("summary", f"{run.course.title} ({run.name})")
    event.add("dtstart", run.starts_on)
    # All-day events end on the day after the last day.
    event.add("dtend", run.ends_on + timedelta(days=1))
    event.add("description", run.course.summary)
    event.add("transp", "TRANSPARENT")
    return event


def _session_event(session: LiveSession, stamp: datetime, join_links: bool = True) -> Event:
    run = session.run
    event = Event()
    event.add("uid", f"live-session-{session.id}@{_host()}")
    event.add("dtstamp", stamp)
    event.add("summary", f"{session.title}: {run.course.title}")
    event.add("dtstart", session.starts_at.astimezone(UTC))
    event.add("dtend", session.ends_at.astimezone(UTC))
    online_url = session.online_url if join_links else None
    where = [part for part in (session.location, online_url) if part]
    event.add("location", ", ".join(where) or ("Online" if session.online_url else ""))
    if online_url:
        event.add("url", online_url)
    lines = [f"Live session of {run.course.title} ({run.name})."]
    if session.location:
        lines.append(f"Place: {session.location}")
    if online_url:
        lines.append(f"Join online: {online_url}")
    elif session.online_url:
        lines.append("Online: the link to join is for the people with a place on the run.")
    event.add("description", "\n".join(lines))
    return event


def run_calendar(run: CourseRun, *, join_links: bool = True) -> bytes | None:
    """The run as an all-day event from its first to its last day, with its live sessions (their join links
    only with ``join_links``); ``None`` for a run without dates."""
    if run.kind is not RunKind.SCHEDULED or run.starts_on is None or run.ends_on is None:
        return None
    stamp = utcnow()
    calendar = _calendar(f"{run.course.title} ({run.name})")
    calendar.add_component(_run_event(run, stamp))
    for session in run.live_sessions:
        calendar.add_component(_session_event(session, stamp, join_links))
    return calendar.to_ical()


def session_calendar(session: LiveSession, *, join_links: bool = True) -> bytes:
    calendar = _calendar(f"{session.title}: {session.run.course.title}")
    calendar.add_component(_session_event(session, utcnow(), join_links))
    return calendar.to_ical()


def filename(text: str) -> str:
    safe = "".join(c if c.isalnum() else "-" for c in text.lower())
    return "-".join(part for part in safe.split("-") if part)[:80] or "calendar"
