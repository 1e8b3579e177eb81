"""Scheduled jobs: runs recorded with their counts; a failed run rolled back, recorded and retried at the next tick;
one active scheduler at a time (a second stands by and takes over when the first is killed); two schedulers acting
at once still send each reminder exactly once; `flask scheduler`; and the admin page."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

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
    SignInAttempt,
)
from app.models.types import utcnow
from app.services import clock, scheduling
from app.services.scheduling import Job, cron, every
from tests.conftest import make_person, post_form, sign_in
from tests.course_factories import enrol, make_course, make_learner, make_run
from tests.pages import text_of

ROOT = Path(__file__).resolve().parent.parent
JOBS_PAGE = "/admin/scheduled-jobs"
POLL = "0.2"


def wait_for(condition, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    pytest.fail(f"gave up waiting for {what}")


def fresh(query):
    """Read committed data, as another process left it, ending the read at once (SQLite writers wait on readers)."""
    db.session.rollback()
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

    def run():
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
    assert recorded.counts == {"sign-in attempts": 2, "certificate checks": 0}
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
    def run():
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


def test_runs_cut_short_by_a_dead_process_on_this_host_are_recorded_failed():
    host = scheduling.socket.gethostname()
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
    dead = add_run("reminders", JobOutcome.RUNNING, utcnow(), host=host, pid=int(finished.stdout))
    alive = add_run("outbox", JobOutcome.RUNNING, utcnow(), host=host, pid=os.getppid())
    elsewhere = add_run("risk-refresh", JobOutcome.RUNNING, utcnow(), host="another-host", pid=int(finished.stdout))

    assert scheduling.mark_abandoned_runs() == 1

    outcomes = fresh(lambda: {run.id: (run.outcome, run.error) for run in db.session.scalars(select(JobRun))})
    assert outcomes[dead.id][0] == JobOutcome.FAILED
    assert "stopped before it finished" in outcomes[dead.id][1]
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
    missed = Job("missed", "Daily.", cron("Daily at 03:00", hour=3, minute=0), lambda: missed_calls.append(1) or {})
    current = Job("current", "Daily, ran today.", cron("Daily at 03:00", hour=3, minute=0), lambda: {"ran": 1})
    for job in (missed, current):
        monkeypatch.setitem(scheduling.JOBS, job.name, job)
    add_run("missed", JobOutcome.SUCCEEDED, utcnow() - timedelta(days=3))
    add_run("current", JobOutcome.SUCCEEDED, utcnow())

    scheduler = scheduling.Scheduler(app, jobs=[flaky, missed, current], poll=0.1)
    thread = threading.Thread(target=scheduler.serve, daemon=True)
    thread.start()
    try:
        wait_for(lambda: any(run.outcome == JobOutcome.SUCCEEDED for run in runs_of("flaky")), "the retry")
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
    # The lock is free again once the scheduler has stopped.
    lock = scheduling.scheduler_lock(app)
    assert lock.try_acquire()
    lock.release()


# One active scheduler -------------------------------------------------------------------------------------------


@pytest.fixture
def processes():
    started: list[subprocess.Popen] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def start_scheduler(processes, database_url: str, log: Path, jobs: str = "purge-attempts") -> subprocess.Popen:
    env = dict(os.environ, PATHWAYS_ENV="testing", DATABASE_URL=database_url, SCHEDULER_POLL_SECONDS=POLL,
               SCHEDULER_JOBS=jobs, LOG_LEVEL="INFO")
    with log.open("w") as output:
        process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "scheduler", "run"], cwd=ROOT,
                                   env=env, stdout=output, stderr=subprocess.STDOUT)
    processes.append(process)
    return process


def logged(log: Path, text: str):
    return lambda: text in log.read_text()


def test_a_second_scheduler_stands_by_and_takes_over_when_the_first_is_killed(app, database_url, processes,
                                                                              tmp_path):
    logs = {}
    for name in ("a", "b"):
        logs[start_scheduler(processes, database_url, tmp_path / f"{name}.log")] = tmp_path / f"{name}.log"

    def holder_and_standby():
        running = [p for p, log in logs.items() if f"Scheduler running (pid {p.pid} " in log.read_text()]
        standing = [p for p, log in logs.items() if "Standing by: another scheduler holds the lock" in log.read_text()]
        return (running[0], standing[0]) if running and standing else None

    wait_for(holder_and_standby, "one scheduler to take the lock and the other to stand by")
    first, second = holder_and_standby()
    assert f"(pid {first.pid} on " in logs[second].read_text()

    lock = scheduling.scheduler_lock(app)
    assert not lock.try_acquire()
    assert f"pid {first.pid} " in scheduling.active_scheduler()
    # The first ran the job due at start (it had never run).
    wait_for(lambda: [(run.pid, run.outcome) for run in runs_of("purge-attempts")] == [
        (first.pid, JobOutcome.SUCCEEDED)], "the first scheduler to run the job due")

    first.send_signal(signal.SIGKILL)
    first.wait(10)
    wait_for(logged(logs[second], f"Scheduler running (pid {second.pid} "), "the second scheduler to take over")
    assert f"pid {second.pid} " in scheduling.active_scheduler()
    assert not lock.try_acquire()

    second.send_signal(signal.SIGTERM)
    assert second.wait(20) == 0
    assert "Scheduler stopped" in logs[second].read_text()
    assert scheduling.active_scheduler() is None
    assert lock.try_acquire()
    lock.release()
    # The second found the job done: nothing was due when it took over.
    assert "running now" not in logs[second].read_text()
    assert len(runs_of("purge-attempts")) == 1


def test_a_scheduler_that_loses_its_postgresql_connection_stops_its_jobs_and_takes_the_lock_again(app, caplog):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("only a PostgreSQL lock can be lost: the operating system holds a file lock until the process ends")
    caplog.set_level(logging.INFO, logger=scheduling.log.name)
    scheduler = scheduling.Scheduler(app, jobs=[], poll=0.1)
    thread = threading.Thread(target=scheduler.serve, daemon=True)
    thread.start()
    try:
        wait_for(lambda: fresh(scheduling.active_scheduler) is not None, "the scheduler to take the lock")
        fresh(lambda: db.session.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND objid = :low"),
            {"low": scheduling.LOCK_KEY & 0xFFFFFFFF}))
        wait_for(lambda: "Not holding the scheduler lock any more" in caplog.text, "the loss to be noticed")
        wait_for(lambda: caplog.text.count("Scheduler running (") == 2, "the scheduler to take the lock again")
        assert fresh(scheduling.active_scheduler) is not None
    finally:
        scheduler.stop()
        thread.join(20)
    assert not thread.is_alive()


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
    command = [sys.executable, "-m", "tests.scheduler_race", database_url, "reminders", str(barrier), "2",
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
    assert result.stdout.endswith(": sign-in attempts 0, certificate checks 0\n")
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
