"""Scheduled jobs: what runs when, each run recorded as a ``JobRun``, and the one scheduler process that runs them.

Every job calls a service function and returns a dict of counts. ``run_job`` records the run (start, end,
outcome, counts, error with a short traceback, host, pid and lease token) and commits the job's work; a job that
fails has its uncommitted work rolled back, is recorded as failed and is retried at its next scheduled time (and
at once when a scheduler starts).

Jobs run in the scheduler process only (``flask scheduler run``), never in web workers. One scheduler is active
at a time: it holds a lease, a row in the database (``SchedulerLease``) with the holder, a fencing token and an
expiry that a heartbeat renews every ``SCHEDULER_POLL_SECONDS``. A standby takes over a lease that has run out
(its holder stopped, died or hung), with a conditional update that only one standby wins, and the token goes up
by one. A scheduler that cannot renew (another took over, or the database has not answered for so long that its
lease may have run out) stops its jobs at once. The jobs are fenced: each checks, before each batch of work, that
the lease it started under is still held, and the scheduler checks it again (locking the lease row) before every
commit of a job's work, so a leader that resumes after a pause does nothing a newer leader may be doing. Times of
the lease are the database's clock, so schedulers on servers whose clocks differ agree.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import create_engine, event, insert, select, text, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from app.extensions import db
from app.models import JobOutcome, JobRun, SchedulerLease
from app.models.types import utcnow
from app.services import ServiceError
from app.services.clock import LONDON

log = logging.getLogger("pathways.scheduler")

# How a run started.
SCHEDULE, RETRY, RUN_ONCE = "schedule", "retry", "run-once"
TRIGGERS = (SCHEDULE, RETRY, RUN_ONCE)

DEFAULT_POLL_SECONDS = 5.0
# Without SCHEDULER_LEASE_SECONDS, a lease lasts this many heartbeats: a few may be missed before a standby takes over.
LEASE_HEARTBEATS = 4
LEASE_NAME = "scheduler"
LEASE = SchedulerLease.__table__
ERROR_LIMIT = 4000


# Schedules ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    """When a job runs, in London time. ``kind`` is ``cron`` (fields as APScheduler's ``CronTrigger``) or
    ``interval`` (``minutes``/``hours``, counted from midnight London time on 1 January 2026)."""

    description: str
    kind: str
    fields: tuple[tuple[str, object], ...]

    def trigger(self):
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        if self.kind == "cron":
            return CronTrigger(timezone=LONDON, **dict(self.fields))
        return IntervalTrigger(timezone=LONDON, start_date=datetime(2026, 1, 1, tzinfo=LONDON), **dict(self.fields))

    def next_after(self, now: datetime) -> datetime | None:
        """The first scheduled time strictly after ``now``."""
        return self.trigger().get_next_fire_time(None, now + timedelta(seconds=1))

    def previous(self, now: datetime) -> datetime | None:
        """The latest scheduled time at or before ``now`` (within the last 40 days)."""
        trigger = self.trigger()
        for window in (timedelta(minutes=2), timedelta(hours=2), timedelta(days=2), timedelta(days=9),
                       timedelta(days=40)):
            found = None
            at = trigger.get_next_fire_time(None, now - window)
            while at is not None and at <= now:
                found = at
                at = trigger.get_next_fire_time(at, at + timedelta(seconds=1))
            if found is not None:
                return found
        return None


def cron(description: str, **fields) -> Schedule:
    return Schedule(description, "cron", tuple(fields.items()))


def every(description: str, **fields) -> Schedule:
    return Schedule(description, "interval", tuple(fields.items()))


# The jobs ----------------------------------------------------------------------------------------------------


class JobIncomplete(Exception):
    """A job did part of its work but not all: the run is recorded as failed with these counts (work the job
    committed itself stays), and is retried at its next time."""

    def __init__(self, message: str, counts: dict | None = None):
        super().__init__(message)
        self.counts = counts or {}


class LeaseLost(JobIncomplete):
    """The scheduler running the job no longer holds the lease the run started under: the job stops before its
    next batch, and its uncommitted work is rolled back."""


class Fence:
    """Whether a run may go on: always for a run started by hand (``run-once``, "Run now"); for a scheduled run,
    while its scheduler still holds the lease with the token the run started under. Calling it answers (for
    services that take a ``fence`` callable); ``check`` raises ``LeaseLost``."""

    def __init__(self, lease: Lease | None = None):
        self.lease = lease
        self.token = lease.token if lease is not None else None

    def __call__(self) -> bool:
        return self.lease is None or self.lease.holds(self.token)

    def check(self, counts: dict | None = None) -> None:
        if not self():
            raise LeaseLost(self.lease.describe_loss(self.token), counts)

    def check_before_commit(self, session) -> None:
        """In the transaction about to commit: the lease row still has this run's token. The row stays locked
        until the commit (PostgreSQL ``FOR SHARE``; on SQLite, the transaction's lock on the database), so no
        takeover can slip in between the check and the commit."""
        session.flush()  # so SQLite's transaction (and its lock) has begun before the lease is read
        query = select(LEASE.c.token).where(LEASE.c.name == LEASE_NAME)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(read=True)
        if session.execute(query).scalar() != self.token:
            raise LeaseLost(self.lease.describe_loss(self.token))

    @contextlib.contextmanager
    def guarding_commits(self, session, enabled: bool = True) -> Iterator[None]:
        """Every commit of ``session`` inside the block is checked first (``check_before_commit``)."""
        if self.lease is None or not enabled:
            yield
            return

        def before_commit(committing) -> None:
            self.check_before_commit(committing)

        event.listen(session, "before_commit", before_commit)
        try:
            yield
        finally:
            event.remove(session, "before_commit", before_commit)


@dataclass(frozen=True)
class RunContext:
    """What a job is given: its fence (checked before each batch), and whether to send what quiet hours hold."""

    fence: Fence
    ignore_quiet_hours: bool = False


@dataclass(frozen=True)
class Job:
    name: str
    description: str
    schedule: Schedule
    run: Callable[[RunContext], dict] = field(repr=False)
    # False for a job whose commits record what was already done outside the database (email sent): it fences
    # its batches itself, and those records must never be refused.
    fence_commits: bool = True
    # What the job holds back during quiet hours ("reminders"), for saying so; None if it has no quiet hours.
    holds: str | None = None


def _refresh_risk(context: RunContext) -> dict:
    from app.services import risk

    return risk.refresh_flags()


def _queue_reminders(context: RunContext) -> dict:
    from app.services import reminders

    return reminders.queue_due_reminders(quiet_hours=not context.ignore_quiet_hours)


def _queue_weekly_digests(context: RunContext) -> dict:
    from app.services import reminders

    return reminders.queue_weekly_digests(quiet_hours=not context.ignore_quiet_hours)


def _catch_up_certificates(context: RunContext) -> dict:
    from app.services import certificate_batches

    result = certificate_batches.catch_up()
    counts = {"issued": result.issued, "already issued": result.already, "failed": len(result.failed)}
    if result.failed:
        first = "; ".join(f"{key}: {error}" for key, error in result.failed[:3])
        raise JobIncomplete(f"{len(result.failed)} certificate(s) could not be issued ({first})", counts)
    return counts


def _deliver_email(context: RunContext) -> dict:
    from app.services import outbox

    report = outbox.deliver_due(fence=context.fence)
    counts = {"sent": report.sent, "to retry": report.retrying, "failed": report.failed}
    context.fence.check(counts)  # stopped before a batch: recorded as stopped, with what it did send
    return counts


def _purge_attempts(context: RunContext) -> dict:
    from app.services import accounts, outbox_retention, sessions, signing_in, single_sign_on, tokens, verification

    return {"sign-in attempts": signing_in.purge_old_attempts(),
            "certificate checks": verification.purge_old_attempts(),
            "signed-in sessions": sessions.purge_old_sessions(),
            "password reset requests": accounts.purge_old_reset_requests(),
            "used links": tokens.purge_used_links(),
            "council sign-in trips": single_sign_on.purge_old_requests(),
            **outbox_retention.purge_old_email()}


JOBS: dict[str, Job] = {job.name: job for job in (
    Job("risk-refresh", "Works out which apprenticeships and course enrolments are at risk, and why.",
        cron("Daily at 06:00", hour=6, minute=0), _refresh_risk),
    Job("reminders", "Queues the reminders that are due (reviews, off-the-job hours, deadlines), each only once.",
        cron("Hourly at :05, 08:05 to 19:05", hour="8-19", minute=5), _queue_reminders, holds="reminders"),
    Job("weekly-digest", "Queues each coordinator's weekly digest of who is at risk and what waits, once a week.",
        cron("Mondays at 08:30", day_of_week="mon", hour=8, minute=30), _queue_weekly_digests, holds="digests"),
    Job("certificate-catch-up", "Issues every certificate still waiting, in every course run and intake.",
        cron("Hourly at :20", minute=20), _catch_up_certificates),
    Job("outbox", "Sends queued email that is due (when MAIL_BACKEND is smtp).",
        every("Every minute", minutes=1), _deliver_email, fence_commits=False),
    Job("purge-attempts", "Deletes what is kept only for a while: sign-in attempts, certificate checks, ended "
        "sessions, reset requests, used links, council sign-in trips, and old email (link bodies after 7 days, "
        "all after 90).",
        cron("Daily at 03:00", hour=3, minute=0), _purge_attempts),
)}


class UnknownJob(ServiceError):
    def __init__(self, name: str):
        super().__init__(f"there is no job called {name!r}; the jobs are: {', '.join(JOBS)}", "job")


def get_job(name: str) -> Job:
    try:
        return JOBS[name]
    except KeyError:
        raise UnknownJob(name) from None


def _setting(name: str, default):
    value = current_app.config.get(name)
    if value is None or value == "":
        value = os.environ.get(name)
    return default if value is None or value == "" else value


class SettingError(ValueError):
    """A scheduler setting that cannot be used; the message names it."""


def _seconds(name: str, value, example: str) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise SettingError(f"{name} must be a number of seconds, such as {example}; got {value!r}") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise SettingError(f"{name} must be a number of seconds more than 0, such as {example}; got {value!r}")
    return seconds


def poll_seconds() -> float:
    """How often the active scheduler renews its lease, and a standby looks for one that has run out."""
    return _seconds("SCHEDULER_POLL_SECONDS", _setting("SCHEDULER_POLL_SECONDS", DEFAULT_POLL_SECONDS), "5")


def lease_seconds(poll: float) -> float:
    """How long a lease lasts unless renewed (SCHEDULER_LEASE_SECONDS; by default LEASE_HEARTBEATS polls). At least
    two polls, so one late heartbeat does not lose it."""
    value = _setting("SCHEDULER_LEASE_SECONDS", None)
    if value is None:
        return LEASE_HEARTBEATS * poll
    seconds = _seconds("SCHEDULER_LEASE_SECONDS", value, str(round(LEASE_HEARTBEATS * poll)))
    if seconds < 2 * poll:
        raise SettingError(f"SCHEDULER_LEASE_SECONDS ({value}) must be at least twice SCHEDULER_POLL_SECONDS "
                           f"({poll:g}), so the lease is renewed before it runs out")
    return seconds


def enabled_jobs() -> list[Job]:
    """The jobs ``flask scheduler run`` schedules: all, or those named in SCHEDULER_JOBS (comma-separated)."""
    names = _setting("SCHEDULER_JOBS", "")
    if isinstance(names, str):
        names = [name.strip() for name in names.split(",") if name.strip()]
    return [get_job(name) for name in names] if names else list(JOBS.values())


# Running a job -----------------------------------------------------------------------------------------------


def _describe_error(error: BaseException) -> str:
    """The error's type and message, then the last frames of its traceback (file:line in function)."""
    root = str(Path(__file__).resolve().parents[2]) + os.sep
    lines = [f"{type(error).__name__}: {error}".strip()]
    frames = traceback.extract_tb(error.__traceback__)[-8:]
    if frames:
        lines.append("Traceback (last calls):")
        lines += [f"  {frame.filename.removeprefix(root)}:{frame.lineno} in {frame.name}" for frame in frames]
    return "\n".join(lines)[:ERROR_LIMIT]


def _counts(value) -> dict:
    return {str(key): count for key, count in dict(value or {}).items()}


def run_job(name: str, trigger: str = RUN_ONCE, *, lease: Lease | None = None,
            ignore_quiet_hours: bool = False) -> JobRun:
    """Run the job now and record it. Its work is committed; if it fails, its uncommitted work is rolled back
    and the run is recorded as failed with the error. With ``lease`` (a scheduler's run), the job is fenced by
    it: it starts only while the lease is held (else ``LeaseLost`` is raised and nothing is recorded) and stops
    before the next batch, or the next commit, once it is not. ``ignore_quiet_hours`` sends what quiet hours hold
    back. Never raises for a failing job (only for an unknown one, or when the run cannot be recorded at all)."""
    job = get_job(name)
    if trigger not in TRIGGERS:
        raise ValueError(f"unknown trigger {trigger!r}")
    fence = Fence(lease)
    fence.check()
    run = JobRun(job=name, trigger=trigger, started_at=utcnow(), outcome=JobOutcome.RUNNING,
                 counts={}, host=socket.gethostname()[:200], pid=os.getpid(), lease_token=fence.token)
    db.session.add(run)
    db.session.commit()
    run_id = run.id
    log.info("Job %s started (%s, run %s)", name, trigger, run_id)
    counts: dict = {}
    error: BaseException | None = None
    try:
        with fence.guarding_commits(db.session(), job.fence_commits):
            counts = _counts(job.run(RunContext(fence, ignore_quiet_hours)))
            db.session.commit()
    except Exception as failure:  # noqa: BLE001 - any failure of a job is recorded, not raised
        error = failure
        db.session.rollback()
        if isinstance(failure, JobIncomplete):
            counts = _counts(failure.counts)
    run = db.session.get(JobRun, run_id)
    run.finished_at = utcnow()
    run.counts = counts
    if error is None:
        run.outcome = JobOutcome.SUCCEEDED
        log.info("Job %s succeeded (run %s): %s", name, run_id, describe_counts(counts))
    else:
        run.outcome = JobOutcome.FAILED
        run.error = _describe_error(error)
        if isinstance(error, LeaseLost):
            log.warning("Job %s stopped (run %s): %s", name, run_id, error)
        else:
            log.error("Job %s failed (run %s): %s", name, run_id, run.error.splitlines()[0],
                      exc_info=(type(error), error, error.__traceback__))
    db.session.commit()
    return run


def held_for_quiet_hours(name: str, counts: dict | None) -> str | None:
    """``12 reminders, quiet hours until 08:00 London time`` when a run of a job with quiet hours held its work
    back; None otherwise."""
    from app.services import reminders

    job = JOBS.get(name)
    if job is None or job.holds is None or "held_for_daytime" not in (counts or {}):
        return None
    held = counts["held_for_daytime"]
    noun = job.holds if held != 1 else job.holds.removesuffix("s")
    return f"{held} {noun}, quiet hours until {reminders.DAYTIME_HOURS[0]:02d}:00 London time"


def last_run(name: str) -> JobRun | None:
    return db.session.scalar(
        select(JobRun).where(JobRun.job == name).order_by(JobRun.started_at.desc(), JobRun.id.desc()).limit(1)
    )


def describe_counts(counts: dict | None, *, skip_zero: bool = False) -> str:
    """``emails 3, review overdue 6``; with ``skip_zero`` only what is not zero (or "nothing to do")."""
    shown = [(key, value) for key, value in (counts or {}).items() if not (skip_zero and value == 0)]
    if not shown:
        return "nothing to do" if counts else "no counts"
    return ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in shown)


def describe_duration(run: JobRun) -> str:
    if run.finished_at is None:
        return ""
    seconds = max((run.finished_at - run.started_at).total_seconds(), 0)
    if seconds < 0.1:
        return "less than 0.1 seconds"
    if seconds < 60:
        return f"{seconds:.1f} seconds"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} minute{'' if minutes == 1 else 's'} {rest} second{'' if rest == 1 else 's'}"


