"""Evidence too large to send, in a real browser: the "log off-the-job hours" form comes back with everything the
apprentice typed and the error beside the file field, not a page of its own."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from app.services import clock
from tests.browser.conftest import release_database, sign_in
from tests.browser.test_apprenticeship_accessibility import world  # noqa: F401 - the fixture
from tests.browser.test_apprenticeship_paths import fill_date

pytestmark = pytest.mark.browser
TOO_LARGE = "The selected file must be smaller than 10 MB"


def test_a_file_over_the_request_limit_keeps_what_was_typed(app, world, new_page):  # noqa: F811
    day = clock.today() - timedelta(days=1)
    page = sign_in(new_page(), world.apprentice)
    page.goto(world.record("/off-the-job/new"))
    fill_date(page, "Date of the activity", day)
    page.get_by_label("Hours", exact=True).fill("3")
    page.get_by_label("Minutes", exact=True).fill("15")
    page.get_by_label("Teaching (lectures, classes, workshops)").check()
    page.get_by_label("What did you do and what did you learn?").fill("A workshop on accessible forms.")
    page.get_by_label("K2 Knowledge 2 of ST0116").check()
    size = app.config["MAX_CONTENT_LENGTH"] + 1024
    page.get_by_label("Evidence (optional)").set_input_files(
        files=[{"name": "recording.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.7\n" + b"0" * size}])

    page.get_by_role("button", name="Log hours").click()
    release_database()

    expect(page.get_by_role("heading", level=1)).to_have_text("Log off-the-job hours")
    expect(page).to_have_title("Error: Log off-the-job hours – Pathways")
    expect(page.locator(".govuk-error-summary")).to_contain_text(TOO_LARGE)
    expect(page.locator("#evidence-error")).to_have_text(f"Error: {TOO_LARGE}")
    expect(page.get_by_label("Day")).to_have_value(str(day.day))
    expect(page.get_by_label("Month")).to_have_value(str(day.month))
    expect(page.get_by_label("Year")).to_have_value(str(day.year))
    expect(page.get_by_label("Hours", exact=True)).to_have_value("3")
    expect(page.get_by_label("Minutes", exact=True)).to_have_value("15")
    expect(page.get_by_label("Teaching (lectures, classes, workshops)")).to_be_checked()
    expect(page.get_by_label("What did you do and what did you learn?")).to_have_value(
        "A workshop on accessible forms.")
    expect(page.get_by_label("K2 Knowledge 2 of ST0116")).to_be_checked()
    expect(page.get_by_label("K1 Knowledge 1 of ST0116")).not_to_be_checked()
