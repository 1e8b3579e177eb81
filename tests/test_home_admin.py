"""The admin's panel on the home page: each scheduled job's last successful run and its age, marked overdue when it
has missed a scheduled time; email that failed for good or is being retried, with the latest failures; people
invited who have not yet set a password; in a number of SQL statements that does not grow with the data."""

from __future__ import annotations

import re
from datetime import UTC, timedelta

from app.extensions import db
from app.models import JobOutcome, JobRun, OutboundEmail, Role
from app.models.email import EmailStatus
from app.models.types import utcnow
from app.services import clock, scheduling
from app.services.homes.admin import OVERDUE_AFTER, describe_age
from tests.conftest import make_person, sign_in
from tests.statements import counting_statements


def html_of(response) -> str:
    assert response.status_code == 200
    return response.get_data(as_text=True)


def text(fragment: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", "", fragment).split())


def element(html: str, element_id: str) -> str:
    match = re.search(rf'<(\w+)[^>]*id="{element_id}"[^>]*>(.*?)</\1>', html, re.S)
    assert match, f"no #{element_id}"
    return text(match.group(2))


def job_row(html: str, job: str) -> str:
    match = re.search(rf'<tr[^>]*data-job="{job}"[^>]*>(.*?)</tr>', html, re.S)
    assert match, f"no row for {job}"
    return text(match.group(1))


def run(job: str, started, outcome=JobOutcome.SUCCEEDED, seconds: int = 20) -> JobRun:
    started = started.astimezone(UTC)
    record = JobRun(job=job, trigger=scheduling.SCHEDULE, started_at=started, outcome=outcome,
                    finished_at=started + timedelta(seconds=seconds), counts={})
    db.session.add(record)
    return record


def on_time(job: str):
    """Just after the job was last due, long enough ago for that run to be over."""
    now = utcnow().astimezone(clock.LONDON)
    return scheduling.JOBS[job].schedule.previous(now - OVERDUE_AFTER) + timedelta(seconds=2)


def email(status: EmailStatus, *, error: str | None = None, minutes_ago: int = 5, n: int = 0) -> OutboundEmail:
    at = utcnow() - timedelta(minutes=minutes_ago)
    message = OutboundEmail(recipient=f"person{n}@example.org", subject=f"Message {n}", body_text="Hello",
                            purpose="invitation", status=status, attempts=1 if error else 0, last_error=error,
                            created_at=at, last_attempt_at=at if error else None)
    db.session.add(message)
    return message


def test_each_job_shows_its_last_success_and_age_and_is_marked_when_overdue(client, signed_in_admin):
    now = utcnow()
    for job in ("risk-refresh", "weekly-digest", "purge-attempts"):
        run(job, on_time(job))
    run("certificate-catch-up", on_time("certificate-catch-up"))
    run("certificate-catch-up", on_time("certificate-catch-up") + timedelta(minutes=1), JobOutcome.FAILED)
    run("outbox", now - timedelta(hours=2, minutes=1))  # due every minute: missed many since
    run("outbox", now - timedelta(minutes=1), JobOutcome.FAILED)
    db.session.commit()  # "reminders" never ran
    html = html_of(client.get("/"))
    refreshed = on_time("risk-refresh") + timedelta(seconds=20)
    # The clock runs on while the page is made: the age it shows is the one now or a moment later.
    assert any(describe_age(refreshed, now + timedelta(seconds=s)) in job_row(html, "risk-refresh") for s in (0, 60))
    assert f"{refreshed.astimezone(clock.LONDON):%-d %B %Y}" in job_row(html, "risk-refresh")
    assert "On time" in job_row(html, "risk-refresh")
    assert "Last run failed" in job_row(html, "certificate-catch-up")
    assert "Overdue" in job_row(html, "outbox") and "2 hours ago" in job_row(html, "outbox")
    assert "Never" in job_row(html, "reminders") and "Overdue" in job_row(html, "reminders")
    assert element(html, "admin-jobs-overdue") == "2 scheduled jobs overdue"
    assert 'href="/admin/scheduled-jobs"' in html
    # No scheduler holds the lease here.
    assert "No scheduler is running" in element(html, "admin-scheduler")


def test_ages_in_words():
    now = utcnow()
    assert describe_age(now - timedelta(seconds=30), now) == "less than a minute ago"
    assert describe_age(now - timedelta(minutes=1), now) == "1 minute ago"
    assert describe_age(now - timedelta(minutes=59), now) == "59 minutes ago"
    assert describe_age(now - timedelta(hours=3, minutes=5), now) == "3 hours ago"
    assert describe_age(now - timedelta(hours=47), now) == "47 hours ago"
    assert describe_age(now - timedelta(days=5), now) == "5 days ago"


def test_failed_and_retrying_email_with_the_latest_failures(client, signed_in_admin):
    email(EmailStatus.FAILED, error="550 mailbox unavailable\nTraceback...", minutes_ago=60, n=1)
    email(EmailStatus.FAILED, error="554 rejected", minutes_ago=30, n=2)
    retried = email(EmailStatus.QUEUED, error="421 try again later", minutes_ago=10, n=3)
    email(EmailStatus.QUEUED, n=4)  # not tried yet
    email(EmailStatus.SENT, n=5)
    db.session.commit()
    html = html_of(client.get("/"))
    assert element(html, "admin-email-failed") == "2 emails failed for good"
    assert element(html, "admin-email-retrying") == "1 email to try again"
    failures = element(html, "admin-failures")
    assert failures.index("Message 3") < failures.index("Message 2") < failures.index("Message 1")
    assert "421 try again later" in failures and "550 mailbox unavailable" in failures
    assert "Traceback" not in failures and "Message 4" not in failures and "Message 5" not in failures
    assert f'href="/admin/outbox/{retried.id}"' in html
    assert 'href="/admin/outbox"' in html


def test_people_invited_but_not_yet_set_up_oldest_first(client, signed_in_admin):
    now = utcnow()
    for n, days in ((1, 3), (2, 12), (3, 0), (4, 7)):
        person = make_person(f"invited{n}@example.org", name=f"Invited {n}", password=None)
        person.invited_at = now - timedelta(days=days, hours=1)
    gone = make_person("gone@example.org", name="Deactivated", password=None)
    gone.active = False
    make_person("set@example.org", name="Has Password")
    db.session.commit()
    html = html_of(client.get("/"))
    assert element(html, "admin-invited") == "4 people invited, account not set up yet"
    oldest = element(html, "admin-oldest-invited")
    assert oldest.index("Invited 2") < oldest.index("Invited 4") < oldest.index("Invited 1")
    assert "invited 12 days ago" in oldest
    assert "Invited 3" not in oldest and "Deactivated" not in oldest and "Has Password" not in oldest
    assert 'href="/people"' in html


def test_empty_states(client, signed_in_admin):
    html = html_of(client.get("/"))
    assert "No email is failing" in element(html, "admin-failures")
    assert element(html, "admin-oldest-invited") == "Everyone invited has set a password and can sign in."
    assert element(html, "admin-email-failed") == "0 emails failed for good"


def test_only_admins_see_the_admin_panel(client):
    sign_in(client, make_person("coordinator@example.org", roles=(Role.COORDINATOR,), scope=("E09000012",)))
    assert 'id="admin-panel"' not in html_of(client.get("/"))


def seed(size: int, offset: int = 0) -> None:
    now = utcnow()
    for n in range(size):
        for job in scheduling.JOBS:
            run(job, now - timedelta(hours=n + 1), JobOutcome.SUCCEEDED if n % 2 else JobOutcome.FAILED)
        email(EmailStatus.FAILED, error="550", n=offset + n)
        email(EmailStatus.QUEUED, error="421", n=offset + n + 1000)
        make_person(f"invited-{offset}-{n}@example.org", name=f"Invited {n}", password=None)
    db.session.commit()


def home_statements(client) -> int:
    with counting_statements() as statements:
        html_of(client.get("/"))
    return len(statements)


def test_the_home_page_runs_as_many_statements_with_much_history_as_with_little(client, signed_in_admin):
    seed(1)
    home_statements(client)  # the first request fills caches
    small = home_statements(client)
    seed(20, offset=100)
    assert element(html_of(client.get("/")), "admin-email-failed") == "21 emails failed for good"
    assert home_statements(client) == small
