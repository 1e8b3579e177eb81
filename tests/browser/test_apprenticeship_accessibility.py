"""Every kind of apprenticeship page, for the person who uses it, checked with axe-core in a real browser: no
serious or critical accessibility problems, in normal and in error states. One sign-in per kind of viewer:
a borough coordinator, a supervisor, an apprentice, and an apprentice without a record yet."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.models import ActivityType, KsbProgressLevel, OtjStatus, Rag, Role, SigningParty
from app.services import clock, progress_reviews
from tests.apprenticeship_factories import (
    make_apprentice,
    make_apprenticeship,
    make_coordinator,
    make_intake,
    make_otj,
    make_placement,
    make_standard_version,
    make_supervisor,
    make_team,
)
from tests.browser.conftest import release_database, sign_in
from tests.browser.test_accessibility import PageCase, axe_violations, describe, goto, submit
from tests.conftest import make_person

pytestmark = pytest.mark.browser
HACKNEY, TOWER_HAMLETS = "E09000012", "E09000030"
VIEWERS = ["coordinator", "supervisor", "apprentice", "newcomer"]


@dataclass
class World:
    coordinator: object
    supervisor: object
    apprentice: object
    newcomer: object
    apprenticeship_id: int
    current_placement_id: int
    waiting_entry: tuple[int, date]  # id and day of hours waiting for the supervisor
    rejected_entry: tuple[int, date]
    reviews: list[int]  # ids: 1 complete, 2 waiting for the apprentice and the employer, 3 to come
    intake_id: int
    standard_id: int

    def record(self, rest: str = "") -> str:
        return f"/apprenticeships/{self.apprenticeship_id}{rest}"


def _hold_review(review, coordinator, held_on: date, levels: dict, rag: Rag, *, signers=()) -> None:
    progress_reviews.record_review(coordinator, review, held_on=held_on, rag=rag,
                                   previous_actions="Finish the data protection module.",
                                   concerns="Hours logged late in some months." if rag is not Rag.GREEN else None,
                                   actions="Log hours every week.\nShadow a deployment.", ksb_progress=levels)
    for person, party in signers:
        progress_reviews.sign(person, review, party)


@pytest.fixture
def world() -> World:
    """Ada, on Software developer for 200 days: a first placement in Tower Hamlets (supervised by Pat), a gap,
    then Sam's team in Hackney until 10 days from now. Approved, rejected and waiting hours; review 1 complete,
    review 2 signed by the coordinator only, review 3 to come. Nia is an apprentice with no record yet."""
    today = clock.today()
    version = make_standard_version()
    ksb = {k.code: k for k in version.ksbs}
    coordinator = make_coordinator(scope=(HACKNEY,))
    supervisor = make_supervisor()
    former = make_person("pat@example.org", name="Pat Okoye", roles=(Role.SUPERVISOR,),
                         organisation_code=TOWER_HAMLETS)
    apprentice = make_apprentice()
    newcomer = make_apprentice("nia@example.org", name="Nia Newcomer")
    intake = make_intake("Spring 2026", starts_on=today - timedelta(days=200), coordinator=coordinator)
    a = make_apprenticeship(apprentice, standard_version=version, intake=intake, starts_on=today - timedelta(days=200))
    make_placement(a, supervisor=former, host_code=TOWER_HAMLETS, team=make_team(TOWER_HAMLETS, "Data and insight"),
                   starts_on=a.starts_on, ends_on=a.starts_on + timedelta(days=90), ksbs=[ksb["K1"], ksb["S1"]])
    current = make_placement(a, supervisor=supervisor, starts_on=today - timedelta(days=100),
                             ends_on=today + timedelta(days=10), ksbs=[ksb["K2"], ksb["S2"], ksb["B1"]])

    make_otj(a, on=a.starts_on + timedelta(days=20), minutes=180, status=OtjStatus.APPROVED,
             ksbs=[ksb["K1"], ksb["K2"]], description="Workshop on the software development life cycle.")
    make_otj(a, on=a.starts_on + timedelta(days=50), minutes=240, activity_type=ActivityType.ONLINE_LEARNING,
             status=OtjStatus.APPROVED, ksbs=[ksb["S1"]], description="Online course on writing maintainable code.")
    rejected = make_otj(a, on=today - timedelta(days=30), minutes=90, status=OtjStatus.REJECTED, ksbs=[ksb["B2"]],
                        description="Team meeting.")
    rejected.rejection_reason = "A team meeting is part of the job, not new learning: log the training it led to."
    waiting = make_otj(a, on=today - timedelta(days=2), minutes=150, activity_type=ActivityType.SHADOWING,
                       ksbs=[ksb["S2"], ksb["B1"]], description="Shadowed a release of the parking permits service.")
    db.session.commit()

    first, second, third = sorted(a.reviews, key=lambda r: r.sequence)[:3]
    assert second.due_on <= today < third.due_on, "the schedule must have two reviews due and one to come"
    levels = {k.id: KsbProgressLevel.IN_PROGRESS.value for k in version.ksbs}
    _hold_review(first, coordinator, first.due_on - timedelta(days=10), levels | {ksb["K1"].id: "ready"}, Rag.GREEN,
                 signers=[(apprentice, SigningParty.APPRENTICE), (former, SigningParty.EMPLOYER),
                          (coordinator, SigningParty.COORDINATOR)])
    _hold_review(second, coordinator, second.due_on, levels | {ksb["K1"].id: "complete"}, Rag.AMBER,
                 signers=[(coordinator, SigningParty.COORDINATOR)])
    db.session.commit()
    assert first.completed_at is not None

    world = World(coordinator, supervisor, apprentice, newcomer, a.id, current.id,
                  (waiting.id, waiting.occurred_on), (rejected.id, rejected.occurred_on),
                  [first.id, second.id, third.id], intake.id, version.standard_id)
    release_database()
    return world


def serve_static_from_memory(context) -> None:
    """Each static file is fetched from the live server once per viewer, then given to the browser from memory:
    the same bytes, without a revalidation round trip to the test server on every page. The copy is fetched
    outside the browser, without its cookies, and cookies are left out of it: an extra response must never
    touch the viewer's session (Playwright's own fetch would apply a Set-Cookie by the real clock, not the
    server's frozen one, and drop the session as expired)."""
    copies: dict[str, tuple[int, dict, bytes]] = {}

    def handle(route):
        url = route.request.url
        if url not in copies:
            with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - the loopback test server
                headers = {k: v for k, v in response.headers.items() if k.lower() != "set-cookie"}
                copies[url] = (response.status, headers, response.read())
        status, headers, body = copies[url]
        route.fulfill(status=status, headers=headers, body=body)

    context.route("**/static/**", handle)


