"""The header in a real browser with the longest name and menu Pathways has: an admin holding every role, with a
very long name. "Sign out" stays beside the signed-in line at every width; on desktop the menu's links wrap,
whole, into at most two rows beside the service name; on a phone (375 and 320 px wide) they fold behind a Menu
button that the keyboard opens. axe-core checks the header at each width."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from app import policy
from app.models import Role
from tests.browser.conftest import sign_in
from tests.browser.test_accessibility import axe_violations, describe
from tests.conftest import make_person

pytestmark = pytest.mark.browser

LONG_NAME = "Hubert Blaine Wolfeschlegelsteinhausenbergerdorff-Montgomery-Smythe de la Tour d'Auvergne"
# The longest menu today, at least: every section an admin with every role sees.
SECTIONS = ["Home", "Courses", "Course runs", "My apprenticeship", "Supervising", "Apprenticeships", "Intakes",
            "Cohort review", "People", "Organisations", "Outbox", "Audit trail", "Scheduled jobs"]

GEOMETRY = """() => {
    const box = element => {
        const b = element.getBoundingClientRect();
        return {left: b.left, right: b.right, top: b.top, bottom: b.bottom, width: b.width, height: b.height};
    };
    const signedIn = document.querySelector(".app-account-bar__signed-in");
    return {
        page: document.documentElement.scrollWidth,
        signedIn: box(signedIn),
        lineHeight: parseFloat(getComputedStyle(signedIn).lineHeight),
        signOut: box(document.querySelector(".app-account-bar__sign-out-button")),
        serviceName: box(document.querySelector(".govuk-service-navigation__service-name")),
        list: box(document.querySelector(".govuk-service-navigation__list")),
        links: [...document.querySelectorAll(".govuk-service-navigation__link")]
            .filter(link => link.closest(".govuk-service-navigation__item"))
            .map(link => ({text: link.textContent.trim(), ...box(link)})),
    };
}"""


@pytest.fixture
def long_named_admin(app):
    return make_person("hubert@example.org", name=LONG_NAME, roles=tuple(Role), organisation_code="LC")


def menu_of(app, person) -> list[str]:
    with app.test_request_context():
        menu = [item["text"] for item in policy.navigation_for(person)]
    assert set(SECTIONS) <= set(menu)
    return menu


def assert_sign_out_beside_the_signed_in_line(geometry, width):
    who, sign_out = geometry["signedIn"], geometry["signOut"]
    assert geometry["page"] <= width, f"the page scrolls sideways at {width}px"
    # On the same line as the first line of the signed-in text, just to its right.
    middle = (sign_out["top"] + sign_out["bottom"]) / 2
    assert who["top"] <= middle <= who["top"] + geometry["lineHeight"], f"Sign out is not on the line at {width}px"
    assert 0 <= sign_out["left"] - who["right"] <= 30, f"Sign out is not beside the signed-in text at {width}px"
    assert sign_out["right"] <= width


@pytest.mark.parametrize("width", [1280, 1024])
def test_on_a_desktop_the_menu_wraps_whole_links_beside_the_service_name(app, long_named_admin, new_page, width):
    page = new_page(bypass_csp=True)
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, long_named_admin)
    page.goto("/courses")
    expect(page.get_by_role("heading", level=1)).to_have_text("Leadership courses")

    geometry = page.evaluate(GEOMETRY)
    assert_sign_out_beside_the_signed_in_line(geometry, width)
    expect(page.get_by_text("Signed in as")).to_contain_text(f"{LONG_NAME}, London Councils")

    links = geometry["links"]
    assert [link["text"] for link in links] == menu_of(app, long_named_admin)
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    rows = sorted({round(link["top"]) for link in links})
    assert len(rows) <= 2, f"the menu takes {len(rows)} rows at {width}px"
    one_line = links[0]["height"]
    for link in links:
        assert link["height"] == one_line, f"{link['text']} breaks over two lines at {width}px"
        # Wrapped rows start where the first does, beside the service name rather than under it.
        assert link["left"] >= geometry["list"]["left"] > geometry["serviceName"]["right"]
        assert link["right"] <= geometry["list"]["right"] + 1
    assert page.locator(".govuk-service-navigation__item--active").inner_text() == "Courses"

    violations = axe_violations(page)
    assert not violations, describe(violations)
    assert page.problems.errors == []


@pytest.mark.parametrize("width", [375, 320])
def test_on_a_phone_the_menu_folds_behind_a_button_the_keyboard_opens(app, long_named_admin, new_page, width):
    page = new_page(bypass_csp=True)
    page.set_viewport_size({"width": width, "height": 800})
    sign_in(page, long_named_admin)
    page.goto("/courses")
    expect(page.get_by_role("heading", level=1)).to_have_text("Leadership courses")

    assert_sign_out_beside_the_signed_in_line(page.evaluate(GEOMETRY), width)
    menu_button = page.get_by_role("button", name="Menu")
    expect(menu_button).to_be_visible()
    expect(menu_button).to_have_attribute("aria-expanded", "false")
    expect(page.get_by_role("link", name="Scheduled jobs")).to_be_hidden()
    violations = axe_violations(page)

    # Skip link, service name, then the Menu button.
    for _ in range(3):
        page.keyboard.press("Tab")
    expect(menu_button).to_be_focused()
    page.keyboard.press("Enter")
    expect(menu_button).to_have_attribute("aria-expanded", "true")
    for text in menu_of(app, long_named_admin):
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.textContent.trim()")
        assert focused == text, f"the keyboard reached {focused!r} where {text!r} was expected"
        assert page.evaluate("document.activeElement.getBoundingClientRect().right") <= width
    assert page.evaluate(GEOMETRY)["page"] <= width
    violations += axe_violations(page)

    # After the menu, the account: its pages and Sign out come next.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Sign out"
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to Pathways")
    assert not violations, describe(violations)
    assert page.problems.errors == []
