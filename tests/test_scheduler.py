"""Scheduled jobs: runs recorded with their counts; a failed run rolled back, recorded and retried at the next tick;
one active scheduler at a time, by a lease in the database with a heartbeat and a fencing token (a standby takes
over a killed or hung leader within the lease; a leader that loses its lease, or cannot renew it, stops before its
next batch, so nothing is done twice; runs cut short are closed on takeover, whatever their host); two schedulers
acting at once still send each reminder exactly once; `flask scheduler`, quiet hours explained and `--now`; and
the admin page."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path
from types import SimpleNamespace

import pytest
import time_machine
from aiosmtpd.controller import Controller
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import OperationalError

from app.extensions import db
from app.models import (
    AuditEvent,
    JobOutcome,
    JobRun,
    Organisation,
    OrganisationKind,
    OutboundEmail,
    Reminder,
    Role,
    SchedulerLease,
    SignInAttempt,
)
from app.models.email import EmailStatus
from app.models.types import utcnow
from app.services import clock, scheduling
from app.services.scheduling import Job, cron, every
from tests.conftest import make_person, post_form, sign_in
from tests.course_factories import enrol, make_course, make_learner, make_run
from tests.pages import text_of
from tests.scheduler_race import ITEM

ROOT = Path(__file__).resolve().parent.parent
JOBS_PAGE = "/admin/scheduled-jobs"
# Scheduler processes renew their lease every POLL seconds; it runs out LEASE seconds after the last renewal.
POLL, LEASE = "0.2", "1"
HOST = socket.gethostname()


def wait_for(condition, what: str, timeout: float = 30.0, *, logs=()) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    shown = "".join(f"\n--- {log.name}:\n{log.read_text()[-3000:]}" for log in logs)
    pytest.fail(f"gave up waiting for {what}{shown}")


def fresh(query):
    """Read committed data, as another process left it, ending the read at once (SQLite writers wait on readers)."""
    db.session.rollback()
    db.session.expire_all()  # objects already loaded are read again
    result = query()
    db.session.rollback()
    return result


def runs_of(name: str) -> list[JobRun]:
    return fresh(lambda: db.session.scalars(select(JobRun).where(JobRun.job == name).order_by(JobRun.id)).all())


def count(model, *where) -> int:
    return fresh(lambda: db.session.scalar(select(func.count()).select_from(model).where(*where)))


def partner(code: str) -> Organisation:
    organisation = Organisation(code=code, name=f"Partner {code}", kind=OrganisationKind.PARTNER)
    db.session.add(organisation)
    db.session.flush()
    return organisation


@pytest.fixture
def flaky(monkeypatch):
    """A job, every second, whose first run adds an organisation and then fails; later runs succeed."""
    calls = []

    def run(context):
        calls.append(len(calls) + 1)
        partner(f"FLAKY{len(calls)}")
        if len(calls) == 1:
            raise RuntimeError("the mail server said no")
        return {"made": 1}

    job = Job("flaky", "Fails the first time.", every("Every second", seconds=1), run)
    monkeypatch.setitem(scheduling.JOBS, job.name, job)
    return job


def add_run(name: str, outcome: JobOutcome, started: datetime, **fields) -> JobRun:
    run = JobRun(job=name, trigger=fields.pop("trigger", "schedule"), started_at=started, outcome=outcome,
                 finished_at=None if outcome == JobOutcome.RUNNING else started + timedelta(seconds=2),
                 counts=fields.pop("counts", {}), host=fields.pop("host", "elsewhere"), pid=fields.pop("pid", 1),
                 **fields)
    db.session.add(run)
    db.session.commit()
    return run


# Running a job ---------------------------------------------------------------------------------------------------


def test_a_run_is_recorded_with_its_counts_and_its_work_committed():
    now = utcnow()
    db.session.add_all([SignInAttempt(at=now - timedelta(days=40), account_digest="a", client_address="1.1.1.1"),
                        SignInAttempt(at=now - timedelta(days=31), account_digest="b", client_address="1.1.1.1"),
                        SignInAttempt(at=now - timedelta(days=2), account_digest="c", client_address="1.1.1.1")])
    db.session.commit()

    run = scheduling.run_job("purge-attempts", scheduling.RUN_ONCE)

    [recorded] = runs_of("purge-attempts")
    assert recorded.id == run.id
    assert recorded.trigger == "run-once"
    assert recorded.outcome == JobOutcome.SUCCEEDED
    assert recorded.counts == {"sign-in attempts": 2, "certificate checks": 0, "signed-in sessions": 0,
                               "password reset requests": 0, "used links": 0, "council sign-in trips": 0,
                               "link email bodies removed": 0,
                               "old email deleted": 0, "old email bodies removed": 0}
    assert recorded.pid == os.getpid() and recorded.host
    assert recorded.started_at <= recorded.finished_at
    assert recorded.error is None
    assert count(SignInAttempt) == 1


def test_a_failed_run_is_recorded_with_its_error_and_its_work_rolled_back(flaky):
    run = scheduling.run_job("flaky", scheduling.SCHEDULE)

    [recorded] = runs_of("flaky")
    assert recorded.id == run.id
    assert recorded.outcome == JobOutcome.FAILED
    assert recorded.finished_at is not None
    first, *trace = recorded.error.splitlines()
    assert first == "RuntimeError: the mail server said no"
    assert any("tests/test_scheduler.py" in line and "in run" in line for line in trace)
    assert count(Organisation, Organisation.code == "FLAKY1") == 0


def test_a_job_that_did_only_part_of_its_work_is_recorded_failed_with_its_counts(monkeypatch):
    def run(context):
        partner("HALF")
        db.session.commit()  # work the job commits itself stays
        raise scheduling.JobIncomplete("1 certificate(s) could not be issued (enrolment:4: no template)",
                                       {"issued": 3, "failed": 1})

    monkeypatch.setitem(scheduling.JOBS, "halfway", Job("halfway", "", every("Every hour", hours=1), run))

    scheduling.run_job("halfway", scheduling.SCHEDULE)

    [recorded] = runs_of("halfway")
    assert recorded.outcome == JobOutcome.FAILED
    assert recorded.counts == {"issued": 3, "failed": 1}
    assert recorded.error.startswith("JobIncomplete: 1 certificate(s) could not be issued (enrolment:4: no template)")
    assert count(Organisation, Organisation.code == "HALF") == 1


def test_at_start_a_scheduler_runs_jobs_that_failed_never_ran_or_missed_their_time_while_none_was_up():
    now = datetime(2026, 11, 23, 14, 30, tzinfo=clock.LONDON)  # a Monday
    daily = cron("Daily at 06:00", hour=6, minute=0)
    jobs = [Job(name, "", daily, dict) for name in ("never", "failed", "missed", "current", "running", "missed-3")]
    add_run("failed", JobOutcome.FAILED, datetime(2026, 11, 23, 6, 0, tzinfo=UTC))
    add_run("missed", JobOutcome.SUCCEEDED, datetime(2026, 11, 22, 6, 0, tzinfo=UTC))
    add_run("missed-3", JobOutcome.SUCCEEDED, datetime(2026, 11, 20, 6, 0, tzinfo=UTC))
    add_run("current", JobOutcome.SUCCEEDED, datetime(2026, 11, 23, 6, 0, 1, tzinfo=UTC))
    add_run("running", JobOutcome.RUNNING, datetime(2026, 11, 22, 6, 0, tzinfo=UTC))

    assert scheduling.due_at_start(jobs, now) == ["never", "failed", "missed", "missed-3"]


def test_runs_by_hand_cut_short_by_a_dead_process_on_this_host_are_recorded_failed_when_a_scheduler_starts(app):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
    dead = add_run("reminders", JobOutcome.RUNNING, utcnow(), host=HOST, pid=int(finished.stdout), trigger="run-once")
    alive = add_run("outbox", JobOutcome.RUNNING, utcnow(), host=HOST, pid=os.getppid(), trigger="run-once")
    # Perhaps a "Run now" in a web worker there: nobody here can tell whether it still runs.
    elsewhere = add_run("risk-refresh", JobOutcome.RUNNING, utcnow(), host="another-host", pid=int(finished.stdout),
                        trigger="run-once")
    lease = scheduling.Lease(db.engine.url, seconds=30, poll=1)
    try:
        assert lease.try_acquire()
        assert scheduling.close_abandoned_runs(lease) == 1
    finally:
        lease.release()
        lease.close()

    outcomes = fresh(lambda: {run.id: (run.outcome, run.error) for run in db.session.scalars(select(JobRun))})
    assert outcomes[dead.id] == (JobOutcome.FAILED, f"The process running it (pid {finished.stdout.strip()} on {HOST}) "
                                                    "stopped before it finished.")
    assert outcomes[alive.id][0] == JobOutcome.RUNNING
    assert outcomes[elsewhere.id][0] == JobOutcome.RUNNING


def test_schedules_are_in_london_time():
    summer = datetime(2026, 7, 6, 12, 0, tzinfo=UTC)  # a Monday, British Summer Time
    assert scheduling.JOBS["risk-refresh"].schedule.next_after(summer) == datetime(2026, 7, 7, 5, 0, tzinfo=UTC)
    assert scheduling.JOBS["weekly-digest"].schedule.next_after(summer) == datetime(2026, 7, 13, 7, 30, tzinfo=UTC)
    reminders = scheduling.JOBS["reminders"].schedule
    assert reminders.next_after(datetime(2026, 11, 23, 19, 30, tzinfo=UTC)) == datetime(2026, 11, 24, 8, 5, tzinfo=UTC)
    assert reminders.previous(datetime(2026, 11, 24, 7, 0, tzinfo=UTC)) == datetime(2026, 11, 23, 19, 5, tzinfo=UTC)
    minute = scheduling.JOBS["outbox"].schedule
    assert minute.previous(datetime(2026, 11, 23, 10, 0, 30, tzinfo=UTC)) == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_the_scheduler_retries_a_failed_job_at_its_next_tick_and_runs_a_missed_job_once(app, flaky, monkeypatch):
    missed_calls = []
    missed = Job("missed", "Daily.", cron("Daily at 03:00", hour=3, minute=0),
                 lambda context: missed_calls.append(1) or {})
    current = Job("current", "Daily, ran today.", cron("Daily at 03:00", hour=3, minute=0), lambda context: {"ran": 1})
    for job in (missed, current):
        monkeypatch.setitem(scheduling.JOBS, job.name, job)
    add_run("missed", JobOutcome.SUCCEEDED, utcnow() - timedelta(days=3))
    add_run("current", JobOutcome.SUCCEEDED, utcnow())

    scheduler = scheduling.Scheduler(app, jobs=[flaky, missed, current], poll=0.1)
    thread = threading.Thread(target=scheduler.serve, daemon=True)
    thread.start()
    try:
        # Both, in either order: on a loaded machine the retry can come before the missed job's turn.
        wait_for(lambda: any(run.outcome == JobOutcome.SUCCEEDED for run in runs_of("flaky")) and missed_calls,
                 "the retry and the missed job")
    finally:
        scheduler.stop()
        thread.join(20)
    assert not thread.is_alive()

    failed, retried, *_ = runs_of("flaky")
    assert (failed.trigger, failed.outcome) == ("schedule", JobOutcome.FAILED)
    assert failed.error.startswith("RuntimeError: the mail server said no")
    assert (retried.trigger, retried.outcome, retried.counts) == ("retry", JobOutcome.SUCCEEDED, {"made": 1})
    assert fresh(lambda: set(db.session.scalars(select(Organisation.code).where(Organisation.code.like("FLAKY%"))))) \
        == {f"FLAKY{n}" for n in range(2, len(runs_of("flaky")) + 1)}
    assert missed_calls == [1]
    assert [run.trigger for run in runs_of("missed")] == ["schedule", "schedule"]
    assert len(runs_of("current")) == 1
    # The lease is free again once the scheduler has stopped: a standby takes over at its next try.
    assert fresh(scheduling.active_scheduler) is None
    assert fresh(scheduling.lease_state).token == 1


# One active scheduler: the lease -------------------------------------------------------------------------------


@pytest.fixture
def processes():
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGCONT)
            process.kill()
            process.wait(10)


def scheduler_env(database_url: str, jobs: str = "purge-attempts") -> dict:
    return dict(os.environ, PATHWAYS_ENV="testing", DATABASE_URL=database_url, SCHEDULER_POLL_SECONDS=POLL,
                SCHEDULER_LEASE_SECONDS=LEASE, SCHEDULER_JOBS=jobs, LOG_LEVEL="INFO")


def start_scheduler(processes, database_url: str, log: Path, jobs: str = "purge-attempts") -> subprocess.Popen:
    with log.open("w") as output:
        process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "scheduler", "run"], cwd=ROOT,
                                   env=scheduler_env(database_url, jobs), stdout=output, stderr=subprocess.STDOUT)
    processes.append(process)
    return process


def start_sending_scheduler(processes, database_url: str, log: Path, work_log: Path, items: int) -> subprocess.Popen:
    """A scheduler process whose one job works through ``items`` items a batch at a time (tests/scheduler_race.py)."""
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.scheduler_race", "serve", database_url, str(work_log), str(items)],
            cwd=ROOT, env=scheduler_env(database_url, "send-slowly"), stdout=output, stderr=subprocess.STDOUT)
    processes.append(process)
    return process


def logged(log: Path, text: str):
    return lambda: text in log.read_text()


def lease_is_free_to_take() -> bool:
    """Whether a standby could write the lease now, or a process holds a lock on it (mid-write)."""
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as connection:
            try:
                connection.execute(text("SELECT token FROM scheduler_lease FOR UPDATE NOWAIT"))
            except OperationalError:
                return False
            finally:
                connection.rollback()
        return True
    connection = sqlite3.connect(db.engine.url.database, timeout=0, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        connection.close()


def hang(process: subprocess.Popen) -> None:
    """SIGSTOP the process, at a moment it holds no lock on the database: hung mid-write it would keep every other
    process from writing until it resumed, which is the database's rule, not the scheduler's."""
    for _ in range(100):
        process.send_signal(signal.SIGSTOP)
        wait_for(lambda: Path(f"/proc/{process.pid}/stat").read_text().split(") ")[1][0] == "T", "the stop", 5)
        if lease_is_free_to_take():
            return
        process.send_signal(signal.SIGCONT)
        time.sleep(0.01)
    pytest.fail("the process always held a lock")


@contextlib.contextmanager
def serving(app, jobs: list[Job], *, poll: float = 0.2, lease: float = 1.0):
    """A scheduler in a thread of this process, with its own engine for the lease."""
    scheduler = scheduling.Scheduler(app, jobs=jobs, poll=poll, lease_for=lease)
    thread = threading.Thread(target=scheduler.serve, daemon=True)
    thread.start()
    try:
        yield scheduler
    finally:
        scheduler.stop()
        thread.join(20)
    assert not thread.is_alive()


@pytest.fixture
def batches(monkeypatch):
    """A job that, the first time it runs, works in batches (noting when each was done) until its fence stops it,
    for at most ten seconds; later runs have nothing to do."""
    work = SimpleNamespace(done=[], stopped=[], runs=0)

    def run(context):
        work.runs += 1
        if work.runs > 1:
            return {"batches": 0}
        for _ in range(500):
            try:
                context.fence.check({"batches": len(work.done)})
            except scheduling.LeaseLost:
                work.stopped.append(time.monotonic())
                raise
            work.done.append(time.monotonic())
            time.sleep(0.02)
        return {"batches": len(work.done)}

    work.job = Job("batches", "Works in batches.", every("Every hour", hours=1), run)
    monkeypatch.setitem(scheduling.JOBS, work.job.name, work.job)
    return work


def take_lease_over(holder: str = "pid 99 on elsewhere") -> int:
    """As another scheduler would, once this one's lease had run out: a new holder and the next token."""
    state = fresh(scheduling.lease_state)
    db.session.execute(update(SchedulerLease).where(SchedulerLease.token == state.token).values(
        holder=holder, token=state.token + 1, renewed_at=state.now, expires_at=state.now + timedelta(minutes=10)))
    db.session.commit()
    return state.token + 1


