"""An apprenticeship in a real browser. The apprentice logs off-the-job hours (a mistake first, then a good
entry), the supervisor approves them from the queue, a coordinator records the due progress review and all
three sign it, and the KSBs and gateway page says what is still missing. Every page on the way is checked
with axe-core; the record's pages also run under the real content security policy without console errors."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from app.models import Apprenticeship, OtjStatus
from app.services import clock
from tests.apprenticeship_factories import (
    make_apprentice,
    make_apprenticeship,
    make_coordinator,
    make_otj,
    make_placement,
    make_standard_version,
    make_supervisor,
)
from tests.browser.conftest import release_database, sign_in
from tests.browser.test_accessibility import axe_violations, describe

pytestmark = pytest.mark.browser
HACKNEY = "E09000012"
# How the pages write a date: 7 May 2026.
DAY = "%-d %B %Y"


@dataclass
class World:
    """The people, and what the pages are checked against, read before the browser starts."""

    apprentice: object
    supervisor: object
    coordinator: object
    apprenticeship: Apprenticeship
    record: str  # the apprenticeship's address
    planned_hours: int
    first_review_due: date
    ksb_titles: dict[str, str]


@pytest.fixture
def world() -> World:
    """Ada, an apprentice on Software developer (K1–K3, S1–S3, B1–B2) since 200 days ago, placed with Sam's
    team in Hackney for the whole time; Cora coordinates Hackney's apprenticeships."""
    version = make_standard_version()
    coordinator = make_coordinator(scope=(HACKNEY,))
    supervisor = make_supervisor()
    apprentice = make_apprentice()
    apprenticeship = make_apprenticeship(apprentice, standard_version=version)
    make_placement(apprenticeship, supervisor=supervisor, ksbs=version.ksbs[:2])
    first_review = min(apprenticeship.reviews, key=lambda r: r.sequence)
    assert first_review.due_on < clock.today(), "the first review must be due already"
    world = World(apprentice, supervisor, coordinator, apprenticeship, f"/apprenticeships/{apprenticeship.id}",
                  apprenticeship.planned_otj_hours, first_review.due_on, {k.code: k.title for k in version.ksbs})
    release_database()
    return world


class Audit:
    """Runs axe-core on each page it is shown and keeps what it finds, to report every page at once."""

    def __init__(self):
        self.problems: list[str] = []

    def __call__(self, page, name: str) -> None:
        found = axe_violations(page)
        if found:
            self.problems.append(f"{name} ({page.url}):\n{describe(found)}")


def heading(page):
    return page.get_by_role("heading", level=1)


def banner(page):
    return page.locator(".govuk-notification-banner")


def record_tab(page, name: str) -> None:
    page.get_by_role("navigation", name="Apprenticeship record").get_by_role("link", name=name, exact=True).click()


def menu(page, name: str) -> None:
    page.get_by_role("navigation", name="Menu").get_by_role("link", name=name, exact=True).click()


def fill_date(page, legend: str, day: date) -> None:
    group = page.get_by_role("group", name=legend)
    group.get_by_label("Day").fill(str(day.day))
    group.get_by_label("Month").fill(str(day.month))
    group.get_by_label("Year").fill(str(day.year))


def unexpected(errors: list[str]) -> list[str]:
    """Console errors other than the browser's note of a form sent back with its errors (status 400)."""
    return [e for e in errors if "the server responded with a status of 400" not in e]


def hours_text(value) -> str:
    return f"{Decimal(value).quantize(Decimal('0.01')):,.2f}".rstrip("0").rstrip(".")


