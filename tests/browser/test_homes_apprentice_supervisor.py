"""The apprentice's and the supervisor's home pages in a real browser: each panel says how they stand (the hours
bar with its figure in words, the oldest hours waiting, the ratings in words as well as colour) and axe-core finds
no serious or critical accessibility problems, with something in every part of the panel and with nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.models import KsbProgressLevel, OtjStatus, Rag, Role
from app.services import clock, otj_totals, progress_reviews, review_rows
from app.services.off_the_job import format_hours
from tests.apprenticeship_factories import (
    make_apprentice,
    make_apprenticeship,
    make_coordinator,
    make_otj,
    make_placement,
    make_standard_version,
    make_supervisor,
    make_team,
)
from tests.browser.conftest import release_database, sign_in
from tests.browser.test_accessibility import axe_violations, describe
from tests.conftest import make_person

pytestmark = pytest.mark.browser
HACKNEY, TOWER_HAMLETS = "E09000012", "E09000030"


@dataclass
class World:
    apprentice: object
    supervisor: object
    newcomer: object
    idle_supervisor: object
    hours_figure: str
    oldest_waiting: str


@pytest.fixture
def world() -> World:
    """Ada, 200 days in, on Sam's team until 10 days from now and then in Tower Hamlets: approved, waiting and
    rejected hours, review 1 held and waiting for her signature and Sam's. Ben is on Sam's team too. Nia has no
    record yet; Ola supervises nobody."""
    today = clock.today()
    version = make_standard_version()
    coordinator = make_coordinator(scope=(HACKNEY,))
    supervisor = make_supervisor()
    apprentice = make_apprentice()
    a = make_apprenticeship(apprentice, standard_version=version, starts_on=today - timedelta(days=200))
    make_placement(a, supervisor=supervisor, starts_on=a.starts_on, ends_on=today + timedelta(days=10))
    make_placement(a, supervisor=make_person("pat@example.org", name="Pat Okoye", roles=(Role.SUPERVISOR,),
                                             organisation_code=TOWER_HAMLETS),
                   host_code=TOWER_HAMLETS, team=make_team(TOWER_HAMLETS, "Data and insight"),
                   starts_on=today + timedelta(days=11), ends_on=today + timedelta(days=200))
    for n in range(5):
        make_otj(a, on=today - timedelta(days=40 + n), minutes=7 * 60, status=OtjStatus.APPROVED)
    oldest = make_otj(a, on=today - timedelta(days=20), minutes=150)
    make_otj(a, on=today - timedelta(days=2), minutes=60)
    rejected = make_otj(a, on=today - timedelta(days=30), minutes=90, status=OtjStatus.REJECTED)
    rejected.rejection_reason = "A team meeting is part of the job: log the training it led to."
    ben = make_apprenticeship(make_apprentice("ben@example.org", name="Ben Brown"), standard_version=version,
                              starts_on=today - timedelta(days=100))
    make_placement(ben, supervisor=supervisor, starts_on=ben.starts_on, ends_on=today + timedelta(days=90))
    make_otj(ben, on=today - timedelta(days=3), minutes=45)
    review = min(a.reviews, key=lambda r: r.sequence)
    progress_reviews.record_review(
        coordinator, review, held_on=review.due_on, rag=Rag.AMBER, previous_actions=None,
        concerns="Hours logged late.", actions="Log hours every week.",
        ksb_progress={k.id: KsbProgressLevel.IN_PROGRESS.value for k in version.ksbs})
    review_rows.refresh_for([a.id, ben.id])
    db.session.commit()

    totals = otj_totals.totals(a, today)
    figure = (f"{format_hours(totals.approved_hours)} of {format_hours(totals.expected_hours)} hours expected by "
              f"today ({totals.percent_of_expected}%)")
    world = World(apprentice, supervisor, make_apprentice("nia@example.org", name="Nia Newcomer"),
                  make_supervisor("ola@example.org"), figure,
                  f"Ada Apprentice: 2 hours 30 minutes on {oldest.occurred_on:%-d %B %Y}")
    release_database()
    return world


def _no_serious_problems(page, name: str) -> None:
    violations = axe_violations(page)
    assert not violations, f"axe found serious or critical problems on the {name} home:\n" + describe(violations)


def test_the_apprentices_home(world, new_page):
    page = sign_in(new_page(bypass_csp=True), world.apprentice)
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Ada Apprentice")
    panel = page.locator("#apprentice-panel")
    expect(panel.get_by_role("heading", level=2)).to_have_text("Your apprenticeship")
    expect(page.locator("#apprentice-hours-figure")).to_have_text(world.hours_figure)
    expect(page.locator("#apprentice-hours .app-progress__bar")).to_be_attached()
    expect(page.locator("#apprentice-placement")).to_contain_text("Sam Supervisor")
    expect(page.locator("#apprentice-next-placement")).to_contain_text("Data and insight")
    expect(page.locator("#apprentice-rejected")).to_contain_text("1 hour 30 minutes")
    expect(panel.get_by_role("link", name="Sign progress review 1")).to_be_visible()
    expect(page.locator("#apprentice-gateway")).to_contain_text("No evidence yet for")
    _no_serious_problems(page, "apprentice's")

    panel.get_by_role("button", name="Log off-the-job hours").click()  # a link styled as a button
    expect(page.get_by_role("heading", level=1)).to_have_text("Log off-the-job hours")


def test_the_supervisors_home(world, new_page):
    page = sign_in(new_page(bypass_csp=True), world.supervisor)
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Sam Supervisor")
    expect(page.locator("#supervisor-hours-count")).to_have_text("3 entries waiting, oldest first:")
    expect(page.locator("#supervisor-oldest-waiting li").first).to_have_text(world.oldest_waiting)
    expect(page.locator("#supervisor-reviews-to-sign")).to_contain_text("Sign review 1 of Ada Apprentice")
    placed = page.get_by_role("table", name="apprentices")
    expect(placed.locator("tbody tr")).to_have_count(2)
    expect(placed.locator("tbody .govuk-tag")).to_have_count(2)  # each rating named in words in its tag
    expect(page.locator("#supervisor-ending-soon")).to_contain_text("Ada Apprentice")
    _no_serious_problems(page, "supervisor's")

    page.get_by_role("button", name="Approve or reject hours").click()  # a link styled as a button
    expect(page.get_by_role("heading", level=1)).to_have_text("Apprentices and hours to approve")


@pytest.mark.parametrize("who", ["newcomer", "idle_supervisor"])
def test_homes_with_nothing_yet(world, new_page, who):
    page = sign_in(new_page(bypass_csp=True), getattr(world, who))
    if who == "newcomer":
        expect(page.locator("#apprentice-panel")).to_contain_text("once a coordinator sets up your apprenticeship")
    else:
        expect(page.locator("#supervisor-hours-count")).to_have_text("Nothing waiting for your approval.")
        expect(page.locator("#supervisor-placed")).to_have_text("Nobody is placed with you today.")
    _no_serious_problems(page, who.replace("_", " ") + "'s")
