"""Every kind of Pathways page, checked with axe-core in a real browser: no serious or critical
accessibility problems, in normal and in error states."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.models import OutboundEmail, Role
from app.services.tokens import LinkPurpose, make_token
from tests.browser.conftest import AXE, release_database, sign_in
from tests.conftest import make_person, organisation

pytestmark = pytest.mark.browser
BLOCKING = {"serious", "critical"}
BAD_CSV = (
    b"email,name,organisation,roles,scope,team\n"
    b"ok.person@example.org,Olu Okafor,E09000012,learner,,\n"
    b"not-an-email,Nobody,E09000012,learner,,\n"
    b"mo@example.org,Mo Khan,NOPE,wizard,,\n"
)


@dataclass
class World:
    admin: object
    learner: object
    invited: object
    message_id: int


@pytest.fixture
def world(app):
    admin = make_person("admin@example.org", name="Alex Admin", roles=(Role.ADMIN,), organisation_code="LC")
    learner = make_person("lee@example.org", name="Lee Learner", roles=(Role.LEARNER,))
    with app.test_request_context():  # the invitation email carries a link built with url_for
        invited = make_person("ines@example.org", name="Ines Invited", roles=(Role.APPRENTICE,), password=None)
    message_id = db.session.scalar(db.select(OutboundEmail.id))
    release_database()
    return World(admin, learner, invited, message_id)


def submit(page, button: str):
    page.get_by_role("button", name=button).click()
    page.wait_for_load_state()


@dataclass
class PageCase:
    name: str
    who: str | None  # "admin", "learner" or None for someone not signed in
    open: Callable
    heading: str


def _upload_bad_csv(page, world):
    page.goto("/people/import")
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "people.csv", "mimeType": "text/csv", "buffer": BAD_CSV}]
    )
    submit(page, "Check the file")
    expect(page.locator("main")).to_contain_text("not-an-email")


def _check_email(page, world):
    page.goto("/forgot-password")
    page.get_by_label("Email address").fill(world.learner.email)
    submit(page, "Send me a link")


def _invite_with_errors(page, world):
    page.goto("/people/new")
    submit(page, "Create account and send invitation")
    expect(page.locator(".govuk-error-summary")).to_be_visible()


def _sign_in_with_errors(page, world):
    page.goto("/sign-in")
    page.get_by_label("Email address").fill(world.learner.email)
    page.get_by_label("Password", exact=True).fill("not the password")
    submit(page, "Sign in")
    expect(page.locator(".govuk-error-summary")).to_be_visible()


def _set_password(page, world):
    page.goto(f"/set-password/{make_token(world.invited, LinkPurpose.INVITATION)}")


def goto(path: str | Callable) -> Callable:
    return lambda page, world: page.goto(path(world) if callable(path) else path)


PAGES = [
    PageCase("start page", None, goto("/"), "Pathways"),
    PageCase("sign in", None, goto("/sign-in"), "Sign in to Pathways"),
    PageCase("sign in with errors", None, _sign_in_with_errors, "Sign in to Pathways"),
    PageCase("forgot password", None, goto("/forgot-password"), "Reset your password"),
    PageCase("check your email", None, _check_email, "Check your email"),
    PageCase("set password", None, _set_password, "Set up your account"),
    PageCase("link problem", None, goto("/set-password/not-a-real-link"), "There is a problem with your link"),
    PageCase("accessibility statement", None, goto("/accessibility-statement"), "Accessibility statement for Pathways"),
    PageCase("privacy notice", None, goto("/privacy-notice"), "Privacy notice"),
    PageCase("cookies", None, goto("/cookies"), "Cookies"),
    PageCase("home for a learner", "learner", goto("/"), "Welcome, Lee Learner"),
    PageCase("change password", "learner", goto("/account/password"), "Change your password"),
    PageCase("forbidden", "learner", goto("/admin/audit"), "You do not have permission to see this page"),
    PageCase("not found", "learner", goto("/no-such-page"), "Page not found"),
    PageCase("home for an admin", "admin", goto("/"), "Welcome, Alex Admin"),
    PageCase("people", "admin", goto("/people"), "People"),
    PageCase("person", "admin", goto(lambda w: f"/people/{w.invited.id}"), "Ines Invited"),
    PageCase("invite with errors", "admin", _invite_with_errors, "Invite someone"),
    PageCase("change roles", "admin", goto(lambda w: f"/people/{w.learner.id}/roles"), "Change roles"),
    PageCase("deactivate", "admin", goto(lambda w: f"/people/{w.learner.id}/deactivate"), "Deactivate this account"),
    PageCase("import upload", "admin", goto("/people/import"), "Invite people from a CSV file"),
    PageCase("import preview with errors", "admin", _upload_bad_csv, "Check the people to invite"),
    PageCase("organisations", "admin", goto("/admin/organisations"), "Organisations and teams"),
    PageCase("organisation", "admin", goto(lambda w: f"/admin/organisations/{organisation('E09000012').id}"),
             "London Borough of Hackney"),
    PageCase("add organisation", "admin", goto("/admin/organisations/new"), "Add an organisation"),
    PageCase("outbox", "admin", goto("/admin/outbox"), "Email outbox"),
    PageCase("outbox message", "admin", goto(lambda w: f"/admin/outbox/{w.message_id}"),
             "You have been invited to Pathways"),
    PageCase("audit trail", "admin", goto("/admin/audit"), "Audit trail"),
]


def describe(violations: list[dict]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"[{violation['impact']}] {violation['id']}: {violation['help']} ({violation['helpUrl']})")
        for node in violation["nodes"][:5]:
            lines.append(f"    at {', '.join(map(str, node['target']))}")
            lines.append(f"       {node['html'][:200]}")
            summary = (node.get("failureSummary") or "").replace("\n", "\n       ")
            lines.append(f"       {summary}")
        if len(violation["nodes"]) > 5:
            lines.append(f"    … and {len(violation['nodes']) - 5} more")
    return "\n".join(lines)


def axe_violations(page) -> list[dict]:
    page.add_script_tag(path=str(AXE))
    results = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [v for v in results["violations"] if v["impact"] in BLOCKING]


@pytest.mark.parametrize("who", ["anonymous", "learner", "admin"])
def test_pages_have_no_serious_accessibility_problems(who, world, new_page):
    """One browser context per kind of visitor, signed in once; every page is checked before
    the problems of all of them are reported together."""
    page = new_page(bypass_csp=True)
    if who != "anonymous":
        sign_in(page, getattr(world, who))
    cases = [case for case in PAGES if (case.who or "anonymous") == who]
    problems = []
    for case in cases:
        case.open(page, world)
        release_database()
        expect(page.get_by_role("heading", level=1), f"the {case.name} page").to_have_text(case.heading)
        violations = axe_violations(page)
        if violations:
            problems.append(f"The {case.name} page ({page.url}):\n" + describe(violations))

    assert not problems, f"axe found serious or critical problems on {len(problems)} of {len(cases)} pages:\n\n" + (
        "\n\n".join(problems))


def test_the_skip_link_comes_first_on_a_signed_in_page(world, new_page):
    page = new_page()
    sign_in(page, world.admin)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to main content"
    assert re.search(r"#main-content$", page.evaluate("document.activeElement.href"))


def test_the_check_finds_a_real_problem(new_page):
    """A guard on the check itself: axe runs and reports a serious problem when there is one."""
    page = new_page(bypass_csp=True)
    page.goto("/sign-in")
    page.evaluate("""() => {
        const input = document.createElement("input");
        input.type = "text";
        document.querySelector("main").append(input);
    }""")
    assert "label" in {violation["id"] for violation in axe_violations(page)}
