"""A leader's path in a real browser: catalogue, enrol, lessons, a knowledge check with an error and a
retry, completion; every page on the way checked with axe-core."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.models import Role, RunKind
from tests.browser.conftest import release_database, sign_in
from tests.browser.test_accessibility import axe_violations, describe
from tests.conftest import make_person
from tests.course_factories import make_learning_course as make_course
from tests.course_factories import make_run

pytestmark = pytest.mark.browser


def test_a_leader_enrols_learns_passes_the_check_and_completes(new_page):
    course = make_course(cpd_hours="4")
    make_run(course, kind=RunKind.SELF_PACED)
    leader = make_person("lee@example.org", name="Lee Leader", roles=(Role.LEARNER,))
    release_database()
    page = new_page(bypass_csp=True)
    problems = []

    def audit(name: str):
        found = axe_violations(page)
        if found:
            problems.append(f"{name}:\n{describe(found)}")

    sign_in(page, leader)
    page.get_by_role("link", name="Find a course").click()
    expect(page.get_by_role("heading", name="Leadership courses", level=1)).to_be_visible()
    audit("catalogue")
    page.get_by_role("link", name=course.title).click()
    audit("course page")
    page.get_by_role("button", name="Enrol").click()
    expect(page.get_by_text("You are enrolled on")).to_be_visible()
    audit("course overview")
    page.get_by_role("button", name="Start the course").click()
    expect(page.get_by_role("heading", name="Lesson 1", level=1)).to_be_visible()
    audit("lesson")
    page.get_by_role("link", name=re.compile("^Next")).click()
    expect(page.get_by_role("heading", name="Lesson 2", level=1)).to_be_visible()
    page.get_by_role("link", name=re.compile("^Next")).click()
    expect(page.get_by_role("heading", name="Check your understanding", level=1)).to_be_visible()

    # Submitting with a question unanswered: the error summary takes focus and links to the question.
    page.get_by_label("A shared commitment by councils").check()
    page.get_by_role("button", name="Submit answers").click()
    expect(page).to_have_title("Error: Check your understanding – Pathways")
    expect(page.locator(".govuk-error-summary")).to_be_focused()
    audit("check with errors")

    page.get_by_label("A law").check()
    page.get_by_label("Working in the open").check()
    page.get_by_role("button", name="Submit answers").click()
    expect(page.get_by_role("heading", name="Not passed yet")).to_be_visible()
    audit("check result")
    page.get_by_role("link", name="Try the check again").click()
    page.get_by_label("A shared commitment by councils").check()
    page.get_by_label("Working in the open").check()
    page.get_by_label("Reusing what others built").check()
    page.get_by_role("button", name="Submit answers").click()
    expect(page.get_by_role("heading", name="You passed")).to_be_visible()

    page.goto("/")
    expect(page.get_by_text("4 CPD hours")).to_be_visible()
    audit("home with courses")
    assert not problems, "\n\n".join(problems)
    assert not page.problems.errors
