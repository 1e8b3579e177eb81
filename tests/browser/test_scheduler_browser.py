"""The scheduled jobs pages in a real browser: an admin runs a job now and reads the history, with a failed run's
error, without console errors; every state is checked with axe-core (injected, so the page's content security
policy is bypassed)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.models import JobOutcome, JobRun, Role
from app.models.types import utcnow
from tests.browser.conftest import release_database, sign_in
from tests.browser.test_accessibility import axe_violations, describe
from tests.conftest import make_person

pytestmark = pytest.mark.browser


def test_an_admin_runs_a_job_now_and_reads_the_history(new_page):
    admin = make_person("admin@example.org", name="Alex Admin", roles=(Role.ADMIN,), organisation_code="LC")
    started = utcnow() - timedelta(hours=3)
    db.session.add(JobRun(job="reminders", trigger="schedule", started_at=started, outcome=JobOutcome.FAILED,
                          finished_at=started + timedelta(seconds=4), counts={}, host="web-1", pid=41,
                          error="OperationalError: the database went away\nTraceback (last calls):\n"
                                "  app/services/reminders.py:300 in queue_due_reminders"))
    db.session.commit()
    release_database()
    page = sign_in(new_page(bypass_csp=True), admin)
    problems = []

    page.goto("/admin/scheduled-jobs")
    expect(page.get_by_role("heading", level=1)).to_have_text("Scheduled jobs")
    expect(page.locator("#job-reminders")).to_contain_text("OperationalError: the database went away")
    problems += [("jobs", v) for v in axe_violations(page)]

    page.get_by_role("button", name="Run now purge-attempts").click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text("purge-attempts succeeded in")
    expect(page.locator("#job-purge-attempts")).to_contain_text("Succeeded")
    problems += [("after run now", v) for v in axe_violations(page)]

    page.get_by_role("link", name="History of runs").click()
    page.get_by_label("Outcome").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("caption")).to_have_text("1 run, newest first")
    page.get_by_text("Error details").click()
    expect(page.locator("pre")).to_contain_text("app/services/reminders.py:300 in queue_due_reminders")
    problems += [("history", v) for v in axe_violations(page)]

    assert not problems, "\n".join(f"{where}: {describe([v])}" for where, v in problems)
    assert page.problems.errors == []
