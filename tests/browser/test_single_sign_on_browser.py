"""Signing in with a council account in a real browser: Pathways, the demo council identity provider on loopback,
and back; signing out of both; a refused sign-in; the admin's page. The Pathways pages are checked with axe-core."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.models import Role
from app.services import accounts, single_sign_on
from app.services.demo_identity_provider import DemoAccount, DemoIdentityProvider
from tests.browser.conftest import release_database, sign_in
from tests.browser.test_accessibility import axe_violations, describe
from tests.conftest import make_person

pytestmark = pytest.mark.browser
SOUTHWARK = "E09000028"
DOMAIN = "southwark.example"


@pytest.fixture
def council():
    provider = DemoIdentityProvider([DemoAccount(f"dan@{DOMAIN}", "Daniel Osei", subject="sub-dan"),
                                     DemoAccount(f"riley@{DOMAIN}", "Riley Unverified", email_verified=False)],
                                    client_id="pathways-browser", client_secret="browser-secret").start()
    southwark = accounts.organisation_by_code(SOUTHWARK)
    single_sign_on.save_provider(None, southwark, issuer=provider.issuer, client_id="pathways-browser",
                                 client_secret="browser-secret", allowed_domains=DOMAIN)  # noqa: S106
    accounts.create_person(None, email=f"dan@{DOMAIN}", name="Daniel Osei", organisation=southwark,
                           roles=(Role.COORDINATOR,), scope=[southwark], invite=False)
    db.session.commit()
    release_database()
    yield provider
    provider.stop()


def council_sign_in(page, email: str, label: str, multi_factor: bool = False) -> None:
    page.goto("/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_role("button", name="Sign in").click()
    # At the council's sign-in page.
    expect(page.get_by_role("heading", level=1)).to_have_text("Demo council sign-in")
    page.get_by_label(label).check()
    if multi_factor:
        page.get_by_label("I also approved this sign-in on my phone").check()
    page.get_by_role("button", name="Sign in").click()


def test_a_coordinator_signs_in_with_their_council_account_and_signs_out_of_both(council, new_page, live_server):
    # Pathways' own content security policy stays on: its forms may lead to the council's sign-in.
    page = new_page()
    page.goto("/sign-in")
    page.get_by_label("Email address").fill(f"Dan@{DOMAIN}")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Demo council sign-in")
    assert page.url.startswith(council.issuer + "/authorize?")
    expect(page.get_by_label("Daniel Osei (dan@southwark.example)")).to_be_checked()
    page.get_by_label("I also approved this sign-in on my phone").check()
    page.get_by_role("button", name="Sign in").click()

    # Back in Pathways, signed in, without Pathways' own code: the council checked a second factor.
    page.wait_for_url(live_server + "/")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to Pathways")
    page.get_by_role("button", name="Sign out of your council account too").click()
    page.wait_for_url(live_server + "/sign-in")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to Pathways")
    expect(page.get_by_role("button", name="Sign out of your council account too")).to_have_count(0)
    assert council.signed_out == 1
    assert page.problems.errors == []


def test_the_single_sign_on_pages_have_no_serious_accessibility_problems(council, new_page):
    page = new_page(bypass_csp=True)  # so that axe-core can be added to the page
    page.goto("/sign-in")
    problems = [("the sign-in page", v) for v in axe_violations(page)]
    council_sign_in(page, f"dan@{DOMAIN}", "Daniel Osei (dan@southwark.example)", multi_factor=True)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign out of your council account too")).to_be_visible()
    problems += [("the sign-in page after signing out", v) for v in axe_violations(page)]

    council_sign_in(page, f"riley@{DOMAIN}", "Riley Unverified (riley@southwark.example), email not verified")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your email address is not verified")
    problems += [("the refusal page", v) for v in axe_violations(page)]
    page.get_by_role("link", name="Go back to the sign-in page").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to Pathways")

    admin = make_person("admin@example.org", name="Alex Admin", roles=(Role.ADMIN,), organisation_code="LC")
    southwark = accounts.organisation_by_code(SOUTHWARK)
    release_database()
    page = sign_in(new_page(bypass_csp=True), admin)
    page.goto(f"/admin/organisations/{southwark.id}")
    page.get_by_role("link", name="Change single sign-on").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Single sign-on")
    problems += [("the single sign-on page", v) for v in axe_violations(page)]
    page.get_by_label("Email domains").fill("not a domain")
    page.get_by_role("button", name="Save single sign-on").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("is not an email domain")
    problems += [("the single sign-on page with an error", v) for v in axe_violations(page)]
    assert not problems, "\n".join(f"{where}: {describe([v])}" for where, v in problems)
