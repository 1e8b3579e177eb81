"""What the admin's home shows: whether Pathways runs as it should and what needs them.

- the scheduled jobs: when each last succeeded and how long ago, marked overdue when it has not succeeded since a
  scheduled time more than ``OVERDUE_AFTER`` ago (a run may take a while), and whether a scheduler holds the lease;
- the outbox: email given up on (``EmailStatus.FAILED``), email being retried after a failed try, and the latest
  failures with their error;
- people invited who have not yet set a password, the longest waiting first.

Five statements, whatever the number of records."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import and_, case, func, select

from app import policy
from app.extensions import db
from app.models import JobOutcome, JobRun, OutboundEmail, Person
from app.models.email import EmailStatus
from app.models.types import utcnow
from app.services import clock, scheduling

# A job that has not succeeded since a time it was due more than this long ago is overdue.
OVERDUE_AFTER = timedelta(minutes=30)
# How many failures and invited people the panel names.
SHOWN = 3


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def describe_age(then: datetime, now: datetime) -> str:
    """'less than a minute ago', '5 minutes ago', '3 hours ago', '2 days ago'."""
    seconds = max((now - then).total_seconds(), 0)
    if seconds < 60:
        return "less than a minute ago"
    if seconds < 3600:
        return f"{_plural(int(seconds // 60), 'minute')} ago"
    if seconds < 2 * 86400:
        return f"{_plural(int(seconds // 3600), 'hour')} ago"
    return f"{_plural(int(seconds // 86400), 'day')} ago"


@dataclass(frozen=True)
class JobHealth:
    name: str
    schedule: str  # "Daily at 06:00"
    last_success: datetime | None  # when its latest successful run finished
    age: str  # how long ago, in words ("" if it never succeeded)
    overdue: bool
    last_failed: bool  # its latest run failed (it is retried at its next scheduled time)


@dataclass(frozen=True)
class FailedEmail:
    id: int
    recipient: str
    subject: str
    error: str
    at: datetime | None


@dataclass(frozen=True)
class InvitedPerson:
    id: int
    name: str
    email: str
    invited_at: datetime
    waiting_days: int


@dataclass
class AdminPanel:
    scheduler: str | None  # who holds the lease ("pid 12 on host"); None when no scheduler runs the jobs
    jobs: list[JobHealth]
    email_failed: int
    email_retrying: int
    failures: list[FailedEmail] = field(default_factory=list)
    invited: int = 0
    oldest_invited: list[InvitedPerson] = field(default_factory=list)

    @property
    def jobs_overdue(self) -> int:
        return sum(1 for job in self.jobs if job.overdue)


def panel(person: Person, today: date) -> AdminPanel | None:
    """The admin's panel, or None when the person is not one."""
    if not policy.is_admin(person):
        return None
    now = utcnow()
    failed, retrying, failures = _outbox()
    invited, oldest = _invited(now)
    return AdminPanel(scheduler=scheduling.active_scheduler(), jobs=job_health(now), email_failed=failed,
                      email_retrying=retrying, failures=failures, invited=invited, oldest_invited=oldest)


def job_health(now: datetime) -> list[JobHealth]:
    """Each job the scheduler runs, with its latest successful run (one statement)."""
    succeeded = JobRun.outcome == JobOutcome.SUCCEEDED
    rows = {job: rest for job, *rest in db.session.execute(
        select(JobRun.job, func.max(case((succeeded, JobRun.started_at))),
               func.max(case((succeeded, JobRun.finished_at))), func.max(JobRun.started_at),
               func.max(case((JobRun.outcome == JobOutcome.FAILED, JobRun.started_at))))
        .group_by(JobRun.job))}
    london_now = now.astimezone(clock.LONDON)
    found = []
    for job in scheduling.enabled_jobs():
        success_started, success_finished, latest, failed = rows.get(job.name, (None, None, None, None))
        # The latest time it was due, long enough ago for a run begun then to have finished.
        due = job.schedule.previous(london_now - OVERDUE_AFTER)
        overdue = success_started is None or (due is not None and success_started < due)
        found.append(JobHealth(
            name=job.name, schedule=job.schedule.description, last_success=success_finished,
            age=describe_age(success_finished, now) if success_finished else "", overdue=overdue,
            last_failed=failed is not None and failed == latest))
    return found


def _outbox() -> tuple[int, int, list[FailedEmail]]:
    """Email given up on, email waiting to be tried again after a failure, and the latest failures."""
    failed = OutboundEmail.status == EmailStatus.FAILED
    retrying = and_(OutboundEmail.status == EmailStatus.QUEUED, OutboundEmail.last_error.is_not(None))
    given_up, again = db.session.execute(select(
        func.coalesce(func.sum(case((failed, 1), else_=0)), 0),
        func.coalesce(func.sum(case((retrying, 1), else_=0)), 0),
    ).where(OutboundEmail.status.in_([EmailStatus.FAILED, EmailStatus.QUEUED]))).one()
    latest = db.session.execute(
        select(OutboundEmail.id, OutboundEmail.recipient, OutboundEmail.subject, OutboundEmail.last_error,
               func.coalesce(OutboundEmail.last_attempt_at, OutboundEmail.created_at).label("at"))
        .where(OutboundEmail.last_error.is_not(None), OutboundEmail.status != EmailStatus.SENT)
        .order_by(func.coalesce(OutboundEmail.last_attempt_at, OutboundEmail.created_at).desc(),
                  OutboundEmail.id.desc())
        .limit(SHOWN)
    ).all()
    failures = [FailedEmail(i, recipient, subject, (error or "").strip().splitlines()[0][:200] if error else "", at)
                for i, recipient, subject, error, at in latest]
    return int(given_up), int(again), failures


def _invited(now: datetime) -> tuple[int, list[InvitedPerson]]:
    """Active accounts whose person has not yet set a password (they could not have signed in), the longest
    invited first, with how many there are."""
    since = func.coalesce(Person.invited_at, Person.created_at)
    rows = db.session.execute(
        select(Person.id, Person.name, Person.email, since, func.count().over())
        .where(Person.active.is_(True), Person.password_hash.is_(None))
        .order_by(since, Person.id).limit(SHOWN)
    ).all()
    people = [InvitedPerson(i, name, email, at, max((now - at).days, 0)) for i, name, email, at, _n in rows]
    return (rows[0][-1] if rows else 0), people