def errors_shown(page, button: str, *messages: str) -> None:
    """Send the form as it is and see the error summary, with the given messages in it."""
    submit(page, button)
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_visible()
    for message in messages:
        expect(summary).to_contain_text(message)


def form_with_errors(path: Callable[[World], str], button: str, *messages: str) -> Callable:
    """Open the form (unless the page before was that form) and send it as it is."""

    def open_page(page, world):
        if not page.url.endswith(path(world)):
            page.goto(path(world))
        errors_shown(page, button, *messages)

    return open_page


def _figures_shown(page, world):
    page.goto(world.record("/off-the-job"))
    page.get_by_text("Show the figures as a table").click()
    expect(page.get_by_role("table", name="Cumulative off-the-job hours at the end of each month")).to_be_visible()


def _entry(which: str) -> Callable[[World], str]:
    def path(world):
        entry_id, _day = getattr(world, which)
        return world.record(f"/off-the-job/{entry_id}") + ("?from=queue" if which == "waiting_entry" else "")

    return path


def _entry_heading(minutes_text: str, which: str) -> Callable:
    return lambda world: f"{minutes_text} on {getattr(world, which)[1]:%-d %B %Y}"


def _review(n: int, rest: str = "") -> Callable[[World], str]:
    return lambda world: world.record(f"/reviews/{world.reviews[n - 1]}{rest}")


