"""Journeys through Pathways in a real browser: signing in and out, inviting someone who then
sets a password, and error messages that take the keyboard to them."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.models import OutboundEmail, Person, Role
from tests.browser.conftest import release_database, sign_in
from tests.conftest import make_person
from tests.multi_factor_helpers import pass_second_factor_in_browser

pytestmark = pytest.mark.browser
NEW_PASSWORD = "violet-kettle-harbour-lantern"


@pytest.fixture
def admin_person():
    return make_person("admin@example.org", name="Alex Admin", roles=(Role.ADMIN,), organisation_code="LC")


def test_sign_in_shows_home_with_my_name(page, admin_person):
    page.goto("/")
    page.get_by_role("button", name="Sign in").click()  # the start button
    expect(page).to_have_url(re.compile(r"/sign-in$"))
    page.get_by_label("Email address").fill("ADMIN@example.org")
    page.get_by_label("Password", exact=True).fill("correct-horse-battery-staple")
    page.get_by_role("button", name="Sign in").click()
    pass_second_factor_in_browser(page, admin_person)  # an admin sets up an authenticator app first

    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Alex Admin")
    expect(page.get_by_text("Signed in as")).to_contain_text("Alex Admin, London Councils")
    expect(page).to_have_title("Home – Pathways")
    assert page.problems.errors == []


def test_admin_invites_someone_who_sets_a_password(new_page, admin_person, app, live_server, monkeypatch):
    monkeypatch.setitem(app.config, "BASE_URL", live_server)
    admin = sign_in(new_page(), admin_person)
    admin.get_by_role("link", name="People", exact=True).click()
    admin.get_by_role("button", name="Invite someone").click()  # a link styled as a button
    expect(admin.get_by_role("heading", level=1)).to_have_text("Invite someone")
    admin.get_by_label("Full name").fill("Priya Patel")
    admin.get_by_label("Email address").fill("priya.patel@example.org")
    admin.get_by_label("Organisation", exact=True).select_option(label="London Borough of Hackney")
    admin.get_by_label("Learner", exact=True).check()
    admin.get_by_role("button", name="Create account and send invitation").click()

    expect(admin.get_by_role("heading", level=1)).to_have_text("Priya Patel")
    expect(admin.locator(".govuk-notification-banner")).to_contain_text("Priya Patel has been invited")

    # The invitation waits in the outbox, where an admin can read it too.
    message = db.session.scalars(select(OutboundEmail).where(OutboundEmail.recipient == "priya.patel@example.org")
                                 ).one()
    link = re.search(r"http://\S+/set-password/\S+", message.body_text).group(0)
    release_database()
    admin.get_by_role("link", name="Outbox").click()
    admin.get_by_role("link", name=message.subject).first.click()
    expect(admin.locator("main")).to_contain_text(link)

    invited = new_page()
    invited.goto(link)
    expect(invited.get_by_role("heading", level=1)).to_have_text("Set up your account")
    invited.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    invited.get_by_label("Confirm new password", exact=True).fill(NEW_PASSWORD)
    invited.get_by_role("button", name="Set password").click()

    expect(invited.get_by_role("heading", level=1)).to_have_text("Welcome, Priya Patel")
    expect(invited.locator(".govuk-notification-banner")).to_contain_text("Your password is set")
    assert invited.problems.errors == [] and admin.problems.errors == []
    db.session.expire_all()
    person = db.session.scalars(select(Person).where(Person.email == "priya.patel@example.org")).one()
    assert person.has_password
    release_database()

    # The link works once.
    invited.goto(link)
    expect(invited.get_by_role("heading", level=1)).to_have_text("There is a problem with your link")


def test_sign_out_ends_the_session(page, admin_person):
    sign_in(page, admin_person)
    page.get_by_role("button", name="Sign out").click()

    expect(page).to_have_url(re.compile(r"/sign-in$"))
    expect(page.locator(".govuk-notification-banner")).to_contain_text("You have signed out.")
    page.goto("/people")
    expect(page).to_have_url(re.compile(r"/sign-in\?next=%2Fpeople$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to Pathways")
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)


def test_form_errors_are_summarised_and_focused(page):
    page.goto("/sign-in")
    assert page.evaluate("document.body.classList.contains('govuk-frontend-supported')")
    page.get_by_role("button", name="Sign in").click()

    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_contain_text("Enter your email address")
    expect(summary).to_contain_text("Enter your password")
    expect(summary).to_be_focused()
    expect(page).to_have_title("Error: Sign in – Pathways")
    assert page.evaluate("document.body.classList.contains('govuk-frontend-supported')")

    # Each message links to its field.
    summary.get_by_role("link", name="Enter your password").click()
    expect(page.get_by_label("Password", exact=True)).to_be_focused()
    assert page.problems.errors == []


def test_skip_link_is_the_first_thing_the_keyboard_reaches(page):
    page.goto("/sign-in")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to main content"
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#main-content$"))
    assert page.evaluate("document.activeElement.id") == "main-content"