def test_hours_logged_approved_review_signed_by_all_three_and_gateway_explained(world, new_page):
    w = world
    audit = Audit()
    today = clock.today()
    yesterday = today - timedelta(days=1)

    # The apprentice finds their record from the menu and logs hours: a mistake first.
    apprentice = sign_in(new_page(bypass_csp=True), w.apprentice)
    expect(heading(apprentice)).to_have_text("Welcome, Ada Apprentice")
    audit(apprentice, "apprentice's home")
    menu(apprentice, "My apprenticeship")
    expect(heading(apprentice)).to_have_text("Overview")
    expect(apprentice.locator("main")).to_contain_text("Ada Apprentice: Software developer, level 4")
    expect(apprentice.locator("main")).to_contain_text("Sam Supervisor")
    audit(apprentice, "apprentice's overview")
    record_tab(apprentice, "Off-the-job hours")
    expect(heading(apprentice)).to_have_text("Off-the-job hours")
    expect(apprentice.locator("#otj-entries")).to_contain_text("No off-the-job hours have been logged yet.")
    expect(apprentice.locator("[data-figure=approved] .app-figures__value")).to_have_text("0")
    audit(apprentice, "off-the-job hours, none logged")

    apprentice.get_by_role("button", name="Log off-the-job hours").click()  # a link styled as a button
    expect(heading(apprentice)).to_have_text("Log off-the-job hours")
    audit(apprentice, "log hours")
    fill_date(apprentice, "Date of the activity", today + timedelta(days=1))
    apprentice.get_by_label("Hours", exact=True).fill("2")
    apprentice.get_by_label("Minutes", exact=True).fill("30")
    apprentice.get_by_label("Teaching (lectures, classes, workshops)").check()
    apprentice.get_by_label("What did you do and what did you learn?").fill(
        "A workshop on unit testing: wrote tests first for the bins collection API.")
    apprentice.get_by_role("button", name="Log hours").click()

    no_ksb = "Select at least one knowledge, skill or behaviour this activity built"
    expect(apprentice).to_have_title("Error: Log off-the-job hours – Pathways")
    summary = apprentice.locator(".govuk-error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text(no_ksb)
    expect(apprentice.locator("#ksb_ids-error")).to_have_text(f"Error: {no_ksb}")
    expect(apprentice.get_by_label("Hours", exact=True)).to_have_value("2")  # what was typed is kept
    audit(apprentice, "log hours with no KSB")

    apprentice.get_by_label("K1 Knowledge 1 of ST0116").check()
    apprentice.get_by_label("K2 Knowledge 2 of ST0116").check()
    apprentice.get_by_role("button", name="Log hours").click()
    future = "The date cannot be in the future: log hours once the learning has happened"
    expect(summary).to_be_focused()
    expect(summary).to_contain_text(future)
    expect(apprentice.locator("#occurred_on-error")).to_contain_text(future)
    expect(apprentice.locator("#ksb_ids-error")).to_have_count(0)
    expect(apprentice.get_by_label("K2 Knowledge 2 of ST0116")).to_be_checked()
    audit(apprentice, "log hours with a future date")

    fill_date(apprentice, "Date of the activity", yesterday)
    apprentice.get_by_role("button", name="Log hours").click()
    expect(heading(apprentice)).to_have_text("Off-the-job hours")
    expect(banner(apprentice)).to_contain_text(
        f"Off-the-job hours logged: 2 hours 30 minutes on {yesterday:{DAY}}. They are waiting for approval.")
    entry = apprentice.locator("#otj-entries tbody tr")
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text(yesterday.strftime(DAY))
    expect(entry).to_contain_text("2 hours 30 minutes")
    expect(entry).to_contain_text("K1, K2")
    expect(entry).to_contain_text("Waiting for approval")
    expect(apprentice.locator("[data-figure=waiting] .app-figures__value")).to_have_text("2.5")
    expect(apprentice.locator("[data-figure=approved] .app-figures__value")).to_have_text("0")
    audit(apprentice, "off-the-job hours, waiting for approval")
    entry.get_by_role("link", name=yesterday.strftime(DAY)).click()
    expect(heading(apprentice)).to_have_text(f"2 hours 30 minutes on {yesterday:{DAY}}")
    expect(apprentice.locator("main")).to_contain_text("Waiting for approval")
    expect(apprentice.get_by_role("button", name="Save decision")).to_have_count(0)  # nobody approves their own
    audit(apprentice, "an entry waiting for approval")

    # The supervisor approves the entry from the queue, after first pressing the button with nothing ticked.
    supervisor = sign_in(new_page(bypass_csp=True), w.supervisor)
    expect(supervisor.locator("#supervisor-hours-count")).to_have_text("1 entry waiting, oldest first:")
    audit(supervisor, "supervisor's home")
    menu(supervisor, "Supervising")
    expect(heading(supervisor)).to_have_text("Apprentices and hours to approve")
    expect(supervisor.locator("#placements")).to_contain_text("Ada Apprentice")
    audit(supervisor, "supervising")
    queue = supervisor.locator("#approval-queue")
    expect(queue.locator("tbody tr")).to_have_count(1)
    supervisor.get_by_role("button", name="Approve selected").click()
    expect(supervisor.locator(".govuk-error-summary")).to_contain_text("Select the hours to approve")
    expect(supervisor.locator("#activity_ids-error")).to_contain_text("Select the hours to approve")
    audit(supervisor, "supervising with nothing selected")
    supervisor.get_by_role(
        "checkbox", name=f"Select 2 hours 30 minutes logged by Ada Apprentice on {yesterday:{DAY}}").check()
    supervisor.get_by_role("button", name="Approve selected").click()
    expect(banner(supervisor)).to_contain_text("Approved 1 entry of off-the-job hours (2 hours 30 minutes in all).")
    expect(supervisor.locator("#approval-queue-empty")).to_have_text("No hours are waiting for your approval.")
    audit(supervisor, "supervising after approving")

    # The apprentice's approved total moves, and the chart and its table show it.
    apprentice.get_by_role("link", name="Back to off-the-job hours").click()
    expect(apprentice.locator("[data-figure=approved] .app-figures__value")).to_have_text("2.5")
    expect(apprentice.locator("[data-figure=waiting] .app-figures__value")).to_have_text("0")
    expect(apprentice.locator("#otj-entries tbody tr")).to_contain_text("Approved")
    chart = apprentice.get_by_role("img", name=re.compile("^Approved off-the-job hours against the plan"))
    expect(chart).to_be_visible()
    assert chart.evaluate("node => node.tagName.toLowerCase()") == "svg"
    apprentice.get_by_text("Show the figures as a table").click()
    figures = apprentice.get_by_role("table", name="Cumulative off-the-job hours at the end of each month")
    expect(figures).to_be_visible()
    expect(figures.locator("tbody tr").last).to_contain_text("2.5")
    audit(apprentice, "off-the-job hours with the figures shown")

    # A coordinator records the due review: an empty form first, then the review.
    coordinator = sign_in(new_page(bypass_csp=True), w.coordinator)
    menu(coordinator, "Apprenticeships")
    expect(heading(coordinator)).to_have_text("Apprenticeships")
    audit(coordinator, "apprenticeships")
    coordinator.locator("main").get_by_role("link", name="Ada Apprentice").click()
    expect(heading(coordinator)).to_have_text("Overview")
    record_tab(coordinator, "Progress reviews")
    expect(heading(coordinator)).to_have_text("Progress reviews")
    first = coordinator.locator("#review-1")
    expect(first).to_contain_text(f"{w.first_review_due:{DAY}}")
    expect(first).to_contain_text("Overdue")
    audit(coordinator, "progress reviews, one overdue")
    first.get_by_role("link", name="Record review 1").click()
    expect(heading(coordinator)).to_have_text("Record progress review 1")
    audit(coordinator, "record a review")
    coordinator.get_by_role("button", name="Save the review").click()
    summary = coordinator.locator(".govuk-error-summary")
    expect(summary).to_be_focused()
    for message in ("Enter the date the review was held", "Select a RAG rating", "Select the progress on K1",
                    "Enter the actions agreed for before the next review"):
        expect(summary).to_contain_text(message)
    expect(coordinator.locator("#rag-error")).to_contain_text("Select a RAG rating")
    audit(coordinator, "record a review with errors")

    fill_date(coordinator, "Date the review was held", w.first_review_due)
    coordinator.get_by_label("Green: on track").check()
    levels = {"K1": "In progress", "K2": "In progress", "K3": "Not started", "S1": "Ready", "S2": "In progress",
              "S3": "Not started", "B1": "Complete", "B2": "In progress"}
    for code, level in levels.items():
        coordinator.get_by_label(f"Progress on {code}: {w.ksb_titles[code]}").select_option(label=level)
    coordinator.get_by_label("Actions agreed for before the next review").fill(
        "Pair with the platform team on deployments; log hours every week.")
    coordinator.get_by_role("button", name="Save the review").click()
    expect(heading(coordinator)).to_have_text("Progress review 1")
    expect(banner(coordinator)).to_contain_text(
        "Review 1 has been recorded. It is now waiting for the apprentice, the employer and a coordinator to sign it.")
    expect(coordinator.locator("#review-state")).to_have_text(
        "Awaiting signatures from the apprentice, the employer and a coordinator")
    expect(coordinator.locator("#ksb-progress")).to_contain_text("Complete")
    audit(coordinator, "a recorded review")
    coordinator.get_by_role("button", name="Sign as the coordinator").click()
    expect(banner(coordinator)).to_contain_text("You have signed review 1 as the coordinator.")
    expect(coordinator.locator("#review-state")).to_have_text(
        "Awaiting signatures from the apprentice and the employer")
    expect(coordinator.get_by_role("button", name=re.compile("^Sign as"))).to_have_count(0)

    # The apprentice signs from their home page; the supervisor signs as the employer from their queue.
    apprentice.goto("/")
    apprentice.get_by_role("link", name="Sign progress review 1").click()
    expect(heading(apprentice)).to_have_text("Progress review 1")
    audit(apprentice, "a review to sign")
    apprentice.get_by_role("button", name="Sign as the apprentice").click()
    expect(banner(apprentice)).to_contain_text("You have signed review 1 as the apprentice.")
    expect(apprentice.locator("#review-state")).to_have_text("Awaiting the employer's signature")

    menu(supervisor, "Supervising")
    reviews_to_sign = supervisor.locator("#reviews-to-sign")
    expect(reviews_to_sign).to_contain_text("sign as the employer")
    audit(supervisor, "supervising with a review to sign")
    reviews_to_sign.get_by_role("link", name="Review 1 of Ada Apprentice").click()
    supervisor.get_by_role("button", name="Sign as the employer").click()
    expect(banner(supervisor)).to_contain_text(
        "You have signed review 1 as the employer. The review is complete: all three have signed.")
    expect(supervisor.locator("#review-state")).to_have_text("Complete")
    signatures = supervisor.locator("#signatures tbody")
    for name in ("Ada Apprentice", "Sam Supervisor", "Cora Coordinator"):
        expect(signatures).to_contain_text(name)
    expect(signatures).not_to_contain_text("Not yet signed")
    audit(supervisor, "a complete review")

    apprentice.get_by_role("link", name="Back to progress reviews").click()
    expect(apprentice.locator("#review-1")).to_contain_text("Complete")
    audit(apprentice, "progress reviews, one complete")

    # The KSBs and gateway page: evidence from the approved hours (K1, K2) and the complete review (S1, B1),
    # and what is missing, in words.
    apprentice.goto("/")
    apprentice.get_by_role("link", name="Your KSBs and gateway checklist").click()
    expect(heading(apprentice)).to_have_text("KSBs and gateway")
    checklist = apprentice.locator("#gateway-checklist")
    planned = w.planned_hours
    expect(checklist).to_contain_text(
        f"2.5 of {planned} planned off-the-job hours approved: {hours_text(Decimal(planned) - Decimal('2.5'))} "
        "hours to go")
    expect(checklist).to_contain_text("No evidence yet for K3, S2, S3, B2")
    expect(checklist).to_contain_text("The employer has not yet agreed the apprentice is ready")
    expect(checklist).to_contain_text("English and maths: achieved")
    expect(checklist).to_contain_text(re.compile(r"Minimum practical period ends on \d{1,2} \w+ \d{4}"))
    expect(apprentice.locator("#gateway-summary")).to_have_text("4 of 5 items are not met yet.")
    expect(apprentice.locator("main")).to_contain_text("4 of 8 KSBs have evidence.")
    for code, evidence in (("K1", "Evidenced"), ("S1", "Evidenced"), ("B1", "Evidenced"), ("K3", "No evidence yet")):
        expect(apprentice.locator(f"#ksb-{code}")).to_contain_text(evidence)
    expect(apprentice.get_by_role("button", name="Record employer agreement")).to_have_count(0)
    audit(apprentice, "KSBs and gateway")

    assert not audit.problems, "axe found serious or critical problems:\n\n" + "\n\n".join(audit.problems)
    for page in (apprentice, supervisor, coordinator):
        assert not unexpected(page.problems.errors), page.problems.errors


def test_the_error_summary_takes_the_keyboard_to_a_wrong_date(world, new_page):
    """Following the error summary's link for a date puts the keyboard in the date's first box, as the GOV.UK
    error summary does for every other field."""
    page = sign_in(new_page(bypass_csp=True), world.apprentice)
    page.goto(f"{world.record}/off-the-job/new")
    fill_date(page, "Date of the activity", clock.today() + timedelta(days=1))
    page.get_by_label("Hours", exact=True).fill("1")
    page.get_by_label("Online learning").check()
    page.get_by_label("What did you do and what did you learn?").fill("A course on accessible forms.")
    page.get_by_label("K1 Knowledge 1 of ST0116").check()
    page.get_by_role("button", name="Log hours").click()
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_focused()
    summary.get_by_role("link", name=re.compile("^The date cannot be in the future")).click()
    expect(page.get_by_role("group", name="Date of the activity").get_by_label("Day")).to_be_focused()


def test_a_decision_sent_back_with_an_error_keeps_the_way_back_to_the_queue(world, new_page):
    """A supervisor who opens an entry from the queue and forgets to choose still has a link back to the queue."""
    day = clock.today() - timedelta(days=1)
    make_otj(world.apprenticeship, on=day, minutes=60)
    release_database()
    page = sign_in(new_page(bypass_csp=True), world.supervisor)
    menu(page, "Supervising")
    page.locator("#approval-queue").get_by_role("link", name=f"{day:{DAY}}", exact=True).click()
    expect(page.get_by_role("link", name="Back to hours to approve")).to_be_visible()
    page.get_by_role("button", name="Save decision").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("Select whether to approve or reject these hours")
    expect(page.get_by_role("link", name="Back to hours to approve")).to_be_visible()


def scripts_ran(page) -> None:
    """The page's inline script (allowed by its nonce) marked the body, and GOV.UK Frontend's module started the
    components: each one it starts is marked ``data-<module>-init``."""
    page.wait_for_load_state("networkidle")
    expect(page.locator("body")).to_have_class(re.compile("govuk-frontend-supported"))
    expect(page.locator("[data-govuk-service-navigation-init]")).to_have_count(1)


def test_record_pages_run_under_the_content_security_policy(world, new_page):
    """With the real content security policy, the scripts and the charts of the off-the-job and placements
    pages load without a single console error."""
    make_otj(world.apprenticeship, on=clock.today() - timedelta(days=3), status=OtjStatus.APPROVED)
    release_database()
    page = sign_in(new_page(), world.apprentice)
    page.goto(f"{world.record}/off-the-job")
    expect(heading(page)).to_have_text("Off-the-job hours")
    expect(page.get_by_role("img", name=re.compile("^Approved off-the-job hours against the plan"))).to_be_visible()
    expect(page.locator("[data-govuk-button-init]")).to_have_count(1)  # "Log off-the-job hours"
    page.get_by_text("Show the figures as a table").click()
    expect(page.get_by_role("table", name="Cumulative off-the-job hours at the end of each month")).to_be_visible()
    scripts_ran(page)

    record_tab(page, "Placements")
    expect(heading(page)).to_have_text("Placements")
    expect(page.get_by_role("img", name=re.compile("^Timeline of placements"))).to_be_visible()
    expect(page.locator("main")).to_contain_text("Sam Supervisor")
    scripts_ran(page)
    assert page.problems.errors == []