@dataclass
class JobState:
    job: Job
    last: JobRun | None
    next_run: datetime | None


def job_states(now: datetime | None = None) -> list[JobState]:
    """Each job with its last run and its next scheduled time (a failed job is retried then)."""
    now = (now or utcnow()).astimezone(LONDON)
    return [JobState(job, last_run(job.name), job.schedule.next_after(now)) for job in JOBS.values()]


# Catching up when a scheduler starts ----------------------------------------------------------------------------


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def close_abandoned_runs(lease: Lease) -> int:
    """When ``lease`` has just been taken: scheduled runs still marked running that were started under an older
    lease, or before there was one (on any server), were cut short, since whoever ran them does not hold it; and
    runs started by hand on this server whose process is gone. Record them as failed, so they are retried. A run
    by hand elsewhere (a "Run now" in a web worker) may still be running, and is left alone."""
    host = socket.gethostname()[:200]
    closed = 0
    for run in db.session.scalars(select(JobRun).where(JobRun.outcome == JobOutcome.RUNNING)):
        if run.lease_token is not None and run.lease_token < lease.token:
            run.error = (f"Stopped before it finished: pid {run.pid} on {run.host} ran it under the scheduler lease "
                         f"with token {run.lease_token}, and no longer holds the lease; {lease.identity} took it "
                         f"over with token {lease.token}.")
        elif run.lease_token is None and run.trigger != RUN_ONCE:
            run.error = (f"Stopped before it finished: pid {run.pid} on {run.host} ran it before schedulers held a "
                         f"lease; {lease.identity} took the lease over with token {lease.token}.")
        elif (run.lease_token is None and run.host == host and run.pid != os.getpid()
              and not _process_alive(run.pid)):
            run.error = f"The process running it (pid {run.pid} on {run.host}) stopped before it finished."
        else:
            continue
        run.outcome = JobOutcome.FAILED
        run.finished_at = utcnow()
        closed += 1
    db.session.commit()
    return closed


