"""The accessibility statement, privacy notice and cookies page in a real browser: reached from the footer of any
page, and readable on a phone without scrolling sideways (axe-core checks them with every other page type in
test_accessibility.py)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

PAGES = {"Accessibility statement": "Accessibility statement for Pathways", "Privacy": "Privacy notice",
         "Cookies": "Cookies"}


@pytest.mark.parametrize("width", [320, 375, 1024])
def test_each_page_opens_from_the_footer_and_fits_the_screen(page, width):
    page.set_viewport_size({"width": width, "height": 800})
    for link, heading in PAGES.items():
        page.goto("/sign-in")
        page.get_by_role("contentinfo").get_by_role("link", name=link, exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{heading} scrolls sideways"
    assert page.problems.errors == []
