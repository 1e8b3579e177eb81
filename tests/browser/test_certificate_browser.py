"""Certificates in a real browser, for the people who sign in to see them. A borough coordinator issues a run's
certificates from its certificates page (with JavaScript, a chunk at a time, the progress shown as it goes),
revokes one after first forgetting the reason, and reissues another. A holder finds their certificate on the
home page and downloads the PDF. Both journeys run under the real content security policy without console
errors, and every kind of certificate page, in each state, is checked with axe-core."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.models import Certificate, CertificateStatus, Enrolment
from app.services import certificate_batches, certificates
from tests.apprenticeship_factories import make_apprentice, make_coordinator, make_intake
from tests.browser.conftest import release_database, sign_in
from tests.browser.test_accessibility import PageCase, axe_violations, describe
from tests.browser.test_apprenticeship_accessibility import serve_static_from_memory
from tests.certificate_factories import (
    HACKNEY,
    issue_apprenticeship_certificate,
    issue_course_certificate,
    make_completed_apprenticeship,
    make_completed_enrolment,
)
from tests.course_factories import make_learner, make_learning_course, make_run

pytestmark = pytest.mark.browser
CAMDEN = "E09000007"
# How the pages write a date: 7 May 2026.
DAY = "%-d %B %Y"

# Kept by the browser from the moment a page loads: what the cohort page's live status said each time it changed,
# with the progress bar and the two counts as they were then. Injected by Playwright, so allowed by any policy.
RECORD_PROGRESS = """
window.progressSeen = [];
document.addEventListener("DOMContentLoaded", () => {
  const status = document.getElementById("certificate-status");
  if (!status) return;
  const text = (selector) => document.querySelector(selector)?.textContent ?? null;
  new MutationObserver(() => {
    const bar = document.getElementById("certificate-progress");
    window.progressSeen.push({status: status.textContent, value: bar && bar.value, max: bar && bar.max,
                              issued: text('[data-count="issued"]'), pending: text('[data-count="pending"]')});
  }).observe(status, {childList: true, characterData: true, subtree: true});
});
"""


def heading(page):
    return page.get_by_role("heading", level=1)


def banner(page):
    return page.locator(".govuk-notification-banner")


def summary_row(page, key: str):
    """The value of a summary list's row, found by its key."""
    key_cell = page.locator(".govuk-summary-list__key", has_text=re.compile(rf"^\s*{re.escape(key)}\s*$"))
    return page.locator(".govuk-summary-list__row", has=key_cell).locator(".govuk-summary-list__value")


def certificates_of_run(run_id: int) -> list[Certificate]:
    """Every version of every certificate of the run's enrolments, read afresh from the database."""
    db.session.expire_all()
    return list(db.session.scalars(
        select(Certificate).join(Enrolment, Enrolment.id == Certificate.enrolment_id)
        .where(Enrolment.run_id == run_id).order_by(Certificate.id)))


# A coordinator issues, revokes and reissues --------------------------------------------------------------------


@dataclass
class Cohort:
    """A run of Leading digital change with four people of Hackney completed and waiting for their certificates,
    and one of Camden whom Cora, a coordinator of Hackney only, does not act on."""

    coordinator: object
    holders: dict[str, object]  # name: person
    run_id: int


@pytest.fixture
def cohort() -> Cohort:
    coordinator = make_coordinator(scope=(HACKNEY,))
    course = make_learning_course("leading-digital-change")
    run = make_run(course, name="Spring 2026")
    holders = {}
    for number, name in enumerate(("Priya Patel", "Sam Stone", "Kofi Mensah", "Lee Learner"), start=1):
        person = make_learner(f"holder{number}@example.org", name=name, organisation_code=HACKNEY)
        make_completed_enrolment(person, course=course, run=run)
        holders[name] = person
    make_completed_enrolment(make_learner("camden@example.org", name="Cam Den", organisation_code=CAMDEN),
                             course=course, run=run)
    cohort = Cohort(coordinator, holders, run.id)
    release_database()
    return cohort


