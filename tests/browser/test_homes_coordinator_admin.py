"""The coordinator's and the admin's home pages in a real browser: each panel shows its figures, a figure's link
opens the page where the person acts on it (the cohort review filtered to match, the email outbox), under the real
content security policy without console errors; and neither home has serious or critical accessibility problems
by axe-core, with every part of the panels filled in or empty."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.models import JobOutcome, JobRun, OutboundEmail, RiskRating, Role
from app.models.email import EmailStatus
from app.models.types import utcnow
from app.services import clock
from tests.apprenticeship_factories import (
    make_apprentice,
    make_apprenticeship,
    make_coordinator,
    make_intake,
    make_otj,
    make_placement,
)
from tests.browser.conftest import release_database, sign_in
from tests.browser.test_accessibility import axe_violations, describe
from tests.certificate_factories import make_completed_apprenticeship, make_completed_enrolment
from tests.conftest import make_person
from tests.course_factories import enrol, make_learner, make_learning_course, make_run
from tests.test_cohort_review import flag

pytestmark = pytest.mark.browser
HACKNEY, TOWER_HAMLETS = "E09000012", "E09000030"


@dataclass
class World:
    coordinator: object
    quiet_coordinator: object
    admin: object


@pytest.fixture
def world() -> World:
    today = clock.today()
    records = []
    for n, (name, employer) in enumerate((("Amal Hackney", HACKNEY), ("Bo Placed", TOWER_HAMLETS),
                                          ("Cy Hackney", HACKNEY))):
        record = make_apprenticeship(make_apprentice(f"person{n}@example.org", name=name, organisation_code=employer),
                                     employer_code=employer, schedule=False)
        make_placement(record, host_code=HACKNEY, ends_on=today + timedelta(days=10 + n))
        make_otj(record)
        records.append(record)
    flag(records[0], "review_overdue", RiskRating.RED, "Review 2 was due", stand=False)
    flag(records[1], "placement_ending", RiskRating.AMBER, "Ends soon")
    run = make_run(make_learning_course("leading-digital-change"), name="December", starts_in=2, capacity=12)
    enrol(make_learner(organisation_code=HACKNEY), run)
    make_completed_apprenticeship(intake=make_intake("September 2025"))
    make_completed_enrolment(run_name="Autumn")

    admin = make_person("admin@example.org", name="Alex Admin", roles=(Role.ADMIN,), organisation_code="LC")
    now = utcnow()
    db.session.add(JobRun(job="risk-refresh", trigger="schedule", started_at=now - timedelta(hours=4, seconds=30),
                          finished_at=now - timedelta(hours=4),
                          outcome=JobOutcome.SUCCEEDED, counts={}))
    db.session.add(OutboundEmail(recipient="someone@example.org", subject="Your invitation to Pathways",
                                 body_text="Hello", purpose="invitation", status=EmailStatus.FAILED, attempts=5,
                                 last_error="550 mailbox unavailable", last_attempt_at=now - timedelta(hours=1)))
    invited = make_person("invited@example.org", name="Ivy Invited", password=None)
    invited.invited_at = now - timedelta(days=6)
    db.session.commit()
    world = World(make_coordinator("hackney.coordinator@example.org", scope=(HACKNEY,)),
                  make_coordinator("lambeth.coordinator@example.org", scope=("E09000022",)), admin)
    release_database()
    return world


def test_a_coordinator_sees_who_needs_attention_and_opens_the_red_ones(world, new_page):
    page = new_page()  # the real content security policy
    sign_in(page, world.coordinator)
    panel = page.locator("#coordinator-panel")
    expect(panel.get_by_role("heading", level=2)).to_have_text("Apprentices and learners you coordinate")
    expect(page.locator("#coordinator-red")).to_have_text("1 apprentice rated red")
    expect(page.locator("#coordinator-amber")).to_have_text("1 apprentice rated amber")
    expect(page.locator("#coordinator-placements-ending")).to_contain_text("Amal Hackney")
    expect(page.locator("#coordinator-runs-starting")).to_contain_text("1 enrolled of 12 places")
    page.locator("#coordinator-red a").click()
    expect(page.locator("#result-count")).to_have_text("1 apprentice")
    expect(page.locator("#review tbody tr").first).to_contain_text("Amal Hackney")
    assert not page.problems.errors, page.problems.errors


def test_an_admin_sees_the_health_of_pathways_and_opens_the_outbox(world, new_page):
    page = new_page()
    sign_in(page, world.admin)
    expect(page.locator("#admin-panel").get_by_role("heading", level=2)).to_have_text("How Pathways is running")
    expect(page.locator('#admin-jobs tr[data-job="risk-refresh"]')).to_contain_text("4 hours ago")
    expect(page.locator("#admin-oldest-invited")).to_contain_text("Ivy Invited")
    page.locator("#admin-email-failed a").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Email outbox")
    assert not page.problems.errors, page.problems.errors


def test_the_homes_have_no_serious_accessibility_problems(world, new_page):
    problems = []
    for name, person in (("coordinator", world.coordinator), ("coordinator with nothing waiting",
                                                                 world.quiet_coordinator), ("admin", world.admin)):
        page = new_page(bypass_csp=True)  # axe is injected as a script of the test's own
        sign_in(page, person)
        expect(page.locator("#admin-panel" if person is world.admin else "#coordinator-panel")).to_be_visible()
        violations = axe_violations(page)
        if violations:
            problems.append(f"The {name}'s home ({page.url}):\n" + describe(violations))
    assert not problems, "axe found serious or critical problems:\n\n" + "\n\n".join(problems)