def due_at_start(jobs: list[Job], now: datetime | None = None) -> list[str]:
    """Jobs to run as soon as a scheduler starts: those whose last run failed, that never ran, or that missed a
    scheduled time while no scheduler was up (each runs once, however many times it missed)."""
    now = (now or utcnow()).astimezone(LONDON)
    due = []
    for job in jobs:
        last = last_run(job.name)
        if last is None or last.outcome == JobOutcome.FAILED:
            due.append(job.name)
        elif last.outcome == JobOutcome.SUCCEEDED:
            previous = job.schedule.previous(now)
            if previous is not None and last.started_at < previous:
                due.append(job.name)
    return due


# The lease --------------------------------------------------------------------------------------------------


def _identity() -> str:
    return f"pid {os.getpid()} on {socket.gethostname()}"


def _database_now(connection) -> datetime:
    """The database's clock (PostgreSQL's server; SQLite's, which is this server's), to the millisecond or better."""
    if connection.dialect.name == "postgresql":
        return connection.execute(text("SELECT clock_timestamp()")).scalar_one().astimezone(UTC)
    value = connection.execute(text("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")).scalar_one()
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


@dataclass(frozen=True)
class LeaseState:
    holder: str
    token: int
    acquired_at: datetime
    renewed_at: datetime
    expires_at: datetime
    now: datetime  # the database's time when it was read

    @property
    def live(self) -> bool:
        return self.expires_at > self.now


