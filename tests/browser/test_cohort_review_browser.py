"""Cohort review in a real browser: a borough coordinator opens an intake's review, narrows it to one flag,
and opens an apprentice's record from it, under the real content security policy without console errors; and
each kind of review page (an intake's, all apprentices, a course run's, a filtered view, with the tables behind
the pictures open) has no serious or critical accessibility problems by axe-core."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.models import EnrolmentStatus, OtjStatus, RiskRating
from app.models.types import utcnow
from app.services import clock
from tests.apprenticeship_factories import (
    make_apprentice,
    make_apprenticeship,
    make_coordinator,
    make_intake,
    make_otj,
    make_placement,
    make_standard_version,
    make_supervisor,
)
from tests.browser.conftest import release_database, sign_in
from tests.browser.test_accessibility import axe_violations, describe
from tests.course_factories import enrol, make_course, make_learner, make_run, record_progress
from tests.test_cohort_review import flag

pytestmark = pytest.mark.browser
HACKNEY, TOWER_HAMLETS, LAMBETH = "E09000012", "E09000030", "E09000022"


@dataclass
class World:
    coordinator: object
    intake_id: int
    run_id: int
    behind_id: int


@pytest.fixture
def world() -> World:
    version = make_standard_version("ST0116", title="Software developer")
    intake = make_intake("September 2025")
    supervisor = make_supervisor("sup@example.org")
    start = clock.today() - timedelta(days=300)
    people = [("Amal Hackney", HACKNEY, "otj_behind", RiskRating.RED),
              ("Bo Placed", TOWER_HAMLETS, "review_unsigned", RiskRating.AMBER),
              ("Chi Okafor", HACKNEY, None, None), ("Dana Lewis", HACKNEY, "placement_gap", RiskRating.AMBER)]
    records = []
    for n, (name, employer, code, rating) in enumerate(people):
        a = make_apprenticeship(make_apprentice(f"person{n}@example.org", name=name, organisation_code=employer),
                                standard_version=version, intake=intake, employer_code=employer, starts_on=start,
                                schedule=False)
        make_placement(a, host_code=HACKNEY, supervisor=supervisor, ends_on=start + timedelta(days=150))
        make_placement(a, host_code=TOWER_HAMLETS if n % 2 else HACKNEY, starts_on=start + timedelta(days=170 + n * 5))
        make_otj(a, minutes=120 * (n + 1) * 10, status=OtjStatus.APPROVED)
        if code:
            flag(a, code, rating, f"Reason for {name}")
        records.append(a)
    run = make_run(make_course(), name="Spring", starts_in=1)
    enrolments = [enrol(make_learner(name=f"Learner {n}"), run) for n in range(3)]
    run.starts_on = clock.today() - timedelta(days=21)
    record_progress(enrolments[0], lessons=4, scores=(100,))
    enrolments[0].status, enrolments[0].completed_at = EnrolmentStatus.COMPLETED, utcnow() - timedelta(days=2)
    db.session.commit()
    flag(enrolment=enrolments[2], code="not_started", rating=RiskRating.AMBER, reason="Enrolled three weeks ago")
    coordinator = make_coordinator("hackney.coordinator@example.org", scope=(HACKNEY,))
    world = World(coordinator, intake.id, run.id, records[0].id)
    release_database()
    return world


def test_a_coordinator_reviews_an_intake_filters_by_a_flag_and_opens_a_record(world, new_page):
    page = new_page()  # the real content security policy
    sign_in(page, world.coordinator)
    page.goto(f"/intakes/{world.intake_id}")
    page.get_by_role("link", name="Review this intake").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("September 2025")
    expect(page.locator("#result-count")).to_have_text("4 apprentices")
    expect(page.locator("#review tbody tr").first).to_contain_text("Amal Hackney")
    expect(page.locator("#progress-spread svg[role=img]")).to_be_visible()
    page.get_by_role("link", name="See the placements of the apprentices on this page as a timeline").click()
    expect(page.locator("#placements-timeline svg[role=img]")).to_be_visible()
    page.get_by_role("link", name="Back to the review").click()

    page.get_by_label("Flag").select_option(label="Off-the-job hours behind plan")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("#result-count")).to_have_text("1 apprentice")
    expect(page.locator("#filter-description")).to_contain_text("Flag: Off-the-job hours behind plan")
    expect(page.locator("#review tbody")).to_contain_text("Reason for Amal Hackney")
    expect(page.get_by_label("Flag")).to_have_value("otj_behind")

    # Sorting keeps the filter; the sorted header says so to assistive technology.
    page.get_by_role("link", name="Apprentice", exact=True).click()
    expect(page.locator("th[data-column=name]")).to_have_attribute("aria-sort", "ascending")
    expect(page.locator("#result-count")).to_have_text("1 apprentice")

    page.get_by_role("link", name="Amal Hackney").click()
    expect(page).to_have_url(f"/apprenticeships/{world.behind_id}")
    expect(page.locator("main")).to_contain_text("Amal Hackney")
    assert page.problems.errors == []


def _open_details(page):
    for summary in page.locator("details summary").all():
        summary.click()


PAGES = [
    ("intake review", lambda w: f"/intakes/{w.intake_id}/review", "September 2025"),
    ("intake review filtered by a flag, sorted by progress",
     lambda w: f"/intakes/{w.intake_id}/review?flag=placement_gap&sort=progress&order=desc", "September 2025"),
    ("placements timeline of an intake review's page", lambda w: f"/intakes/{w.intake_id}/review/placements",
     "Placements across boroughs"),
    ("all apprentices", lambda w: "/cohort-review/apprentices", "All apprentices in your organisations"),
    ("all apprentices filtered by rating", lambda w: "/cohort-review/apprentices?rating=amber",
     "All apprentices in your organisations"),
    ("course run review", lambda w: f"/runs/{w.run_id}/review", None),
    ("course run review filtered, nobody matching", lambda w: f"/runs/{w.run_id}/review?rating=red", None),
]


def test_review_pages_have_no_serious_accessibility_problems(world, new_page):
    page = new_page(bypass_csp=True)  # axe is injected as a script of the test's own
    sign_in(page, world.coordinator)
    problems = []
    for name, path, heading in PAGES:
        page.goto(path(world))
        if heading:
            expect(page.get_by_role("heading", level=1), name).to_have_text(heading)
        _open_details(page)
        violations = axe_violations(page)
        if violations:
            problems.append(f"The {name} page ({page.url}):\n" + describe(violations))
    assert not problems, f"axe found serious or critical problems on {len(problems)} of {len(PAGES)} pages:\n\n" + (
        "\n\n".join(problems))
