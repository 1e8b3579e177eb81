"""The leader's home in a real browser: a course under way with its next lesson one click away, a run starting
soon with its calendar file, the waitlist, completed courses with this year's CPD hours and the CPD record as
PDF and CSV; checked with axe-core."""

from __future__ import annotations

import re
from datetime import datetime, time
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.models import EnrolmentStatus, Role, RunKind
from app.services import clock, learning
from tests.browser.conftest import release_database, sign_in
from tests.browser.test_accessibility import axe_violations, describe
from tests.conftest import make_person
from tests.course_factories import enrol, make_learner, make_learning_course, make_run

pytestmark = pytest.mark.browser


def seed_leader():
    """A leader with a course under way (lesson 1 opened), a run starting soon, a place on a waitlist and a
    course completed this year."""
    person = make_person("lee@example.org", name="Lee Leader", roles=(Role.LEARNER,))
    under_way = make_learning_course("using-data-well", lessons=3)
    enrolment = enrol(person, make_run(under_way, kind=RunKind.SELF_PACED, name="Anytime"))
    learning.record_lesson_opened(enrolment, under_way.lessons[0])
    enrol(person, make_run(make_learning_course("leading-digital-change"), name="Spring cohort", starts_in=20))
    full = make_run(make_learning_course("buying-technology-well"), name="Winter", capacity=1, starts_in=0)
    enrol(make_learner(), full)
    enrol(person, full)
    done = enrol(person, make_run(make_learning_course("working-in-the-open", cpd_hours="3.5"),
                                  kind=RunKind.SELF_PACED))
    done.status = EnrolmentStatus.COMPLETED
    done.completed_at = datetime.combine(clock.today(), time(9), tzinfo=clock.LONDON)
    done.cpd_hours_credited = Decimal("3.5")
    db.session.commit()
    return person


def test_the_leader_home_shows_what_to_do_next_and_the_cpd_record(new_page):
    person = seed_leader()
    year = clock.today().year
    release_database()
    page = new_page(bypass_csp=True)
    sign_in(page, person)

    panel = page.locator("section", has=page.get_by_role("heading", name="Your courses", level=2))
    expect(panel.get_by_role("heading", name="In progress", level=3)).to_be_visible()
    expect(panel.get_by_text("1 of 4 steps done (25%)")).to_be_visible()
    expect(panel.get_by_role("heading", name="Starting soon", level=3)).to_be_visible()
    expect(panel.get_by_role("heading", name="On the waitlist", level=3)).to_be_visible()
    expect(panel.get_by_text(f"CPD hours in {year}: 3.5")).to_be_visible()
    violations = axe_violations(page)
    assert not violations, describe(violations)

    with page.expect_download() as calendar_download:
        panel.get_by_role("link", name="Add to your calendar (Leading digital change, Spring cohort)").click()
    assert calendar_download.value.suggested_filename == "leading-digital-change-spring-cohort.ics"

    with page.expect_download() as pdf_download:
        panel.get_by_role("link", name=f"PDF of your {year} CPD record").click()
    assert pdf_download.value.suggested_filename == f"pathways-cpd-record-{year}.pdf"
    with page.expect_download() as csv_download:
        panel.get_by_role("link", name="CSV of your CPD record of all years").click()
    assert csv_download.value.suggested_filename == "pathways-cpd-record-all-years.csv"
    assert "Working in the open" in Path(csv_download.value.path()).read_text(encoding="utf-8")

    panel.get_by_role("link", name=re.compile(r"^Lesson 2")).click()
    expect(page.get_by_role("heading", name="Lesson 2", level=1)).to_be_visible()
    assert not page.problems.errors