def _read_lease(connection) -> LeaseState | None:
    now = _database_now(connection)
    row = connection.execute(select(LEASE).where(LEASE.c.name == LEASE_NAME)).first()
    if row is None:
        return None
    return LeaseState(row.holder, row.token, row.acquired_at, row.renewed_at, row.expires_at, now)


class Lease:
    """This process's hold on the scheduler lease, through an engine of its own (each statement committed at
    once, and never waiting long for a lock or the server, so a heartbeat is never stuck behind a job).

    ``token`` is the fencing token while held (None otherwise). Besides the row, the holder keeps its own
    deadline on the monotonic clock, counted from before each renewal was sent: past it, the lease may have run
    out and been taken, so ``holds`` answers False even while the database cannot be asked."""

    def __init__(self, url, *, seconds: float, poll: float, identity: str | None = None):
        self.seconds = seconds
        self.identity = identity or _identity()
        self.token: int | None = None
        self.seen: LeaseState | None = None  # the lease as the last try to acquire it found it
        self._valid_until = 0.0
        self._mutex = threading.Lock()
        wait_ms = max(round(poll * 1000), 100)
        if url.get_backend_name() == "postgresql":
            connect_args = {"application_name": f"pathways-scheduler {self.identity}"[:63],
                            "connect_timeout": max(2, math.ceil(poll)),
                            "options": f"-c lock_timeout={wait_ms} -c statement_timeout={max(wait_ms, 1000)}"}
        else:
            connect_args = {"timeout": wait_ms / 1000}
        self.engine = create_engine(url, isolation_level="AUTOCOMMIT", pool_size=2, max_overflow=8,
                                    connect_args=connect_args)

    def lapsed(self) -> bool:
        return time.monotonic() >= self._valid_until

    def current(self) -> LeaseState | None:
        with self.engine.connect() as connection:
            return _read_lease(connection)

    def try_acquire(self) -> bool:
        """Take the lease if nobody holds it or it has run out; True if taken. Of several schedulers trying at
        once, one wins: the update is conditional on the token and the expiry it found."""
        sent = time.monotonic()
        with self.engine.connect() as connection:
            state = self.seen = _read_lease(connection)
            if state is not None and state.live:
                return False
            now = _database_now(connection)
            values = {"holder": self.identity[:200], "acquired_at": now, "renewed_at": now,
                      "expires_at": now + timedelta(seconds=self.seconds)}
            if state is None:
                token = 1
                try:
                    connection.execute(insert(LEASE).values(name=LEASE_NAME, token=token, **values))
                except IntegrityError:
                    return False
            else:
                token = state.token + 1
                taken = connection.execute(
                    update(LEASE).where(LEASE.c.name == LEASE_NAME, LEASE.c.token == state.token,
                                        LEASE.c.expires_at <= now).values(token=token, **values))
                if taken.rowcount != 1:
                    return False
        with self._mutex:
            self.token, self._valid_until = token, sent + self.seconds
        return True

    def renew(self) -> bool:
        """The heartbeat: push the expiry on. False if the token is no longer current (another scheduler took
        over); raises SQLAlchemyError when the database does not answer."""
        token = self.token
        if token is None:
            return False
        sent = time.monotonic()
        with self.engine.connect() as connection:
            now = _database_now(connection)
            renewed = connection.execute(
                update(LEASE).where(LEASE.c.name == LEASE_NAME, LEASE.c.token == token)
                .values(renewed_at=now, expires_at=now + timedelta(seconds=self.seconds))).rowcount == 1
        with self._mutex:
            if self.token == token:
                if renewed:
                    self._valid_until = sent + self.seconds
                else:
                    self.token = None
        return renewed

    def holds(self, token: int | None) -> bool:
        """Whether the lease is still held with ``token``: by this process's deadline, then by the row."""
        if token is None or token != self.token or self.lapsed():
            return False
        try:
            with self.engine.connect() as connection:
                current = connection.execute(select(LEASE.c.token).where(LEASE.c.name == LEASE_NAME)).scalar()
        except SQLAlchemyError:
            # The database does not answer: the lease holds until it may have run out.
            return token == self.token and not self.lapsed()
        if current != token:
            with self._mutex:
                if self.token == token:
                    self.token = None
            return False
        return True

    def describe_loss(self, token: int | None) -> str:
        mine = f"{self.identity} no longer holds the scheduler lease it started under (token {token})"
        state = None
        with contextlib.suppress(SQLAlchemyError):
            state = self.current()
        if state is not None and state.token != token:
            return f"{mine}: {state.holder} took it over (token {state.token})"
        return (f"{mine}: it was not renewed within {self.seconds:g} seconds, so another scheduler may have taken "
                "it over")

    def release(self) -> None:
        """Let a standby take over at its next try (the lease runs out now), unless someone else holds it."""
        with self._mutex:
            token, self.token = self.token, None
        if token is None:
            return
        with contextlib.suppress(SQLAlchemyError), self.engine.connect() as connection:
            now = _database_now(connection)
            connection.execute(update(LEASE).where(LEASE.c.name == LEASE_NAME, LEASE.c.token == token)
                               .values(expires_at=now))

    def close(self) -> None:
        self.engine.dispose()


