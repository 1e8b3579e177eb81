"""Signing in with an authenticator app in a real browser: every page of it checked with axe-core, in normal and
in error states, the QR code shown under the real content security policy, and errors that take the keyboard to
the code field."""

from __future__ import annotations

import re

import pyotp
import pytest
from playwright.sync_api import expect

from app.models import Role
from tests.browser.conftest import release_database, sign_in
from tests.browser.test_accessibility import axe_violations, describe
from tests.conftest import PASSWORD, make_person
from tests.multi_factor_helpers import unused_code

pytestmark = pytest.mark.browser


def submit(page, button: str):
    page.get_by_role("button", name=button).click()
    page.wait_for_load_state()


def password_step(page, person):
    page.goto("/sign-in")
    page.get_by_label("Email address").fill(person.email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    submit(page, "Sign in")


def secret_on(page) -> str:
    return page.locator("main code").inner_text().replace(" ", "")


class Checked:
    """The pages seen, each checked with axe; their problems reported together at the end."""

    def __init__(self, page):
        self.page, self.problems, self.count = page, [], 0

    def __call__(self, name: str, heading: str):
        release_database()
        expect(self.page.get_by_role("heading", level=1), f"the {name} page").to_have_text(heading)
        violations = axe_violations(self.page)
        self.count += 1
        if violations:
            self.problems.append(f"The {name} page ({self.page.url}):\n" + describe(violations))

    def assert_none(self):
        assert not self.problems, (f"axe found serious or critical problems on {len(self.problems)} of {self.count} "
                                   "pages:\n\n" + "\n\n".join(self.problems))


def test_second_factor_pages_have_no_serious_accessibility_problems(new_page):
    coordinator = make_person("cora@example.org", name="Cora Coordinator", roles=(Role.COORDINATOR,),
                              scope=("E09000012",))
    admin = make_person("admin@example.org", name="Alex Admin", roles=(Role.ADMIN,), organisation_code="LC")
    learner = make_person("lee@example.org", name="Lee Learner")
    release_database()

    page = new_page(bypass_csp=True)
    check = Checked(page)
    password_step(page, coordinator)
    check("set up an app", "Set up an authenticator app")
    submit(page, "Finish setting up")
    expect(page.locator(".govuk-error-summary")).to_be_focused()
    check("set up an app with errors", "Set up an authenticator app")
    secret = secret_on(page)
    page.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(secret).now())
    submit(page, "Finish setting up")
    check("recovery codes", "Save your recovery codes")
    recovery_code = page.locator("main ol code").first.inner_text()
    page.get_by_role("button", name="I have saved my recovery codes").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Cora Coordinator")
    page.get_by_role("link", name="Sign in with an authenticator app").click()
    check("account page with an app", "Sign in with an authenticator app")
    submit(page, "Sign out")

    password_step(page, coordinator)
    check("code", "Enter the code from your authenticator app")
    page.get_by_label("Code", exact=True).fill("12345")
    submit(page, "Continue")
    check("code with errors", "Enter the code from your authenticator app")
    page.get_by_role("link", name="Use a recovery code instead").click()
    check("recovery code", "Enter a recovery code")
    page.get_by_label("Recovery code").fill("not-a-code")
    submit(page, "Continue")
    check("recovery code with errors", "Enter a recovery code")
    page.get_by_label("Recovery code").fill(recovery_code)
    submit(page, "Continue")
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Cora Coordinator")
    expect(page.locator(".govuk-notification-banner")).to_contain_text("you have 9 left")

    learner_page = new_page(bypass_csp=True)
    sign_in(learner_page, learner)
    learner_page.goto("/account/authenticator")
    check_learner = Checked(learner_page)
    check_learner("account page without an app", "Sign in with an authenticator app")

    admin_page = new_page(bypass_csp=True)
    sign_in(admin_page, admin)
    admin_page.goto(f"/people/{coordinator.id}")
    admin_page.get_by_role("link", name="Reset sign-in with an authenticator app").click()
    check_admin = Checked(admin_page)
    check_admin("reset", "Reset sign-in with an authenticator app")

    for checked in (check, check_learner, check_admin):
        checked.assert_none()


def test_the_qr_code_shows_under_the_real_content_security_policy(page):
    person = make_person("cora@example.org", roles=(Role.COORDINATOR,), scope=("E09000012",))
    release_database()
    password_step(page, person)
    image = page.get_by_role("img", name="QR code for adding Pathways to your authenticator app")
    expect(image).to_be_visible()
    assert image.evaluate("img => img.complete && img.naturalWidth > 0")
    assert re.fullmatch(r"[A-Z2-7]{32}", secret_on(page))
    assert page.problems.errors == []  # a refused data: image would be reported here


def test_a_wrong_code_takes_the_keyboard_to_the_field(page):
    person = make_person("cora@example.org", roles=(Role.COORDINATOR,), scope=("E09000012",))
    release_database()
    sign_in(page, person)
    submit(page, "Sign out")
    password_step(page, person)
    field = page.get_by_label("Code", exact=True)
    expect(field).to_have_attribute("autocomplete", "one-time-code")
    expect(field).to_have_attribute("inputmode", "numeric")
    right = unused_code(person)
    release_database()
    field.fill(f"{(int(right) + 1) % 1_000_000:06d}")
    field.press("Enter")
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_focused()
    expect(page).to_have_title("Error: Enter the code from your authenticator app – Pathways")
    summary.get_by_role("link").click()
    expect(page.get_by_label("Code", exact=True)).to_be_focused()
    page.keyboard.press("ControlOrMeta+A")  # the wrong code is kept in the field, to correct or replace
    page.keyboard.type(unused_code(person))
    release_database()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Test Person")
    assert page.problems.errors == []