@contextlib.contextmanager
def lease_unanswered():
    """Lock the lease table, so the database answers nothing about the lease (as when it is unreachable)."""
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as connection:
            connection.execute(text("LOCK TABLE scheduler_lease IN ACCESS EXCLUSIVE MODE"))
            try:
                yield
            finally:
                connection.rollback()
        return
    connection = sqlite3.connect(db.engine.url.database, timeout=10, isolation_level=None)
    connection.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        connection.execute("ROLLBACK")
        connection.close()


def test_of_standbys_finding_the_lease_run_out_at_the_same_moment_exactly_one_takes_it(app):
    now = fresh(scheduling.database_now)
    db.session.add(SchedulerLease(name=scheduling.LEASE_NAME, holder="pid 4242 on another-host", token=41,
                                  acquired_at=now - timedelta(hours=1), renewed_at=now - timedelta(seconds=40),
                                  expires_at=now - timedelta(seconds=10)))
    db.session.commit()
    leases = [scheduling.Lease(db.engine.url, seconds=30, poll=5, identity=f"standby {n}") for n in range(6)]
    ready = threading.Barrier(len(leases))
    taken = {}

    def contend(lease):
        ready.wait()
        taken[lease.identity] = lease.try_acquire()

    threads = [threading.Thread(target=contend, args=(lease,)) for lease in leases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for lease in leases:
        lease.close()

    [winner] = [identity for identity, won in taken.items() if won]
    assert len(taken) == len(leases)
    state = fresh(scheduling.lease_state)
    assert (state.holder, state.token, state.live) == (winner, 42, True)


def test_a_second_scheduler_stands_by_and_takes_over_when_the_first_is_killed(app, database_url, processes,
                                                                              tmp_path):
    logs = {}
    for name in ("a", "b"):
        logs[start_scheduler(processes, database_url, tmp_path / f"{name}.log")] = tmp_path / f"{name}.log"

    def holder_and_standby():
        running = [p for p, log in logs.items() if f"Scheduler running (pid {p.pid} " in log.read_text()]
        standing = [p for p, log in logs.items() if "Standing by: " in log.read_text()]
        return (running[0], standing[0]) if running and standing else None

    wait_for(holder_and_standby, "one scheduler to take the lease and the other to stand by", logs=logs.values())
    first, second = holder_and_standby()
    assert f"Standing by: pid {first.pid} on {HOST} holds the scheduler lease (token 1" in logs[second].read_text()
    assert fresh(scheduling.active_scheduler) == f"pid {first.pid} on {HOST}"
    # The first ran the job due at start (it had never run).
    wait_for(lambda: [(run.pid, run.outcome, run.lease_token) for run in runs_of("purge-attempts")] == [
        (first.pid, JobOutcome.SUCCEEDED, 1)], "the first scheduler to run the job due")

    first.send_signal(signal.SIGKILL)
    first.wait(10)
    killed = time.monotonic()
    wait_for(logged(logs[second], f"Scheduler running (pid {second.pid} "), "the second scheduler to take over",
             logs=logs.values())
    assert time.monotonic() - killed < 2 * float(LEASE) + 1
    assert "holding the lease (token 2, 1.0 seconds, renewed every 0.2 seconds)" in logs[second].read_text()
    assert fresh(scheduling.active_scheduler) == f"pid {second.pid} on {HOST}"

    second.send_signal(signal.SIGTERM)
    assert second.wait(20) == 0
    assert "Scheduler stopped" in logs[second].read_text()
    assert fresh(scheduling.active_scheduler) is None
    # The second found the job done: nothing was due when it took over.
    assert "running now" not in logs[second].read_text()
    assert len(runs_of("purge-attempts")) == 1


def test_a_hung_leader_is_taken_over_within_its_lease_and_stops_before_its_next_batch_when_it_resumes(
        app, database_url, processes, tmp_path):
    items = 40
    work_log = tmp_path / "work.log"
    work_log.touch()
    logs = {}
    for name in ("a", "b"):
        process = start_sending_scheduler(processes, database_url, tmp_path / f"{name}.log", work_log, items)
        logs[process] = tmp_path / f"{name}.log"

    def by(process) -> list[int]:
        lines = [line.split() for line in work_log.read_text().splitlines()]
        return [int(item) for item, pid in lines if pid == str(process.pid)]

    def leader_and_standby():
        running = [p for p, log in logs.items() if f"Scheduler running (pid {p.pid} " in log.read_text()]
        standing = [p for p, log in logs.items() if "Standing by: " in log.read_text()]
        return (running[0], standing[0]) if running and standing else None

    wait_for(leader_and_standby, "one scheduler to lead and the other to stand by", logs=logs.values())
    leader, standby = leader_and_standby()
    wait_for(lambda: len(by(leader)) >= 5, "the leader to get going")

    hang(leader)
    hung = time.monotonic()
    done_before_the_hang = len(by(leader))
    wait_for(logged(logs[standby], f"Scheduler running (pid {standby.pid} "), "the standby to take over", timeout=10,
             logs=logs.values())
    taken_over_in = time.monotonic() - hung
    wait_for(lambda: count(SignInAttempt, SignInAttempt.account_digest.like(f"{ITEM}%")) == items,
             "the new leader to finish the work")

    leader.send_signal(signal.SIGCONT)
    wait_for(logged(logs[leader], "Job send-slowly stopped"), "the old leader to stop its job", logs=logs.values())
    wait_for(logged(logs[leader], "Lost the scheduler lease"), "the old leader to notice", logs=logs.values())
    for process in (leader, standby):
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0

    assert taken_over_in < float(LEASE) + 1.5
    # Every item done exactly once; the old leader finished at most the batch it was hung in.
    assert sorted(by(leader) + by(standby)) == list(range(1, items + 1))
    assert len(by(leader)) - done_before_the_hang <= 1
    old, new = runs_of("send-slowly")
    assert (old.pid, old.lease_token, old.outcome) == (leader.pid, 1, JobOutcome.FAILED)
    assert old.error.startswith(f"LeaseLost: pid {leader.pid} on {HOST} no longer holds the scheduler lease it "
                                f"started under (token 1): pid {standby.pid} on {HOST} took it over (token 2)")
    assert (new.pid, new.lease_token, new.outcome) == (standby.pid, 2, JobOutcome.SUCCEEDED)
    assert new.counts == {"items": len(by(standby))}
    # The new leader had closed the run it found left running.
    assert "1 run(s) cut short by a scheduler that no longer holds the lease" in logs[standby].read_text()


def test_a_leader_whose_lease_is_taken_over_stops_its_job_before_the_next_batch(app, batches, caplog):
    caplog.set_level(logging.INFO, logger=scheduling.log.name)
    with serving(app, [batches.job]):
        wait_for(lambda: len(batches.done) >= 3, "the job to get going")
        token = take_lease_over()
        taken, done_before = time.monotonic(), len(batches.done)
        wait_for(lambda: batches.stopped, "the job to stop")
        wait_for(lambda: "Lost the scheduler lease: pid 99 on elsewhere holds it now (token 2); stopping the jobs "
                         "at once" in caplog.text, "the heartbeat to notice")
        wait_for(lambda: "Standing by: pid 99 on elsewhere holds the scheduler lease (token 2" in caplog.text,
                 "the scheduler to stand by")

    assert token == 2
    assert batches.stopped[0] - taken < 0.5
    assert len(batches.done) - done_before <= 1  # at most the batch under way
    [run] = runs_of("batches")
    assert (run.outcome, run.lease_token, run.counts) == (JobOutcome.FAILED, 1, {"batches": len(batches.done)})
    assert run.error.startswith(f"LeaseLost: pid {os.getpid()} on {HOST} no longer holds the scheduler lease it "
                                "started under (token 1): pid 99 on elsewhere took it over (token 2)")
    # Stopping gave nothing away: the lease is the other scheduler's.
    state = fresh(scheduling.lease_state)
    assert (state.holder, state.token, state.live) == ("pid 99 on elsewhere", 2, True)


def test_a_leader_that_cannot_renew_its_lease_stops_its_job_once_the_lease_may_have_run_out(app, batches, caplog):
    caplog.set_level(logging.INFO, logger=scheduling.log.name)
    with serving(app, [batches.job], poll=0.2, lease=1.0):
        wait_for(lambda: len(batches.done) >= 3, "the job to get going")
        with lease_unanswered():
            unanswered = time.monotonic()
            wait_for(lambda: batches.stopped, "the job to stop", timeout=10)
            wait_for(lambda: "and it may have run out: stopping the jobs at once" in caplog.text,
                     "the heartbeat to give up")
        # Once the database answers again, the lease has run out and is taken again, with the next token.
        wait_for(lambda: "holding the lease (token 2," in caplog.text, "the scheduler to take the lease again")

    # Not before the lease could have run out (renewed at most one poll before), and at once after.
    assert 1.0 - 0.2 - 0.1 <= batches.stopped[0] - unanswered <= 1.0 + 1.0
    assert "Cannot renew the scheduler lease (" in caplog.text
    first = runs_of("batches")[0]
    assert (first.outcome, first.lease_token) == (JobOutcome.FAILED, 1)
    assert first.error.startswith(f"LeaseLost: pid {os.getpid()} on {HOST} no longer holds the scheduler lease it "
                                  "started under (token 1): it was not renewed within 1 seconds")


class SlowMailServer:
    """An SMTP server on loopback that takes a moment over each message, keeping each one's Message-ID."""

    def __init__(self):
        self.received: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(0.02)
        self.received.append(message_from_bytes(envelope.content, policy=email_policy.default)["Message-ID"])
        return "250 Message accepted for delivery"


@pytest.fixture
def slow_mail_server(app, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for name, value in {"MAIL_BACKEND": "smtp", "SMTP_HOST": "127.0.0.1", "SMTP_PORT": port, "SMTP_STARTTLS": False,
                        "SMTP_USERNAME": "", "SMTP_TIMEOUT_SECONDS": 5}.items():
        monkeypatch.setitem(app.config, name, value)
    server = SlowMailServer()
    controller = Controller(server, hostname="127.0.0.1", port=port, ready_timeout=5)
    controller.start()
    yield server
    controller.stop()


def test_the_outbox_job_stops_sending_before_its_next_email_once_its_scheduler_loses_the_lease(app, slow_mail_server):
    db.session.add_all([OutboundEmail(recipient=f"person{n}@example.org", subject="Hello", body_text="Hello.\n",
                                      purpose="test") for n in range(60)])
    db.session.commit()
    with serving(app, [scheduling.JOBS["outbox"]]):
        wait_for(lambda: len(slow_mail_server.received) >= 10, "the outbox to start sending")
        take_lease_over()
        sent_before = len(slow_mail_server.received)
        wait_for(lambda: [run.outcome for run in runs_of("outbox")] == [JobOutcome.FAILED], "the job to stop")

    sent = slow_mail_server.received
    assert len(sent) - sent_before <= 1  # at most the email under way
    assert len(set(sent)) == len(sent)
    [run] = runs_of("outbox")
    assert run.counts["sent"] == len(sent)
    assert run.error.startswith(f"LeaseLost: pid {os.getpid()} on {HOST} no longer holds the scheduler lease it "
                                "started under (token 1): pid 99 on elsewhere took it over (token 2)")
    assert count(OutboundEmail, OutboundEmail.status == EmailStatus.QUEUED) == 60 - len(sent)


def test_runs_left_running_under_an_older_lease_are_closed_on_takeover_whatever_their_host(app):
    now = fresh(scheduling.database_now)
    db.session.add(SchedulerLease(name=scheduling.LEASE_NAME, holder="pid 4242 on another-host", token=7,
                                  acquired_at=now - timedelta(hours=1), renewed_at=now - timedelta(seconds=40),
                                  expires_at=now - timedelta(seconds=10)))
    db.session.commit()
    abandoned = add_run("outbox", JobOutcome.RUNNING, utcnow(), host="another-host", pid=4242, lease_token=7)
    before_leases = add_run("risk-refresh", JobOutcome.RUNNING, utcnow() - timedelta(days=1), host="old-host", pid=5)
    by_hand = add_run("reminders", JobOutcome.RUNNING, utcnow(), host="another-host", pid=77, trigger="run-once")

    with serving(app, []):
        wait_for(lambda: fresh(lambda: db.session.get(JobRun, abandoned.id).outcome) == JobOutcome.FAILED,
                 "the run to be closed")

    closed = fresh(lambda: db.session.get(JobRun, abandoned.id))
    assert closed.finished_at is not None
    assert closed.error == ("Stopped before it finished: pid 4242 on another-host ran it under the scheduler lease "
                            f"with token 7, and no longer holds the lease; pid {os.getpid()} on {HOST} took it over "
                            "with token 8.")
    assert fresh(lambda: db.session.get(JobRun, before_leases.id).error) == (
        f"Stopped before it finished: pid 5 on old-host ran it before schedulers held a lease; pid {os.getpid()} on "
        f"{HOST} took the lease over with token 8.")
    assert fresh(lambda: db.session.get(JobRun, by_hand.id).outcome) == JobOutcome.RUNNING


def test_a_job_s_work_is_not_committed_once_its_scheduler_has_lost_the_lease(app, monkeypatch):
    taken = threading.Event()

    def run(context):
        assert taken.wait(10)
        partner("LATE")  # no check of its own before committing: the scheduler checks at the commit
        return {"made": 1}

    monkeypatch.setitem(scheduling.JOBS, "late", Job("late", "", every("Every hour", hours=1), run))
    lease = scheduling.Lease(db.engine.url, seconds=30, poll=1)
    assert lease.try_acquire()

    def scheduled():
        with app.app_context():
            scheduling.run_job("late", scheduling.SCHEDULE, lease=lease)

    thread = threading.Thread(target=scheduled)
    thread.start()
    try:
        wait_for(lambda: count(JobRun) == 1, "the run to start")
        take_lease_over()
        taken.set()
        thread.join(20)
    finally:
        taken.set()
        lease.release()
        lease.close()

    [run] = runs_of("late")
    assert (run.outcome, run.lease_token) == (JobOutcome.FAILED, 1)
    assert run.error.startswith(f"LeaseLost: pid {os.getpid()} on {HOST} no longer holds the scheduler lease it "
                                "started under (token 1): pid 99 on elsewhere took it over (token 2)")
    assert count(Organisation, Organisation.code == "LATE") == 0


def test_a_scheduled_job_does_not_start_once_its_scheduler_has_lost_the_lease(app, monkeypatch):
    monkeypatch.setitem(scheduling.JOBS, "never", Job("never", "", every("Every hour", hours=1),
                                                      lambda context: pytest.fail("it ran")))
    lease = scheduling.Lease(db.engine.url, seconds=30, poll=1)
    try:
        assert lease.try_acquire()
        take_lease_over()
        with pytest.raises(scheduling.LeaseLost, match="pid 99 on elsewhere took it over"):
            scheduling.run_job("never", scheduling.SCHEDULE, lease=lease)
    finally:
        lease.release()
        lease.close()
    assert count(JobRun) == 0


def test_two_schedulers_running_the_reminders_at_once_send_each_reminder_exactly_once(database_url, tmp_path,
                                                                                       monkeypatch):
    reminders_service = pytest.importorskip("app.services.reminders",
                                            reason="the reminders service is not in the tree yet")
    course = make_course()
    run = make_run(course, starts_in=2)
    learners = [make_learner() for _ in range(4)]
    for learner in learners:
        enrol(learner, run)
    # Midday in London today, so the test does not depend on the hour it runs at (reminders wait for daytime).
    now = datetime.combine(clock.today(), clock_time(12), clock.LONDON).astimezone(UTC)

    barrier = tmp_path / "barrier"
    barrier.mkdir()
    command = [sys.executable, "-m", "tests.scheduler_race", "race", database_url, "reminders", str(barrier), "2",
               now.isoformat()]
    racers = [subprocess.Popen(command, cwd=ROOT, env=dict(os.environ, PATHWAYS_ENV="testing"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = []
    for racer in racers:
        out, err = racer.communicate(timeout=60)
        assert racer.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))

    assert [result["outcome"] for result in results] == ["succeeded", "succeeded"], results
    assert sum(result["counts"]["emails"] for result in results) == len(learners)
    assert sum(result["counts"]["run_starting"] for result in results) == len(learners)
    reminders = fresh(lambda: db.session.execute(select(Reminder.person_id, Reminder.kind)).all())
    assert sorted(reminders) == sorted((learner.id, "run_starting") for learner in learners)
    recipients = fresh(lambda: db.session.scalars(
        select(OutboundEmail.recipient).where(OutboundEmail.purpose == "reminders")).all())
    assert sorted(recipients) == sorted(learner.email for learner in learners)

    # And the next tick finds nothing new to send.
    monkeypatch.setattr(reminders_service, "utcnow", lambda: now)
    assert scheduling.run_job("reminders", scheduling.SCHEDULE).counts["emails"] == 0
    assert count(Reminder) == len(learners)
    assert count(OutboundEmail, OutboundEmail.purpose == "reminders") == len(learners)


# flask scheduler -------------------------------------------------------------------------------------------------


def test_run_once_prints_the_counts_and_records_the_run(runner):
    result = runner.invoke(args=["scheduler", "run-once", "purge-attempts"])

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("purge-attempts succeeded in ")
    assert result.stdout.endswith(": sign-in attempts 0, certificate checks 0, signed-in sessions 0, password reset "
                                  "requests 0, used links 0, council sign-in trips 0, link email bodies removed 0, "
                                  "old email deleted 0, old email bodies removed 0\n")
    [run] = runs_of("purge-attempts")
    assert (run.trigger, run.outcome) == ("run-once", JobOutcome.SUCCEEDED)


def test_run_once_of_a_failing_job_exits_1_with_one_line(runner, flaky):
    result = runner.invoke(args=["scheduler", "run-once", "flaky"])

    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: flaky failed after ")
    assert line.endswith(": RuntimeError: the mail server said no")
    [run] = runs_of("flaky")
    assert (run.trigger, run.outcome) == ("run-once", JobOutcome.FAILED)


def test_run_once_of_an_unknown_job_names_the_jobs(runner):
    result = runner.invoke(args=["scheduler", "run-once", "reminder"])

    assert result.exit_code == 1
    assert result.stderr == ("Error: there is no job called 'reminder'; the jobs are: risk-refresh, reminders, "
                             "weekly-digest, certificate-catch-up, outbox, purge-attempts\n")
    assert count(JobRun) == 0


def test_list_shows_each_job_with_its_schedule_last_run_and_next_run(runner):
    add_run("reminders", JobOutcome.FAILED, datetime(2026, 11, 23, 9, 5, tzinfo=UTC))

    result = runner.invoke(args=["scheduler", "list"])

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["JOB", "SCHEDULE", "LAST", "RUN", "NEXT", "RUN"]
    rows = {line.split()[0]: line for line in lines[1:7]}
    assert list(rows) == list(scheduling.JOBS)
    assert "Hourly at :05, 08:05 to 19:05" in rows["reminders"]
    assert "failed 23 November 2026 09:05" in rows["reminders"]
    assert "never run" in rows["risk-refresh"] and "Daily at 06:00" in rows["risk-refresh"]
    assert lines[-1] == "Scheduler: not running (start it with 'flask scheduler run')"


@contextlib.contextmanager
def london_time(hour: int):
    """The clock moved to ``hour`` today, London time (and ticking)."""
    with time_machine.travel(datetime.combine(clock.today(), clock_time(hour), clock.LONDON), tick=True):
        yield


def three_due_reminders() -> list:
    run = make_run(make_course(), starts_in=2)
    learners = [make_learner() for _ in range(3)]
    for learner in learners:
        enrol(learner, run)
    return learners


def reminder_emails() -> int:
    return count(OutboundEmail, OutboundEmail.purpose == "reminders")


def test_run_once_in_quiet_hours_says_what_is_held_and_until_when(runner):
    with london_time(22):
        three_due_reminders()
        result = runner.invoke(args=["scheduler", "run-once", "reminders"])

    assert result.exit_code == 0, result.output
    assert result.stdout == ("reminders held: 3 reminders, quiet hours until 08:00 London time "
                             "(add --now to send them now)\n")
    [run] = runs_of("reminders")
    assert (run.outcome, run.counts) == (JobOutcome.SUCCEEDED, {"held_for_daytime": 3})
    assert count(Reminder) == 0 and reminder_emails() == 0


def test_run_once_now_sends_what_quiet_hours_hold_in_development(runner):
    with london_time(6):
        learners = three_due_reminders()
        result = runner.invoke(args=["scheduler", "run-once", "reminders", "--now"])

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("reminders succeeded in ")
    assert "run starting 3" in result.stdout and result.stdout.endswith("emails 3\n")
    [run] = runs_of("reminders")
    assert (run.trigger, run.outcome) == ("run-once", JobOutcome.SUCCEEDED)
    assert reminder_emails() == len(learners)
    assert count(Reminder) == len(learners)


def test_run_once_now_is_refused_in_production_and_only_for_jobs_with_quiet_hours(runner, app, monkeypatch):
    with london_time(22):
        three_due_reminders()
        other_job = runner.invoke(args=["scheduler", "run-once", "purge-attempts", "--now"])
        monkeypatch.setitem(app.config, "ENV_NAME", "production")
        refused = runner.invoke(args=["scheduler", "run-once", "reminders", "--now"])
        held = runner.invoke(args=["scheduler", "run-once", "reminders"])

    assert other_job.exit_code == 1
    assert other_job.stderr == ("Error: --now is only for jobs that quiet hours hold back (reminders, weekly-digest); "
                                "purge-attempts has no quiet hours\n")
    assert refused.exit_code == 1
    assert refused.stderr == ("Error: --now is refused in production: reminders go out only from 08:00 to 20:00 "
                              "London time, so nobody is emailed at night\n")
    assert held.exit_code == 0, held.output
    # No hint of --now where it is refused.
    assert held.stdout == "reminders held: 3 reminders, quiet hours until 08:00 London time\n"
    assert [run.counts for run in runs_of("reminders")] == [{"held_for_daytime": 3}]
    assert count(JobRun) == 1
    assert count(Reminder) == 0 and reminder_emails() == 0


@pytest.mark.parametrize(("lease", "message"), [
    ("soon", "Error: SCHEDULER_LEASE_SECONDS must be a number of seconds, such as 20; got 'soon'\n"),
    ("-1", "Error: SCHEDULER_LEASE_SECONDS must be a number of seconds more than 0, such as 20; got '-1'\n"),
    ("6", "Error: SCHEDULER_LEASE_SECONDS (6) must be at least twice SCHEDULER_POLL_SECONDS (5), so the lease is "
          "renewed before it runs out\n"),
])
def test_run_refuses_a_lease_it_could_not_keep(runner, app, monkeypatch, lease, message):
    monkeypatch.setitem(app.config, "SCHEDULER_POLL_SECONDS", "5")
    monkeypatch.setenv("SCHEDULER_LEASE_SECONDS", lease)

    result = runner.invoke(args=["scheduler", "run"])

    assert result.exit_code == 1
    assert result.stderr == message


def test_run_refuses_an_unknown_job_in_scheduler_jobs(runner, monkeypatch):
    monkeypatch.setenv("SCHEDULER_JOBS", "reminders,nightly")

    result = runner.invoke(args=["scheduler", "run"])

    assert result.exit_code == 1
    assert result.stderr.startswith("Error: SCHEDULER_JOBS: there is no job called 'nightly'; the jobs are: ")


# The admin page --------------------------------------------------------------------------------------------------


def test_only_admins_see_the_scheduled_jobs(client, new_client, admin):
    assert "/sign-in" in client.get(JOBS_PAGE).headers["Location"]
    coordinator = make_person("coordinator@example.org", roles=(Role.COORDINATOR,))
    other = new_client()
    sign_in(other, coordinator)
    assert other.get(JOBS_PAGE).status_code == 403
    assert other.get(JOBS_PAGE + "/history").status_code == 403

    sign_in(client, admin)
    page = client.get(JOBS_PAGE)
    assert page.status_code == 200
    text = text_of(page)
    for job in scheduling.JOBS.values():
        assert job.name in text and job.schedule.description in text
    assert "No scheduler is running" in text
    assert "Never run" in text


def test_run_now_runs_the_job_and_shows_its_counts(client, signed_in_admin):
    db.session.add_all([SignInAttempt(at=utcnow() - timedelta(days=40), account_digest=digest, client_address="1.1.1.1")
                        for digest in ("a", "b")])
    db.session.commit()
    response = post_form(client, JOBS_PAGE + "/purge-attempts/run", token_from=JOBS_PAGE)
    assert response.status_code == 302

    page = text_of(client.get(response.headers["Location"]))
    assert "purge-attempts succeeded in" in page
    assert "seconds: sign-in attempts 2." in page  # counts that are not zero
    assert count(SignInAttempt, SignInAttempt.at < utcnow() - timedelta(days=30)) == 0
    [run] = runs_of("purge-attempts")
    assert (run.trigger, run.outcome) == ("run-once", JobOutcome.SUCCEEDED)
    assert count(AuditEvent, AuditEvent.action == "scheduler.run_now", AuditEvent.actor_id == signed_in_admin.id) == 1
    assert "Succeeded" in page  # the job's last run, on the page


def test_run_now_in_quiet_hours_says_what_is_held(client, admin):
    with london_time(21):
        sign_in(client, admin)
        three_due_reminders()
        response = post_form(client, JOBS_PAGE + "/reminders/run", token_from=JOBS_PAGE, follow_redirects=True)

    page = text_of(response)
    assert "reminders held: 3 reminders, quiet hours until 08:00 London time." in page
    assert "Held: 3 reminders, quiet hours until 08:00 London time" in page  # the job's last run
    assert count(Reminder) == 0


def test_run_now_needs_the_form_token_and_a_real_job(client, signed_in_admin):
    assert client.post(JOBS_PAGE + "/purge-attempts/run").status_code == 400
    assert post_form(client, JOBS_PAGE + "/nightly/run", token_from=JOBS_PAGE).status_code == 404
    assert count(JobRun) == 0


def test_run_now_of_a_failing_job_says_so_and_the_history_shows_the_error(client, signed_in_admin, flaky):
    response = post_form(client, JOBS_PAGE + "/flaky/run", token_from=JOBS_PAGE, follow_redirects=True)
    assert "flaky failed after" in text_of(response)
    assert "RuntimeError: the mail server said no" in text_of(response)

    history = text_of(client.get(JOBS_PAGE + "/history?job=flaky"))
    assert "Failed" in history and "RuntimeError: the mail server said no" in history
    assert "Error details" in history


def test_history_is_filtered_by_job_and_outcome_and_paginated(client, signed_in_admin):
    started = utcnow() - timedelta(days=1)
    add_run("reminders", JobOutcome.FAILED, started, error="OperationalError: the database went away")
    add_run("reminders", JobOutcome.SUCCEEDED, started + timedelta(hours=1), counts={"emails": 7})
    add_run("outbox", JobOutcome.FAILED, started + timedelta(hours=2), error="SMTPException: refused")
    for minute in range(55):
        add_run("outbox", JobOutcome.SUCCEEDED, started + timedelta(hours=3, minutes=minute), counts={"sent": 0})

    everything = client.get(JOBS_PAGE + "/history")
    assert "58 runs, newest first" in text_of(everything)
    assert "Showing 1 to 50 of 58" in text_of(everything)
    assert "Showing 51 to 58 of 58" in text_of(client.get(JOBS_PAGE + "/history?page=2"))

    reminders = text_of(client.get(JOBS_PAGE + "/history?job=reminders"))
    assert "2 runs, newest first" in reminders and "emails 7" in reminders

    failed = text_of(client.get(JOBS_PAGE + "/history?job=reminders&outcome=failed"))
    assert "1 run, newest first" in failed
    assert "OperationalError: the database went away" in failed
    assert "SMTPException" not in failed

    all_failed = text_of(client.get(JOBS_PAGE + "/history?outcome=failed"))
    assert "2 runs, newest first" in all_failed and "SMTPException: refused" in all_failed
    # An unknown filter shows everything rather than nothing.
    assert "58 runs" in text_of(client.get(JOBS_PAGE + "/history?job=nightly&outcome=maybe"))