def database_now() -> datetime:
    """The database's time, which the lease is measured by."""
    return _database_now(db.session.connection())


def lease_state() -> LeaseState | None:
    """The lease as it stands (held or run out), or None if no scheduler ever held it."""
    try:
        return _read_lease(db.session.connection())
    except SQLAlchemyError:
        db.session.rollback()
        return None


def active_scheduler() -> str | None:
    """Who runs the scheduled jobs now (``pid 123 on host``), or None when no scheduler holds a live lease."""
    state = lease_state()
    return state.holder if state is not None and state.live else None


# The scheduler process ----------------------------------------------------------------------------------------


class _InFlight:
    """Jobs running in this scheduler's threads, so a stopping scheduler finishes them before it lets go of the
    lease, and starts no more."""

    def __init__(self):
        self.condition = threading.Condition()
        self.running = 0
        self.stopping = False

    def enter(self) -> bool:
        with self.condition:
            if self.stopping:
                return False
            self.running += 1
            return True

    def leave(self) -> None:
        with self.condition:
            self.running -= 1
            self.condition.notify_all()

    def stop_and_wait(self) -> None:
        with self.condition:
            self.stopping = True
            while self.running:
                self.condition.wait()


def _scheduled_run(app: Flask, name: str, in_flight: _InFlight, lease: Lease) -> None:
    if not in_flight.enter():
        return
    try:
        with app.app_context():
            last = last_run(name)
            trigger = RETRY if last is not None and last.outcome == JobOutcome.FAILED else SCHEDULE
            run_job(name, trigger, lease=lease)
    except LeaseLost as lost:
        log.warning("Job %s not started: %s", name, lost)
    except Exception:
        log.exception("Could not run or record the job %s", name)
    finally:
        in_flight.leave()