def test_a_coordinator_issues_a_runs_certificates_then_revokes_and_reissues_them(cohort, new_page, monkeypatch):
    monkeypatch.setattr(certificate_batches, "CHUNK", 2)  # four certificates: two chunks, so progress in between
    path = f"/runs/{cohort.run_id}/certificates"
    page = new_page()  # the real content security policy
    page.add_init_script(RECORD_PROGRESS)
    issue_posts = []
    page.on("request", lambda request: request.method == "POST" and request.url.endswith(f"{path}/issue")
            and issue_posts.append(request.headers.get("accept")))
    sign_in(page, cohort.coordinator)

    # From the run to its certificates: four waiting, the Camden learner not counted.
    page.goto(f"/runs/{cohort.run_id}")
    page.get_by_role("link", name="Certificates for this run").click()
    expect(page).to_have_url(path)
    expect(heading(page)).to_have_text("Certificates for Spring 2026")
    main = page.locator("main")
    expect(main).to_contain_text("You see and issue the certificates of people from your organisations.")
    expect(page.locator('[data-count="issued"]')).to_have_text("0")
    expect(page.locator('[data-count="pending"]')).to_have_text("4")
    expect(page.locator("#certificate-status")).to_have_text("0 of 4 certificates issued.")
    expect(main).to_contain_text("Certificates are issued 2 at a time.")
    expect(main).to_contain_text("No certificates have been issued yet.")
    expect(page.locator("body")).to_have_class(re.compile("govuk-frontend-supported"))

    # With JavaScript the page issues chunk after chunk itself, showing the progress, and stays where it is.
    page.get_by_role("button", name="Issue 4 certificates").click()
    status = page.get_by_role("status")
    expect(status).to_have_text("Finished: 4 of 4 certificates issued.", timeout=30_000)  # four PDFs rendered
    # The button has gone; keyboard focus moves to the link that replaced it, and the list below no longer
    # says that nothing has been issued.
    expect(page.locator(":focus")).to_have_text("Show the issued certificates")
    expect(page.locator("#no-certificates")).to_have_text("4 issued. Show the issued certificates")
    expect(page.get_by_role("button", name=re.compile("certificates$"))).to_have_count(0)
    expect(page.locator("#certificate-progress")).to_have_js_property("value", 4)
    expect(page.locator("#certificate-progress")).to_have_js_property("max", 4)
    expect(page.locator("#certificate-progress")).to_have_text("4 of 4")
    expect(page.locator('[data-count="issued"]')).to_have_text("4")
    expect(page.locator('[data-count="pending"]')).to_have_text("0")
    expect(page.locator("#certificate-failures li")).to_have_count(0)
    expect(banner(page)).to_have_count(0)  # no page was loaded: the form's own submission was replaced
    expect(page).to_have_url(path)
    assert page.evaluate("window.progressSeen") == [
        {"status": "Issuing certificates…", "value": 0, "max": 4, "issued": "0", "pending": "4"},
        {"status": "2 of 4 certificates issued…", "value": 2, "max": 4, "issued": "2", "pending": "2"},
        {"status": "Finished: 4 of 4 certificates issued.", "value": 4, "max": 4, "issued": "4", "pending": "0"},
    ]
    assert issue_posts == ["application/json", "application/json"]

    issued = certificates_of_run(cohort.run_id)
    assert sorted(c.holder_name for c in issued) == sorted(cohort.holders)  # not Cam Den's
    assert all(c.status is CertificateStatus.VALID and c.version == 1 for c in issued)
    number = {c.holder_name: c.number for c in issued}
    release_database()

    page.get_by_role("link", name="Show the issued certificates").first.click()
    expect(page.locator("#certificate-status")).to_have_text("4 of 4 certificates issued.")
    expect(page.locator("#issue-certificates")).to_have_count(0)
    rows = page.locator("#certificates tbody tr")
    expect(rows).to_have_count(4)
    for name in cohort.holders:
        row = rows.filter(has=page.get_by_role("link", name=name, exact=True))
        expect(row).to_contain_text(number[name])
        expect(row).to_contain_text("Leadership course: Leading digital change")
        expect(row).to_contain_text("Valid")

    # Revoking Priya's certificate: the reason forgotten first.
    priya = number["Priya Patel"]
    rows.get_by_role("link", name="Priya Patel", exact=True).click()
    expect(heading(page)).to_have_text(f"Certificate {priya}")
    expect(summary_row(page, "Status")).to_have_text("Valid")
    page.get_by_role("link", name=f"Revoke certificate {priya}").click()
    expect(heading(page)).to_have_text("Revoke this certificate")
    page.get_by_role("button", name="Revoke certificate", exact=True).click()
    expect(page).to_have_title(f"Error: Revoke certificate {priya} – Pathways")
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("There is a problem")
    expect(page.locator("#reason-error")).to_contain_text("Enter why the certificate is being revoked")
    summary.get_by_role("link", name="Enter why the certificate is being revoked").click()
    reason = page.get_by_label("Why is the certificate being revoked?")
    expect(reason).to_be_focused()
    reason.fill("Completed under a shared account")
    page.get_by_role("button", name="Revoke certificate", exact=True).click()

    expect(heading(page)).to_have_text(f"Certificate {priya}")
    expect(banner(page)).to_contain_text(
        f"Certificate {priya} has been revoked. Anyone who checks it is told so.")
    db.session.expire_all()
    revoked = db.session.scalar(select(Certificate).where(Certificate.number == priya))
    assert revoked.status is CertificateStatus.REVOKED
    assert revoked.revocation_reason == "Completed under a shared account"
    revoked_on = f"{revoked.revoked_at:{DAY}}"
    release_database()
    expect(page.locator(".govuk-warning-text")).to_contain_text(
        f"This certificate was revoked on {revoked_on}. It is no longer valid, and anyone who checks it is told so.")
    expect(summary_row(page, "Status")).to_have_text("Revoked")
    expect(summary_row(page, "Revoked")).to_have_text(f"{revoked_on} by Cora Coordinator")
    expect(summary_row(page, "Why it was revoked")).to_have_text("Completed under a shared account")
    expect(page.get_by_role("link", name=f"Download the PDF (revoked) of certificate {priya}")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile(r"^(Reissue|Revoke) certificate"))).to_have_count(0)

    # Reissuing Sam's certificate makes version 2 and keeps version 1 as replaced.
    sam = number["Sam Stone"]
    page.goto(path)
    page.locator("#certificates").get_by_role("link", name="Sam Stone", exact=True).click()
    expect(heading(page)).to_have_text(f"Certificate {sam}")
    page.get_by_role("link", name=f"Reissue certificate {sam}").click()
    expect(heading(page)).to_have_text("Reissue this certificate")
    page.get_by_label("Why is the certificate being reissued?").fill("Name corrected at the holder's request")
    page.get_by_role("button", name="Reissue certificate", exact=True).click()

    expect(heading(page)).to_have_text(f"Certificate {sam}, version 2")
    expect(banner(page)).to_contain_text(
        f"Certificate {sam} has been reissued as version 2. The earlier version is kept and now shows as replaced.")
    expect(summary_row(page, "Status")).to_have_text("Valid")
    expect(summary_row(page, "Why it was reissued")).to_have_text("Name corrected at the holder's request")
    versions = page.get_by_role("table", name=f"Versions of certificate {sam}").locator("tbody tr")
    expect(versions).to_have_count(2)
    expect(versions.nth(0)).to_contain_text("Replaced")
    expect(versions.nth(0)).to_contain_text("First issue")
    expect(versions.nth(1)).to_contain_text("2 (this page)")
    expect(versions.nth(1)).to_contain_text("Valid")
    expect(versions.nth(1)).to_contain_text("Name corrected at the holder's request")

    page.goto(path)
    rows = page.locator("#certificates tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.filter(has_text="Sam Stone")).to_contain_text(f"{sam} (version 2)")
    expect(rows.filter(has_text="Priya Patel")).to_contain_text("Revoked")
    expect(page.locator("#certificate-status")).to_have_text("4 of 4 certificates issued.")

    everything = certificates_of_run(cohort.run_id)
    assert [(c.version, c.status) for c in everything if c.number == sam] == [
        (1, CertificateStatus.SUPERSEDED), (2, CertificateStatus.VALID)]
    assert len(everything) == 5
    release_database()
    assert page.problems.errors == []


# A holder downloads --------------------------------------------------------------------------------------------


def test_the_holder_finds_their_certificate_on_the_home_page_and_downloads_it(cohort, new_page):
    enrolment = db.session.scalar(select(Enrolment).where(Enrolment.person_id == cohort.holders["Priya Patel"].id))
    certificate = issue_course_certificate(enrolment)
    number, certificate_id = certificate.number, certificate.id
    completed_on = f"{certificate.completed_on:{DAY}}"
    stored = certificates.stored_file(certificate).pdf
    release_database()

    page = sign_in(new_page(), cohort.holders["Priya Patel"])  # the real content security policy
    expect(heading(page)).to_have_text("Welcome, Priya Patel")
    section = page.get_by_role("region", name="Your certificates")
    expect(section).to_contain_text(f"Leadership course: Leading digital change, completed {completed_on}.")
    with page.expect_download() as download_info:
        section.get_by_role("link", name=f"Download certificate {number} (PDF)").click()
    download = download_info.value
    assert download.suggested_filename == f"{number}.pdf"
    content = Path(download.path()).read_bytes()
    assert content.startswith(b"%PDF")
    assert content == stored  # the file as issued, not rendered again

    section.get_by_role("link", name=f"Details of certificate {number}").click()
    expect(page).to_have_url(f"/certificates/{certificate_id}")
    expect(heading(page)).to_have_text(f"Certificate {number}")
    expect(summary_row(page, "Status")).to_have_text("Valid")
    expect(summary_row(page, "Holder")).to_have_text("Priya Patel")
    expect(page.get_by_role("link", name=re.compile(r"^(Reissue|Revoke)"))).to_have_count(0)
    with page.expect_download() as download_info:
        page.get_by_role("link", name=f"Download the PDF of certificate {number}").click()
    assert Path(download_info.value.path()).read_bytes() == stored
    assert page.problems.errors == []


# Every certificate page with axe-core --------------------------------------------------------------------------


@dataclass
class Pages:
    """Priya holds a valid certificate of Leading digital change and a revoked one of Working in the open. On the
    Spring 2026 run Sam's certificate has been reissued, Kofi's revoked, and Lee's and Ines's wait to be issued.
    In the intake September 2025 one apprentice has a certificate and one waits for it."""

    coordinator: object
    holder: object
    run_id: int
    intake_id: int
    valid: tuple[int, str]  # Priya's: id and number
    revoked_own: tuple[int, str]  # Priya's revoked one
    revoked: tuple[int, str]  # Kofi's
    replaced: tuple[int, str]  # Sam's version 1
    reissued: tuple[int, str]  # Sam's version 2


@pytest.fixture
def pages() -> Pages:
    coordinator = make_coordinator(scope=(HACKNEY,))
    course = make_learning_course("leading-digital-change")
    run = make_run(course, name="Spring 2026")
    other_course = make_learning_course("working-in-the-open")
    other_run = make_run(other_course, name="Autumn 2025")

    def completed(name: str, email: str):
        return make_completed_enrolment(make_learner(email, name=name, organisation_code=HACKNEY), course=course,
                                        run=run)

    priya = completed("Priya Patel", "priya@example.org")
    valid = issue_course_certificate(priya)
    revoked_own = issue_course_certificate(make_completed_enrolment(priya.person, course=other_course, run=other_run))
    certificates.revoke(coordinator, revoked_own, "Completed under a shared account")
    revoked = issue_course_certificate(completed("Kofi Mensah", "kofi@example.org"))
    certificates.revoke(coordinator, revoked, "Issued in error: the course was not completed")
    replaced = issue_course_certificate(completed("Sam Stone", "sam@example.org"))
    reissued = certificates.reissue(coordinator, replaced, "Name corrected at the holder's request")
    db.session.commit()
    completed("Lee Learner", "lee@example.org")
    completed("Ines Ito", "ines@example.org")

    intake = make_intake("September 2025", coordinator=coordinator)
    first = make_completed_apprenticeship(make_apprentice("amara@example.org", name="Amara Okafor"),
                                          hosts=(HACKNEY,), intake=intake)
    make_completed_apprenticeship(make_apprentice("ben@example.org", name="Ben Adeyemi"), hosts=(HACKNEY,),
                                  intake=intake)
    issue_apprenticeship_certificate(first)

    pages = Pages(coordinator, priya.person, run.id, intake.id, *(
        (c.id, c.number) for c in (valid, revoked_own, revoked, replaced, reissued)))
    release_database()
    return pages


def goto(path: Callable[[Pages], str]) -> Callable:
    return lambda page, p: page.goto(path(p))


def certificate_page(which: str, rest: str = "") -> Callable:
    return goto(lambda p: f"/certificates/{getattr(p, which)[0]}{rest}")


def certificate_heading(which: str, suffix: str = "") -> Callable[[Pages], str]:
    return lambda p: f"Certificate {getattr(p, which)[1]}{suffix}"


def _revoke_with_error(page, p):
    page.goto(f"/certificates/{p.valid[0]}/revoke")
    page.get_by_role("button", name="Revoke certificate", exact=True).click()
    expect(page.locator("#reason-error")).to_be_visible()


def _issued_with_javascript(page, p):
    page.goto(f"/runs/{p.run_id}/certificates")
    page.get_by_role("button", name="Issue 2 certificates").click()
    expect(page.get_by_role("status")).to_have_text("Finished: 5 of 5 certificates issued.")


RUN = "Certificates for Spring 2026"
PAGES = [
    # Priya, who holds the certificates.
    PageCase("home with certificates", "holder", goto(lambda p: "/"), "Welcome, Priya Patel"),
    PageCase("certificate as the holder", "holder", certificate_page("valid"), certificate_heading("valid")),
    PageCase("revoked certificate as the holder", "holder", certificate_page("revoked_own"),
             certificate_heading("revoked_own")),
    # Cora, a coordinator of Hackney, where they all work.
    PageCase("run certificates, some waiting", "coordinator", goto(lambda p: f"/runs/{p.run_id}/certificates"), RUN),
    PageCase("run certificates, issued with JavaScript", "coordinator", _issued_with_javascript, RUN),
    PageCase("run certificates, all issued", "coordinator", goto(lambda p: f"/runs/{p.run_id}/certificates"), RUN),
    PageCase("intake certificates", "coordinator", goto(lambda p: f"/intakes/{p.intake_id}/certificates"),
             "Certificates for September 2025"),
    PageCase("certificate with the change links", "coordinator", certificate_page("valid"),
             certificate_heading("valid")),
    PageCase("reissue", "coordinator", certificate_page("valid", "/reissue"), "Reissue this certificate"),
    PageCase("revoke with an error", "coordinator", _revoke_with_error, "Revoke this certificate"),
    PageCase("reissued certificate", "coordinator", certificate_page("reissued"),
             certificate_heading("reissued", ", version 2")),
    PageCase("replaced version", "coordinator", certificate_page("replaced"),
             certificate_heading("replaced", ", version 1")),
    PageCase("revoked certificate", "coordinator", certificate_page("revoked"), certificate_heading("revoked")),
]


def test_certificate_pages_have_no_serious_accessibility_problems(pages, new_page):
    """One browser context per viewer, signed in once; every page is checked before the problems of all of them
    are reported together."""
    problems = []
    for who in ("holder", "coordinator"):
        page = new_page(bypass_csp=True)  # axe is injected as a script of the test's own
        serve_static_from_memory(page.context)
        sign_in(page, getattr(pages, who))
        for case in (case for case in PAGES if case.who == who):
            case.open(page, pages)
            release_database()
            expected = case.heading(pages) if callable(case.heading) else case.heading
            expect(heading(page), f"the {case.name} page").to_have_text(expected)
            violations = axe_violations(page)
            if violations:
                problems.append(f"The {case.name} page ({page.url}):\n" + describe(violations))
    assert not problems, f"axe found serious or critical problems on {len(problems)} of {len(PAGES)} pages:\n\n" + (
        "\n\n".join(problems))