# The journeys in test_apprenticeship_paths.py check the pages they pass through too (the apprentice's overview,
# KSBs and gateway, a complete review, the supervisor's queue with and without errors), so they are not repeated.
PAGES = [
    # A coordinator of Hackney, where Ada is employed.
    PageCase("apprenticeships", "coordinator", goto("/apprenticeships"), "Apprenticeships"),
    PageCase("add an apprenticeship with errors", "coordinator",
             form_with_errors(lambda w: "/apprenticeships/new", "Add apprenticeship"), "Add an apprenticeship"),
    PageCase("overview", "coordinator", goto(lambda w: w.record()), "Overview"),
    PageCase("change details", "coordinator", goto(lambda w: w.record("/edit")), "Change details"),
    PageCase("change status", "coordinator", goto(lambda w: w.record("/status")), "Change status"),
    PageCase("change status with errors", "coordinator",
             form_with_errors(lambda w: w.record("/status"), "Change status"), "Change status"),
    PageCase("placements", "coordinator", goto(lambda w: w.record("/placements")), "Placements"),
    PageCase("add a placement with errors", "coordinator",
             form_with_errors(lambda w: w.record("/placements/new"), "Add placement"), "Add a placement"),
    PageCase("record a review with errors", "coordinator",
             form_with_errors(_review(3, "/record"), "Save the review", "Enter the date the review was held",
                              "Select a RAG rating"), "Record progress review 3"),
    PageCase("KSBs and gateway with the agreement button", "coordinator", goto(lambda w: w.record("/ksbs")),
             "KSBs and gateway"),
    PageCase("intakes", "coordinator", goto("/intakes"), "Intakes"),
    PageCase("intake", "coordinator", goto(lambda w: f"/intakes/{w.intake_id}"), "Spring 2026"),
    PageCase("add an intake with errors", "coordinator",
             form_with_errors(lambda w: "/intakes/new", "Add intake", "Enter a name for the intake"),
             "Add an intake"),
    PageCase("standards", "coordinator", goto("/standards"), "Apprenticeship standards"),
    PageCase("standard", "coordinator", goto(lambda w: f"/standards/{w.standard_id}"), "Software developer"),
    PageCase("add a standard version with errors", "coordinator",
             form_with_errors(lambda w: f"/standards/{w.standard_id}/versions/new", "Add version"), "Add a version"),
    PageCase("add a standard with errors", "coordinator",
             form_with_errors(lambda w: "/standards/new", "Add standard", "Enter the reference"), "Add a standard"),
    # Sam, who supervises Ada's current placement.
    PageCase("supervising", "supervisor", goto("/supervising"), "Apprentices and hours to approve"),
    PageCase("an entry to decide", "supervisor", goto(_entry("waiting_entry")), "…"),
    PageCase("an entry with no decision", "supervisor",
             form_with_errors(_entry("waiting_entry"), "Save decision", "Select whether to approve or reject"), "…"),
    PageCase("placement feedback", "supervisor",
             goto(lambda w: w.record(f"/placements/{w.current_placement_id}/feedback")), "Feedback on the placement"),
    PageCase("placement feedback with errors", "supervisor",
             form_with_errors(lambda w: w.record(f"/placements/{w.current_placement_id}/feedback"), "Save feedback",
                              "Enter your feedback on the placement"), "Feedback on the placement"),
    # Ada, the apprentice.
    PageCase("off-the-job hours with the chart's figures", "apprentice", _figures_shown, "Off-the-job hours"),
    PageCase("log hours with errors", "apprentice",
             form_with_errors(lambda w: w.record("/off-the-job/new"), "Log hours", "Enter the date of the activity",
                              "Select the type of activity", "Select at least one knowledge, skill or behaviour"),
             "Log off-the-job hours"),
    PageCase("a rejected entry", "apprentice", goto(_entry("rejected_entry")), "…"),
    PageCase("progress reviews", "apprentice", goto(lambda w: w.record("/reviews")), "Progress reviews"),
    PageCase("a review to sign as the apprentice", "apprentice", goto(_review(2)), "Progress review 2"),
    PageCase("a review to come", "apprentice", goto(_review(3)), "Progress review 3"),
    # Nia, an apprentice whose record is not set up yet.
    PageCase("home without an apprenticeship", "newcomer", goto("/"), "Welcome, Nia Newcomer"),
    PageCase("my apprenticeship with none", "newcomer", goto("/my-apprenticeship"),
             "You do not have an apprenticeship yet"),
]
# Headings worked out from the data, for the pages given "…" above.
HEADINGS = {
    "an entry to decide": _entry_heading("2 hours 30 minutes", "waiting_entry"),
    "an entry with no decision": _entry_heading("2 hours 30 minutes", "waiting_entry"),
    "a rejected entry": _entry_heading("1 hour 30 minutes", "rejected_entry"),
}


def test_every_viewer_is_covered():
    assert {case.who for case in PAGES} == set(VIEWERS)


@pytest.mark.parametrize("who", VIEWERS)
def test_apprenticeship_pages_have_no_serious_accessibility_problems(who, world, new_page):
    """One browser context per viewer, signed in once; every page is checked before the problems of all of
    them are reported together."""
    page = new_page(bypass_csp=True)
    serve_static_from_memory(page.context)
    sign_in(page, getattr(world, who))
    cases = [case for case in PAGES if case.who == who]
    problems = []
    for case in cases:
        case.open(page, world)
        release_database()
        heading = HEADINGS[case.name](world) if case.name in HEADINGS else case.heading
        expect(page.get_by_role("heading", level=1), f"the {case.name} page").to_have_text(heading)
        violations = axe_violations(page)
        if violations:
            problems.append(f"The {case.name} page ({page.url}):\n" + describe(violations))

    assert not problems, f"axe found serious or critical problems on {len(problems)} of {len(cases)} pages:\n\n" + (
        "\n\n".join(problems))