def _first_line(error: BaseException) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0]


class Scheduler:
    """``flask scheduler run``: wait for the lease (standing by while another scheduler holds it), then run the
    jobs on their schedules with APScheduler's BlockingScheduler until stopped (SIGTERM/SIGINT or ``stop()``),
    renewing the lease every ``poll`` seconds. If the lease is lost (taken over, or not renewed in time), stop
    the jobs at once and stand by again."""

    def __init__(self, app: Flask, *, jobs: list[Job] | None = None, poll: float | None = None,
                 lease_for: float | None = None):
        self.app = app
        with app.app_context():
            self.jobs = jobs if jobs is not None else enabled_jobs()
            self.poll = poll if poll is not None else poll_seconds()
            self.lease_seconds = lease_for if lease_for is not None else lease_seconds(self.poll)
            self.url = db.engine.url
        self.stopped = threading.Event()
        self._scheduler = None
        self._mutex = threading.RLock()  # taken in the signal handler too, on the thread that may hold it

    def stop(self, *_signal) -> None:
        self.stopped.set()
        with self._mutex:
            scheduler = self._scheduler
        if scheduler is not None:
            # Not from a signal handler's frame: shutting down takes the scheduler's locks.
            threading.Thread(target=self._shut_down, args=(scheduler,), daemon=True).start()

    @staticmethod
    def _shut_down(scheduler) -> None:
        from apscheduler.schedulers import SchedulerNotRunningError

        with contextlib.suppress(SchedulerNotRunningError):
            scheduler.shutdown(wait=False)

    def install_signal_handlers(self) -> None:
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, self.stop)

    def serve(self) -> None:
        lease = Lease(self.url, seconds=self.lease_seconds, poll=self.poll)
        standing_by = None
        try:
            while not self.stopped.is_set():
                try:
                    acquired = lease.try_acquire()
                except SQLAlchemyError as error:
                    log.warning("Cannot reach the database for the scheduler lease (%s); trying again in %s seconds",
                                _first_line(error), self.poll)
                    self.stopped.wait(self.poll)
                    continue
                if not acquired:
                    seen = lease.seen
                    if seen is not None and standing_by != seen.token:
                        log.info("Standing by: %s holds the scheduler lease (token %s, renewed every %s seconds); "
                                 "taking over if it is not renewed for %s seconds", seen.holder, seen.token,
                                 self.poll, self.lease_seconds)
                        standing_by = seen.token
                    self.stopped.wait(self.poll)
                    continue
                standing_by = None
                try:
                    lost = self._run_jobs(lease)
                except SQLAlchemyError as error:
                    log.error("Cannot start the jobs: %s", _first_line(error))
                    lost = True
                if not lost:
                    break
                lease.release()
                log.warning("Not holding the scheduler lease any more: the jobs are stopped; standing by")
                self.stopped.wait(self.poll)
        finally:
            lease.release()
            lease.close()
        log.info("Scheduler stopped (%s)", lease.identity)

    def _heartbeat(self, lease: Lease, scheduler, lost: threading.Event, done: threading.Event) -> None:
        """Renew the lease every poll; stop the jobs at once when it is lost or may have run out. Once stopping or
        lost, shut the scheduler down at every poll (a stop may come while it is still starting), renewing still
        while stopping cleanly, so a running job may finish."""
        while not done.wait(self.poll):
            if self.stopped.is_set() or lost.is_set():
                self._shut_down(scheduler)
            if lost.is_set():
                continue
            try:
                if lease.renew():
                    continue
            except SQLAlchemyError as error:
                if not lease.lapsed():
                    log.warning("Cannot renew the scheduler lease (%s); trying again in %s seconds",
                                _first_line(error), self.poll)
                    continue
                log.error("Cannot renew the scheduler lease (%s) and it may have run out: stopping the jobs at "
                          "once, as another scheduler may take over", _first_line(error))
            else:
                state = None
                with contextlib.suppress(SQLAlchemyError):
                    state = lease.current()
                log.error("Lost the scheduler lease: %s holds it now (token %s); stopping the jobs at once",
                          state.holder if state else "another scheduler", state.token if state else "unknown")
            lost.set()
            self._shut_down(scheduler)

    def _run_jobs(self, lease: Lease) -> bool:
        """Run the jobs while holding the lease; True if the lease was lost, False if stopped."""
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.blocking import BlockingScheduler

        with self.app.app_context():
            sqlite = db.engine.url.get_backend_name() == "sqlite"
            closed = close_abandoned_runs(lease)
            due = due_at_start(self.jobs)
            db.session.remove()
        if closed:
            log.warning("%s run(s) cut short by a scheduler that no longer holds the lease, or by a stopped process, "
                        "recorded as failed", closed)
        in_flight = _InFlight()
        lost, done = threading.Event(), threading.Event()
        scheduler = BlockingScheduler(
            timezone=LONDON,
            # SQLite takes one writer at a time: run its jobs one after another.
            executors={"default": ThreadPoolExecutor(1 if sqlite else 3)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        now = datetime.now(LONDON)
        for position, job in enumerate(self.jobs):
            # Due jobs start at once, in the registry's order (risk before the reminders and digests that read it).
            options = {"next_run_time": now + timedelta(milliseconds=10 * position)} if job.name in due else {}
            scheduler.add_job(_scheduled_run, job.schedule.trigger(), args=(self.app, job.name, in_flight, lease),
                              id=job.name, name=job.name, **options)
        heartbeat = threading.Thread(target=self._heartbeat, args=(lease, scheduler, lost, done),
                                     name="scheduler-heartbeat", daemon=True)
        with self._mutex:
            self._scheduler = scheduler
        log.info("Scheduler running (%s), holding the lease (token %s, %s seconds, renewed every %s seconds); "
                 "jobs: %s%s", lease.identity, lease.token, self.lease_seconds, self.poll,
                 ", ".join(job.name for job in self.jobs), f"; running now: {', '.join(due)}" if due else "")
        heartbeat.start()
        try:
            if not self.stopped.is_set():
                scheduler.start()
        finally:
            with self._mutex:
                self._scheduler = None
            log.info("Stopping: waiting for running jobs to finish")
            in_flight.stop_and_wait()  # still renewing the lease, so a clean stop lets a running job finish
            done.set()
            heartbeat.join()
        return lost.is_set() and not self.stopped.is_set()
