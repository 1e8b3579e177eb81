"""The "Your sessions" page in a real browser: reached from the account menu, it lists where the person is signed
in, and signing out everywhere else signs the other browser out; every state is checked with axe-core."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in
from tests.browser.test_accessibility import axe_violations, describe
from tests.conftest import make_person

pytestmark = pytest.mark.browser


def test_a_person_signs_out_everywhere_else_from_the_sessions_page(new_page):
    person = make_person("sam@example.org", name="Sam Rivera")
    elsewhere = sign_in(new_page(), person)
    page = sign_in(new_page(bypass_csp=True), person)
    problems = []

    page.get_by_role("link", name="Your sessions").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your sessions")
    expect(page.locator("tr.app-session")).to_have_count(2)
    expect(page.locator("tr.app-session").first).to_contain_text("This device")
    problems += [("two sessions", v) for v in axe_violations(page)]

    page.get_by_role("button", name="Sign out everywhere else").click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text("You have signed out of 1 other session.")
    expect(page.locator("tr.app-session")).to_have_count(1)
    expect(page.get_by_role("button", name="Sign out everywhere else")).to_have_count(0)
    problems += [("after signing out elsewhere", v) for v in axe_violations(page)]

    elsewhere.goto("/account/sessions")
    expect(elsewhere.get_by_role("heading", level=1)).to_have_text("Sign in to Pathways")
    assert not problems, "\n".join(f"{where}: {describe([v])}" for where, v in problems)
    assert page.problems.errors == [] and elsewhere.problems.errors == []
