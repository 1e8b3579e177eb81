"""Scheduled jobs: what runs when, each run recorded as a ``JobRun``, and the one scheduler process that runs them.

Every job calls a service function and returns a dict of counts. ``run_job`` records the run (start, end,
outcome, counts, error with a short traceback, host and pid) and commits the job's work; a job that fails has
its uncommitted work rolled back, is recorded as failed and is retried at its next scheduled time (and at once
when a scheduler starts).

Jobs run in the scheduler process only (``flask scheduler run``), never in web workers. One scheduler is active
at a time: it holds a lock for its whole life (a PostgreSQL advisory lock on a connection of its own, or on
SQLite an ``flock`` on a file beside the database), and a second one stands by until the lock is free. The lock
is a backstop only: every job is safe to repeat (reminders, for one, have a unique key), so even two jobs
running at once never send anything twice.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from app.extensions import db
from app.models import JobOutcome, JobRun
from app.models.types import utcnow
from app.services import ServiceError
from app.services.clock import LONDON

log = logging.getLogger("pathways.scheduler")

# How a run started.
SCHEDULE, RETRY, RUN_ONCE = "schedule", "retry", "run-once"
TRIGGERS = (SCHEDULE, RETRY, RUN_ONCE)

# The PostgreSQL advisory lock key of the active scheduler: the bytes of "pathways" as one bigint.
LOCK_KEY = int.from_bytes(b"pathways", "big")
DEFAULT_POLL_SECONDS = 5.0
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

    def __init__(self, message: str, counts: dict):
        super().__init__(message)
        self.counts = counts


@dataclass(frozen=True)
class Job:
    name: str
    description: str
    schedule: Schedule
    run: Callable[[], dict] = field(repr=False)


def _refresh_risk() -> dict:
    from app.services import risk

    return risk.refresh_flags()


def _queue_reminders() -> dict:
    from app.services import reminders

    return reminders.queue_due_reminders()


def _queue_weekly_digests() -> dict:
    from app.services import reminders

    return reminders.queue_weekly_digests()


def _catch_up_certificates() -> dict:
    from app.services import certificate_batches

    result = certificate_batches.catch_up()
    counts = {"issued": result.issued, "already issued": result.already, "failed": len(result.failed)}
    if result.failed:
        first = "; ".join(f"{key}: {error}" for key, error in result.failed[:3])
        raise JobIncomplete(f"{len(result.failed)} certificate(s) could not be issued ({first})", counts)
    return counts


def _deliver_email() -> dict:
    from app.services import outbox

    report = outbox.deliver_due()
    return {"sent": report.sent, "to retry": report.retrying, "failed": report.failed}


def _purge_attempts() -> dict:
    from app.services import signing_in, verification

    return {"sign-in attempts": signing_in.purge_old_attempts(),
            "certificate checks": verification.purge_old_attempts()}


JOBS: dict[str, Job] = {job.name: job for job in (
    Job("risk-refresh", "Works out which apprenticeships and course enrolments are at risk, and why.",
        cron("Daily at 06:00", hour=6, minute=0), _refresh_risk),
    Job("reminders", "Queues the reminders that are due (reviews, off-the-job hours, deadlines), each only once.",
        cron("Hourly at :05, 08:05 to 19:05", hour="8-19", minute=5), _queue_reminders),
    Job("weekly-digest", "Queues each coordinator's weekly digest of who is at risk and what waits, once a week.",
        cron("Mondays at 08:30", day_of_week="mon", hour=8, minute=30), _queue_weekly_digests),
    Job("certificate-catch-up", "Issues every certificate still waiting, in every course run and intake.",
        cron("Hourly at :20", minute=20), _catch_up_certificates),
    Job("outbox", "Sends queued email that is due (when MAIL_BACKEND is smtp).",
        every("Every minute", minutes=1), _deliver_email),
    Job("purge-attempts", "Deletes sign-in attempts and certificate checks older than 30 days.",
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


def poll_seconds() -> float:
    """How often a standby scheduler tries for the lock, and the active one checks it still holds it."""
    return float(_setting("SCHEDULER_POLL_SECONDS", DEFAULT_POLL_SECONDS))


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


def run_job(name: str, trigger: str = RUN_ONCE) -> JobRun:
    """Run the job now and record it. Its work is committed; if it fails, its uncommitted work is rolled back
    and the run is recorded as failed with the error. Never raises for a failing job (only for an unknown one,
    or when the run cannot be recorded at all)."""
    job = get_job(name)
    if trigger not in TRIGGERS:
        raise ValueError(f"unknown trigger {trigger!r}")
    run = JobRun(job=name, trigger=trigger, started_at=utcnow(), outcome=JobOutcome.RUNNING,
                 counts={}, host=socket.gethostname()[:200], pid=os.getpid())
    db.session.add(run)
    db.session.commit()
    run_id = run.id
    log.info("Job %s started (%s, run %s)", name, trigger, run_id)
    counts: dict = {}
    error: BaseException | None = None
    try:
        counts = _counts(job.run())
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
        log.error("Job %s failed (run %s): %s", name, run_id, run.error.splitlines()[0],
                  exc_info=(type(error), error, error.__traceback__))
    db.session.commit()
    return run


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


def mark_abandoned_runs() -> int:
    """Runs still marked running whose process (on this host) is gone were cut short: record them as failed,
    so they are retried."""
    host = socket.gethostname()[:200]
    abandoned = [run for run in db.session.scalars(
        select(JobRun).where(JobRun.outcome == JobOutcome.RUNNING, JobRun.host == host))
        if run.pid != os.getpid() and not _process_alive(run.pid)]
    for run in abandoned:
        run.outcome = JobOutcome.FAILED
        run.finished_at = utcnow()
        run.error = f"The process running it (pid {run.pid} on {run.host}) stopped before it finished."
    db.session.commit()
    return len(abandoned)


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


# The single-active-scheduler lock ------------------------------------------------------------------------------


def _identity() -> str:
    return f"pid {os.getpid()} on {socket.gethostname()}"


class PostgresLock:
    """``pg_try_advisory_lock(LOCK_KEY)`` held on a connection of its own for the life of the process. The
    server releases it when that connection closes, however the process ends."""

    def __init__(self, url):
        self.engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT",
                                    connect_args={"application_name": f"pathways-scheduler {_identity()}"[:63]})
        self.connection = None

    def try_acquire(self) -> bool:
        connection = self.engine.connect()
        try:
            held = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": LOCK_KEY}).scalar()
        except BaseException:
            connection.close()
            raise
        if held:
            self.connection = connection
            return True
        connection.close()
        return False

    def still_held(self) -> bool:
        if self.connection is None:
            return False
        try:
            self.connection.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    def release(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(SQLAlchemyError):
                self.connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
            with contextlib.suppress(SQLAlchemyError):
                self.connection.close()
            self.connection = None
        self.engine.dispose()

    def holder(self) -> str | None:
        with self.engine.connect() as connection:
            return _postgres_holder(connection)


def _postgres_holder(connection) -> str | None:
    """Who holds the PostgreSQL lock (its connection's application name), or None when nobody does."""
    # Activity statistics are a snapshot taken once per transaction: take a new one.
    connection.execute(text("SELECT pg_stat_clear_snapshot()"))
    row = connection.execute(text(
        "SELECT a.application_name, l.pid FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :high AND l.objid = :low "
        "AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    ), {"high": LOCK_KEY >> 32, "low": LOCK_KEY & 0xFFFFFFFF}).first()
    if row is None:
        return None
    return (row.application_name or "").removeprefix("pathways-scheduler ") or f"server process {row.pid}"


class FileLock:
    """``fcntl.flock`` on a file beside the SQLite database. The operating system releases it when the process
    ends, however it ends. The file holds the holder's pid and host, for people reading it."""

    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None

    def try_acquire(self) -> bool:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{_identity()}\n".encode())
        self.fd = fd
        return True

    def still_held(self) -> bool:
        return self.fd is not None

    def release(self) -> None:
        if self.fd is not None:
            import fcntl

            with contextlib.suppress(OSError):
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None

    def holder(self) -> str | None:
        import fcntl

        if self.fd is not None:
            return _identity()
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                return os.read(fd, 200).decode(errors="replace").strip() or "another process"
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)


def lock_file_path(app: Flask | None = None) -> Path:
    """Beside the SQLite database file (``pathways.db.scheduler-lock``); for an in-memory database, in the
    instance folder."""
    app = app or current_app
    with app.app_context():
        database = db.engine.url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return Path(app.instance_path) / "scheduler.lock"
    path = Path(database)
    return path.with_name(path.name + ".scheduler-lock")


def scheduler_lock(app: Flask | None = None) -> PostgresLock | FileLock:
    app = app or current_app
    with app.app_context():
        url = db.engine.url
    if url.get_backend_name() == "postgresql":
        return PostgresLock(url)
    return FileLock(lock_file_path(app))


def active_scheduler() -> str | None:
    """Who runs the scheduled jobs now (``pid 123 on host``), or None when no scheduler is running."""
    try:
        if db.engine.url.get_backend_name() == "postgresql":
            return _postgres_holder(db.session)
        return FileLock(lock_file_path()).holder()
    except (SQLAlchemyError, OSError):
        return None


# The scheduler process ----------------------------------------------------------------------------------------


class _InFlight:
    """Jobs running in this scheduler's threads, so a stopping scheduler finishes them before it lets go of the
    lock, and starts no more."""

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


def _scheduled_run(app: Flask, name: str, in_flight: _InFlight) -> None:
    if not in_flight.enter():
        return
    try:
        with app.app_context():
            last = last_run(name)
            trigger = RETRY if last is not None and last.outcome == JobOutcome.FAILED else SCHEDULE
            run_job(name, trigger)
    except Exception:
        log.exception("Could not run or record the job %s", name)
    finally:
        in_flight.leave()


class Scheduler:
    """``flask scheduler run``: wait for the lock (standing by while another scheduler holds it), then run the
    jobs on their schedules with APScheduler's BlockingScheduler until stopped (SIGTERM/SIGINT or ``stop()``).
    If the lock is lost (PostgreSQL connection closed), stop the jobs and stand by again."""

    def __init__(self, app: Flask, *, jobs: list[Job] | None = None, poll: float | None = None):
        self.app = app
        with app.app_context():
            self.jobs = jobs if jobs is not None else enabled_jobs()
            self.poll = poll if poll is not None else poll_seconds()
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
        lock = scheduler_lock(self.app)
        standing_by = False
        while not self.stopped.is_set():
            try:
                acquired = lock.try_acquire()
            except (SQLAlchemyError, OSError) as error:
                log.warning("Cannot reach the scheduler lock (%s); trying again in %s seconds",
                            str(error).splitlines()[0], self.poll)
                self.stopped.wait(self.poll)
                continue
            if not acquired:
                if not standing_by:
                    holder = None
                    with contextlib.suppress(SQLAlchemyError, OSError):
                        holder = lock.holder()
                    log.info("Standing by: another scheduler holds the lock (%s); trying again every %s seconds",
                             holder or "unknown", self.poll)
                    standing_by = True
                self.stopped.wait(self.poll)
                continue
            standing_by = False
            try:
                lost = self._run_jobs(lock)
            except SQLAlchemyError as error:
                log.error("Cannot start the jobs: %s", str(error).splitlines()[0])
                lost = True
            finally:
                lock.release()
            if not lost:
                break
            log.warning("Not holding the scheduler lock any more: the jobs are stopped; trying again in %s seconds",
                        self.poll)
            self.stopped.wait(self.poll)
        log.info("Scheduler stopped (%s)", _identity())

    def _run_jobs(self, lock) -> bool:
        """Run the jobs while holding the lock; True if the lock was lost, False if stopped."""
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.blocking import BlockingScheduler

        with self.app.app_context():
            sqlite = db.engine.url.get_backend_name() == "sqlite"
            abandoned = mark_abandoned_runs()
            due = due_at_start(self.jobs)
            db.session.remove()
        if abandoned:
            log.warning("%s run(s) cut short by a stopped process recorded as failed", abandoned)
        in_flight = _InFlight()
        lost = threading.Event()
        scheduler = BlockingScheduler(
            timezone=LONDON,
            # SQLite takes one writer at a time: run its jobs one after another.
            executors={"default": ThreadPoolExecutor(1 if sqlite else 3), "watch": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        now = datetime.now(LONDON)
        for position, job in enumerate(self.jobs):
            # Due jobs start at once, in the registry's order (risk before the reminders and digests that read it).
            options = {"next_run_time": now + timedelta(milliseconds=10 * position)} if job.name in due else {}
            scheduler.add_job(_scheduled_run, job.schedule.trigger(), args=(self.app, job.name, in_flight),
                              id=job.name, name=job.name, **options)

        def watch() -> None:
            if not self.stopped.is_set() and not lock.still_held():
                lost.set()
            if self.stopped.is_set() or lost.is_set():
                self._shut_down(scheduler)

        from apscheduler.triggers.interval import IntervalTrigger

        scheduler.add_job(watch, IntervalTrigger(seconds=self.poll), id="watch-lock", executor="watch")
        with self._mutex:
            self._scheduler = scheduler
        log.info("Scheduler running (%s), holding the lock; jobs: %s%s", _identity(),
                 ", ".join(job.name for job in self.jobs),
                 f"; running now: {', '.join(due)}" if due else "")
        try:
            if not self.stopped.is_set():
                scheduler.start()
        finally:
            with self._mutex:
                self._scheduler = None
            log.info("Stopping: waiting for running jobs to finish")
            in_flight.stop_and_wait()
        return lost.is_set() and not self.stopped.is_set()
